/**
 * The pool's metrics, named after OpenTelemetry's semantic conventions for
 * database client connection pools (`db.client.connection.*`), each carrying
 * the pool name as `db.client.connection.pool.name`.
 *
 * Counts are gauges read from the pool's state when metrics are exported, so
 * borrowing and returning a connection never update them.
 *
 * @internal
 */
import type * as Context from "effect/Context"
import * as Metric from "effect/Metric"

/** @internal */
export interface Counts {
  readonly idle: () => number
  readonly used: () => number
  readonly pending: () => number
}

/** @internal */
export interface Limits {
  readonly maxIdle: number
  readonly minIdle: number
  readonly maxSize: number
}

const seconds = Metric.exponentialBoundaries({ start: 0.0001, factor: 4, count: 12 })

/** @internal */
export class PoolMetrics {
  readonly timeouts: Metric.Counter<number>
  readonly waitTime: Metric.Histogram<number>
  readonly createTime: Metric.Histogram<number>
  readonly useTime: Metric.Histogram<number>
  private readonly registrations: Array<Metric.Registration>
  private readonly context: Context.Context<never>

  constructor(context: Context.Context<never>, name: string, counts: Counts, limits: Limits) {
    this.context = context
    const pool = { "db.client.connection.pool.name": name }
    this.timeouts = Metric.counter("db.client.connection.timeouts", {
      description: "Borrowers that timed out waiting for a connection",
      attributes: pool,
      incremental: true
    })
    this.waitTime = Metric.histogram("db.client.connection.wait_time", {
      description: "Seconds a borrower waited for a connection",
      attributes: pool,
      boundaries: seconds
    })
    this.createTime = Metric.histogram("db.client.connection.create_time", {
      description: "Seconds it took to open a connection",
      attributes: pool,
      boundaries: seconds
    })
    this.useTime = Metric.histogram("db.client.connection.use_time", {
      description: "Seconds between borrowing a connection and returning it",
      attributes: pool,
      boundaries: seconds
    })
    const gauge = (id: string, description: string, attributes: Metric.Metric.Attributes, get: () => number) =>
      Metric.registerUnsafe(Metric.gauge(id, { description, attributes }), context, {
        get: () => ({ value: get() }),
        update: () => {},
        modify: () => {}
      })
    const constant = (value: number) => () => value
    this.registrations = [
      gauge("db.client.connection.count", "Connections by state", {
        ...pool,
        "db.client.connection.state": "idle"
      }, counts.idle),
      gauge("db.client.connection.count", "Connections by state", {
        ...pool,
        "db.client.connection.state": "used"
      }, counts.used),
      gauge("db.client.connection.pending_requests", "Borrowers waiting for a connection", pool, counts.pending),
      gauge("db.client.connection.idle.max", "Most idle connections kept", pool, constant(limits.maxIdle)),
      gauge("db.client.connection.idle.min", "Fewest idle connections kept", pool, constant(limits.minIdle)),
      ...(Number.isFinite(limits.maxSize)
        ? [gauge("db.client.connection.max", "Most open connections", pool, constant(limits.maxSize))]
        : [])
    ]
  }

  record(metric: Metric.Metric<number, unknown>, value: number): void {
    metric.updateUnsafe(value, this.context)
  }

  unregister(): void {
    for (const registration of this.registrations) registration.remove()
  }
}
