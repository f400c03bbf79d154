/**
 * Borrowing. The fast path lends the next idle connection synchronously when
 * nobody waits and it needs no validation. Otherwise the borrower joins the
 * queue, which `dispatch` serves from the idle set, from returned connections
 * and from openings, in arrival order. A borrower whose connection fails
 * validation goes back to the head of the queue.
 *
 * The only interruptible parts of a borrow are its wait and its validation;
 * whatever the borrower was served when it is interrupted is handed back.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Tracer from "effect/Tracer"
import type { PoolError } from "../ConnectionPool.ts"
import { PoolExhaustedError } from "./errors.ts"
import { handBack, retire, takeLendable } from "./retire.ts"
import {
  closedError,
  Entry,
  hasCapacity,
  needsValidation,
  now,
  type PoolImpl,
  runDetached,
  takeIdle,
  timeoutError,
  unfit,
  type Waiter
} from "./state.ts"

/** Hands `entry` to the borrower, recording how long it waited. */
const lendNow = <A>(pool: PoolImpl<A, any>, entry: Entry<A>, start: number): Entry<A> => {
  const time = now(pool)
  entry.leasedAt = time
  pool.metrics.waitTime.observe((time - start) / 1000)
  return entry
}

/**
 * Runs `validate` in a fiber of its own, in the pool's context, bounded by
 * `validateTimeout` and the borrower's deadline. A `validate` that throws,
 * fails, dies, hangs or answers anything but `true` fails the check, and so
 * does an `invalidate` meanwhile; the caller then closes the connection. Fails
 * only when the borrower is interrupted, having closed the connection.
 */
const validate = <A>(pool: PoolImpl<A, any>, entry: Entry<A>, deadline: number): Effect.Effect<boolean> =>
  Effect.suspend(() => {
    const time = now(pool)
    let check: Effect.Effect<boolean, unknown, any>
    try {
      check = pool.options.validate!(entry.connection, {
        idle: Duration.millis(time - entry.idleSince),
        age: Duration.millis(time - entry.createdAt)
      })
      if (!Effect.isEffect(check)) check = Effect.die(new TypeError("validate did not return an Effect"))
    } catch (defect) {
      check = Effect.die(defect)
    }
    const fiber = runDetached(pool, Effect.exit(check as Effect.Effect<boolean, unknown>))
    const verdict = (result: Exit.Exit<boolean, unknown> | undefined): boolean =>
      result !== undefined && Exit.isSuccess(result) && result.value === true && !entry.invalidated && !pool.isClosed
    const done = fiber.pollUnsafe()
    if (done !== undefined) return Effect.succeed(verdict(Exit.isSuccess(done) ? done.value : undefined))
    pool.validations.add(fiber)
    fiber.addObserver(() => pool.validations.delete(fiber))
    const limit = Duration.min(pool.options.validateTimeout, Duration.millis(Math.max(0, deadline - time)))
    return Effect.flatMap(Effect.exit(Effect.interruptible(Effect.timeoutOption(Fiber.await(fiber), limit))), (exit) => {
      const result = Exit.isSuccess(exit) && Option.isSome(exit.value) && Exit.isSuccess(exit.value.value)
        ? exit.value.value.value
        : undefined
      if (result === undefined) fiber.interruptUnsafe()
      if (Exit.isSuccess(exit)) return Effect.succeed(verdict(result))
      retire(pool, entry)
      return Effect.failCause(exit.cause)
    })
  })

const awaitServed = (waiter: Waiter<any>): Effect.Effect<void> =>
  Effect.callback<void>((resume) => {
    if (waiter.entry !== undefined || waiter.cause !== undefined) return resume(Effect.void)
    waiter.wake = resume
  })

