/**
 * The pool's state and every transition of it. This module is the only writer
 * of the counters and of an entry's `state`, so the invariants can be read in
 * one place:
 *
 * - `idle.length + inUse + opening + closing <= maxSize` (the cap counts
 *   connections being opened and being closed);
 * - `created - closed = idle.length + inUse + closing` (a connection counts as
 *   created once its `acquire` succeeded, and as closed once its close
 *   finished or was abandoned after `closeTimeout`).
 *
 * Every transition is synchronous, so each one is atomic between yields.
 *
 * @internal
 */
import type * as Cause from "effect/Cause"
import type { Clock } from "effect/Clock"
import type * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import { pipeArguments } from "effect/Pipeable"
import type * as Scope from "effect/Scope"
import type * as Tracer from "effect/Tracer"
import type { ConnectionPool, Stats } from "../ConnectionPool.ts"
import { Deque } from "./deque.ts"
import { PoolClosedError, PoolTimeoutError } from "./errors.ts"
import { PoolMetrics } from "./metrics.ts"
import type { Resolved } from "./options.ts"
import { type Node, WaitList } from "./waitList.ts"

/** @internal */
export const TypeId: unique symbol = Symbol.for("effect-connection-pool/ConnectionPool") as never

const variance = { _A: (a: any) => a, _E: (e: any) => e }

/**
 * Where a connection is: in the idle set, lent (or being validated for a
 * borrower), being closed, or gone.
 *
 * @internal
 */
export type EntryState = "idle" | "inUse" | "closing" | "closed"

/** @internal */
export class Entry<A> {
  state: EntryState = "inUse"
  /** Set by `invalidate`: never lend it again, close it when it comes back. */
  invalidated = false
  idleSince: number
  leasedAt: number
  /** The span of the borrower holding it, kept only when leak warnings are on. */
  borrowerSpan: Tracer.AnySpan | undefined = undefined
  /** Ends the current lease; made once per connection so a borrow allocates no closure for it. */
  readonly release: (exit: Exit.Exit<unknown, unknown>) => undefined

  readonly connection: A
  readonly scope: Scope.Closeable
  readonly createdAt: number

  constructor(
    pool: PoolImpl<A, any>,
    connection: A,
    scope: Scope.Closeable,
    createdAt: number,
    endLease: (pool: PoolImpl<A, any>, entry: Entry<A>, exit: Exit.Exit<unknown, unknown>) => void
  ) {
    this.connection = connection
    this.scope = scope
    this.createdAt = createdAt
    this.idleSince = createdAt
    this.leasedAt = createdAt
    this.release = (exit) => {
      endLease(pool, this, exit)
    }
  }
}

/**
 * A borrower in the queue. It is served an entry (to check when `check`),
 * or a cause to fail with (a failed opening, or the pool closing).
 *
 * @internal
 */
export interface Waiter<A> extends Node<Waiter<A>> {
  entry: Entry<A> | undefined
  /** Whether the entry came from the idle set and may need validation. */
  check: boolean
  cause: Cause.Cause<unknown> | undefined
  wake: ((effect: Effect.Effect<void>) => void) | undefined
  readonly deadline: number
}

/** @internal */
export class PoolImpl<A, E> implements ConnectionPool<A, E> {
  readonly [TypeId] = variance
  readonly idle = new Deque<Entry<A>>()
  readonly waiters = new WaitList<Waiter<A>>()
  /** Every connection that is idle or lent, for `invalidate` and the leak scan. */
  readonly entries = new Map<A, Entry<A>>()
  /** The fibers opening connections, for shutdown to interrupt. */
  readonly openings = new Set<Fiber.Fiber<void>>()
  /** The fibers validating connections for borrowers, for shutdown to interrupt. */
  readonly validations = new Set<Fiber.Fiber<unknown>>()
  /** Leases in the order they began, with their start times: the leak warning reads only the oldest. */
  readonly leases = new Deque<Entry<A>>()
  readonly leaseTimes = new Deque<number>()
  inUse = 0
  opening = 0
  closing = 0
  created = 0
  closed = 0
  isClosed = false
  /** Completed when, after shutdown began, nothing is idle, lent or closing. */
  drained: Deferred.Deferred<void> | undefined = undefined
  /** Whether lending from the idle set needs the time (idle timeout, lifetime, validation). */
  readonly checksIdle: boolean
  readonly metrics: PoolMetrics
  readonly waitSpan: { readonly attributes: Record<string, string> }
  /** Hands freed capacity to waiters; set by the module that opens connections. */
  dispatch: () => void = () => {}
  dispatching = false
  redispatch = false

