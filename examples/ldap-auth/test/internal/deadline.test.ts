/**
 * The shared deadline on `TestClock`: each effect ends by its own deadline, counted from when it began, with its
 * finalizers run; what ends in time answers for itself; interrupting the caller interrupts the effect.
 */
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Exit, Fiber, Random } from "effect"
import { TestClock } from "effect/testing"
import * as Deadline from "../../src/internal/deadline.ts"

const timedOut = () => "timed out" as const

describe("Deadline", () => {
  it.effect("an effect still running at its deadline is interrupted, its finalizers run, then it times out", () =>
    Effect.gen(function*() {
      const deadline = yield* Deadline.make(Duration.seconds(10))
      let finalized = false
      const fiber = yield* deadline.bound(Effect.never.pipe(Effect.ensuring(Effect.sync(() => finalized = true))), timedOut)
        .pipe(Effect.forkChild)
      yield* TestClock.adjust("9999 millis")
      assert.isUndefined(fiber.pollUnsafe())
      assert.isFalse(finalized)
      yield* TestClock.adjust("1 millis")
      assert.deepStrictEqual(yield* Fiber.await(fiber), Exit.fail("timed out"))
      assert.isTrue(finalized)
    }))

  it.effect("each deadline counts from when its effect began, also after the timer had nothing to do", () =>
    Effect.gen(function*() {
      const deadline = yield* Deadline.make(Duration.seconds(10))
      const first = yield* Effect.forkChild(deadline.bound(Effect.never, timedOut))
      yield* TestClock.adjust("4 seconds")
      const second = yield* Effect.forkChild(deadline.bound(Effect.never, timedOut))
      yield* TestClock.adjust("6 seconds")
      assert.deepStrictEqual(yield* Fiber.await(first), Exit.fail("timed out"))
      assert.isUndefined(second.pollUnsafe())
      yield* TestClock.adjust("4 seconds")
      assert.deepStrictEqual(yield* Fiber.await(second), Exit.fail("timed out"))
      // Nothing runs now; a minute later a new effect still gets its full timeout.
      yield* TestClock.adjust("1 minute")
      const third = yield* Effect.forkChild(deadline.bound(Effect.never, timedOut))
      yield* TestClock.adjust("9 seconds")
      assert.isUndefined(third.pollUnsafe())
      yield* TestClock.adjust("1 second")
      assert.deepStrictEqual(yield* Fiber.await(third), Exit.fail("timed out"))
    }))

  it.effect("what ends in time answers for itself: a value, a failure, a defect, at once or later", () =>
    Effect.gen(function*() {
      const deadline = yield* Deadline.make(Duration.seconds(10))
      assert.strictEqual(yield* deadline.bound(Effect.succeed(1), timedOut), 1)
      assert.strictEqual(yield* Effect.flip(deadline.bound(Effect.fail("no"), timedOut)), "no")
      const late = yield* Effect.forkChild(deadline.bound(Effect.as(Effect.sleep("9 seconds"), 2), timedOut))
      const defect = yield* Effect.forkChild(deadline.bound(Effect.andThen(Effect.sleep("1 second"), Effect.die("boom")), timedOut))
      yield* TestClock.adjust("9 seconds")
      assert.deepStrictEqual(yield* Fiber.await(late), Exit.succeed(2))
      assert.deepStrictEqual(yield* Fiber.await(defect), Exit.die("boom"))
      // Neither is interrupted later by a deadline of its own.
      yield* TestClock.adjust("1 minute")
    }))

  it.effect("interrupting the caller interrupts the effect and waits for its finalizers", () =>
    Effect.gen(function*() {
      const deadline = yield* Deadline.make(Duration.seconds(10))
      let finalized = false
      const fiber = yield* Effect.forkChild(
        deadline.bound(Effect.never.pipe(Effect.ensuring(Effect.sync(() => finalized = true))), timedOut)
      )
      yield* TestClock.adjust("1 second")
      yield* Fiber.interrupt(fiber)
      assert.isTrue(finalized)
      assert.isTrue(Exit.hasInterrupts(yield* Fiber.await(fiber)))
    }))

  it.effect("an infinite timeout never interrupts", () =>
    Effect.gen(function*() {
      const deadline = yield* Deadline.make(Duration.infinity)
      const fiber = yield* Effect.forkChild(deadline.bound(Effect.as(Effect.sleep("1 day"), "done"), timedOut))
      yield* TestClock.adjust("1 day")
      assert.deepStrictEqual(yield* Fiber.await(fiber), Exit.succeed("done"))
    }))

  it.effect("hammered: 500 effects of random length, some callers interrupted; each ends the way its length says", () =>
    Effect.gen(function*() {
      const deadline = yield* Deadline.make(Duration.seconds(10))
      let running = 0
      const runs = yield* Effect.forEach(Array.from({ length: 500 }, (_, i) => i), (i) =>
        Effect.gen(function*() {
          const drawn = yield* Random.nextIntBetween(0, 20_000)
          const length = drawn === 10_000 ? 10_001 : drawn
          const interruptAt = (yield* Random.nextBoolean) ? yield* Random.nextIntBetween(0, 20_000) : undefined
          const body = Effect.acquireUseRelease(
            Effect.sync(() => running++),
            () => Effect.as(Effect.sleep(Duration.millis(length)), i),
            () => Effect.sync(() => running--)
          )
          const fiber = yield* Effect.forkChild(deadline.bound(body, timedOut))
          if (interruptAt !== undefined) {
            yield* Effect.forkChild(Effect.andThen(Effect.sleep(Duration.millis(interruptAt)), Fiber.interrupt(fiber)))
          }
          yield* TestClock.adjust(Duration.millis(yield* Random.nextIntBetween(0, 40)))
          return { i, length, interruptAt, fiber }
        }))
      yield* TestClock.adjust("1 minute")
      assert.strictEqual(running, 0)
      for (const { fiber, i, interruptAt, length } of runs) {
        const exit = yield* Fiber.await(fiber)
        // Ties between the timer and an interruption at the same instant may go either way.
        if (interruptAt !== undefined && interruptAt < Math.min(length, 10_000)) assert.isTrue(Exit.hasInterrupts(exit))
        else if (interruptAt === undefined || interruptAt > Math.min(length, 10_000)) {
          assert.deepStrictEqual(exit, length < 10_000 ? Exit.succeed(i) : Exit.fail("timed out"), `effect ${i}`)
        }
      }
    }))
})