/** Waits, interruptibly, until the waiter is served or its deadline passes. */
const wait = (pool: PoolImpl<any, any>, waiter: Waiter<any>): Effect.Effect<void> => {
  if (waiter.entry !== undefined || waiter.cause !== undefined) return Effect.void
  const turn = waiter.deadline === Infinity
    ? awaitServed(waiter)
    : Effect.asVoid(Effect.timeoutOption(awaitServed(waiter), Duration.millis(Math.max(0, waiter.deadline - now(pool)))))
  // A standalone span, as nothing runs inside the wait; skipped when the spans would go nowhere,
  // since a span costs more than the rest of the wait.
  return Effect.flatMap(
    Effect.tracer,
    (tracer) => tracer === Tracer.nativeTracer ? turn : Effect.useSpan("ConnectionPool.wait", pool.waitSpan, () => turn)
  )
}

/** Waits for the borrower's turn, then checks what it was served. */
const awaitTurn = <A, E>(pool: PoolImpl<A, E>, waiter: Waiter<A>, start: number): Effect.Effect<Entry<A>, E | PoolError> =>
  Effect.flatMap(Effect.exit(Effect.interruptible(wait(pool, waiter))), (exit): Effect.Effect<Entry<A>, E | PoolError> => {
    pool.waiters.remove(waiter)
    waiter.wake = undefined
    const entry = waiter.entry
    waiter.entry = undefined
    if (Exit.isFailure(exit)) {
      if (entry !== undefined) handBack(pool, entry)
      return Effect.failCause(exit.cause)
    }
    if (waiter.cause !== undefined) return Effect.failCause(waiter.cause as any)
    if (entry === undefined) return Effect.fail(timeoutError(pool))
    if (entry.invalidated) return requeue(pool, waiter, start, entry)
    if (!waiter.check || !needsValidation(pool, entry, now(pool))) return Effect.succeed(lendNow(pool, entry, start))
    return Effect.flatMap(
      validate(pool, entry, waiter.deadline),
      (ok) => ok ? Effect.succeed(lendNow(pool, entry, start)) : requeue(pool, waiter, start, entry)
    )
  })

/**
 * After a failed check the borrower goes back to the head of the queue, unless
 * its deadline has passed, and only then is the broken connection closed: the
 * slot it frees serves this borrower before any later arrival.
 */
const requeue = <A, E>(
  pool: PoolImpl<A, E>,
  waiter: Waiter<A>,
  start: number,
  broken: Entry<A>
): Effect.Effect<Entry<A>, E | PoolError> => {
  const failure = pool.isClosed ? closedError(pool) : now(pool) >= waiter.deadline ? timeoutError(pool) : undefined
  if (failure === undefined) {
    waiter.check = true
    pool.waiters.unshift(waiter)
  }
  retire(pool, broken)
  if (failure !== undefined) return Effect.fail(failure)
  pool.dispatch()
  return awaitTurn(pool, waiter, start)
}

/** The slow path of a borrow: validate `first` if the fast path took one, else queue. */
const borrowSlow = <A, E>(pool: PoolImpl<A, E>, first: Entry<A> | undefined): Effect.Effect<Entry<A>, E | PoolError> =>
  Effect.suspend(() => {
    const start = now(pool)
    const timeout = pool.options.acquireTimeout
    const waiter: Waiter<A> = {
      prev: undefined,
      next: undefined,
      linked: false,
      entry: first,
      check: true,
      cause: undefined,
      wake: undefined,
      deadline: timeout === undefined ? Infinity : start + Duration.toMillis(timeout)
    }
    if (first === undefined) {
      if (pool.isClosed) return Effect.fail(closedError(pool))
      if (pool.waiters.size >= pool.options.maxWaiting && !hasCapacity(pool)) {
        return Effect.fail(new PoolExhaustedError({ pool: pool.name, waiting: pool.waiters.size }))
      }
      pool.waiters.push(waiter)
      pool.dispatch()
    }
    return awaitTurn(pool, waiter, start)
  })

/**
 * Lends a connection. The fast path runs synchronously and returns the entry;
 * anything else returns the slow path's effect.
 */
const lend = <A, E>(pool: PoolImpl<A, E>): Entry<A> | Effect.Effect<Entry<A>, E | PoolError> => {
  if (pool.isClosed || pool.waiters.size > 0 || pool.idle.length === 0) return borrowSlow(pool, undefined)
  const time = now(pool)
  const entry = takeLendable(pool, time)
  if (entry === undefined) return borrowSlow(pool, undefined)
  if (pool.checksIdle && needsValidation(pool, entry, time)) return borrowSlow(pool, entry)
  entry.leasedAt = time
  pool.metrics.waitTime.observe(0)
  return entry
}

