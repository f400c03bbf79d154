/**
 * A connection pool for Effect: idle connections are reused oldest-first (FIFO)
 * by default, `maxIdle` caps what is kept idle, an optional `maxSize` caps the
 * total with a fair wait queue, and every lease goes back to the pool whatever
 * happens to the borrower.
 *
 * Use it for anything that is expensive to open and cheap to keep: LDAP, SQL,
 * SMTP or HTTP/1 connections.
 *
 * @since 0.1.0
 */
import type * as Config from "effect/Config"
import type * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import { dual } from "effect/Function"
import * as Layer from "effect/Layer"
import type { Pipeable } from "effect/Pipeable"
import type * as Scope from "effect/Scope"
import type { PoolClosedError, PoolExhaustedError, PoolTimeoutError } from "./internal/errors.ts"
import * as internalConfig from "./internal/config.ts"
import * as internal from "./internal/pool.ts"

const TypeId: typeof internal.TypeId = internal.TypeId

/**
 * A pool of connections of type `A` whose opening may fail with `E`.
 *
 * Borrow with {@link get} (inside a scope) or {@link use}; never keep the
 * connection past the lease.
 *
 * @category models
 */
export interface ConnectionPool<in out A, in out E = never> extends Pipeable {
  readonly [TypeId]: {
    readonly _A: (_: A) => A
    readonly _E: (_: E) => E
  }
  /** The name used in metrics, spans and logs. */
  readonly name: string
}

/**
 * What the pool holds right now, and what it has opened and closed so far.
 * At every instant:
 *
 * - `total = idle + inUse + opening + closing <= maxSize`;
 * - `created - closed = idle + inUse + closing`: a connection counts in
 *   `opening` until its `acquire` succeeds, then as created; it counts in
 *   `closing` until its close ends or is abandoned after `closeTimeout`, then
 *   as closed.
 *
 * An opening abandoned at shutdown is never counted as created: the pool sees
 * it end as interrupted, and closes its scope (which closes the connection).
 *
 * @category models
 */
export interface Stats {
  readonly idle: number
  readonly inUse: number
  readonly opening: number
  /** Connections whose close is running: they still hold their slot. */
  readonly closing: number
  /** Borrowers not served yet, including those a connection is being opened for. */
  readonly waiting: number
  readonly total: number
  readonly created: number
  readonly closed: number
}

/**
 * What the pool knows about a connection it asks `validate` about.
 *
 * @category models
 */
export interface ValidateInfo {
  /** How long the connection has been idle. */
  readonly idle: Duration.Duration
  /** How long ago it was opened. */
  readonly age: Duration.Duration
}

/**
 * How a pool opens, checks, keeps and retires its connections. `R` is what
 * `acquire` requires, `RV` what `validate` requires (by default the same).
 *
 * @category models
 */
export interface Options<A, E, R, RV = R> {
  /**
   * Opens one connection. It runs in the connection's own scope: finalizers it
   * adds (`Effect.acquireRelease(open, close)`) close the connection when the
   * pool discards it.
   */
  readonly acquire: Effect.Effect<A, E, R>
  /** How many connections may sit idle; one returned to a full idle set is closed at once. */
  readonly maxIdle: number
  /** Caps open + opening + lent connections. Borrowers beyond it wait in FIFO order. Default: unbounded. */
  readonly maxSize?: number | undefined
  /** Which idle connection is lent first: the oldest (`"fifo"`, the default) or the newest (`"lifo"`). */
  readonly order?: "fifo" | "lifo" | undefined
  /**
   * Bounds a borrower's whole wait, queueing and opening included, with {@link PoolTimeoutError}.
   * An opening outlives a borrower that gave up, and its connection joins the pool: bound the connect
   * inside `acquire` too.
   */
  readonly acquireTimeout?: Duration.Input | undefined
  /** With `maxSize` reached and this many borrowers waiting, `get` fails at once with {@link PoolExhaustedError}. */
  readonly maxWaiting?: number | undefined
  /**
   * Checks a connection that has been idle longer than `validateAfter` before
   * it is lent, told how long it has been idle and its age. Anything but
   * `true` (`false`, a failure, a defect, a throw, a timeout after
   * `validateTimeout`, an `invalidate` meanwhile) closes it and the borrower
   * keeps its place in the queue, without seeing an error.
   */
  readonly validate?: ((connection: A, info: ValidateInfo) => Effect.Effect<boolean, unknown, RV>) | undefined
  /** Idle time after which `validate` runs before lending. Default: 0 (validate on every idle lend). */
  readonly validateAfter?: Duration.Input | undefined
  /** How long `validate` may take before the connection counts as broken. Default: 5 seconds. */
  readonly validateTimeout?: Duration.Input | undefined
  /** Closes connections idle for longer than this, down to `minIdle`. */
  readonly idleTimeout?: Duration.Input | undefined
  /** Retires connections older than this: idle ones are closed, lent ones when they return. */
  readonly maxLifetime?: Duration.Input | undefined
  /** Idle connections kept open and refilled in the background. Default: 0. */
  readonly minIdle?: number | undefined
  /** How often the background upkeep (idle timeout, lifetime, minIdle refill) runs. Default: 1 second. */
  readonly housekeepingInterval?: Duration.Input | undefined
  /**
   * After a lease ends, may its connection be reused? Default: after success and
   * after a typed failure, yes; after a defect or an interruption, no. One that
   * throws counts as no, and is logged.
   */
  readonly recycle?: ((exit: Exit.Exit<unknown, unknown>) => boolean) | undefined
  /**
   * How long closing a connection may take. A close still running then is
   * abandoned: logged, and its slot freed. Default: 30 seconds.
   */
  readonly closeTimeout?: Duration.Input | undefined
  /**
   * At most this many connections are being opened at once; borrowers beyond
   * it are served by the next opening or returned connection. Default: unbounded.
   */
  readonly maxOpening?: number | undefined
  /**
   * A lease held longer logs one warning with the pool's name, how long it has
   * been held and the borrower's span (its name and ids). Checked by the
   * upkeep every `housekeepingInterval`. Default: off.
   */
  readonly leakWarningAfter?: Duration.Input | undefined
  /** Names the pool in metrics (`db.client.connection.pool.name`), spans and logs. Default: `"default"`. */
  readonly name?: string | undefined
}

