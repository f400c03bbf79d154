/**
 * The rate limiter's state in Redis, so that every auth server pointing at the same Redis sees the same limits.
 */
import type { RedisUrl } from "./internal/redisConnection.ts"

export type { RedisUrl } from "./internal/redisConnection.ts"

const urlPattern = /^redis:\/\/(\[[0-9a-f:.]+\]|[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?)(?::(\d{1,5}))?(?:\/(\d{1,5}))?\/?$/i

/**
 * Reads `redis://host:port[/db]` (port 6379 and database 0 by default), or says why not. A user or password in
 * the URL is refused and never echoed.
 */
export const parseUrl = (raw: string): { readonly value: RedisUrl } | string => {
  const match = urlPattern.exec(raw)
  const port = Number(match?.[2] ?? 6379)
  const db = Number(match?.[3] ?? 0)
  if (match !== null && port >= 1 && port <= 65535 && db <= 65535) {
    return { value: { host: match[1]!.replace(/^\[|\]$/g, ""), port, db } }
  }
  const shown = raw.replace(/\/\/[^/]*@/, "//…@").slice(0, 200)
  return `must be redis://host:port[/db], got ${JSON.stringify(shown)}`
}
