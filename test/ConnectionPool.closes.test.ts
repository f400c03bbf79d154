import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Scope } from "effect"
import { TestClock } from "effect/testing"
import * as ConnectionPool from "../src/ConnectionPool.ts"
import { capturing, identities } from "./utils/Checks.ts"
import * as Connections from "./utils/Connections.ts"
import { hold, settle } from "./utils/Lease.ts"

describe("ConnectionPool closeTimeout", () => {
  it.effect("a close that hangs is abandoned after closeTimeout, logged with the pool's name, and its slot serves a waiter", () => {
    const lines: Array<string> = []
    return capturing(
      lines,
      Effect.gen(function*() {
        const conns = Connections.make()
        // Only the first close hangs: a close still hanging when the test's scope ends would hold its shutdown.
        conns.closeWith = (id) => id === 1 ? Effect.never : Effect.void
        const pool = yield* ConnectionPool.make({
          acquire: conns.acquire,
          maxIdle: 1,
          maxSize: 1,
          closeTimeout: "5 seconds",
          name: "ldap"
        })
        const lease = yield* hold(pool)
        yield* ConnectionPool.invalidate(pool, lease.connection)
        const waiter = yield* ConnectionPool.use(pool, Effect.succeed).pipe(Effect.forkChild)
        yield* settle
        // Ending the lease returns at once; the close hangs in the background and still holds the slot.
        yield* lease.end()
        yield* settle
        let stats = yield* ConnectionPool.stats(pool)
        assert.deepStrictEqual([stats.closing, stats.waiting, stats.total], [1, 1, 1])
        identities(stats, 1)
        yield* TestClock.adjust("4999 millis")
        assert.isUndefined(waiter.pollUnsafe())
        assert.isFalse(lines.some((line) => line.includes("closeTimeout")))
        yield* TestClock.adjust("1 millis")
        assert.strictEqual(yield* Fiber.join(waiter), 2)
        stats = yield* ConnectionPool.stats(pool)
        assert.deepStrictEqual([stats.closing, stats.closed, stats.created, stats.idle], [0, 1, 2, 1])
        identities(stats, 1)
        const abandoned = lines.filter((line) => line.includes("longer than closeTimeout (5s)"))
        assert.strictEqual(abandoned.length, 1)
        assert.include(abandoned[0], "pool=ldap")
      })
    )
  })

  it.effect("closes that throw synchronously, die or fail are logged, counted closed, and lose no slot", () => {
    const lines: Array<string> = []
    return capturing(
      lines,
      Effect.gen(function*() {
        const conns = Connections.make()
        const behaviours: Array<() => Effect.Effect<void>> = [
          () => {
            throw new Error("close threw")
          },
          () => Effect.die("close died"),
          () => Effect.fail("close failed") as unknown as Effect.Effect<void>
        ]
        conns.closeWith = () => behaviours.shift()?.() ?? Effect.void
        const scope = yield* Scope.make()
        const pool = yield* ConnectionPool.make({ acquire: conns.acquire, maxIdle: 0, maxSize: 1, name: "flaky" })
          .pipe(Scope.provide(scope))
        for (let i = 1; i <= 4; i++) {
          // maxIdle 0: every lease ends with a close, and maxSize 1 means the next borrow needs its slot back.
          assert.strictEqual(yield* ConnectionPool.use(pool, Effect.succeed), i)
          const stats = yield* ConnectionPool.stats(pool)
          assert.deepStrictEqual([stats.created, stats.closed, stats.total], [i, i, 0])
          identities(stats, 1)
        }
        yield* Scope.close(scope, Exit.void)
        assert.isTrue(Connections.allClosedOnce(conns))
        const failed = lines.filter((line) => line.includes("closing a connection failed") && line.includes("pool=flaky"))
        assert.strictEqual(failed.length, 3)
        for (const [i, text] of ["close threw", "close died", "close failed"].entries()) assert.include(failed[i], text)
      })
    )
  })

  it.effect("a close that hangs during shutdown is abandoned after closeTimeout and shutdown finishes", () => {
    const lines: Array<string> = []
    return capturing(
      lines,
      Effect.gen(function*() {
        const conns = Connections.make()
        const scope = yield* Scope.make()
        const pool = yield* ConnectionPool.make({
          acquire: conns.acquire,
          maxIdle: 2,
          closeTimeout: "10 seconds",
          name: "ldap"
        }).pipe(Scope.provide(scope))
        const [a, b] = yield* Effect.all([hold(pool), hold(pool)])
        yield* a.end()
        yield* b.end()
        conns.closeWith = (id) => id === 1 ? Effect.never : Effect.void
        const shutdown = yield* Effect.forkChild(Scope.close(scope, Exit.void))
        yield* settle
        assert.isUndefined(shutdown.pollUnsafe())
        assert.deepStrictEqual((yield* ConnectionPool.stats(pool)).closing, 1)
        yield* TestClock.adjust("10 seconds")
        yield* Fiber.join(shutdown)
        const stats = yield* ConnectionPool.stats(pool)
        assert.deepStrictEqual([stats.total, stats.created, stats.closed], [0, 2, 2])
        identities(stats)
        assert.strictEqual(conns.live.size, 0)
        assert.isTrue(lines.some((line) => line.includes("longer than closeTimeout") && line.includes("pool=ldap")))
      })
    )
  })
})
