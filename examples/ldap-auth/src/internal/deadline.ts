/**
 * A deadline shared by many effects of the same timeout: one timer fiber for all of them. Since every effect gets
 * the same timeout, deadlines fall due in the order the effects began, and the timer only sleeps until the oldest.
 * `Effect.timeout` per login would race two fibers and start and clear a timer on every login.
 *
 * @internal
 */
import { Clock, Duration, Effect, Exit, Fiber, Scope } from "effect"

interface Running {
  readonly deadline: number
  readonly expire: () => void
}

export interface Deadline {
  /**
   * Runs `effect` in a fiber of its own. If it has not ended by the deadline, it is interrupted, and once it has
   * wound down (its finalizers run) `onTimeout`'s error is the answer. Interrupting the caller interrupts it too.
   */
  readonly bound: <A, E, R, E2>(effect: Effect.Effect<A, E, R>, onTimeout: () => E2) => Effect.Effect<A, E | E2, R>
}

/** The timer runs in the scope; its clock is the caller's `Clock`, so `TestClock` drives it. */
export const make = (timeout: Duration.Duration): Effect.Effect<Deadline, never, Scope.Scope> =>
  Effect.gen(function*() {
    if (!Duration.isFinite(timeout)) return { bound: (effect) => effect }
    const clock = yield* Clock.Clock
    const millis = Duration.toMillis(timeout)
    // In deadline order: a Set iterates in insertion order.
    const running = new Set<Running>()
    let wake: (() => void) | undefined

    /** Expires what is due; the time until the next deadline, or undefined when nothing runs. */
    const expireDue = (): number | undefined => {
      const now = clock.currentTimeMillisUnsafe()
      for (const effect of running) {
        if (effect.deadline > now) return effect.deadline - now
        running.delete(effect)
        effect.expire()
      }
      return undefined
    }
    const idle = Effect.callback<void>((resume) => {
      wake = () => {
        wake = undefined
        resume(Effect.void)
      }
      return Effect.sync(() => {
        wake = undefined
      })
    })
    yield* Effect.forkScoped(Effect.forever(Effect.suspend(() => {
      const wait = expireDue()
      return wait === undefined ? idle : Effect.sleep(Duration.millis(wait))
    })))

    const bound = <A, E, R, E2>(effect: Effect.Effect<A, E, R>, onTimeout: () => E2): Effect.Effect<A, E | E2, R> =>
      Effect.flatMap(Effect.forkDetach(effect, { startImmediately: true }), (fiber: Fiber.Fiber<A, E>) =>
        Effect.callback<A, E | E2>((resume) => {
          const done = fiber.pollUnsafe()
          if (done !== undefined) return resume(done)
          let expired = false
          const self: Running = {
            deadline: clock.currentTimeMillisUnsafe() + millis,
            expire: () => {
              expired = true
              fiber.interruptUnsafe()
            }
          }
          running.add(self)
          wake?.()
          const stopObserving = fiber.addObserver((exit) => {
            running.delete(self)
            resume(expired && Exit.isFailure(exit) ? Effect.fail(onTimeout()) : exit)
          })
          return Effect.suspend(() => {
            running.delete(self)
            stopObserving()
            return Fiber.interrupt(fiber)
          })
        }))

    return { bound }
  })
