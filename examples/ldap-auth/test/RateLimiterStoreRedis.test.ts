/** The Redis store against a real redis-server: the store contract, two servers sharing it, Redis down and back. */
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Layer, Logger, Schedule } from "effect"
import * as RedisServer from "../harness/RedisServer.ts"
import * as RateLimiterStore from "../src/RateLimiterStore.ts"
import * as RateLimiterStoreRedis from "../src/RateLimiterStoreRedis.ts"
import { storeContract } from "./utils/rateLimiterStoreContract.ts"

const storeOn = (server: RedisServer.RedisServerInstance) =>
  RateLimiterStoreRedis.layer({
    url: { host: "127.0.0.1", port: server.port, db: 0 },
    timeout: "500 millis",
    retryAfter: "100 millis"
  })

// One redis-server per test: the layer is built for each test of the suite.
storeContract("redis", {
  layer: Layer.unwrap(Effect.map(RedisServer.make(), (server) => storeOn(server))).pipe(Layer.orDie),
  elapse: (duration) => Effect.sleep(duration),
  window: Duration.millis(400),
  live: true
})

const counter = (key: string, limit: number): RateLimiterStore.Counter => ({ key, limit, window: Duration.minutes(1) })

/** A store as one auth server would build it, on its own connection. */
const server = (redis: RedisServer.RedisServerInstance) =>
  Layer.build(storeOn(redis)).pipe(Effect.map((context) => context.mapUnsafe.get(RateLimiterStore.RateLimiterStore.key) as RateLimiterStore.RateLimiterStore["Service"]))

const until = <A>(effect: Effect.Effect<A>, done: (a: A) => boolean) =>
  effect.pipe(
    Effect.filterOrFail(done, () => "not yet"),
    Effect.retry({ schedule: Schedule.spaced(Duration.millis(50)), times: 100 })
  )

describe("RateLimiterStoreRedis shared by two auth servers", () => {
  it.live("failures spread across both add up; a reset on one clears the counter on the other", () =>
    Effect.gen(function*() {
      const redis = yield* RedisServer.make()
      const [a, b] = [yield* server(redis), yield* server(redis)]
      yield* until(a.consume([counter("user alice", 4)]), (r) => r._tag === "Counted")
      yield* b.consume([counter("user alice", 4)])
      yield* a.consume([counter("user alice", 4)])
      yield* b.consume([counter("user alice", 4)])
      assert.strictEqual((yield* a.consume([counter("user alice", 4)]))._tag, "Refused")
      assert.strictEqual((yield* b.consume([counter("user alice", 4)]))._tag, "Refused")
      yield* a.settle({ reset: ["user alice"] })
      assert.strictEqual((yield* b.consume([counter("user alice", 4)]))._tag, "Counted")
      assert.strictEqual((yield* redis.cli("GET", "mail-auth:user alice")).trim(), "1")
      const ttl = Number((yield* redis.cli("PTTL", "mail-auth:user alice")).trim())
      assert.isTrue(ttl > 0 && ttl <= 60_000, `Redis expires the window itself (PTTL ${ttl})`)
    }))

  it.live("Redis stopped mid-run: each limits locally, says so once, and shares again once Redis is back", () => {
    const lines: Array<string> = []
    const logger = Logger.make(({ message }) => lines.push(String(message)))
    return Effect.gen(function*() {
      const redis = yield* RedisServer.make()
      const a = yield* server(redis)
      yield* until(a.consume([counter("ip 192.0.2.1", 100)]), () => true)
      yield* until(Effect.succeed(null), () => lines.length === 0)
      assert.strictEqual((yield* redis.cli("GET", "mail-auth:ip 192.0.2.1")).trim() !== "", true)
      yield* redis.stop
      // Local limits still hold while Redis is down: 3 of a limit of 3, then refused.
      for (let i = 0; i < 3; i++) assert.strictEqual((yield* a.consume([counter("user bob", 3)]))._tag, "Counted")
      assert.strictEqual((yield* a.consume([counter("user bob", 3)]))._tag, "Refused")
      assert.strictEqual(lines.filter((line) => line.includes("kept in this server only")).length, 1)
      yield* redis.start
      yield* until(Effect.sync(() => lines.length), (n) => n >= 2)
      assert.include(lines[1]!, "rate limits shared again")
      yield* until(a.consume([counter("user carol", 3)]), (r) => r._tag === "Counted")
      yield* until(redis.cli("GET", "mail-auth:user carol").pipe(Effect.orDie), (v) => v.trim() === "1")
      assert.strictEqual(lines.length, 2)
    }).pipe(Effect.provide(Logger.layer([logger])))
  })
})
