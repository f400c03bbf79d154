import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Fiber, Scope } from "effect"
import { TestClock } from "effect/testing"
import * as ConnectionPool from "../src/ConnectionPool.ts"
import { capturing, identities } from "./utils/Checks.ts"
import * as Connections from "./utils/Connections.ts"
import { hold, settle } from "./utils/Lease.ts"

describe("ConnectionPool with hostile callbacks", () => {
  it.effect("a validate that throws synchronously counts as a failed validation", () =>
    Effect.gen(function*() {
      const conns = Connections.make()
      const scope = yield* Scope.make()
      const pool = yield* ConnectionPool.make({
        acquire: conns.acquire,
        maxIdle: 1,
        maxSize: 1,
        validate: () => {
          throw new Error("boom")
        }
      }).pipe(Scope.provide(scope))
      assert.strictEqual(yield* ConnectionPool.use(pool, Effect.succeed), 1)
      assert.strictEqual(yield* ConnectionPool.use(pool, Effect.succeed), 2)
      const stats = yield* ConnectionPool.stats(pool)
      assert.strictEqual(stats.inUse, 0)
      identities(stats)
      yield* Scope.close(scope, Exit.void)
      assert.isTrue(Connections.allClosedOnce(conns))
    }))

  it.effect("a validate that dies, fails or hangs counts as a failed validation", () =>
    Effect.gen(function*() {
      const conns = Connections.make()
      const verdicts: Array<Effect.Effect<boolean, unknown>> = [Effect.die("dead"), Effect.fail("no"), Effect.never]
      const pool = yield* ConnectionPool.make({
        acquire: conns.acquire,
        maxIdle: 1,
        maxSize: 1,
        validateTimeout: "1 second",
        validate: () => verdicts.shift() ?? Effect.succeed(true)
      })
      assert.strictEqual(yield* ConnectionPool.use(pool, Effect.succeed), 1)
      assert.strictEqual(yield* ConnectionPool.use(pool, Effect.succeed), 2)
      assert.strictEqual(yield* ConnectionPool.use(pool, Effect.succeed), 3)
      const hung = yield* ConnectionPool.use(pool, Effect.succeed).pipe(Effect.forkChild)
      yield* settle
      yield* TestClock.adjust("1 second")
      assert.strictEqual(yield* Fiber.join(hung), 4)
      identities(yield* ConnectionPool.stats(pool))
    }))

  it.effect("a recycle that throws means do not reuse, is logged with the pool name, and the next borrower is served", () =>
    Effect.gen(function*() {
      const conns = Connections.make()
      const lines: Array<string> = []
      yield* capturing(
        lines,
        Effect.gen(function*() {
          const pool = yield* ConnectionPool.make({
            acquire: conns.acquire,
            maxIdle: 1,
            maxSize: 1,
            name: "ldap",
            recycle: () => {
              throw new Error("recycle bug")
            }
          })
          assert.strictEqual(yield* ConnectionPool.use(pool, Effect.succeed), 1)
          assert.strictEqual(yield* ConnectionPool.use(pool, Effect.succeed), 2)
          const stats = yield* ConnectionPool.stats(pool)
          assert.strictEqual(stats.inUse, 0)
          identities(stats)
        })
      )
      assert.isTrue(lines.some((line) => line.includes("recycle threw") && line.includes("pool=ldap")))
    }))

  it.effect("an acquire that dies is the borrower's own outcome and frees its slot", () =>
    Effect.gen(function*() {
      const conns = Connections.make()
      let die = true
      const pool = yield* ConnectionPool.make({
        acquire: Effect.suspend(() => die ? Effect.die("connect bug") : conns.acquire),
        maxIdle: 1,
        maxSize: 1
      })
      const exit = yield* Effect.exit(ConnectionPool.use(pool, Effect.succeed))
      assert.isTrue(Exit.isFailure(exit) && Cause.hasDies(exit.cause))
      die = false
      assert.strictEqual(yield* ConnectionPool.use(pool, Effect.succeed), 1)
      identities(yield* ConnectionPool.stats(pool))
    }))

  it.effect("a missing or non-Effect acquire is rejected at construction", () =>
    Effect.gen(function*() {
      for (const acquire of [undefined, () => 1, 42]) {
        const exit = yield* Effect.exit(ConnectionPool.make({ acquire: acquire as unknown as Effect.Effect<number>, maxIdle: 1 }))
        assert.isTrue(Exit.isFailure(exit) && Cause.hasDies(exit.cause))
        assert.include(String(Exit.isFailure(exit) && Cause.squash(exit.cause)), `option "acquire"`)
      }
    }))
})

describe("ConnectionPool closes", () => {
  it.effect("invalidate never waits for a close, and no borrower is held past acquireTimeout by another's close", () =>
    Effect.gen(function*() {
      const conns = Connections.make()
      const hang = { on: true }
      conns.closeWith = () => hang.on ? Effect.never : Effect.void
      const pool = yield* ConnectionPool.make({
        acquire: conns.acquire,
        maxIdle: 1,
        maxSize: 1,
        validate: () => Effect.succeed(false),
        acquireTimeout: "1 second"
      })
      const lease = yield* hold(pool)
      yield* lease.end()
      // The idle one fails validation; its close hangs in the background and the borrower times out on time.
      const borrower = yield* ConnectionPool.use(pool, Effect.succeed).pipe(Effect.flip, Effect.forkChild)
      yield* settle
      yield* TestClock.adjust("1 second")
      const error = yield* Fiber.join(borrower)
      assert.strictEqual(typeof error === "object" && error._tag, "PoolTimeoutError")
      hang.on = false
      yield* TestClock.adjust("30 seconds")
      const second = yield* hold(pool)
      yield* ConnectionPool.invalidate(pool, second.connection)
      yield* second.end()
      identities(yield* ConnectionPool.stats(pool))
    }))
})

describe("ConnectionPool maxOpening", () => {
  it.effect("100 borrowers on a 50 ms connect with 1 ms leases and maxOpening 2 open far fewer than 100 connections", () =>
    Effect.gen(function*() {
      const conns = Connections.make()
      let openingNow = 0
      let mostOpening = 0
      const acquire = Effect.acquireRelease(
        Effect.gen(function*() {
          openingNow++
          mostOpening = Math.max(mostOpening, openingNow)
          yield* Effect.sleep("50 millis")
          openingNow--
          return yield* conns.acquire
        }),
        () => Effect.void
      )
      const pool = yield* ConnectionPool.make({ acquire, maxIdle: 10, maxOpening: 2 })
      const borrowers = yield* Effect.forEach(
        Array.from({ length: 100 }),
        () => Effect.forkChild(ConnectionPool.use(pool, (id) => Effect.as(Effect.sleep("1 millis"), id)))
      )
      for (let ms = 0; ms < 300; ms++) {
        yield* settle
        assert.isAtMost((yield* ConnectionPool.stats(pool)).opening, 2)
        yield* TestClock.adjust("1 millis")
      }
      const served = yield* Effect.forEach(borrowers, Fiber.join)
      assert.strictEqual(served.length, 100)
      assert.isAtMost(mostOpening, 2)
      assert.isBelow(conns.opened, 20)
      identities(yield* ConnectionPool.stats(pool))
    }))
})
