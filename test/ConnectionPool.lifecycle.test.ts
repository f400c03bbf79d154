import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Logger, Scope } from "effect"
import { TestClock } from "effect/testing"
import * as ConnectionPool from "../src/ConnectionPool.ts"
import * as Connections from "./utils/Connections.ts"
import { hold, settle } from "./utils/Lease.ts"

describe("ConnectionPool lifecycle", () => {
  describe("acquireTimeout", () => {
    it.effect("bounds the wait in the queue with PoolTimeoutError and leaves nothing behind", () =>
      Effect.gen(function*() {
        const conns = Connections.make()
        const pool = yield* ConnectionPool.make({
          acquire: conns.acquire,
          maxIdle: 1,
          maxSize: 1,
          acquireTimeout: "100 millis"
        })
        const lease = yield* hold(pool)
        const waiter = yield* ConnectionPool.use(pool, Effect.succeed).pipe(Effect.flip, Effect.forkChild)
        yield* settle
        yield* TestClock.adjust("99 millis")
        assert.isUndefined(waiter.pollUnsafe())
        yield* TestClock.adjust("1 millis")
        const error = yield* Fiber.join(waiter)
        assert.strictEqual(typeof error === "object" && error._tag, "PoolTimeoutError")
        assert.strictEqual((yield* ConnectionPool.stats(pool)).waiting, 0)
        yield* lease.end()
        assert.strictEqual((yield* ConnectionPool.stats(pool)).idle, 1)
      }))

    it.effect("includes the opening, even of an acquire that cannot be interrupted; the late connection is kept", () =>
      Effect.gen(function*() {
        const conns = Connections.make()
        const acquire = Effect.uninterruptible(Effect.andThen(Effect.sleep("10 seconds"), conns.acquire))
        const pool = yield* ConnectionPool.make({ acquire, maxIdle: 1, acquireTimeout: "1 second" })
        const borrower = yield* ConnectionPool.use(pool, Effect.succeed).pipe(Effect.flip, Effect.forkChild)
        yield* settle
        yield* TestClock.adjust("1 second")
        const error = yield* Fiber.join(borrower)
        assert.strictEqual(typeof error === "object" && error._tag, "PoolTimeoutError")
        assert.strictEqual((yield* ConnectionPool.stats(pool)).opening, 1)
        yield* TestClock.adjust("9 seconds")
        assert.strictEqual((yield* ConnectionPool.stats(pool)).idle, 1)
        assert.strictEqual(yield* ConnectionPool.use(pool, Effect.succeed), 1)
        assert.strictEqual(conns.opened, 1)
      }))

    it.effect("a failed open whose borrower timed out is logged, not lost", () =>
      Effect.gen(function*() {
        const conns = Connections.make()
        conns.failures.push("refused")
        const lines: Array<string> = []
        const capture = Logger.map(Logger.formatLogFmt, (line) => {
          lines.push(line)
        })
        yield* Effect.gen(function*() {
          const pool = yield* ConnectionPool.make({
            acquire: Effect.andThen(Effect.sleep("2 seconds"), conns.acquire),
            maxIdle: 1,
            acquireTimeout: "1 second"
          })
          const borrower = yield* ConnectionPool.use(pool, Effect.succeed).pipe(Effect.flip, Effect.forkChild)
          yield* settle
          yield* TestClock.adjust("2 seconds")
          yield* Fiber.join(borrower)
          assert.deepStrictEqual(yield* ConnectionPool.stats(pool), {
            idle: 0,
            inUse: 0,
            opening: 0,
            closing: 0,
            waiting: 0,
            total: 0,
            created: 0,
            closed: 0
          })
        }).pipe(Effect.provide(Logger.layer([capture])))
        assert.isTrue(lines.some((line) => line.includes("opening a connection failed") && line.includes("refused")))
      }))
  })

  describe("validation", () => {
    const validating = (healthy: (id: number) => Effect.Effect<boolean, string>) =>
      Effect.gen(function*() {
        const conns = Connections.make()
        const checked: Array<number> = []
        const pool = yield* ConnectionPool.make({
          acquire: conns.acquire,
          maxIdle: 2,
          validateAfter: "30 seconds",
          validateTimeout: "1 second",
          validate: (id) => Effect.andThen(Effect.sync(() => checked.push(id)), healthy(id))
        })
        const leases = yield* Effect.all([hold(pool), hold(pool)])
        for (const lease of leases) yield* lease.end()
        return { conns, checked, pool }
      })

    it.effect("does not check connections idle for less than validateAfter", () =>
      Effect.gen(function*() {
        const { checked, pool } = yield* validating(() => Effect.succeed(true))
        yield* TestClock.adjust("29 seconds")
        assert.strictEqual(yield* ConnectionPool.use(pool, Effect.succeed), 1)
        assert.deepStrictEqual(checked, [])
      }))

    it.effect("a connection that fails validation is closed and the borrower gets the next one, without an error", () =>
      Effect.gen(function*() {
        const { checked, conns, pool } = yield* validating((id) => Effect.succeed(id !== 1))
        yield* TestClock.adjust("30 seconds")
        assert.strictEqual(yield* ConnectionPool.use(pool, Effect.succeed), 2)
        assert.deepStrictEqual(checked, [1, 2])
        assert.deepStrictEqual([...conns.live], [2])
      }))

    it.effect("a validation that fails or times out counts as broken; a new connection is opened", () =>
      Effect.gen(function*() {
        const { conns, pool } = yield* validating((id) => id === 1 ? Effect.fail("reset") : Effect.never)
        yield* TestClock.adjust("30 seconds")
        const borrower = yield* ConnectionPool.use(pool, Effect.succeed).pipe(Effect.forkChild)
        yield* settle
        yield* TestClock.adjust("1 second")
        assert.strictEqual(yield* Fiber.join(borrower), 3)
        assert.deepStrictEqual([...conns.live], [3])
        const stats = yield* ConnectionPool.stats(pool)
        assert.strictEqual(stats.created - stats.closed, stats.total)
      }))
  })

  describe("background upkeep", () => {
    it.effect("idleTimeout closes connections idle too long, down to minIdle", () =>
      Effect.gen(function*() {
        const conns = Connections.make()
        const pool = yield* ConnectionPool.make({
          acquire: conns.acquire,
          maxIdle: 3,
          minIdle: 1,
          idleTimeout: "10 seconds",
          housekeepingInterval: "1 second"
        })
        const leases = yield* Effect.all([hold(pool), hold(pool), hold(pool)])
        for (const lease of leases) yield* lease.end()
        yield* TestClock.adjust("9 seconds")
        assert.strictEqual(conns.live.size, 3)
        yield* TestClock.adjust("2 seconds")
        assert.strictEqual(conns.live.size, 1)
        assert.strictEqual((yield* ConnectionPool.stats(pool)).idle, 1)
      }))

    it.effect("minIdle is opened in the background and refilled after connections close", () =>
      Effect.gen(function*() {
        const conns = Connections.make()
        const pool = yield* ConnectionPool.make({
          acquire: conns.acquire,
          maxIdle: 3,
          minIdle: 2,
          housekeepingInterval: "1 second"
        })
        yield* settle
        assert.strictEqual((yield* ConnectionPool.stats(pool)).idle, 2)
        yield* ConnectionPool.use(pool, (id) => ConnectionPool.invalidate(pool, id))
        assert.strictEqual((yield* ConnectionPool.stats(pool)).idle, 1)
        yield* TestClock.adjust("1 second")
        assert.strictEqual((yield* ConnectionPool.stats(pool)).idle, 2)
        assert.strictEqual(conns.opened, 3)
      }))

    it.effect("maxLifetime retires idle connections in the background and lent ones when they return", () =>
      Effect.gen(function*() {
        const conns = Connections.make()
        const pool = yield* ConnectionPool.make({
          acquire: conns.acquire,
          maxIdle: 2,
          maxLifetime: "1 minute",
          housekeepingInterval: "1 second"
        })
        const [a, b] = yield* Effect.all([hold(pool), hold(pool)])
        yield* a.end()
        yield* TestClock.adjust("1 minute")
        assert.deepStrictEqual([...conns.live], [2])
        yield* b.end()
        assert.strictEqual(conns.live.size, 0)
      }))

    it.effect("stops with the pool's scope", () =>
      Effect.gen(function*() {
        const conns = Connections.make()
        const scope = yield* Scope.make()
        yield* ConnectionPool.make({ acquire: conns.acquire, maxIdle: 2, minIdle: 2, housekeepingInterval: "1 second" })
          .pipe(Scope.provide(scope))
        yield* settle
        yield* Scope.close(scope, Exit.void)
        const opened = conns.opened
        yield* TestClock.adjust("1 minute")
        assert.strictEqual(conns.opened, opened)
        assert.isTrue(Connections.allClosedOnce(conns))
      }))
  })

  describe("shutdown", () => {
    const shutdownOf = (scope: Scope.Closeable) =>
      Effect.gen(function*() {
        const closing = yield* Effect.forkChild(Scope.close(scope, Exit.void))
        yield* settle
        return closing
      })

    it.effect("fails waiting and new borrowers with PoolClosedError", () =>
      Effect.gen(function*() {
        const conns = Connections.make()
        const scope = yield* Scope.make()
        const pool = yield* ConnectionPool.make({ acquire: conns.acquire, maxIdle: 2, maxSize: 2 }).pipe(
          Scope.provide(scope)
        )
        const [a, b] = yield* Effect.all([hold(pool), hold(pool)])
        const waiter = yield* ConnectionPool.use(pool, Effect.succeed).pipe(Effect.flip, Effect.forkChild)
        yield* settle
        const closing = yield* shutdownOf(scope)
        const waited = yield* Fiber.join(waiter)
        assert.strictEqual(typeof waited === "object" && waited._tag, "PoolClosedError")
        const late = yield* Effect.flip(ConnectionPool.use(pool, Effect.succeed))
        assert.strictEqual(typeof late === "object" && late._tag, "PoolClosedError")
        yield* b.end()
        yield* a.end()
        yield* Fiber.join(closing)
        assert.isTrue(Connections.allClosedOnce(conns))
      }))

    it.effect("closes idle connections at once and lent ones when they return, then finishes", () =>
      Effect.gen(function*() {
        const conns = Connections.make()
        const scope = yield* Scope.make()
        const pool = yield* ConnectionPool.make({ acquire: conns.acquire, maxIdle: 2 }).pipe(Scope.provide(scope))
        const [a, b, c] = yield* Effect.all([hold(pool), hold(pool), hold(pool)])
        yield* a.end()
        yield* b.end()
        const closing = yield* shutdownOf(scope)
        assert.deepStrictEqual([...conns.live], [c.connection])
        assert.isUndefined(closing.pollUnsafe())
        yield* c.end()
        yield* Fiber.join(closing)
        assert.isTrue(Connections.allClosedOnce(conns))
      }))

    it.effect("a connection still opening at shutdown is closed when it arrives", () =>
      Effect.gen(function*() {
        const conns = Connections.make()
        const scope = yield* Scope.make()
        const pool = yield* ConnectionPool.make({
          acquire: Effect.andThen(Effect.sleep("1 second"), conns.acquire),
          maxIdle: 1
        }).pipe(Scope.provide(scope))
        const borrower = yield* ConnectionPool.use(pool, Effect.succeed).pipe(Effect.flip, Effect.forkChild)
        yield* settle
        const closing = yield* shutdownOf(scope)
        yield* TestClock.adjust("1 second")
        yield* Fiber.join(closing)
        const error = yield* Fiber.join(borrower)
        assert.strictEqual(typeof error === "object" && error._tag, "PoolClosedError")
        assert.isTrue(Connections.allClosedOnce(conns))
      }))
  })
})
