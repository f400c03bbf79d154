/**
 * The pool assembled: construction, `invalidate`, the background upkeep
 * (idle timeout, lifetime, `minIdle` refill, leak warnings) and shutdown.
 * State and its transitions live in `state.ts`, borrowing in `borrow.ts`,
 * opening in `opening.ts`, ending leases and closing in `retire.ts`.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Scope from "effect/Scope"
import type { ConnectionPool, Options } from "../ConnectionPool.ts"
import { dispatch, open } from "./opening.ts"
import { type Resolved, resolve } from "./options.ts"
import { retire } from "./retire.ts"
import {
  beginShutdown,
  checkDrained,
  closedError,
  idleTooLong,
  mayOpen,
  now,
  pastLifetime,
  PoolImpl,
  refuse,
  takeIdleToClose,
  takeIdleWhere,
  warn
} from "./state.ts"

export { get, use } from "./borrow.ts"
export { type PoolImpl, stats, TypeId } from "./state.ts"

/** @internal */
export const invalidate = <A, E>(pool: PoolImpl<A, E>, connection: A): Effect.Effect<void> =>
  Effect.sync(() => {
    const entry = pool.entries.get(connection)
    if (entry === undefined) return
    entry.invalidated = true
    if (entry.state !== "idle") return
    takeIdleToClose(pool, entry)
    retire(pool, entry)
  })

/** Closes idle connections past `idleTimeout` (down to `minIdle`) or past `maxLifetime`. */
const retireIdle = (pool: PoolImpl<any, any>, time: number): void => {
  // Both orders push returned connections at the back, so the front is the longest idle.
  while (pool.idle.length > pool.options.minIdle && idleTooLong(pool, pool.idle.peekFront()!, time)) {
    const entry = pool.idle.peekFront()!
    takeIdleToClose(pool, entry)
    retire(pool, entry)
  }
  if (Number.isFinite(pool.options.maxLifetimeMillis)) {
    for (const entry of takeIdleWhere(pool, (idle) => pastLifetime(pool, idle, time))) retire(pool, entry)
  }
}

/** Starts openings until `minIdle` are idle or being opened, while nobody waits and there is room. */
const refill = (pool: PoolImpl<any, any>): void => {
  while (pool.waiters.size === 0 && pool.idle.length + pool.opening < pool.options.minIdle && mayOpen(pool)) {
    open(pool)
  }
}

/** Logs one warning per lease held longer than `leakWarningAfter`; looks only at the oldest leases. */
const warnLeaks = (pool: PoolImpl<any, any>, time: number): Effect.Effect<void> => {
  const after = Duration.toMillis(pool.options.leakWarningAfter!)
  const warnings: Array<Effect.Effect<void>> = []
  for (;;) {
    const entry = pool.leases.peekFront()
    const leasedAt = pool.leaseTimes.peekFront()
    if (entry === undefined || leasedAt === undefined) break
    const current = entry.state === "inUse" && entry.leasedAt === leasedAt
    if (current && time - leasedAt < after) break
    pool.leases.popFront()
    pool.leaseTimes.popFront()
    if (!current) continue
    const warning = warn(pool, `a connection has been lent for ${Duration.format(Duration.millis(time - leasedAt))}`)
    const span = entry.borrowerSpan
    // The span's name and ids, not the span itself: a log line stays short whatever the span holds.
    warnings.push(
      span === undefined ? warning : Effect.annotateLogs(warning, {
        ...(span._tag === "Span" ? { borrowerSpan: span.name } : {}),
        traceId: span.traceId,
        spanId: span.spanId
      })
    )
  }
  return warnings.length === 0 ? Effect.void : Effect.all(warnings, { discard: true })
}

const upkeepRound = (pool: PoolImpl<any, any>): Effect.Effect<void> =>
  Effect.suspend(() => {
    const time = now(pool)
    if (pool.checksIdle) retireIdle(pool, time)
    refill(pool)
    return pool.options.leakWarningAfter === undefined ? Effect.void : warnLeaks(pool, time)
  })

/**
 * Fails waiters with `PoolClosedError`, closes idle connections, interrupts
 * openings without waiting for them and validations in progress, and waits
 * until lent connections are back and every close has ended (each bounded by
 * `closeTimeout`).
 */
const shutdown = (pool: PoolImpl<any, any>): Effect.Effect<void> =>
  Effect.suspend(() => {
    const closed = Cause.fail(closedError(pool))
    for (const waiter of beginShutdown(pool)) refuse(waiter, closed)
    for (let entry = pool.idle.peekFront(); entry !== undefined; entry = pool.idle.peekFront()) {
      takeIdleToClose(pool, entry)
      retire(pool, entry)
    }
    // An opening that cannot be interrupted is abandoned: its connection is closed when it arrives.
    for (const fiber of pool.openings) fiber.interruptUnsafe()
    // A borrower whose connection is being validated is refused as soon as its validation stops.
    for (const fiber of pool.validations) fiber.interruptUnsafe()
    checkDrained(pool)
    return Deferred.await(pool.drained!)
  })

/** Invalid options are a defect naming the option and the value. @internal */
export const make = <A, E, R, RV>(
  options: Options<A, E, R, RV>
): Effect.Effect<ConnectionPool<A, E>, never, Scope.Scope | R | RV> =>
  Effect.flatMap(Effect.orDie(Effect.try({ try: () => resolve(options), catch: (error) => error })), makeResolved)

/** A pool from options already checked. @internal */
export const makeResolved = <A, E, R>(
  resolved: Resolved<A, E, R>
): Effect.Effect<ConnectionPool<A, E>, never, Scope.Scope | R> =>
  Effect.gen(function*() {
    const context = yield* Effect.context<R | Scope.Scope>()
    const clock = yield* Effect.clockWith(Effect.succeed)
    const pool = new PoolImpl<A, E>(resolved, Context.omit(Scope.Scope)(context) as Context.Context<never>, clock)
    pool.dispatch = () => dispatch(pool)
    yield* Effect.addFinalizer(() => shutdown(pool))
    const upkeep = pool.checksIdle || resolved.minIdle > 0 || resolved.leakWarningAfter !== undefined
    if (upkeep) {
      // Each round is synchronous bookkeeping; shutdown interrupts the upkeep while it sleeps.
      yield* upkeepRound(pool).pipe(
        Effect.andThen(Effect.sleep(resolved.housekeepingInterval)),
        Effect.forever,
        Effect.forkScoped
      )
    }
    return pool
  })
