import { assert, describe, it } from "@effect/vitest"
import { Context, Deferred, Duration, Effect, Fiber } from "effect"
import { TestClock } from "effect/testing"
import * as ConnectionPool from "../src/ConnectionPool.ts"
import { capturing, identities } from "./utils/Checks.ts"
import * as Connections from "./utils/Connections.ts"
import { hold, settle } from "./utils/Lease.ts"

const tagOf = (error: unknown) => typeof error === "object" && error !== null && "_tag" in error ? error._tag : error

describe("ConnectionPool promises", () => {
  describe("minIdle", () => {
    it.effect("the lend path closes connections idle past idleTimeout only down to minIdle, and lends the warm one", () =>
      Effect.gen(function*() {
        const conns = Connections.make()
        const pool = yield* ConnectionPool.make({
          acquire: conns.acquire,
          maxIdle: 3,
          minIdle: 1,
          idleTimeout: "10 seconds",
          // The upkeep does not run during the test: only the lend path retires.
          housekeepingInterval: "1 hour"
        })
        const leases = yield* Effect.all([hold(pool), hold(pool), hold(pool)])
        for (const lease of leases) yield* lease.end()
        identities(yield* ConnectionPool.stats(pool))
        yield* TestClock.adjust("1 minute")
        assert.strictEqual(yield* ConnectionPool.use(pool, Effect.succeed), 3)
        assert.strictEqual(conns.opened, 3)
        assert.deepStrictEqual([...conns.live], [3])
        const stats = yield* ConnectionPool.stats(pool)
        assert.deepStrictEqual([stats.idle, stats.created, stats.closed], [1, 3, 2])
        identities(stats)
      }))

    it.effect("after a quiet period idleTimeout leaves minIdle open, and the next borrow opens nothing", () =>
      Effect.gen(function*() {
        const conns = Connections.make()
        const pool = yield* ConnectionPool.make({
          acquire: conns.acquire,
          maxIdle: 4,
          minIdle: 2,
          idleTimeout: "10 seconds",
          housekeepingInterval: "1 second"
        })
        const leases = yield* Effect.all([hold(pool), hold(pool), hold(pool), hold(pool)])
        for (const lease of leases) yield* lease.end()
        for (let second = 0; second < 60; second++) {
          yield* TestClock.adjust("1 second")
          identities(yield* ConnectionPool.stats(pool))
        }
        assert.strictEqual((yield* ConnectionPool.stats(pool)).idle, 2)
        const [a, b] = yield* Effect.all([hold(pool), hold(pool)])
        assert.deepStrictEqual([a.connection, b.connection].sort(), [3, 4])
        assert.strictEqual(conns.opened, 4)
        yield* a.end()
        yield* b.end()
        identities(yield* ConnectionPool.stats(pool))
      }))
  })

  describe("validation and order", () => {
    it.effect("a waiter whose connection fails validation keeps its place: a later arrival is not served first", () =>
      Effect.gen(function*() {
        const conns = Connections.make()
        const pool = yield* ConnectionPool.make({
          acquire: conns.acquire,
          maxIdle: 2,
          maxSize: 2,
          validate: (id) => id === 1 ? Effect.as(Effect.sleep("1 second"), false) : Effect.succeed(true)
        })
        const [one, two] = yield* Effect.all([hold(pool), hold(pool)])
        yield* one.end()
        const served: Array<[string, number]> = []
        const done = yield* Deferred.make<void>()
        // Borrowers hold their connection until `done`; forked in the test's scope, they let go before
        // the pool shuts down if the test fails.
        const borrower = (name: string) =>
          Effect.forkScoped(
            ConnectionPool.use(pool, (id) => Effect.andThen(Effect.sync(() => served.push([name, id])), Deferred.await(done)))
          )
        // The first borrower takes connection 1 and validates it; the second arrives while it does.
        const first = yield* borrower("first")
        yield* settle
        const second = yield* borrower("second")
        yield* settle
        assert.strictEqual((yield* ConnectionPool.stats(pool)).waiting, 1)
        yield* TestClock.adjust("1 second")
        yield* settle
        // Connection 1 failed: its slot opens connection 3, which must go to the first borrower.
        assert.deepStrictEqual(served, [["first", 3]])
        identities(yield* ConnectionPool.stats(pool), 2)
        yield* two.end()
        assert.deepStrictEqual(served, [["first", 3], ["second", 2]])
        yield* Deferred.succeed(done, undefined)
        yield* Fiber.join(first)
        yield* Fiber.join(second)
      }))

    it.effect("a connection invalidated while it is validated for a borrower is never lent", () =>
      Effect.gen(function*() {
        const conns = Connections.make()
        const pool = yield* ConnectionPool.make({
          acquire: conns.acquire,
          maxIdle: 1,
          maxSize: 1,
          validate: () => Effect.as(Effect.sleep("1 second"), true),
          validateAfter: "1 millis"
        })
        yield* ConnectionPool.use(pool, Effect.succeed)
        yield* TestClock.adjust("1 millis")
        const borrower = yield* Effect.forkChild(ConnectionPool.use(pool, Effect.succeed))
        yield* settle
        // invalidate returns at once, while the validation still runs.
        yield* ConnectionPool.invalidate(pool, 1)
        assert.isUndefined(borrower.pollUnsafe())
        yield* TestClock.adjust("1 second")
        assert.strictEqual(yield* Fiber.join(borrower), 2)
        assert.deepStrictEqual([...conns.live], [2])
        identities(yield* ConnectionPool.stats(pool), 1)
      }))

    it.effect("no connection is opened for a borrower whose deadline passed during validation", () =>
      Effect.gen(function*() {
        const conns = Connections.make()
        const pool = yield* ConnectionPool.make({
          acquire: conns.acquire,
          maxIdle: 1,
          maxSize: 1,
          acquireTimeout: "1 second",
          validate: () => Effect.never,
          validateTimeout: "1 minute"
        })
        yield* ConnectionPool.use(pool, Effect.succeed)
        const borrower = yield* Effect.forkChild(Effect.flip(ConnectionPool.use(pool, Effect.succeed)))
        yield* settle
        yield* TestClock.adjust("1 second")
        assert.strictEqual(tagOf(yield* Fiber.join(borrower)), "PoolTimeoutError")
        yield* settle
        assert.strictEqual(conns.opened, 1)
        const stats = yield* ConnectionPool.stats(pool)
        assert.deepStrictEqual([stats.opening, stats.waiting, stats.total], [0, 0, 0])
        identities(stats, 1)
      }))

    it.effect("a connection handed from a returning lease straight to a waiter is not validated again", () =>
      Effect.gen(function*() {
        const conns = Connections.make()
        const validated: Array<number> = []
        const pool = yield* ConnectionPool.make({
          acquire: conns.acquire,
          maxIdle: 1,
          maxSize: 1,
          validate: (id) => Effect.as(Effect.sync(() => validated.push(id)), true)
        })
        const lease = yield* hold(pool)
        const waiter = yield* Effect.forkChild(ConnectionPool.use(pool, Effect.succeed))
        yield* settle
        yield* TestClock.adjust("1 minute")
        yield* lease.end()
        assert.strictEqual(yield* Fiber.join(waiter), 1)
        assert.deepStrictEqual(validated, [])
        // From the idle set it is validated.
        assert.strictEqual(yield* ConnectionPool.use(pool, Effect.succeed), 1)
        assert.deepStrictEqual(validated, [1])
      }))
  })

  describe("validate's view", () => {
    class Health extends Context.Service<Health, { readonly ok: (id: number) => boolean }>()("test/Health") {}

    it.effect("validate is told how long the connection has been idle and its age, and may require services", () =>
      Effect.gen(function*() {
        const conns = Connections.make()
        const seen: Array<[number, number, number]> = []
        const pool = yield* ConnectionPool.make({
          acquire: conns.acquire,
          maxIdle: 1,
          validate: (id, info) =>
            Effect.map(Health, (health) => {
              seen.push([id, Duration.toMillis(info.idle), Duration.toMillis(info.age)])
              return health.ok(id)
            })
        }).pipe(Effect.provideService(Health, { ok: (id) => id !== 1 }))
        const lease = yield* hold(pool)
        yield* TestClock.adjust("10 seconds")
        yield* lease.end()
        yield* TestClock.adjust("30 seconds")
        // Connection 1 is reported idle 30 s and 40 s old, and the service says it is broken.
        assert.strictEqual(yield* ConnectionPool.use(pool, Effect.succeed), 2)
        assert.deepStrictEqual(seen, [[1, 30_000, 40_000]])
      }))
  })

  it.effect("a borrower waiting on an opening is served by a connection returned meanwhile; the opened one goes idle", () =>
    Effect.gen(function*() {
      const conns = Connections.make()
      let slow = false
      const pool = yield* ConnectionPool.make({
        acquire: Effect.suspend(() => slow ? Effect.andThen(Effect.sleep("1 second"), conns.acquire) : conns.acquire),
        maxIdle: 2,
        maxSize: 2,
        maxOpening: 1
      })
      const lease = yield* hold(pool)
      slow = true
      const borrower = yield* Effect.forkChild(ConnectionPool.use(pool, Effect.succeed))
      yield* settle
      assert.deepStrictEqual((yield* ConnectionPool.stats(pool)).opening, 1)
      yield* TestClock.adjust("500 millis")
      yield* lease.end()
      assert.strictEqual(yield* Fiber.join(borrower), 1)
      yield* TestClock.adjust("500 millis")
      const stats = yield* ConnectionPool.stats(pool)
      assert.deepStrictEqual([stats.idle, stats.opening, stats.created], [2, 0, 2])
      identities(stats, 2)
    }))

  it.effect("a failed opening's error goes to the longest waiter and every other waiter keeps waiting", () =>
    Effect.gen(function*() {
      const conns = Connections.make()
      conns.failures.push("refused")
      const pool = yield* ConnectionPool.make({
        acquire: Effect.andThen(Effect.sleep("1 second"), conns.acquire),
        maxIdle: 3,
        maxOpening: 1
      })
      const waiters = yield* Effect.forEach(
        [1, 2, 3],
        () => Effect.forkChild(Effect.result(ConnectionPool.use(pool, Effect.succeed)))
      )
      yield* settle
      let stats = yield* ConnectionPool.stats(pool)
      assert.deepStrictEqual([stats.opening, stats.waiting], [1, 3])
      yield* TestClock.adjust("1 second")
      const first = yield* Fiber.join(waiters[0])
      assert.isTrue(first._tag === "Failure" && first.failure === "refused")
      stats = yield* ConnectionPool.stats(pool)
      assert.deepStrictEqual([stats.opening, stats.waiting], [1, 2])
      assert.isUndefined(waiters[1].pollUnsafe())
      assert.isUndefined(waiters[2].pollUnsafe())
      identities(stats)
      yield* TestClock.adjust("1 second")
      const second = yield* Fiber.join(waiters[1])
      // The second gets connection 1 and returns it at once, so the third is served by it too.
      assert.isTrue(second._tag === "Success" && second.success === 1)
      const third = yield* Fiber.join(waiters[2])
      assert.isTrue(third._tag === "Success" && third.success === 1)
      identities(yield* ConnectionPool.stats(pool))
    }))

  describe("leakWarningAfter", () => {
    it.effect("a lease held longer logs one warning with the pool's name and how long it has been held", () => {
      const lines: Array<string> = []
      return capturing(
        lines,
        Effect.gen(function*() {
          const conns = Connections.make()
          const pool = yield* ConnectionPool.make({
            acquire: conns.acquire,
            maxIdle: 2,
            leakWarningAfter: "10 seconds",
            housekeepingInterval: "1 second",
            name: "ldap"
          })
          const held = yield* hold(pool)
          const brief = yield* hold(pool)
          yield* TestClock.adjust("9 seconds")
          yield* brief.end()
          assert.deepStrictEqual(lines, [])
          yield* TestClock.adjust("1 second")
          yield* TestClock.adjust("1 minute")
          const warnings = lines.filter((line) => line.includes("has been lent for"))
          assert.strictEqual(warnings.length, 1)
          assert.include(warnings[0], "pool=ldap")
          assert.include(warnings[0], "lent for 10s")
          yield* held.end()
          identities(yield* ConnectionPool.stats(pool))
        })
      )
    })

    it.effect("the warning names the borrower's span and its ids, not the whole span", () => {
      const lines: Array<string> = []
      return capturing(
        lines,
        Effect.gen(function*() {
          const conns = Connections.make()
          const pool = yield* ConnectionPool.make({ acquire: conns.acquire, maxIdle: 1, leakWarningAfter: "5 seconds" })
          // Forked in the test's scope, so the lease ends before the pool shuts down.
          yield* Effect.forkScoped(ConnectionPool.use(pool, () => Effect.never).pipe(Effect.withSpan("login")))
          yield* TestClock.adjust("6 seconds")
          const warnings = lines.filter((line) => line.includes("has been lent for"))
          assert.strictEqual(warnings.length, 1)
          assert.match(warnings[0], /borrowerSpan=login traceId=\w+ spanId=\w+/)
          assert.isBelow(warnings[0].length, 300)
        })
      )
    })

    it.effect("is off by default: a lease held for an hour logs nothing", () => {
      const lines: Array<string> = []
      return capturing(
        lines,
        Effect.gen(function*() {
          const conns = Connections.make()
          const pool = yield* ConnectionPool.make({
            acquire: conns.acquire,
            maxIdle: 1,
            idleTimeout: "1 minute",
            housekeepingInterval: "1 minute"
          })
          const held = yield* hold(pool)
          yield* TestClock.adjust("1 hour")
          yield* held.end()
          assert.deepStrictEqual(lines, [])
        })
      )
    })
  })
})
