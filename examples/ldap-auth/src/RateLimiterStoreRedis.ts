/**
 * The rate limiter's state in Redis, so that every auth server pointing at the same Redis sees the same limits.
 * Each `consume` and each `settle` is one Lua script (one round trip, atomic in Redis); windows are Redis keys
 * that expire by themselves (`PEXPIRE` at a counter's first hit, never extended), markers keys set with `PX`.
 *
 * Every call also runs on a local memory store, so this server always holds its own view. When Redis fails or
 * does not answer within `timeout`, the local answer is used: one warning says so, a background `PING` every
 * `retryAfter` notices when Redis answers again, and one line says that. A Redis outage therefore neither lets a
 * wrong password in (LDAP decides that) nor refuses a right one because of Redis; the limits are then per server.
 */
import { Duration, Effect, Layer, Result, Schedule } from "effect"
import { Redis } from "effect/persistence"
import * as RedisConnection from "./internal/redisConnection.ts"
import type { RedisUrl } from "./internal/redisConnection.ts"
import * as RateLimiterStore from "./RateLimiterStore.ts"

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

export interface Options {
  readonly url: RedisUrl
  /** The longest a login waits for Redis before the local answer is used. */
  readonly timeout: Duration.Input
  /** How often Redis is tried again while it is failing; 1 s by default. */
  readonly retryAfter?: Duration.Input | undefined
  /** Prefix of every key; `mail-auth:` by default. Servers that share limits must share it. */
  readonly prefix?: string | undefined
  /** Bounds of the local store that answers while Redis is failing. */
  readonly local?: RateLimiterStore.MemoryOptions | undefined
}

// KEYS: n counters, then n markers (a key that never exists when a counter has none). ARGV: n limits, n windows.
const consumeScript = Redis.script(
  (keys: ReadonlyArray<string>, markers: ReadonlyArray<string>, limits: ReadonlyArray<number>, windows: ReadonlyArray<number>) =>
    [...keys, ...markers, ...limits, ...windows],
  {
    lua: `
local n = #KEYS / 2
for i = 1, n do
  if tonumber(redis.call("GET", KEYS[i]) or "0") >= tonumber(ARGV[i]) and redis.call("EXISTS", KEYS[n + i]) == 0 then
    return KEYS[i]
  end
end
for i = 1, n do
  if redis.call("INCR", KEYS[i]) == 1 then redis.call("PEXPIRE", KEYS[i], ARGV[n + i]) end
end
return ""`,
    numberOfKeys: (keys) => keys.length * 2
  }
).withReturnType<string>()

// KEYS: refunds, resets, then the marker if any. ARGV: number of refunds, number of resets, marker ttl (ms).
const settleScript = Redis.script(
  (refund: ReadonlyArray<string>, reset: ReadonlyArray<string>, mark: ReadonlyArray<string>, ttl: number) =>
    [...refund, ...reset, ...mark, refund.length, reset.length, ttl],
  {
    lua: `
local r, s = tonumber(ARGV[1]), tonumber(ARGV[2])
for i = 1, r do
  if tonumber(redis.call("GET", KEYS[i]) or "0") > 0 then redis.call("DECR", KEYS[i]) end
end
for i = r + 1, r + s do redis.call("DEL", KEYS[i]) end
if #KEYS > r + s then redis.call("SET", KEYS[#KEYS], "1", "PX", ARGV[3]) end
return 0`,
    numberOfKeys: (refund, reset, mark) => refund.length + reset.length + mark.length
  }
)

const millis = (duration: Duration.Duration) => Math.max(1, Math.ceil(Duration.toMillis(duration)))

/** The store over `connection`, with a local memory store beside it. */
export const make = Effect.fnUntraced(function*(
  connection: RedisConnection.RedisConnection,
  options: Omit<Options, "url">
) {
  const local = yield* RateLimiterStore.makeMemory(options.local)
  const prefix = options.prefix ?? "mail-auth:"
  const retryAfter = Duration.fromInputUnsafe(options.retryAfter ?? "1 second")
  const timeout = Duration.fromInputUnsafe(options.timeout)
  const absent = `${prefix}\u0000none`
  let failing = false

  const fellBack = (error: Redis.RedisError) =>
    Effect.suspend(() => {
      if (failing) return Effect.void
      failing = true
      return Effect.logWarning(
        `rate limits kept in this server only: Redis at ${connection.address} failed (${connection.describe(error)}); trying again every ${Duration.format(retryAfter)}`
      )
    })

  // Start-up waits for Redis up to `timeout` (it is usually there), and goes on with the local store otherwise.
  yield* connection.ping.pipe(
    Effect.retry({ schedule: Schedule.spaced(Duration.millis(20)), times: Math.ceil(millis(timeout) / 20) }),
    Effect.catch(fellBack)
  )

  // While failing, logins never wait for Redis: a PING in the background notices when it answers again.
  yield* connection.ping.pipe(
    Effect.flatMap(() =>
      Effect.suspend(() => {
        failing = false
        return Effect.logInfo(`rate limits shared again: Redis at ${connection.address} answers`)
      })
    ),
    Effect.ignore,
    Effect.when(Effect.sync(() => failing)),
    Effect.repeat(Schedule.spaced(retryAfter)),
    Effect.forkScoped
  )

  const shared = <A>(localAnswer: A, remote: Effect.Effect<A, Redis.RedisError>) =>
    Effect.suspend(() =>
      failing ? Effect.succeed(localAnswer) : remote.pipe(Effect.catch((error) => Effect.as(fellBack(error), localAnswer)))
    )

  const consume = (counters: ReadonlyArray<RateLimiterStore.Counter>) =>
    Effect.flatMap(local.consume(counters), (localAnswer) =>
      shared(
        localAnswer,
        connection.eval(consumeScript)(
          counters.map((counter) => prefix + counter.key),
          counters.map((counter) => (counter.waivedBy === undefined ? absent : prefix + counter.waivedBy)),
          counters.map((counter) => counter.limit),
          counters.map((counter) => millis(counter.window))
        ).pipe(
          Effect.map((refused): RateLimiterStore.Consumed =>
            refused === "" ? { _tag: "Counted" } : { _tag: "Refused", key: refused.slice(prefix.length) }
          )
        )
      ))

  const settle = (settlement: RateLimiterStore.Settlement) =>
    Effect.andThen(
      local.settle(settlement),
      shared(
        undefined,
        connection.eval(settleScript)(
          (settlement.refund ?? []).map((key) => prefix + key),
          (settlement.reset ?? []).map((key) => prefix + key),
          settlement.mark === undefined ? [] : [prefix + settlement.mark.key],
          settlement.mark === undefined ? 1 : millis(settlement.mark.ttl)
        )
      )
    )

  return RateLimiterStore.RateLimiterStore.of({ consume, settle })
})

/**
 * The store in Redis at `url`. Building it never waits for Redis: until Redis answers, the local store does.
 */
export const layer = (options: Options): Layer.Layer<RateLimiterStore.RateLimiterStore> =>
  Layer.effect(
    RateLimiterStore.RateLimiterStore,
    Effect.flatMap(RedisConnection.make({ url: options.url, timeout: options.timeout }), (connection) =>
      make(connection, options))
  )
