/**
 * The rate limiter's state in Redis, so that every auth server pointing at the same Redis sees the same limits.
 */
import { Result } from "effect"
import type { RedisUrl } from "./internal/redisConnection.ts"

export type { RedisUrl } from "./internal/redisConnection.ts"

const urlPattern = /^redis:\/\/(\[[0-9a-f:.]+\]|[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?)(?::(\d{1,5}))?(?:\/(\d{1,5}))?\/?$/i

/**
 * Reads `redis://host:port[/db]` (port 6379 and database 0 by default), or says why not. A user or password in
 * the URL is refused.
 */
export const parseUrl = (raw: string): Result.Result<RedisUrl, string> => {
  const match = urlPattern.exec(raw)
  const port = Number(match?.[2] ?? 6379)
  const db = Number(match?.[3] ?? 0)
  if (match !== null && port >= 1 && port <= 65535 && db <= 65535) {
    return Result.succeed({ host: match[1]!.replace(/^\[|\]$/g, ""), port, db })
  }
  return Result.fail("is not redis://host:port[/db] (no user or password)")
}
