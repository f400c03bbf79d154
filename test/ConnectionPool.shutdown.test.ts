import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Scope } from "effect"
import { TestClock } from "effect/testing"
import * as ConnectionPool from "../src/ConnectionPool.ts"
import { identities } from "./utils/Checks.ts"
import * as Connections from "./utils/Connections.ts"
import { hold, settle } from "./utils/Lease.ts"

/** Closes `scope` in a fiber of its own, so the test can move the clock while shutdown runs. */
const shutdownOf = (scope: Scope.Closeable) =>
  Effect.gen(function*() {
    const closing = yield* Effect.forkChild(Scope.close(scope, Exit.void))
    yield* settle
    return closing
  })

const tagOf = (error: unknown) => typeof error === "object" && error !== null && "_tag" in error ? error._tag : error

describe("ConnectionPool shutdown", () => {
  it.effect("idle connections close at once, new borrowers are refused at once, lent ones close as they return, then done", () =>
    Effect.gen(function*() {
      const conns = Connections.make()
      const scope = yield* Scope.make()
      const pool = yield* ConnectionPool.make({ acquire: conns.acquire, maxIdle: 2, maxSize: 3 }).pipe(
        Scope.provide(scope)
      )
      const [a, b, c] = yield* Effect.all([hold(pool), hold(pool), hold(pool)])
      yield* c.end()
      identities(yield* ConnectionPool.stats(pool), 3)
      const closing = yield* shutdownOf(scope)
      assert.deepStrictEqual([...conns.live].sort(), [a.connection, b.connection].sort())
      assert.strictEqual(tagOf(yield* Effect.flip(ConnectionPool.use(pool, Effect.succeed))), "PoolClosedError")
      identities(yield* ConnectionPool.stats(pool), 3)
      yield* a.end()
      assert.deepStrictEqual([...conns.live], [b.connection])
      assert.isUndefined(closing.pollUnsafe())
      identities(yield* ConnectionPool.stats(pool), 3)
      yield* b.end()
      yield* Fiber.join(closing)
      const stats = yield* ConnectionPool.stats(pool)
      assert.deepStrictEqual([stats.total, stats.created, stats.closed], [0, 3, 3])
      identities(stats)
      assert.isTrue(Connections.allClosedOnce(conns))
    }))

  it.effect("an opening that cannot be interrupted is abandoned; its connection is closed as soon as it arrives", () =>
    Effect.gen(function*() {
      const conns = Connections.make()
      const scope = yield* Scope.make()
      const pool = yield* ConnectionPool.make({
        acquire: Effect.uninterruptible(Effect.andThen(Effect.sleep("10 seconds"), conns.acquire)),
        maxIdle: 1
      }).pipe(Scope.provide(scope))
      const borrower = yield* Effect.forkChild(Effect.flip(ConnectionPool.use(pool, Effect.succeed)))
      yield* settle
      assert.strictEqual((yield* ConnectionPool.stats(pool)).opening, 1)
      // Shutdown returns without moving the clock: it does not wait for the opening.
      yield* Scope.close(scope, Exit.void)
      assert.strictEqual(tagOf(yield* Fiber.join(borrower)), "PoolClosedError")
      assert.strictEqual(conns.opened, 0)
      yield* TestClock.adjust("10 seconds")
      assert.strictEqual(conns.opened, 1)
      assert.isTrue(Connections.allClosedOnce(conns))
      // The runtime turns the opening's late success into an interruption, so the pool never sees the
      // connection: it closes the opening's scope, whose finalizer closes it, and does not count it.
      const stats = yield* ConnectionPool.stats(pool)
      assert.deepStrictEqual([stats.total, stats.opening, stats.created, stats.closed], [0, 0, 0, 0])
      identities(stats)
    }))

  it.effect("the README's acquireRelease(connect, close) with a connect that never answers does not hold shutdown", () =>
    Effect.gen(function*() {
      const closed: Array<string> = []
      const scope = yield* Scope.make()
      const pool = yield* ConnectionPool.make({
        // The acquire of acquireRelease cannot be interrupted: a server that accepts and never answers.
        acquire: Effect.acquireRelease(Effect.never, () => Effect.sync(() => closed.push("closed"))),
        maxIdle: 1,
        acquireTimeout: "2 seconds"
      }).pipe(Scope.provide(scope))
      const borrower = yield* Effect.forkChild(Effect.flip(ConnectionPool.use(pool, Effect.succeed)))
      yield* settle
      yield* TestClock.adjust("2 seconds")
      assert.strictEqual(tagOf(yield* Fiber.join(borrower)), "PoolTimeoutError")
      yield* Scope.close(scope, Exit.void)
      assert.strictEqual(tagOf(yield* Effect.flip(ConnectionPool.use(pool, Effect.succeed))), "PoolClosedError")
      assert.deepStrictEqual(closed, [])
      identities(yield* ConnectionPool.stats(pool))
    }))

  it.effect("the README's acquireRelease(connect, close) answering after shutdown is released as soon as it arrives", () =>
    Effect.gen(function*() {
      const released: Array<string> = []
      const scope = yield* Scope.make()
      const pool = yield* ConnectionPool.make({
        acquire: Effect.acquireRelease(
          Effect.as(Effect.sleep("1 minute"), "late"),
          (connection) => Effect.sync(() => released.push(connection))
        ),
        maxIdle: 1
      }).pipe(Scope.provide(scope))
      const borrower = yield* Effect.forkChild(Effect.flip(ConnectionPool.use(pool, Effect.succeed)))
      yield* settle
      yield* Scope.close(scope, Exit.void)
      assert.strictEqual(tagOf(yield* Fiber.join(borrower)), "PoolClosedError")
      assert.deepStrictEqual(released, [])
      yield* TestClock.adjust("1 minute")
      assert.deepStrictEqual(released, ["late"])
      const stats = yield* ConnectionPool.stats(pool)
      assert.deepStrictEqual([stats.total, stats.opening], [0, 0])
      identities(stats)
    }))

  it.effect("an opening that can be interrupted is interrupted by shutdown", () =>
    Effect.gen(function*() {
      const conns = Connections.make()
      const scope = yield* Scope.make()
      yield* ConnectionPool.make({
        acquire: Effect.andThen(Effect.sleep("1 minute"), conns.acquire),
        maxIdle: 1,
        minIdle: 1
      }).pipe(Scope.provide(scope))
      yield* settle
      yield* Scope.close(scope, Exit.void)
      yield* TestClock.adjust("1 minute")
      assert.strictEqual(conns.opened, 0)
    }))

  it.effect("with waiters and uninterruptible openings, shutdown finishes once the lent connection returns", () =>
    Effect.gen(function*() {
      const conns = Connections.make()
      const scope = yield* Scope.make()
      let slow = false
      const pool = yield* ConnectionPool.make({
        acquire: Effect.suspend(() =>
          slow ? Effect.uninterruptible(Effect.andThen(Effect.sleep("5 seconds"), conns.acquire)) : conns.acquire
        ),
        maxIdle: 2,
        maxSize: 4
      }).pipe(Scope.provide(scope))
      const a = yield* hold(pool)
      slow = true
      const waiters = yield* Effect.forEach(
        [1, 2, 3],
        () => Effect.forkChild(Effect.flip(ConnectionPool.use(pool, Effect.succeed)))
      )
      yield* settle
      let stats = yield* ConnectionPool.stats(pool)
      assert.deepStrictEqual([stats.opening, stats.waiting], [3, 3])
      identities(stats, 4)
      const closing = yield* shutdownOf(scope)
      for (const waiter of waiters) assert.strictEqual(tagOf(yield* Fiber.join(waiter)), "PoolClosedError")
      assert.isUndefined(closing.pollUnsafe())
      yield* a.end()
      yield* Fiber.join(closing)
      yield* TestClock.adjust("5 seconds")
      stats = yield* ConnectionPool.stats(pool)
      assert.deepStrictEqual([stats.total, stats.opening, stats.created, stats.closed], [0, 0, 1, 1])
      identities(stats)
      assert.strictEqual(conns.opened, 4)
      assert.isTrue(Connections.allClosedOnce(conns))
    }))

  it.effect("a borrower whose connection is being validated gets PoolClosedError at once, not after validateTimeout", () =>
    Effect.gen(function*() {
      const conns = Connections.make()
      const scope = yield* Scope.make()
      const pool = yield* ConnectionPool.make({
        acquire: conns.acquire,
        maxIdle: 1,
        validate: () => Effect.never,
        validateTimeout: "1 minute"
      }).pipe(Scope.provide(scope))
      yield* ConnectionPool.use(pool, Effect.succeed)
      const borrower = yield* Effect.forkChild(Effect.flip(ConnectionPool.use(pool, Effect.succeed)))
      yield* settle
      const closing = yield* shutdownOf(scope)
      assert.strictEqual(tagOf(yield* Fiber.join(borrower)), "PoolClosedError")
      yield* Fiber.join(closing)
      assert.isTrue(Connections.allClosedOnce(conns))
      identities(yield* ConnectionPool.stats(pool))
    }))
})
