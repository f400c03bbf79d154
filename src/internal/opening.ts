/**
 * Opening connections and handing out what is free. Openings are not tied to
 * a borrower: each runs in a fiber of its own, and its connection goes to the
 * longest waiter when it arrives, or to the idle set. `dispatch` starts an
 * opening only for a waiter that no opening in flight will serve, within
 * `maxSize` and `maxOpening`, so a burst of borrowers opens few connections.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import { endLease, retire, closeScope, takeLendable } from "./retire.ts"
import {
  Entry,
  giveBack,
  mayOpen,
  now,
  opened,
  openingFailed,
  type PoolImpl,
  refuse,
  runDetached,
  serve,
  startOpening,
  timeoutError,
  warn
} from "./state.ts"

/** What an opening does when `acquire` ends: place the connection, or pass the failure to the longest waiter. */
const arrived = <A, E>(pool: PoolImpl<A, E>, scope: Scope.Closeable, start: number, exit: Exit.Exit<A, E>): void => {
  if (Exit.isSuccess(exit)) {
    const time = now(pool)
    const entry = new Entry(pool, exit.value, scope, time, endLease)
    opened(pool, entry)
    pool.metrics.createTime.observe((time - start) / 1000)
    // A connection that arrives after shutdown began is closed at once.
    if (pool.isClosed || !giveBack(pool, entry, time)) retire(pool, entry)
  } else {
    openingFailed(pool)
    closeScope(pool, scope)
    if (!pool.isClosed) {
      const waiter = pool.waiters.shift()
      if (waiter !== undefined) refuse(waiter, exit.cause)
      else runDetached(pool, warn(pool, "opening a connection failed", exit.cause))
    }
  }
  dispatch(pool)
}

/** Runs `acquire` in the connection's own scope; only the acquire itself may be interrupted (by shutdown). */
const opening = <A, E>(pool: PoolImpl<A, E>): Effect.Effect<void> =>
  Effect.uninterruptibleMask((restore) => {
    const scope = Scope.makeUnsafe()
    const start = now(pool)
    const acquire = Effect.provideService(pool.options.acquire as Effect.Effect<A, E, Scope.Scope>, Scope.Scope, scope)
    return Effect.map(Effect.exit(restore(acquire)), (exit) => arrived(pool, scope, start, exit))
  })

/** Starts one opening in a slot the caller checked is free (`mayOpen`). @internal */
export const open = (pool: PoolImpl<any, any>): void => {
  startOpening(pool)
  const fiber = runDetached(pool, opening(pool))
  if (fiber.pollUnsafe() === undefined) {
    pool.openings.add(fiber)
    fiber.addObserver(() => pool.openings.delete(fiber))
  }
}

/** Fails the waiters at the head whose deadline has passed, so that nothing is opened for them. */
const refuseExpired = (pool: PoolImpl<any, any>): void => {
  if (pool.options.acquireTimeout === undefined) return
  const time = now(pool)
  while (pool.waiters.first !== undefined && pool.waiters.first.deadline <= time) {
    refuse(pool.waiters.shift()!, Cause.fail(timeoutError(pool)))
  }
}

const dispatchOnce = (pool: PoolImpl<any, any>): void => {
  while (pool.waiters.size > 0) {
    if (pool.idle.length > 0) {
      const entry = takeLendable(pool, pool.checksIdle ? now(pool) : 0)
      if (entry !== undefined) serve(pool.waiters.shift()!, entry, true)
    } else if (pool.waiters.size > pool.opening && mayOpen(pool)) {
      refuseExpired(pool)
      if (pool.waiters.size > pool.opening) open(pool)
    } else {
      return
    }
  }
}

/**
 * Serves waiters from the idle set, then starts openings for the waiters left
 * over. Re-entrant calls (an opening that ends at once) are folded into the
 * running one.
 *
 * @internal
 */
export const dispatch = (pool: PoolImpl<any, any>): void => {
  if (pool.dispatching) {
    pool.redispatch = true
    return
  }
  pool.dispatching = true
  try {
    do {
      pool.redispatch = false
      dispatchOnce(pool)
    } while (pool.redispatch)
  } finally {
    pool.dispatching = false
  }
}