  readonly options: Resolved<A, E, any>
  /** The context the pool was made in: `acquire`, `validate`, closes and logs run with it. */
  readonly context: Context.Context<never>
  readonly clock: Clock

  constructor(options: Resolved<A, E, any>, context: Context.Context<never>, clock: Clock) {
    this.options = options
    this.context = context
    this.clock = clock
    this.checksIdle = options.validate !== undefined || Number.isFinite(options.idleTimeoutMillis) ||
      Number.isFinite(options.maxLifetimeMillis)
    this.waitSpan = { attributes: { "db.client.connection.pool.name": options.name } }
    this.metrics = new PoolMetrics(context, options.name, {
      idle: () => this.idle.length,
      used: () => this.inUse,
      pending: () => this.waiters.size
    }, options)
  }

  get name(): string {
    return this.options.name
  }

  pipe() {
    return pipeArguments(this, arguments)
  }
}

// ---------------------------------------------------------------------------
// predicates and shared values
// ---------------------------------------------------------------------------

/** @internal */
export const now = (pool: PoolImpl<any, any>): number => pool.clock.currentTimeMillisUnsafe()

/** Connections that take a slot: the left side of the cap. @internal */
export const occupancy = (pool: PoolImpl<any, any>): number =>
  pool.idle.length + pool.inUse + pool.opening + pool.closing

/** @internal */
export const hasCapacity = (pool: PoolImpl<any, any>): boolean => occupancy(pool) < pool.options.maxSize

/** Whether another opening may start now: under the cap and under `maxOpening`. @internal */
export const mayOpen = (pool: PoolImpl<any, any>): boolean =>
  !pool.isClosed && hasCapacity(pool) && pool.opening < pool.options.maxOpening

/** @internal */
export const pastLifetime = (pool: PoolImpl<any, any>, entry: Entry<unknown>, time: number): boolean =>
  time - entry.createdAt >= pool.options.maxLifetimeMillis

/** @internal */
export const idleTooLong = (pool: PoolImpl<any, any>, entry: Entry<unknown>, time: number): boolean =>
  time - entry.idleSince >= pool.options.idleTimeoutMillis

/**
 * Whether an idle connection must be closed rather than lent at `time`: past
 * its lifetime, or idle past `idleTimeout` while `idleLeft` (the idle
 * connections left once it is taken) still covers `minIdle`.
 *
 * @internal
 */
export const unfit = (pool: PoolImpl<any, any>, entry: Entry<unknown>, time: number, idleLeft: number): boolean =>
  pastLifetime(pool, entry, time) || (idleTooLong(pool, entry, time) && idleLeft >= pool.options.minIdle)

/** @internal */
export const timeoutError = (pool: PoolImpl<any, any>): PoolTimeoutError => {
  pool.metrics.timeouts++
  return new PoolTimeoutError({ pool: pool.name, timeout: pool.options.acquireTimeout! })
}

/** @internal */
export const needsValidation = (pool: PoolImpl<any, any>, entry: Entry<unknown>, time: number): boolean =>
  pool.options.validate !== undefined && time - entry.idleSince >= pool.options.validateAfterMillis

/** @internal */
export const closedError = (pool: PoolImpl<any, any>): PoolClosedError => new PoolClosedError({ pool: pool.name })

/** Logs a warning annotated with the pool's name. @internal */
export const warn = (pool: PoolImpl<any, any>, message: string, ...rest: ReadonlyArray<unknown>): Effect.Effect<void> =>
  Effect.annotateLogs(Effect.logWarning(`ConnectionPool: ${message}`, ...rest), "pool", pool.name)

/** Runs `effect` in a fiber of its own, in the pool's context, starting now. @internal */
export const runDetached = <X>(pool: PoolImpl<any, any>, effect: Effect.Effect<X>): Fiber.Fiber<X> =>
  Effect.runForkWith(pool.context)(effect)

// ---------------------------------------------------------------------------
// transitions
// ---------------------------------------------------------------------------

/** An opening starts in a free slot. @internal */
export const startOpening = (pool: PoolImpl<any, any>): void => {
  pool.opening++
}

/** An opening ended without a connection. @internal */
export const openingFailed = (pool: PoolImpl<any, any>): void => {
  pool.opening--
}

