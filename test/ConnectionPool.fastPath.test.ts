import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Metric, Scheduler, Scope } from "effect"
import { TestClock } from "effect/testing"
import * as ConnectionPool from "../src/ConnectionPool.ts"
import * as Connections from "./utils/Connections.ts"
import { hold } from "./utils/Lease.ts"

const histogram = (snapshots: ReadonlyArray<Metric.Metric.Snapshot>, id: string) => {
  const snapshot = snapshots.find((s) => s.id === `db.client.connection.${id}`)
  return snapshot?.type === "Histogram" ? snapshot.state : undefined
}

describe("ConnectionPool use, lending from the idle set", () => {
  it.effect("interrupted at any step, a lease never leaks and a connection is never lent twice", () =>
    Effect.gen(function*() {
      const conns = Connections.make()
      const scope = yield* Scope.make()
      const pool = yield* ConnectionPool.make({ acquire: conns.acquire, maxIdle: 3, maxSize: 3 }).pipe(
        Scope.provide(scope)
      )
      const leases = yield* Effect.all([hold(pool), hold(pool), hold(pool)])
      for (const lease of leases) yield* lease.end()
      const leased = new Set<number>()
      const outcomes = { beforeBorrow: 0, whileUsing: 0, completed: 0 }
      for (let i = 0; i < 400; i++) {
        let started = false
        const body = (connection: number) =>
          Effect.uninterruptibleMask((restore) => {
            started = true
            assert.isFalse(leased.has(connection), `connection ${connection} lent twice`)
            leased.add(connection)
            return Effect.ensuring(
              restore(Effect.forEach(Array.from({ length: i % 3 }), () => Effect.yieldNow, { discard: true })),
              Effect.sync(() => leased.delete(connection))
            )
          })
        // The runtime yields every few steps of the borrower, at a different step each time, so the
        // interruption lands between the steps of a borrow in turn.
        const fiber = yield* Effect.forkChild(
          ConnectionPool.use(pool, body).pipe(Effect.provideService(Scheduler.MaxOpsBeforeYield, 3 + (i % 11)))
        )
        yield* Effect.forEach(Array.from({ length: i % 5 }), () => Effect.yieldNow, { discard: true })
        yield* Fiber.interrupt(fiber)
        const exit = fiber.pollUnsafe()!
        outcomes[Exit.isSuccess(exit) ? "completed" : started ? "whileUsing" : "beforeBorrow"]++
        const stats = yield* ConnectionPool.stats(pool)
        assert.strictEqual(stats.inUse, 0, `borrow ${i}`)
        assert.strictEqual(stats.created - stats.closed, stats.idle + stats.closing)
        assert.strictEqual(leased.size, 0)
      }
      for (const [outcome, count] of Object.entries(outcomes)) assert.isAbove(count, 0, outcome)
      // A connection whose borrower was interrupted once it was lent is closed, not lent again.
      assert.isAtLeast((yield* ConnectionPool.stats(pool)).closed, outcomes.whileUsing)
      yield* Scope.close(scope, Exit.void)
      assert.isTrue(Connections.allClosedOnce(conns))
    }))

  it.effect("records the same wait and use times as a borrow that waits", () =>
    Effect.gen(function*() {
      const conns = Connections.make()
      const pool = yield* ConnectionPool.make({ acquire: conns.acquire, maxIdle: 1 })
      yield* ConnectionPool.use(pool, () => TestClock.adjust("250 millis"))
      yield* TestClock.adjust("1 second")
      yield* ConnectionPool.use(pool, () => TestClock.adjust("1500 millis"))
      const snapshots = yield* Metric.snapshot
      const wait = histogram(snapshots, "wait_time_seconds")!
      const use = histogram(snapshots, "use_time_seconds")!
      assert.strictEqual(wait.count, 2)
      assert.strictEqual(wait.sum, 0)
      assert.strictEqual(use.count, 2)
      assert.strictEqual(use.sum, 1.75)
      assert.strictEqual(use.min, 0.25)
      assert.strictEqual(use.max, 1.5)
      assert.strictEqual(conns.opened, 1)
    }).pipe(Effect.provideService(Metric.MetricRegistry, new Map())))

  it.effect("a due validation, an idle timeout or a lifetime still apply to the connection next in line", () =>
    Effect.gen(function*() {
      const conns = Connections.make()
      const checked: Array<number> = []
      const pool = yield* ConnectionPool.make({
        acquire: conns.acquire,
        maxIdle: 2,
        validate: (c) => Effect.sync(() => (checked.push(c), c !== 1)),
        validateAfter: "1 second",
        maxLifetime: "1 hour"
      })
      const [a, b] = yield* Effect.all([hold(pool), hold(pool)])
      yield* a.end()
      yield* b.end()
      // Idle for less than validateAfter: lent without a check.
      assert.strictEqual(yield* ConnectionPool.use(pool, Effect.succeed), 1)
      assert.deepStrictEqual(checked, [])
      yield* TestClock.adjust("2 seconds")
      // 2 has been idle longest now; 1 was returned last.
      assert.strictEqual(yield* ConnectionPool.use(pool, Effect.succeed), 2)
      assert.deepStrictEqual(checked, [2])
      yield* TestClock.adjust("2 seconds")
      // 1 fails its check and is closed; the borrower gets 2 after 2's own check.
      assert.strictEqual(yield* ConnectionPool.use(pool, Effect.succeed), 2)
      assert.deepStrictEqual(checked, [2, 1, 2])
      assert.isFalse(conns.live.has(1))
      yield* TestClock.adjust("1 hour")
      // Past its lifetime: closed, and a new connection opened.
      assert.strictEqual(yield* ConnectionPool.use(pool, Effect.succeed), 3)
      assert.isFalse(conns.live.has(2))
    }))
})
