/**
 * The pool's state machine. Bookkeeping runs synchronously between yields, so
 * each step is atomic; the only interruptible parts are a borrower's wait, its
 * connection's opening and its validation, and each of those is followed by
 * uninterruptible code that hands back whatever the borrower held.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import type { Clock } from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import { pipeArguments } from "effect/Pipeable"
import * as Scope from "effect/Scope"
import * as Tracer from "effect/Tracer"
import type { ConnectionPool, Options, PoolError, Stats } from "../ConnectionPool.ts"
import { Deque } from "./deque.ts"
import { PoolClosedError, PoolExhaustedError, PoolTimeoutError } from "./errors.ts"
import { PoolMetrics } from "./metrics.ts"
import { type Resolved, resolve } from "./options.ts"
import { type Node, WaitList } from "./waitList.ts"

/** @internal */
export const TypeId: unique symbol = Symbol.for("effect-connection-pool/ConnectionPool") as never

const variance = { _A: (a: any) => a, _E: (e: any) => e }

/** A pooled connection and what the pool knows about it. */
class Entry<A> {
  readonly connection: A
  readonly scope: Scope.Closeable
  readonly createdAt: number
  idleSince: number
  leasedAt: number
  isIdle = false
  invalidated = false
  /** Ends the current lease; made once per connection so a borrow allocates no closure for it. */
  readonly release: (exit: Exit.Exit<unknown, unknown>) => Effect.Effect<void> | undefined

  constructor(pool: PoolImpl<A, any>, connection: A, scope: Scope.Closeable, time: number) {
    this.connection = connection
    this.scope = scope
    this.createdAt = time
    this.idleSince = time
    this.leasedAt = time
    this.release = (exit) => release(pool, this, exit)
  }
}

/** A waiter is served a connection, or a reserved slot to open one in, or the news that the pool closed. */
const Permit = Symbol("Permit")
const Closed = Symbol("Closed")
type Served<A> = Entry<A> | typeof Permit | typeof Closed

interface Waiter<A> extends Node<Waiter<A>> {
  served: Served<A> | undefined
  wake: ((effect: Effect.Effect<void>) => void) | undefined
}

/** @internal */
export class PoolImpl<A, E> implements ConnectionPool<A, E> {
  readonly [TypeId] = variance
  readonly idle = new Deque<Entry<A>>()
  readonly waiters = new WaitList<Waiter<A>>()
  /** Connections being opened, for shutdown to interrupt. */
  readonly openings = new Set<Opening<A, E>>()
  /** Every open connection, for `invalidate`. */
  readonly entries = new Map<A, Entry<A>>()
  inUse = 0
  opening = 0
  /** Connections being closed: not counted in stats, but they hold their slot until closed. */
  closing = 0
  created = 0
  closed = 0
  isClosed = false
  /** Completed when, after shutdown began, the last connection has closed. */
  drained: Deferred.Deferred<void> | undefined = undefined
  /** Whether lending from the idle set needs the time (idle timeout, lifetime, validation). */
  readonly checksIdle: boolean
  readonly options: Resolved<A, E, any>
  readonly acquireContext: Context.Context<never>
  readonly clock: Clock
  readonly metrics: PoolMetrics
  readonly waitSpan: { readonly attributes: Record<string, string> }

