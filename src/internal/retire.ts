/**
 * Ending leases and closing connections. A close always runs in a fiber of its
 * own, never in a borrower's fiber or in the fiber that ends a lease, and is
 * bounded by `closeTimeout`: a close still running then is abandoned (logged,
 * its slot freed).
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import {
  closeDone,
  type Entry,
  giveBack,
  now,
  pastLifetime,
  type PoolImpl,
  runDetached,
  startClose,
  takeIdle,
  unfit,
  warn
} from "./state.ts"

const noop = () => {}

const settled = (pool: PoolImpl<any, any>, exit: Exit.Exit<unknown, unknown>, done: () => void): void => {
  if (Exit.isFailure(exit)) runDetached(pool, warn(pool, "closing a connection failed", exit.cause))
  done()
}

/**
 * Closes `scope` in a fiber of its own and calls `done` once, when the close
 * finished or was abandoned after `closeTimeout`. A close that finishes at once
 * finishes before this returns.
 *
 * @internal
 */
export const closeScope = (pool: PoolImpl<any, any>, scope: Scope.Closeable, done: () => void = noop): void => {
  const closing = runDetached(pool, Effect.exit(Scope.close(scope, Exit.void)))
  const exit = closing.pollUnsafe()
  if (exit !== undefined) return settled(pool, Exit.isSuccess(exit) ? exit.value : exit, done)
  const timeout = pool.options.closeTimeout
  runDetached(
    pool,
    Effect.flatMap(Effect.timeoutOption(Fiber.await(closing), timeout), (result) => {
      if (Option.isSome(result)) {
        const exit = result.value
        settled(pool, Exit.isSuccess(exit) ? exit.value : exit, done)
        return Effect.void
      }
      closing.interruptUnsafe()
      done()
      return warn(pool, `closing a connection took longer than closeTimeout (${Duration.format(timeout)}); abandoned`)
    })
  )
}

/** Closes a lent connection: its slot is freed when the close ends. @internal */
export const retire = <A>(pool: PoolImpl<A, any>, entry: Entry<A>): void => {
  startClose(pool, entry)
  closeScope(pool, entry.scope, () => closeDone(pool, entry))
}

/** `recycle`'s answer; one that throws counts as "do not reuse" and is logged. */
const recycled = (pool: PoolImpl<any, any>, exit: Exit.Exit<unknown, unknown>): boolean => {
  try {
    return pool.options.recycle(exit) === true
  } catch (defect) {
    runDetached(pool, warn(pool, "recycle threw; the connection is closed", Cause.die(defect)))
    return false
  }
}

/**
 * Ends a lease: the connection goes to the longest waiter or the idle set if
 * the pool, `recycle`, `invalidate` and `maxLifetime` allow it, else it is
 * closed in the background. A second end of the same lease does nothing.
 *
 * @internal
 */
export const endLease = <A>(pool: PoolImpl<A, any>, entry: Entry<A>, exit: Exit.Exit<unknown, unknown>): void => {
  if (entry.state !== "inUse") return
  const time = now(pool)
  pool.metrics.useTime.observe((time - entry.leasedAt) / 1000)
  if (
    !pool.isClosed && !entry.invalidated && !pastLifetime(pool, entry, time) && recycled(pool, exit) &&
    giveBack(pool, entry, time)
  ) {
    return
  }
  retire(pool, entry)
}

/** Takes back a connection served to a borrower that left before using it. @internal */
export const handBack = <A>(pool: PoolImpl<A, any>, entry: Entry<A>): void => {
  if (pool.isClosed || entry.invalidated || !giveBack(pool, entry, now(pool))) retire(pool, entry)
}

/**
 * Takes the next idle connection fit to lend at `time`. On the way it closes
 * those past `maxLifetime`, and those idle past `idleTimeout` while more than
 * `minIdle` are idle.
 *
 * @internal
 */
export const takeLendable = <A>(pool: PoolImpl<A, any>, time: number): Entry<A> | undefined => {
  for (;;) {
    const entry = takeIdle(pool)
    if (entry === undefined) return undefined
    if (!pool.checksIdle || !unfit(pool, entry, time, pool.idle.length)) return entry
    retire(pool, entry)
  }
}
