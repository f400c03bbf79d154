import { assert, describe, it } from "@effect/vitest"
import { Cause, Config, ConfigProvider, Context, Effect, Exit, Fiber, Layer, Logger, Scope } from "effect"
import { TestClock } from "effect/testing"
import * as ConnectionPool from "../src/ConnectionPool.ts"
import { identities } from "./utils/Checks.ts"
import * as Connections from "./utils/Connections.ts"
import { hold, settle } from "./utils/Lease.ts"

describe("ConnectionPool", () => {
  describe("order", () => {
    it.effect("FIFO lends the connection idle the longest, so traffic cycles through all of them", () =>
      Effect.gen(function*() {
        const conns = Connections.make()
        const pool = yield* ConnectionPool.make({ acquire: conns.acquire, maxIdle: 3 })
        const leases = yield* Effect.all([hold(pool), hold(pool), hold(pool)])
        for (const lease of leases) yield* lease.end()
        const seen: Array<number> = []
        for (let i = 0; i < 6; i++) seen.push(yield* ConnectionPool.use(pool, Effect.succeed))
        assert.deepStrictEqual(seen, [1, 2, 3, 1, 2, 3])
        assert.strictEqual(conns.opened, 3)
      }))

    it.effect("LIFO lends the connection returned last", () =>
      Effect.gen(function*() {
        const conns = Connections.make()
        const pool = yield* ConnectionPool.make({ acquire: conns.acquire, maxIdle: 3, order: "lifo" })
        const leases = yield* Effect.all([hold(pool), hold(pool), hold(pool)])
        for (const lease of leases) yield* lease.end()
        const seen: Array<number> = []
        for (let i = 0; i < 3; i++) seen.push(yield* ConnectionPool.use(pool, Effect.succeed))
        assert.deepStrictEqual(seen, [3, 3, 3])
      }))
  })

  describe("maxIdle", () => {
    it.effect("closes connections returned to a full idle set at once, each exactly once", () =>
      Effect.gen(function*() {
        const conns = Connections.make()
        const pool = yield* ConnectionPool.make({ acquire: conns.acquire, maxIdle: 2 })
        const leases = yield* Effect.forEach([1, 2, 3, 4, 5], () => hold(pool))
        for (const lease of leases) yield* lease.end()
        assert.deepStrictEqual([...conns.live].sort(), [1, 2])
        assert.deepStrictEqual([...conns.closes.entries()].sort(), [[3, 1], [4, 1], [5, 1]])
        const stats = yield* ConnectionPool.stats(pool)
        assert.deepStrictEqual(stats, { idle: 2, inUse: 0, opening: 0, closing: 0, waiting: 0, total: 2, created: 5, closed: 3 })
      }))

    it.effect("maxIdle 0 keeps nothing idle", () =>
      Effect.gen(function*() {
        const conns = Connections.make()
        const pool = yield* ConnectionPool.make({ acquire: conns.acquire, maxIdle: 0 })
        yield* ConnectionPool.use(pool, Effect.succeed)
        yield* ConnectionPool.use(pool, Effect.succeed)
        assert.strictEqual(conns.opened, 2)
        assert.isTrue(Connections.allClosedOnce(conns))
      }))

    it.effect("does not cap the total: without maxSize a spike opens what it needs", () =>
      Effect.gen(function*() {
        const conns = Connections.make()
        const pool = yield* ConnectionPool.make({ acquire: conns.acquire, maxIdle: 1 })
        const leases = yield* Effect.forEach(Array.from({ length: 50 }), () => hold(pool))
        assert.strictEqual(conns.live.size, 50)
        for (const lease of leases) yield* lease.end()
        assert.strictEqual(conns.live.size, 1)
      }))
  })

  describe("leases come back", () => {
    it.effect("after success and typed failure the connection is reused", () =>
      Effect.gen(function*() {
        const conns = Connections.make()
        const pool = yield* ConnectionPool.make({ acquire: conns.acquire, maxIdle: 1 })
        yield* ConnectionPool.use(pool, () => Effect.void)
        const failed = yield* ConnectionPool.use(pool, () => Effect.fail("boom")).pipe(Effect.flip)
        assert.strictEqual(failed, "boom")
        yield* ConnectionPool.use(pool, () => Effect.void)
        assert.strictEqual(conns.opened, 1)
        const stats = yield* ConnectionPool.stats(pool)
        assert.strictEqual(stats.inUse, 0)
        identities(stats)
      }))

    it.effect("after a defect the connection is closed, not reused", () =>
      Effect.gen(function*() {
        const conns = Connections.make()
        const pool = yield* ConnectionPool.make({ acquire: conns.acquire, maxIdle: 1 })
        const exit = yield* Effect.exit(ConnectionPool.use(pool, () => Effect.die("bug")))
        assert.isTrue(Exit.isFailure(exit) && Cause.hasDies(exit.cause))
        assert.strictEqual(conns.live.size, 0)
        yield* ConnectionPool.use(pool, () => Effect.void)
        assert.strictEqual(conns.opened, 2)
        identities(yield* ConnectionPool.stats(pool))
      }))

    it.effect("after interruption while using, the connection is closed and the lease returned", () =>
      Effect.gen(function*() {
        const conns = Connections.make()
        const pool = yield* ConnectionPool.make({ acquire: conns.acquire, maxIdle: 1 })
        const fiber = yield* ConnectionPool.use(pool, () => Effect.never).pipe(Effect.forkChild)
        yield* settle
        assert.strictEqual((yield* ConnectionPool.stats(pool)).inUse, 1)
        yield* Fiber.interrupt(fiber)
        const stats = yield* ConnectionPool.stats(pool)
        assert.strictEqual(stats.inUse, 0)
        assert.strictEqual(conns.live.size, 0)
        identities(stats)
      }))

    it.effect("a scope from get returns the lease when it closes", () =>
      Effect.gen(function*() {
        const conns = Connections.make()
        const pool = yield* ConnectionPool.make({ acquire: conns.acquire, maxIdle: 1 })
        const conn = yield* Effect.scoped(ConnectionPool.get(pool))
        assert.strictEqual(conn, 1)
        assert.deepStrictEqual(yield* ConnectionPool.stats(pool), {
          idle: 1,
          inUse: 0,
          opening: 0,
          closing: 0,
          waiting: 0,
          total: 1,
          created: 1,
          closed: 0
        })
      }))

    it.effect("after interruption while waiting, the waiter leaves the queue", () =>
      Effect.gen(function*() {
        const conns = Connections.make()
        const pool = yield* ConnectionPool.make({ acquire: conns.acquire, maxIdle: 1, maxSize: 1 })
        const lease = yield* hold(pool)
        const waiter = yield* ConnectionPool.use(pool, Effect.succeed).pipe(Effect.forkChild)
        yield* settle
        assert.strictEqual((yield* ConnectionPool.stats(pool)).waiting, 1)
        yield* Fiber.interrupt(waiter)
        assert.strictEqual((yield* ConnectionPool.stats(pool)).waiting, 0)
        yield* lease.end()
        const stats = yield* ConnectionPool.stats(pool)
        assert.deepStrictEqual(stats, { idle: 1, inUse: 0, opening: 0, closing: 0, waiting: 0, total: 1, created: 1, closed: 0 })
      }))

    it.effect("after interruption while opening, the borrower leaves at once and the connection goes to the pool", () =>
      Effect.gen(function*() {
        const conns = Connections.make()
        // The acquire of Effect.acquireRelease cannot be interrupted; the borrower must not wait for it.
        const acquire = Effect.uninterruptible(Effect.andThen(Effect.sleep("1 second"), conns.acquire))
        const pool = yield* ConnectionPool.make({ acquire, maxIdle: 1, maxSize: 1 })
        const fiber = yield* ConnectionPool.use(pool, Effect.succeed).pipe(Effect.forkChild)
        yield* settle
        assert.strictEqual((yield* ConnectionPool.stats(pool)).opening, 1)
        yield* Fiber.interrupt(fiber)
        assert.deepStrictEqual(yield* ConnectionPool.stats(pool), {
          idle: 0,
          inUse: 0,
          opening: 1,
          closing: 0,
          waiting: 0,
          total: 1,
          created: 0,
          closed: 0
        })
        yield* TestClock.adjust("1 second")
        assert.deepStrictEqual(yield* ConnectionPool.stats(pool), {
          idle: 1,
          inUse: 0,
          opening: 0,
          closing: 0,
          waiting: 0,
          total: 1,
          created: 1,
          closed: 0
        })
        assert.strictEqual(yield* ConnectionPool.use(pool, Effect.succeed), 1)
      }))

    it.effect("recycle decides reuse from the lease's exit", () =>
      Effect.gen(function*() {
        const conns = Connections.make()
        const pool = yield* ConnectionPool.make({
          acquire: conns.acquire,
          maxIdle: 1,
          recycle: (exit) => Exit.isSuccess(exit)
        })
        yield* ConnectionPool.use(pool, () => Effect.fail("network")).pipe(Effect.ignore)
        assert.strictEqual(conns.live.size, 0)
        yield* ConnectionPool.use(pool, () => Effect.void)
        assert.strictEqual(conns.live.size, 1)
      }))

    it.effect("invalidate closes a lent connection when its lease ends and never lends it again", () =>
      Effect.gen(function*() {
        const conns = Connections.make()
        const pool = yield* ConnectionPool.make({ acquire: conns.acquire, maxIdle: 2 })
        yield* ConnectionPool.use(pool, (conn) =>
          Effect.gen(function*() {
            yield* ConnectionPool.invalidate(pool, conn)
            assert.isTrue(conns.live.has(conn))
          }))
        assert.strictEqual(conns.live.size, 0)
        assert.strictEqual(yield* ConnectionPool.use(pool, Effect.succeed), 2)
      }))

    it.effect("invalidate closes an idle connection at once", () =>
      Effect.gen(function*() {
        const conns = Connections.make()
        const pool = yield* ConnectionPool.make({ acquire: conns.acquire, maxIdle: 2 })
        yield* ConnectionPool.use(pool, Effect.succeed)
        yield* pool.pipe(ConnectionPool.invalidate(1))
        assert.strictEqual(conns.live.size, 0)
        identities(yield* ConnectionPool.stats(pool))
      }))
  })

  describe("maxSize", () => {
    it.effect("serves waiters in arrival order, each from a returned connection", () =>
      Effect.gen(function*() {
        const conns = Connections.make()
        const pool = yield* ConnectionPool.make({ acquire: conns.acquire, maxIdle: 2, maxSize: 2 })
        const a = yield* hold(pool)
        const b = yield* hold(pool)
        const served: Array<string> = []
        const waiters = yield* Effect.forEach(["w1", "w2", "w3"], (name) =>
          ConnectionPool.use(pool, (conn) => Effect.sync(() => served.push(`${name}:${conn}`))).pipe(
            Effect.forkChild
          ).pipe(Effect.tap(() => settle)))
        assert.strictEqual((yield* ConnectionPool.stats(pool)).waiting, 3)
        yield* b.end()
        yield* Effect.forEach(waiters, Fiber.join)
        yield* a.end()
        assert.deepStrictEqual(served, ["w1:2", "w2:2", "w3:2"])
        assert.strictEqual(conns.opened, 2)
        assert.strictEqual(conns.maxLive, 2)
      }))

    for (const acquireTimeout of [undefined, "1 minute"] as const) {
      it.effect(`a connection handed to a waiter as it is interrupted goes back to the pool (acquireTimeout ${acquireTimeout})`, () =>
        Effect.gen(function*() {
          const conns = Connections.make()
          // Reuse after interruption too, so the connection comes back whichever way the race goes.
          const pool = yield* ConnectionPool.make({
            acquire: conns.acquire,
            maxIdle: 1,
            maxSize: 1,
            acquireTimeout,
            recycle: () => true
          })
          const lease = yield* hold(pool)
          const waiter = yield* ConnectionPool.use(pool, () => Effect.never).pipe(Effect.forkChild)
          yield* settle
          // The release serves the waiter; the interruption lands before the waiter runs again.
          yield* lease.end().pipe(Effect.andThen(Effect.sync(() => waiter.interruptUnsafe())))
          yield* Fiber.await(waiter)
          const stats = yield* ConnectionPool.stats(pool)
          assert.strictEqual(stats.inUse, 0)
          assert.strictEqual(stats.waiting, 0)
          identities(stats)
          assert.strictEqual(yield* ConnectionPool.use(pool, Effect.succeed), 1)
        }))
    }

    it.effect("maxWaiting fails the next borrower at once with PoolExhaustedError", () =>
      Effect.gen(function*() {
        const conns = Connections.make()
        const pool = yield* ConnectionPool.make({ acquire: conns.acquire, maxIdle: 1, maxSize: 1, maxWaiting: 1 })
        const lease = yield* hold(pool)
        const waiter = yield* ConnectionPool.use(pool, Effect.succeed).pipe(Effect.forkChild)
        yield* settle
        const error = yield* Effect.flip(ConnectionPool.use(pool, Effect.succeed))
        assert.strictEqual(typeof error === "object" && error._tag, "PoolExhaustedError")
        yield* lease.end()
        assert.strictEqual(yield* Fiber.join(waiter), 1)
      }))
  })

  describe("failures", () => {
    it.effect("a failed open fails only the borrower that caused it and frees the slot for the next waiter", () =>
      Effect.gen(function*() {
        const conns = Connections.make()
        const pool = yield* ConnectionPool.make({ acquire: conns.acquire, maxIdle: 1, maxSize: 1 })
        const lease = yield* hold(pool)
        const first = yield* ConnectionPool.use(pool, Effect.succeed).pipe(Effect.flip, Effect.forkChild)
        yield* settle
        const second = yield* ConnectionPool.use(pool, Effect.succeed).pipe(Effect.forkChild)
        yield* settle
        conns.failures.push("refused")
        yield* ConnectionPool.invalidate(pool, lease.connection)
        yield* lease.end()
        // The first waiter got the freed slot and its open failed; the slot then went to the second.
        assert.strictEqual(yield* Fiber.join(first), "refused")
        assert.strictEqual(yield* Fiber.join(second), 2)
        identities(yield* ConnectionPool.stats(pool))
      }))

    it.effect("a waiter queued behind a failing open is served once it fails", () =>
      Effect.gen(function*() {
        const conns = Connections.make()
        conns.failures.push("refused")
        const pool = yield* ConnectionPool.make({
          acquire: Effect.andThen(Effect.sleep("1 second"), conns.acquire),
          maxIdle: 1,
          maxSize: 1
        })
        const first = yield* ConnectionPool.use(pool, Effect.succeed).pipe(Effect.flip, Effect.forkChild)
        yield* settle
        const second = yield* ConnectionPool.use(pool, Effect.succeed).pipe(Effect.forkChild)
        yield* settle
        // Both wait: the first for the opening in flight, the second behind it.
        assert.deepStrictEqual(yield* ConnectionPool.stats(pool).pipe(Effect.map((s) => [s.waiting, s.opening])), [2, 1])
        yield* TestClock.adjust("1 second")
        assert.strictEqual(yield* Fiber.join(first), "refused")
        yield* TestClock.adjust("1 second")
        assert.strictEqual(yield* Fiber.join(second), 1)
        identities(yield* ConnectionPool.stats(pool))
      }))

    it.effect("a failing close is logged, never reaches a borrower and never wedges the pool", () => {
      const lines: Array<string> = []
      const capture = Logger.map(Logger.formatLogFmt, (line) => {
        lines.push(line)
      })
      return Effect.gen(function*() {
        const conns = Connections.make()
        conns.closeDefect = "close failed"
        const pool = yield* ConnectionPool.make({ acquire: conns.acquire, maxIdle: 0, maxSize: 1, name: "flaky" })
        for (let i = 0; i < 3; i++) {
          assert.strictEqual(yield* ConnectionPool.use(pool, Effect.succeed), i + 1)
        }
        const stats = yield* ConnectionPool.stats(pool)
        assert.deepStrictEqual(stats, { idle: 0, inUse: 0, opening: 0, closing: 0, waiting: 0, total: 0, created: 3, closed: 3 })
        const logged = lines.filter((line) => line.includes("closing a connection failed"))
        assert.strictEqual(logged.length, 3)
        assert.include(logged[0], "pool=flaky")
        assert.include(logged[0], "close failed")
      }).pipe(Effect.provide(Logger.layer([capture])))
    })
  })

  describe("options", () => {
    const cases: Array<[string, Partial<ConnectionPool.Options<number, never, never>>, string]> = [
      ["negative maxIdle", { maxIdle: -1 }, `option "maxIdle" must be an integer >= 0, got -1`],
      ["NaN maxIdle", { maxIdle: NaN }, `option "maxIdle" must be an integer >= 0, got NaN`],
      ["fractional maxSize", { maxIdle: 0, maxSize: 2.5 }, `option "maxSize" must be an integer >= 1, got 2.5`],
      ["maxSize 0", { maxIdle: 0, maxSize: 0 }, `option "maxSize" must be an integer >= 1, got 0`],
      ["maxIdle > maxSize", { maxIdle: 5, maxSize: 2 }, `option "maxIdle" must be <= maxSize (2), got 5`],
      ["minIdle > maxIdle", { maxIdle: 1, minIdle: 2 }, `option "minIdle" must be <= maxIdle (1), got 2`],
      ["negative timeout", { maxIdle: 1, acquireTimeout: -5 }, `option "acquireTimeout" must be a duration >= 0, got -5`],
      ["unknown order", { maxIdle: 1, order: "random" as "fifo" }, `option "order" must be "fifo" or "lifo", got "random"`],
      ["maxOpening 0", { maxIdle: 1, maxOpening: 0 }, `option "maxOpening" must be an integer >= 1, got 0`],
      ["negative closeTimeout", { maxIdle: 1, closeTimeout: "-1 second" }, `option "closeTimeout" must be a duration >= 0`],
      ["leakWarningAfter 0", { maxIdle: 1, leakWarningAfter: 0 }, `option "leakWarningAfter" must be a duration > 0, got 0`]
    ]
    for (const [name, options, message] of cases) {
      it.effect(`rejects ${name}, naming the option and the value`, () =>
        Effect.gen(function*() {
          const exit = yield* Effect.exit(
            ConnectionPool.make({ acquire: Effect.succeed(1), maxIdle: 0, ...options })
          )
          assert.isTrue(Exit.isFailure(exit))
          const defect = Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined
          assert.include(String((defect as Error).message), message)
        }))
    }
  })

  describe("layers", () => {
    class Pool extends Context.Service<Pool, ConnectionPool.ConnectionPool<number, string>>()("test/Pool") {}

    it.effect("layer provides the pool and closes its connections with the layer", () =>
      Effect.gen(function*() {
        const conns = Connections.make()
        const layer = ConnectionPool.layer(Pool, { acquire: conns.acquire, maxIdle: 2 })
        const seen = yield* Effect.gen(function*() {
          const pool = yield* Pool
          return yield* ConnectionPool.use(pool, Effect.succeed)
        }).pipe(Effect.provide(layer))
        assert.strictEqual(seen, 1)
        assert.isTrue(Connections.allClosedOnce(conns))
      }))

    it.effect("layerConfig reads sizes and durations with Config", () =>
      Effect.gen(function*() {
        const conns = Connections.make()
        const layer = ConnectionPool.layerConfig(Pool, conns.acquire, {
          maxIdle: Config.Int("POOL_MAX_IDLE"),
          maxSize: Config.Int("POOL_MAX_SIZE"),
          acquireTimeout: Config.Duration("POOL_ACQUIRE_TIMEOUT")
        }).pipe(
          Layer.provide(ConfigProvider.layer(ConfigProvider.fromUnknown({
            POOL_MAX_IDLE: "1",
            POOL_MAX_SIZE: "1",
            POOL_ACQUIRE_TIMEOUT: "1 second"
          })))
        )
        const error = yield* Effect.gen(function*() {
          const pool = yield* Pool
          const lease = yield* hold(pool)
          const second = yield* Effect.forkChild(Effect.flip(ConnectionPool.use(pool, Effect.succeed)))
          yield* settle
          yield* TestClock.adjust("1 second")
          yield* lease.end()
          return yield* Fiber.join(second)
        }).pipe(Effect.provide(layer))
        assert.strictEqual(typeof error === "object" && error._tag, "PoolTimeoutError")
      }))
  })

  it.effect("the pool closes every connection when its scope closes", () =>
    Effect.gen(function*() {
      const conns = Connections.make()
      const scope = yield* Scope.make()
      const pool = yield* ConnectionPool.make({ acquire: conns.acquire, maxIdle: 3 }).pipe(Scope.provide(scope))
      yield* Effect.forEach([1, 2, 3], () => hold(pool)).pipe(Effect.flatMap(Effect.forEach((l) => l.end())))
      yield* Scope.close(scope, Exit.void)
      assert.isTrue(Connections.allClosedOnce(conns))
    }))
})