  constructor(options: Resolved<A, E, any>, acquireContext: Context.Context<never>, clock: Clock) {
    this.options = options
    this.acquireContext = acquireContext
    this.clock = clock
    this.checksIdle = options.validate !== undefined || Number.isFinite(options.idleTimeoutMillis) ||
      Number.isFinite(options.maxLifetimeMillis)
    this.waitSpan = { attributes: { "db.client.connection.pool.name": options.name } }
    this.metrics = new PoolMetrics(acquireContext, options.name, {
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

const now = (pool: PoolImpl<any, any>): number => pool.clock.currentTimeMillisUnsafe()

const hasCapacity = (pool: PoolImpl<any, any>): boolean =>
  pool.idle.length + pool.inUse + pool.opening + pool.closing < pool.options.maxSize

/** Lends the next idle connection in the configured order. */
const takeIdle = <A>(pool: PoolImpl<A, any>): Entry<A> | undefined => {
  const entry = pool.options.lifo ? pool.idle.popBack() : pool.idle.popFront()
  if (entry !== undefined) {
    entry.isIdle = false
    pool.inUse++
  }
  return entry
}

const isExpired = (pool: PoolImpl<any, any>, entry: Entry<unknown>, time: number): boolean =>
  time - entry.idleSince >= pool.options.idleTimeoutMillis || time - entry.createdAt >= pool.options.maxLifetimeMillis

const needsValidation = (pool: PoolImpl<any, any>, entry: Entry<unknown>, time: number): boolean =>
  pool.options.validate !== undefined && time - entry.idleSince >= pool.options.validateAfterMillis

const serve = <A>(waiter: Waiter<A>, served: Served<A>): void => {
  waiter.served = served
  waiter.wake?.(Effect.void)
}

/**
 * Gives a healthy, lent connection back: to the longest waiter, else to the
 * idle set if it has room. Returns false when the caller must close it.
 */
const giveBack = <A>(pool: PoolImpl<A, any>, entry: Entry<A>, time: number): boolean => {
  entry.idleSince = time
  const waiter = pool.waiters.shift()
  if (waiter !== undefined) {
    entry.leasedAt = time
    serve(waiter, entry)
    return true
  }
  if (pool.idle.length < pool.options.maxIdle) {
    pool.inUse--
    entry.isIdle = true
    pool.idle.pushBack(entry)
    return true
  }
  return false
}

/** Hands freed capacity to waiters, and completes shutdown once everything is closed. */
const dispatch = (pool: PoolImpl<any, any>): void => {
  while (pool.waiters.size > 0) {
    if (pool.idle.length > 0) {
      serve(pool.waiters.shift()!, takeIdle(pool)!)
    } else if (hasCapacity(pool)) {
      pool.opening++
      serve(pool.waiters.shift()!, Permit)
    } else {
      break
    }
  }
  if (pool.drained !== undefined && pool.inUse + pool.opening + pool.closing + pool.idle.length === 0) {
    Deferred.doneUnsafe(pool.drained, Exit.void)
  }
}

const closeScope = (pool: PoolImpl<any, any>, scope: Scope.Closeable): Effect.Effect<void> =>
  Scope.close(scope, Exit.void).pipe(
    Effect.catchCause((cause) =>
      Effect.logWarning("ConnectionPool: closing a connection failed", cause).pipe(
        Effect.annotateLogs("pool", pool.name)
      )
    )
  )

/**
 * Closes a connection that is neither idle nor lent any more. Its slot stays
 * taken until the close finishes; a failing close is logged, never raised.
 */
const discard = <A>(pool: PoolImpl<A, any>, entry: Entry<A>): Effect.Effect<void> =>
  Effect.suspend(() => {
    pool.closing++
    pool.closed++
    pool.entries.delete(entry.connection)
    return Effect.ensuring(
      closeScope(pool, entry.scope),
      Effect.sync(() => {
        pool.closing--
        dispatch(pool)
      })
    )
  }).pipe(Effect.uninterruptible)

/** Closes a lent connection instead of taking it back. */
const discardLent = <A>(pool: PoolImpl<A, any>, entry: Entry<A>): Effect.Effect<void> => {
  pool.inUse--
  return discard(pool, entry)
}

/**
 * Ends a lease: reuse the connection if the pool, `recycle` and `invalidate`
 * allow it, else close it. `undefined` when there is nothing left to run.
 */
const release = <A>(
  pool: PoolImpl<A, any>,
  entry: Entry<A>,
  exit: Exit.Exit<unknown, unknown>
): Effect.Effect<void> | undefined => {
  const time = now(pool)
  pool.metrics.useTime.observe((time - entry.leasedAt) / 1000)
  return !pool.isClosed && !entry.invalidated && time - entry.createdAt < pool.options.maxLifetimeMillis &&
      pool.options.recycle(exit) && giveBack(pool, entry, time)
    ? undefined
    : discardLent(pool, entry)
}

/** Takes back what a borrower that gave up (timeout, interruption) was served. */
const returnServed = <A>(pool: PoolImpl<A, any>, served: Served<A>): Effect.Effect<void> => {
  if (served === Permit) {
    pool.opening--
    dispatch(pool)
    return Effect.void
  }
  if (served === Closed) return Effect.void
  return !pool.isClosed && giveBack(pool, served, served.idleSince) ? Effect.void : discardLent(pool, served)
}

const timeoutError = (pool: PoolImpl<any, any>): PoolTimeoutError => {
  pool.metrics.timeouts++
  return new PoolTimeoutError({ pool: pool.name, timeout: pool.options.acquireTimeout! })
}

/** Bounds `effect` by what is left until `deadline`: `None` when time ran out. */
const untilDeadline = <X, EX>(
  pool: PoolImpl<any, any>,
  effect: Effect.Effect<X, EX>,
  deadline: number
): Effect.Effect<Option.Option<X>, EX> =>
  deadline === Infinity
    ? Effect.map(effect, Option.some)
    : Effect.timeoutOption(effect, Duration.millis(Math.max(0, deadline - now(pool))))

const awaitServed = <A>(waiter: Waiter<A>): Effect.Effect<void> =>
  Effect.callback<void>((resume) => {
    if (waiter.served !== undefined) return resume(Effect.void)
    waiter.wake = resume
  })

/**
 * Queues the borrower and waits, interruptibly, until it is served or its
 * deadline passes. Call it when the wait is to start: it queues at once.
 */
const waitTurn = <A, E>(
  pool: PoolImpl<A, E>,
  deadline: number
): Effect.Effect<Entry<A> | typeof Permit, PoolError> => {
  if (pool.waiters.size >= pool.options.maxWaiting) {
    return Effect.fail(new PoolExhaustedError({ pool: pool.name, waiting: pool.waiters.size }))
  }
  const waiter: Waiter<A> = { prev: undefined, next: undefined, linked: false, served: undefined, wake: undefined }
  pool.waiters.push(waiter)
  const turn = deadline === Infinity
    ? awaitServed(waiter)
    : Effect.timeoutOption(awaitServed(waiter), Duration.millis(Math.max(0, deadline - now(pool))))
  // A standalone span, as nothing runs inside the wait; skipped when the spans would go nowhere,
  // since a span costs more than the rest of the wait.
  const wait = Effect.flatMap(
    Effect.tracer,
    (tracer) => tracer === Tracer.nativeTracer ? turn : Effect.useSpan("ConnectionPool.wait", pool.waitSpan, () => turn)
  )
  return Effect.flatMap(Effect.exit(Effect.interruptible(wait)), (exit): Effect.Effect<Entry<A> | typeof Permit, PoolError> => {
    pool.waiters.remove(waiter)
    const served = waiter.served
    if (Exit.isFailure(exit)) {
      // Serving resumes the waiter at once today, so it unlinks before an interruption can land;
      // a runtime that defers the resumption would leave it served here, so hand that back.
      const interrupted = Effect.failCause(exit.cause)
      return served === undefined ? interrupted : Effect.andThen(returnServed(pool, served), interrupted)
    }
    if (served === undefined) return Effect.fail(timeoutError(pool))
    if (served === Closed) return Effect.fail(new PoolClosedError({ pool: pool.name }))
    return Effect.succeed(served)
  })
}

/** A connection being opened in the background for one borrower, who may stop waiting for it. */
interface Opening<A, E> {
  fiber: Fiber.Fiber<void> | undefined
  entry: Entry<A> | undefined
  failure: Cause.Cause<E> | undefined
  done: boolean
  /** The borrower stopped waiting (timeout, interruption): the connection goes to the pool instead. */
  orphaned: boolean
  wake: ((effect: Effect.Effect<void>) => void) | undefined
}

const finish = (pool: PoolImpl<any, any>, opening: Opening<any, any>): void => {
  opening.done = true
  pool.openings.delete(opening)
  opening.wake?.(Effect.void)
}

/**
 * Runs `acquire` in the connection's own scope. A connection whose borrower
 * left is given to the pool; a failure whose borrower left is logged.
 */
const openInBackground = <A, E>(pool: PoolImpl<A, E>, opening: Opening<A, E>): Effect.Effect<void> =>
  // Only the acquire may be interrupted (by shutdown); the bookkeeping after it must run.
  Effect.uninterruptibleMask((restore) => {
    const scope = Scope.makeUnsafe()
    const start = now(pool)
    const acquire = Effect.provideContext(
      pool.options.acquire,
      Context.add(pool.acquireContext, Scope.Scope, scope)
    ) as Effect.Effect<A, E>
    return Effect.flatMap(Effect.exit(restore(acquire)), (exit): Effect.Effect<void> => {
      if (Exit.isSuccess(exit)) {
        const time = now(pool)
        const entry = new Entry(pool, exit.value, scope, time)
        pool.opening--
        pool.inUse++
        pool.created++
        pool.entries.set(entry.connection, entry)
        pool.metrics.createTime.observe((time - start) / 1000)
        if (!pool.isClosed && !opening.orphaned) {
          opening.entry = entry
          finish(pool, opening)
          return Effect.void
        }
        const kept = !pool.isClosed && giveBack(pool, entry, time)
        return Effect.ensuring(kept ? Effect.void : discardLent(pool, entry), Effect.sync(() => finish(pool, opening)))
      }
      const failed = opening.orphaned && !pool.isClosed
        ? Effect.logWarning("ConnectionPool: opening a connection failed", exit.cause).pipe(
          Effect.annotateLogs("pool", pool.name)
        )
        : Effect.void
      return Effect.ensuring(
        Effect.andThen(closeScope(pool, scope), failed),
        Effect.sync(() => {
          pool.opening--
          opening.failure = exit.cause
          dispatch(pool)
          finish(pool, opening)
        })
      )
    })
  })

const awaitOpened = (opening: Opening<any, any>): Effect.Effect<void> =>
  Effect.callback<void>((resume) => {
    if (opening.done) return resume(Effect.void)
    opening.wake = resume
  })

/**
 * Opens a connection in a slot already reserved (`opening` counted) and lends
 * it. The opening runs in a fiber of its own, so that an acquire that cannot
 * be interrupted (the acquire of `Effect.acquireRelease` cannot) still lets the
 * borrower time out or be interrupted; the connection then goes to the pool.
 */
const open = <A, E>(pool: PoolImpl<A, E>, deadline: number): Effect.Effect<Entry<A>, E | PoolError> =>
  Effect.suspend(() => {
    const opening: Opening<A, E> = {
      fiber: undefined,
      entry: undefined,
      failure: undefined,
      done: false,
      orphaned: false,
      wake: undefined
    }
    pool.openings.add(opening)
    return Effect.forkDetach(openInBackground(pool, opening), { startImmediately: true }).pipe(
      Effect.flatMap((fiber) => {
        opening.fiber = fiber
        return Effect.exit(Effect.interruptible(untilDeadline(pool, awaitOpened(opening), deadline)))
      }),
      Effect.flatMap((exit): Effect.Effect<Entry<A>, E | PoolError> => {
        const entry = opening.entry
        if (entry !== undefined) {
          return Exit.isSuccess(exit)
            ? Effect.succeed(entry)
            : Effect.andThen(returnServed(pool, entry), Effect.failCause(exit.cause))
        }
        if (opening.failure !== undefined) {
          // Only shutdown interrupts an opening.
          return Cause.hasInterruptsOnly(opening.failure)
            ? Effect.fail(new PoolClosedError({ pool: pool.name }))
            : Effect.failCause(opening.failure)
        }
        if (opening.done) return Effect.fail(new PoolClosedError({ pool: pool.name }))
        opening.orphaned = true
        return Exit.isSuccess(exit) ? Effect.fail(timeoutError(pool)) : Effect.failCause(exit.cause)
      })
    )
  })

/**
 * Decides whether a lent idle connection may be handed to the borrower:
 * expired ones are closed, stale ones validated. False means it was closed.
 */
const check = <A, E>(pool: PoolImpl<A, E>, entry: Entry<A>, deadline: number): Effect.Effect<boolean> =>
  Effect.suspend(() => {
    const time = now(pool)
    if (isExpired(pool, entry, time)) return Effect.as(discardLent(pool, entry), false)
    if (!needsValidation(pool, entry, time)) return Effect.succeed(true)
    const validate = Effect.timeoutOption(
      pool.options.validate!(entry.connection),
      Duration.min(pool.options.validateTimeout, Duration.millis(Math.max(0, deadline - time)))
    )
    return Effect.flatMap(Effect.exit(Effect.interruptible(validate)), (exit) => {
      if (Exit.isSuccess(exit) && Option.isSome(exit.value) && exit.value.value === true) {
        return Effect.succeed(true)
      }
      const closed = discardLent(pool, entry)
      return Exit.isFailure(exit) && Cause.hasInterrupts(exit.cause)
        ? Effect.andThen(closed, Effect.interrupt)
        : Effect.as(closed, false)
    })
  })

/** What the slow path of one borrow carries from step to step. */
interface Borrow<A, E> {
  readonly pool: PoolImpl<A, E>
  readonly start: number
  readonly deadline: number
}

/** Hands `entry` to the borrower, recording how long it waited. */
const lendNow = <A>(borrow: Borrow<A, any>, entry: Entry<A>): Effect.Effect<Entry<A>> => {
  const time = now(borrow.pool)
  entry.leasedAt = time
  borrow.pool.metrics.waitTime.observe((time - borrow.start) / 1000)
  return Effect.succeed(entry)
}

const checkThenLend = <A, E>(borrow: Borrow<A, E>, entry: Entry<A>): Effect.Effect<Entry<A>, E | PoolError> =>
  borrow.pool.checksIdle
    ? Effect.flatMap(
      check(borrow.pool, entry, borrow.deadline),
      (ok) => ok ? lendNow(borrow, entry) : Effect.suspend(() => step(borrow))
    )
    : lendNow(borrow, entry)

const openThenLend = <A, E>(borrow: Borrow<A, E>): Effect.Effect<Entry<A>, E | PoolError> =>
  Effect.flatMap(open(borrow.pool, borrow.deadline), (entry) => lendNow(borrow, entry))

/** One attempt: take an idle connection, open one in free capacity, or queue. Call it when it is to run. */
const step = <A, E>(borrow: Borrow<A, E>): Effect.Effect<Entry<A>, E | PoolError> => {
  const pool = borrow.pool
  if (pool.isClosed) return Effect.fail(new PoolClosedError({ pool: pool.name }))
  if (pool.waiters.size === 0) {
    const entry = takeIdle(pool)
    if (entry !== undefined) return checkThenLend(borrow, entry)
    if (hasCapacity(pool)) {
      pool.opening++
      return openThenLend(borrow)
    }
  }
  return Effect.flatMap(
    waitTurn(pool, borrow.deadline),
    (served) => served === Permit ? openThenLend(borrow) : checkThenLend(borrow, served)
  )
}

/** The slow path of a borrow: check `first` if the fast path took one, else `step`. */
const acquireSlow = <A, E>(pool: PoolImpl<A, E>, first: Entry<A> | undefined): Effect.Effect<Entry<A>, E | PoolError> =>
  Effect.suspend(() => {
    const start = now(pool)
    const timeout = pool.options.acquireTimeout
    const borrow: Borrow<A, E> = {
      pool,
      start,
      deadline: timeout === undefined ? Infinity : start + Duration.toMillis(timeout)
    }
    return first === undefined ? step(borrow) : checkThenLend(borrow, first)
  })

/**
 * Lends a connection. The fast path runs synchronously and returns the entry:
 * the next idle connection, when nobody waits and it needs no check. Anything
 * else returns the slow path's effect.
 */
const lend = <A, E>(pool: PoolImpl<A, E>): Entry<A> | Effect.Effect<Entry<A>, E | PoolError> => {
  if (pool.isClosed || pool.waiters.size > 0) return acquireSlow(pool, undefined)
  const entry = takeIdle(pool)
  if (entry === undefined) return acquireSlow(pool, undefined)
  const time = now(pool)
  if (pool.checksIdle && (isExpired(pool, entry, time) || needsValidation(pool, entry, time))) {
    return acquireSlow(pool, entry)
  }
  entry.leasedAt = time
  pool.metrics.waitTime.observe(0)
  return entry
}

/** @internal */
export const get = <A, E>(pool: PoolImpl<A, E>): Effect.Effect<A, E | PoolError, Scope.Scope> =>
  Effect.map(
    Effect.acquireRelease(
      Effect.suspend(() => {
        const lent = lend(pool)
        return lent instanceof Entry ? Effect.succeed(lent) : lent
      }),
      (entry, exit) => entry.release(exit) ?? Effect.void
    ),
    (entry) => entry.connection
  )

/** Runs `f` on a lent connection and ends the lease with `f`'s exit. Call in an uninterruptible region. */
const useEntry = <A, B, E2, R2>(
  entry: Entry<A>,
  f: (connection: A) => Effect.Effect<B, E2, R2>,
  restore: <X, EX, RX>(effect: Effect.Effect<X, EX, RX>) => Effect.Effect<X, EX, RX>
): Effect.Effect<B, E2, R2> => {
  let body: Effect.Effect<B, E2, R2>
  try {
    body = f(entry.connection)
  } catch (defect) {
    body = Effect.die(defect)
  }
  return Effect.onExitPrimitive(restore(body), entry.release, true)
}

/**
 * `Effect.scoped(get + f)` without the scope: the lease's release is attached
 * to `f`'s exit in the same uninterruptible step that lends the connection.
 *
 * @internal
 */
export const use = <A, E, B, E2, R2>(
  pool: PoolImpl<A, E>,
  f: (connection: A) => Effect.Effect<B, E2, R2>
): Effect.Effect<B, E | E2 | PoolError, R2> =>
  Effect.uninterruptibleMask((restore) => {
    const lent = lend(pool)
    return lent instanceof Entry
      ? useEntry(lent, f, restore)
      : Effect.flatMap(lent, (entry) => useEntry(entry, f, restore))
  })

/** @internal */
export const invalidate = <A, E>(pool: PoolImpl<A, E>, connection: A): Effect.Effect<void> =>
  Effect.suspend(() => {
    const entry = pool.entries.get(connection)
    if (entry === undefined) return Effect.void
    entry.invalidated = true
    if (!entry.isIdle) return Effect.void
    pool.idle.removeWhere((idle) => idle === entry)
    entry.isIdle = false
    return discard(pool, entry)
  })

/** @internal */
export const stats = (pool: PoolImpl<any, any>): Stats => {
  const idle = pool.idle.length
  return {
    idle,
    inUse: pool.inUse,
    opening: pool.opening,
    waiting: pool.waiters.size,
    total: idle + pool.inUse + pool.opening,
    created: pool.created,
    closed: pool.closed
  }
}

/** Closes idle connections past `idleTimeout` (down to `minIdle`) or past `maxLifetime`. */
const retireIdle = <A>(pool: PoolImpl<A, any>): Effect.Effect<void> =>
  Effect.suspend(() => {
    const time = now(pool)
    const retired: Array<Entry<A>> = []
    // Both orders push returned connections at the back, so the front is the longest idle.
    while (
      pool.idle.length > pool.options.minIdle &&
      time - pool.idle.peekFront()!.idleSince >= pool.options.idleTimeoutMillis
    ) {
      retired.push(pool.idle.popFront()!)
    }
    if (Number.isFinite(pool.options.maxLifetimeMillis)) {
      retired.push(...pool.idle.removeWhere((entry) => time - entry.createdAt >= pool.options.maxLifetimeMillis))
    }
    for (const entry of retired) entry.isIdle = false
    return Effect.forEach(retired, (entry) => discard(pool, entry), { discard: true })
  })

/** Opens connections until `minIdle` are idle, one at a time, while nobody waits and there is room. */
const refill = <A, E>(pool: PoolImpl<A, E>): Effect.Effect<void> =>
  Effect.suspend(() => {
    if (
      pool.isClosed || pool.idle.length + pool.opening >= pool.options.minIdle || pool.waiters.size > 0 ||
      !hasCapacity(pool)
    ) {
      return Effect.void
    }
    pool.opening++
    return open(pool, Infinity).pipe(
      Effect.flatMap((entry) => giveBack(pool, entry, now(pool)) ? refill(pool) : discardLent(pool, entry)),
      Effect.catchCause((cause) =>
        Cause.hasInterruptsOnly(cause)
          ? Effect.void
          : Effect.logWarning("ConnectionPool: opening an idle connection failed", cause).pipe(
            Effect.annotateLogs("pool", pool.name)
          )
      )
    )
  })

/** Fails waiters, closes idle connections at once and waits for lent and opening ones to come back and close. */
const shutdown = <A>(pool: PoolImpl<A, any>): Effect.Effect<void> =>
  Effect.suspend(() => {
    pool.isClosed = true
    pool.metrics.unregister()
    pool.drained = Deferred.makeUnsafe<void>()
    for (let waiter = pool.waiters.shift(); waiter !== undefined; waiter = pool.waiters.shift()) {
      serve(waiter, Closed)
    }
    const idle: Array<Entry<A>> = []
    for (let entry = pool.idle.popFront(); entry !== undefined; entry = pool.idle.popFront()) {
      entry.isIdle = false
      idle.push(entry)
    }
    dispatch(pool)
    const openings = Array.from(pool.openings, (opening) => opening.fiber!)
    return Effect.andThen(
      Effect.all([
        Effect.forEach(idle, (entry) => discard(pool, entry), { concurrency: "unbounded", discard: true }),
        Fiber.interruptAll(openings)
      ], { concurrency: "unbounded", discard: true }),
      Deferred.await(pool.drained)
    )
  })

/** @internal */
export const make = <A, E, R>(options: Options<A, E, R>): Effect.Effect<ConnectionPool<A, E>, never, Scope.Scope | R> =>
  Effect.gen(function*() {
    const resolved = yield* Effect.try({ try: () => resolve(options), catch: (error) => error }).pipe(Effect.orDie)
    const context = yield* Effect.context<R | Scope.Scope>()
    const clock = yield* Effect.clockWith(Effect.succeed)
    const pool = new PoolImpl<A, E>(resolved, context as Context.Context<never>, clock)
    yield* Effect.addFinalizer(() => shutdown(pool))
    const upkeep = Number.isFinite(resolved.idleTimeoutMillis) || Number.isFinite(resolved.maxLifetimeMillis) ||
      resolved.minIdle > 0
    if (upkeep) {
      // Each round's bookkeeping is uninterruptible; shutdown interrupts the upkeep while it sleeps or waits.
      yield* Effect.uninterruptible(Effect.andThen(retireIdle(pool), refill(pool))).pipe(
        Effect.andThen(Effect.sleep(resolved.housekeepingInterval)),
        Effect.forever,
        Effect.forkScoped
      )
    }
    return pool
  })
