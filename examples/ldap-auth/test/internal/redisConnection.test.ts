/** The limiter's Redis connection against a real redis-server: what it does when Redis is down, frozen or restarted. */
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Exit, Logger, Schedule, Scope } from "effect"
import { Redis } from "effect/persistence"
import * as RedisServer from "../../harness/RedisServer.ts"
import * as RedisConnection from "../../src/internal/redisConnection.ts"

const incr = Redis.script((key: string) => [key], {
  lua: `return redis.call("INCR", KEYS[1])`,
  numberOfKeys: 1
}).withReturnType<number>()

const connect = (server: RedisServer.RedisServerInstance, timeout: Duration.Input = "200 millis") =>
  RedisConnection.make({ url: { host: "127.0.0.1", port: server.port, db: 1 }, timeout, reconnectDelay: "100 millis" })

/** Retries until the connection answers (reconnecting takes a few attempts), for about 5 s. */
const eventually = <A>(effect: Effect.Effect<A, Redis.RedisError>) =>
  effect.pipe(Effect.retry({ schedule: Schedule.spaced(Duration.millis(50)), times: 100 }))

const elapsed = <A, E>(effect: Effect.Effect<A, E>) =>
  Effect.gen(function*() {
    const start = Date.now()
    const exit = yield* Effect.exit(effect)
    return { exit, millis: Date.now() - start }
  })

describe("redisConnection", () => {
  it.live("starts while Redis is down, fails at once until it is up, then connects by itself", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make()
      yield* server.stop
      // A timeout far longer than the test may take: a call that waited for it would fail the test.
      const connection = yield* connect(server, "20 seconds")
      const down = yield* elapsed(connection.eval(incr)("k"))
      assert.isTrue(Exit.isFailure(down.exit))
      assert.isBelow(down.millis, 5_000, "a call while disconnected fails at once, without waiting for the timeout")
      yield* server.start
      assert.strictEqual(yield* eventually(connection.eval(incr)("k")), 1)
      assert.strictEqual((yield* server.cli("-n", "1", "GET", "k")).trim(), "1")
    }))

  it.live("a frozen Redis fails calls within the timeout; it answers again once thawed", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make()
      const connection = yield* connect(server)
      yield* eventually(connection.ping)
      yield* server.freeze
      const frozen = yield* Effect.flip(connection.eval(incr)("k"))
      assert.include(connection.describe(frozen), "no answer within 200ms")
      yield* server.thaw
      yield* eventually(connection.ping)
    }))

  it.live("reconnects after Redis restarts, and loads its scripts again", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make()
      const connection = yield* connect(server)
      assert.strictEqual(yield* eventually(connection.eval(incr)("k")), 1)
      for (let round = 0; round < 3; round++) {
        yield* server.stop
        const offline = yield* Effect.flip(connection.eval(incr)("k"))
        assert.include(connection.describe(offline), "ECONNREFUSED")
        yield* server.start
        // No persistence: the counter and the script cache start empty after each restart.
        assert.strictEqual(yield* eventually(connection.eval(incr)("k")), 1)
      }
    }))

  it.live("writes none of NodeRedis's warnings while Redis is down", () =>
    Effect.gen(function*() {
      const lines: Array<string> = []
      const logger = Logger.make(({ message }) => lines.push(String(message)))
      const server = yield* RedisServer.make()
      const connection = yield* connect(server).pipe(Effect.provide(Logger.layer([logger])))
      yield* eventually(connection.ping)
      yield* server.stop
      yield* Effect.sleep("500 millis")
      yield* server.start
      yield* eventually(connection.ping)
      assert.deepStrictEqual(lines, [])
    }))

  it.live("closing does not wait for a frozen Redis", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make()
      const scope = yield* Scope.make()
      const connection = yield* connect(server).pipe(Scope.provide(scope))
      yield* eventually(connection.ping)
      yield* server.freeze
      yield* Effect.exit(connection.ping)
      const closed = yield* elapsed(Scope.close(scope, Exit.void))
      assert.isBelow(closed.millis, 3_000)
      yield* server.thaw
    }))
})
