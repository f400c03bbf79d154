/**
 * The pool's metrics, named after OpenTelemetry's semantic conventions for
 * database client connection pools (`db.client.connection.*`), each carrying
 * the pool name as `db.client.connection.pool.name`. Durations are in seconds
 * and say so in the name (`_seconds`, which Effect's Prometheus exporter keeps
 * and OpenTelemetry's own Prometheus exporters append), in the description and
 * in the `unit` attribute, which the OTLP exporter reads as the unit `s` and
 * the Prometheus exporter leaves out of the labels.
 *
 * Every series is registered with hooks that read the pool's own counters
 * when metrics are exported: a borrow pays for a few increments, never for a
 * registry look-up.
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

/** Seconds, from 100 µs to about 7 minutes. */
const boundaries = Metric.exponentialBoundaries({ start: 0.0001, factor: 4, count: 12 })

/** A histogram's state kept by the pool, in the shape Effect's exporters read. */
class Histogram {
  private readonly counts = new Uint32Array(boundaries.length + 1)
  private count = 0
  private sum = 0
  private min = Number.MAX_VALUE
  private max = -Number.MAX_VALUE

  observe(value: number): void {
    let bucket = 0
    while (bucket < boundaries.length && value > boundaries[bucket]!) bucket++
    this.counts[bucket]!++
    this.count++
    this.sum += value
    if (value < this.min) this.min = value
    if (value > this.max) this.max = value
  }

  state(): Metric.HistogramState {
    let cumulated = 0
    const buckets = boundaries.map((boundary, i): [number, number] => [boundary, cumulated += this.counts[i]!])
    return { buckets, count: this.count, min: this.min, max: this.max, sum: this.sum }
  }
}

const ignore = () => {}

/** @internal */
export class PoolMetrics {
  readonly waitTime = new Histogram()
  readonly createTime = new Histogram()
  readonly useTime = new Histogram()
  timeouts = 0
  private readonly registrations: Array<Metric.Registration>

  constructor(context: Context.Context<never>, name: string, counts: Counts, limits: Limits) {
    const pool = { "db.client.connection.pool.name": name }
    const register = <State>(metric: Metric.Metric<any, State>, get: () => State) =>
      Metric.registerUnsafe(metric, context, { get, update: ignore, modify: ignore })
    const gauge = (id: string, description: string, attributes: Metric.Metric.Attributes, get: () => number) =>
      register(Metric.gauge(id, { description, attributes }), () => ({ value: get() }))
    const seconds = { ...pool, unit: "s" }
    const histogram = (id: string, description: string, histogram: Histogram) =>
      register(Metric.histogram(id, { description, attributes: seconds, boundaries }), () => histogram.state())
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
        : []),
      register(
        Metric.counter("db.client.connection.timeouts", {
          description: "Borrowers that timed out waiting for a connection",
          attributes: pool,
          incremental: true
        }),
        () => ({ count: this.timeouts, incremental: true })
      ),
      histogram("db.client.connection.wait_time_seconds", "Time a borrower waited for a connection, in seconds", this.waitTime),
      histogram("db.client.connection.create_time_seconds", "Time it took to open a connection, in seconds", this.createTime),
      histogram(
        "db.client.connection.use_time_seconds",
        "Time between borrowing a connection and returning it, in seconds",
        this.useTime
      )
    ]
  }

  unregister(): void {
    for (const registration of this.registrations) registration.remove()
  }
}