/** Keeps the borrower's span on the entry, for the leak warning. Only used when leak warnings are on. */
const withBorrowerSpan = <A, E>(pool: PoolImpl<A, E>, lent: Entry<A> | Effect.Effect<Entry<A>, E | PoolError>) =>
  Effect.flatMap(
    lent instanceof Entry ? Effect.succeed(lent) : lent,
    (entry) =>
      Effect.map(Effect.serviceOption(Tracer.ParentSpan), (span) => {
        entry.borrowerSpan = Option.getOrUndefined(span)
        pool.leases.pushBack(entry)
        pool.leaseTimes.pushBack(entry.leasedAt)
        return entry
      })
  )

const lendTracked = <A, E>(pool: PoolImpl<A, E>): Entry<A> | Effect.Effect<Entry<A>, E | PoolError> =>
  pool.options.leakWarningAfter === undefined ? lend(pool) : withBorrowerSpan(pool, lend(pool))

/** @internal */
export const get = <A, E>(pool: PoolImpl<A, E>): Effect.Effect<A, E | PoolError, Scope.Scope> =>
  Effect.map(
    Effect.acquireRelease(
      Effect.suspend(() => {
        const lent = lendTracked(pool)
        return lent instanceof Entry ? Effect.succeed(lent) : lent
      }),
      (entry, exit) => {
        entry.release(exit)
        return Effect.void
      }
    ),
    (entry) => entry.connection
  )

/** `f` applied to the connection; a synchronous throw becomes a defect. */
const body = <A, B, E2, R2>(f: (connection: A) => Effect.Effect<B, E2, R2>, connection: A): Effect.Effect<B, E2, R2> => {
  try {
    return f(connection)
  } catch (defect) {
    return Effect.die(defect)
  }
}

/**
 * Lends the next idle connection synchronously if nothing stands in the way:
 * the pool is open, nobody waits, leak warnings are off, and the connection is
 * within its lifetime and idle timeout and needs no validation. Takes nothing
 * otherwise, leaving every other case to `lend`.
 */
const lendFast = <A>(pool: PoolImpl<A, any>): Entry<A> | undefined => {
  if (pool.isClosed || pool.waiters.size > 0 || pool.options.leakWarningAfter !== undefined) return undefined
  const next = pool.options.lifo ? pool.idle.peekBack() : pool.idle.peekFront()
  if (next === undefined) return undefined
  const time = now(pool)
  if (pool.checksIdle && (unfit(pool, next, time, pool.idle.length - 1) || needsValidation(pool, next, time))) {
    return undefined
  }
  const entry = takeIdle(pool)!
  entry.leasedAt = time
  pool.metrics.waitTime.observe(0)
  return entry
}

/**
 * `Effect.scoped(get + f)` without the scope. The lease's end is attached
 * before anything is lent: the fast path lends and starts `f` in one
 * synchronous step, so it needs no uninterruptible region; any other borrow
 * runs in one, as `get` does, with only its wait, its validation and `f`
 * interruptible.
 *
 * @internal
 */
export const use = <A, E, B, E2, R2>(
  pool: PoolImpl<A, E>,
  f: (connection: A) => Effect.Effect<B, E2, R2>
): Effect.Effect<B, E | E2 | PoolError, R2> =>
  Effect.suspend(() => {
    let lent: Entry<A> | undefined
    return Effect.onExitPrimitive(
      Effect.suspend(() => {
        lent = lendFast(pool)
        if (lent !== undefined) return body(f, lent.connection)
        return Effect.uninterruptibleMask((restore) => {
          const served = lendTracked(pool)
          if (served instanceof Entry) {
            lent = served
            return restore(body(f, served.connection))
          }
          return Effect.flatMap(served, (entry) => {
            lent = entry
            return restore(body(f, entry.connection))
          })
        })
      }),
      (exit) => lent === undefined ? undefined : lent.release(exit)
    )
  })