/** An opening delivered its connection: it is counted as created and in use until placed. @internal */
export const opened = <A>(pool: PoolImpl<A, any>, entry: Entry<A>): void => {
  pool.opening--
  pool.created++
  pool.inUse++
  pool.entries.set(entry.connection, entry)
}

/** Takes the next idle connection in the configured order, lending it. @internal */
export const takeIdle = <A>(pool: PoolImpl<A, any>): Entry<A> | undefined => {
  const entry = pool.options.lifo ? pool.idle.popBack() : pool.idle.popFront()
  if (entry !== undefined) {
    entry.state = "inUse"
    pool.inUse++
  }
  return entry
}

/** Takes an idle connection out of the idle set to close it (`invalidate`, upkeep, shutdown). @internal */
export const takeIdleToClose = <A>(pool: PoolImpl<A, any>, entry: Entry<A>): void => {
  if (entry.state !== "idle") return
  if (pool.idle.peekFront() === entry) pool.idle.popFront()
  else pool.idle.removeWhere((idle) => idle === entry)
  entry.state = "inUse"
  pool.inUse++
}

/** Takes the idle connections `retire` selects out of the idle set, to close them. @internal */
export const takeIdleWhere = <A>(pool: PoolImpl<A, any>, retire: (entry: Entry<A>) => boolean): Array<Entry<A>> => {
  const taken = pool.idle.removeWhere(retire)
  for (const entry of taken) {
    entry.state = "inUse"
    pool.inUse++
  }
  return taken
}

/** Hands `entry` to a waiter. @internal */
export const serve = <A>(waiter: Waiter<A>, entry: Entry<A>, check: boolean): void => {
  waiter.entry = entry
  waiter.check = check
  waiter.wake?.(Effect.void)
}

/** Fails a waiter with `cause`. @internal */
export const refuse = (waiter: Waiter<any>, cause: Cause.Cause<unknown>): void => {
  waiter.cause = cause
  waiter.wake?.(Effect.void)
}

/**
 * Gives a healthy lent connection back: to the longest waiter (not validated
 * again), else to the idle set if it has room. False when it must be closed.
 *
 * @internal
 */
export const giveBack = <A>(pool: PoolImpl<A, any>, entry: Entry<A>, time: number): boolean => {
  entry.idleSince = time
  const waiter = pool.waiters.shift()
  if (waiter !== undefined) {
    entry.leasedAt = time
    serve(waiter, entry, false)
    return true
  }
  if (pool.idle.length < pool.options.maxIdle) {
    pool.inUse--
    entry.state = "idle"
    pool.idle.pushBack(entry)
    return true
  }
  return false
}

/** A lent connection starts closing; its slot stays taken until `closeDone`. @internal */
export const startClose = <A>(pool: PoolImpl<A, any>, entry: Entry<A>): void => {
  pool.inUse--
  pool.closing++
  entry.state = "closing"
  pool.entries.delete(entry.connection)
}

/** A close finished or was abandoned: the slot is free. A second call does nothing. @internal */
export const closeDone = <A>(pool: PoolImpl<A, any>, entry: Entry<A>): void => {
  if (entry.state !== "closing") return
  entry.state = "closed"
  pool.closing--
  pool.closed++
  pool.dispatch()
  checkDrained(pool)
}

/** Marks the pool closed and takes every waiter out of the queue. @internal */
export const beginShutdown = <A>(pool: PoolImpl<A, any>): Array<Waiter<A>> => {
  pool.isClosed = true
  pool.metrics.unregister()
  pool.drained = Deferred.makeUnsafe<void>()
  const waiters: Array<Waiter<A>> = []
  for (let waiter = pool.waiters.shift(); waiter !== undefined; waiter = pool.waiters.shift()) waiters.push(waiter)
  return waiters
}

/** Completes shutdown once nothing is idle, lent or closing; openings are not waited for. @internal */
export const checkDrained = (pool: PoolImpl<any, any>): void => {
  if (pool.drained !== undefined && pool.idle.length + pool.inUse + pool.closing === 0) {
    Deferred.doneUnsafe(pool.drained, Exit.void)
  }
}

/** @internal */
export const stats = (pool: PoolImpl<any, any>): Stats => ({
  idle: pool.idle.length,
  inUse: pool.inUse,
  opening: pool.opening,
  closing: pool.closing,
  waiting: pool.waiters.size,
  total: occupancy(pool),
  created: pool.created,
  closed: pool.closed
})