/**
 * The sizes and durations of {@link Options}: what {@link layerConfig} reads
 * with `Config`.
 *
 * @category models
 */
export type ConfigOptions = Omit<Options<never, never, never>, "acquire" | "validate" | "recycle">

export {
  /** A borrower waited `acquireTimeout` without getting a connection. */
  PoolTimeoutError,
  /** `maxSize` was reached and `maxWaiting` borrowers were already waiting. */
  PoolExhaustedError,
  /** The pool is shutting down or shut down. */
  PoolClosedError
} from "./internal/errors.ts"

/**
 * The errors the pool itself adds to a borrow.
 *
 * @category errors
 */
export type PoolError = PoolTimeoutError | PoolExhaustedError | PoolClosedError

/**
 * Creates a pool that lives as long as the current scope: closing the scope
 * fails new and waiting borrowers with {@link PoolClosedError}, closes idle
 * connections at once and lent ones when they come back, and finishes when
 * all are closed. Invalid options are a defect naming the option and its value.
 *
 * @category constructors
 */
export const make = <A, E, R, RV = never>(
  options: Options<A, E, R, RV>
): Effect.Effect<ConnectionPool<A, E>, never, Scope.Scope | R | RV> => internal.make(options)

/**
 * Provides a pool as a service; the pool closes with the layer.
 *
 * @category constructors
 */
export const layer = <I, A, E, R, RV = never>(
  tag: Context.Key<I, ConnectionPool<A, E>>,
  options: Options<A, E, R, RV>
): Layer.Layer<I, never, Exclude<R | RV, Scope.Scope>> => Layer.effect(tag, make(options))

/**
 * Like {@link layer}, with sizes and durations read from `Config`, for example
 * `{ maxIdle: Config.Int("POOL_MAX_IDLE"), maxSize: Config.Int("POOL_MAX_SIZE") }`.
 * Behaviour that is code (`validate`, `recycle`) comes in `behaviour`. A value
 * out of range (`maxIdle` above `maxSize`, a negative size or duration) fails
 * with a `ConfigError` naming the key and the value read, not a defect.
 *
 * @category constructors
 */
export const layerConfig = <I, A, E, R, RV = never>(
  tag: Context.Key<I, ConnectionPool<A, E>>,
  acquire: Effect.Effect<A, E, R>,
  config: Config.Wrap<ConfigOptions>,
  behaviour?: Pick<Options<A, E, R, RV>, "validate" | "recycle">
): Layer.Layer<I, Config.ConfigError, Exclude<R | RV, Scope.Scope>> =>
  Layer.effect(
    tag,
    Effect.flatMap(
      internalConfig.read(config, (options): Options<A, E, R, RV> => ({ ...behaviour, ...options, acquire })),
      internal.makeResolved
    )
  )

/**
 * Borrows a connection for the lifetime of the current scope. When the scope
 * closes the connection goes back to the pool, which reuses it or closes it
 * according to `recycle`, {@link invalidate}, `maxIdle` and `maxLifetime`.
 *
 * @category combinators
 */
export const get = <A, E>(self: ConnectionPool<A, E>): Effect.Effect<A, E | PoolError, Scope.Scope> =>
  internal.get(self as unknown as internal.PoolImpl<A, E>)

/**
 * Borrows a connection while `f` runs: `Effect.scoped(get + f)`, without
 * allocating a scope.
 *
 * @category combinators
 */
export const use: {
  <A, B, E2, R2>(f: (connection: A) => Effect.Effect<B, E2, R2>): <E>(
    self: ConnectionPool<A, E>
  ) => Effect.Effect<B, E | E2 | PoolError, R2>
  <A, E, B, E2, R2>(
    self: ConnectionPool<A, E>,
    f: (connection: A) => Effect.Effect<B, E2, R2>
  ): Effect.Effect<B, E | E2 | PoolError, R2>
} = dual(2, <A, E, B, E2, R2>(
  self: ConnectionPool<A, E>,
  f: (connection: A) => Effect.Effect<B, E2, R2>
): Effect.Effect<B, E | E2 | PoolError, R2> => internal.use(self as unknown as internal.PoolImpl<A, E>, f))

/**
 * Marks a lent connection as broken: it is closed when its lease ends and never
 * lent again. An idle one is closed at once. Unknown connections are ignored.
 *
 * @category combinators
 */
export const invalidate: {
  <A>(connection: A): <E>(self: ConnectionPool<A, E>) => Effect.Effect<void>
  <A, E>(self: ConnectionPool<A, E>, connection: A): Effect.Effect<void>
} = dual(
  2,
  <A, E>(self: ConnectionPool<A, E>, connection: A): Effect.Effect<void> =>
    internal.invalidate(self as unknown as internal.PoolImpl<A, E>, connection)
)

/**
 * A snapshot of the pool's counts.
 *
 * @category combinators
 */
export const stats = <A, E>(self: ConnectionPool<A, E>): Effect.Effect<Stats> =>
  Effect.sync(() => internal.stats(self as unknown as internal.PoolImpl<A, E>))
