import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Metric, Tracer } from "effect"
import { PrometheusMetrics } from "effect/observability"
import { TestClock } from "effect/testing"
import * as ConnectionPool from "../src/ConnectionPool.ts"
import { identities } from "./utils/Checks.ts"
import * as Connections from "./utils/Connections.ts"
import { hold, settle } from "./utils/Lease.ts"

const pool = { "db.client.connection.pool.name": "ldap-search" }

const find = (snapshots: ReadonlyArray<Metric.Metric.Snapshot>, id: string, attributes: Record<string, string>) =>
  snapshots.find((snapshot) =>
    snapshot.id === id &&
    Object.entries(attributes).every(([key, value]) => snapshot.attributes?.[key] === value)
  )

const gaugeValue = (snapshots: ReadonlyArray<Metric.Metric.Snapshot>, id: string, attributes: Record<string, string>) => {
  const snapshot = find(snapshots, id, attributes)
  return snapshot?.type === "Gauge" ? Number(snapshot.state.value) : undefined
}

describe("ConnectionPool observability", () => {
  it.effect("exports OpenTelemetry-named metrics with the pool name as an attribute", () =>
    Effect.gen(function*() {
      const conns = Connections.make()
      const p = yield* ConnectionPool.make({
        acquire: conns.acquire,
        maxIdle: 2,
        maxSize: 2,
        acquireTimeout: "1 second",
        name: "ldap-search"
      })
      const [a, b] = yield* Effect.all([hold(p), hold(p)])
      const waiter = yield* Effect.forkChild(Effect.flip(ConnectionPool.use(p, Effect.succeed)))
      yield* settle
      let snapshots = yield* Metric.snapshot
      assert.strictEqual(gaugeValue(snapshots, "db.client.connection.count", { ...pool, "db.client.connection.state": "used" }), 2)
      assert.strictEqual(gaugeValue(snapshots, "db.client.connection.count", { ...pool, "db.client.connection.state": "idle" }), 0)
      assert.strictEqual(gaugeValue(snapshots, "db.client.connection.pending_requests", pool), 1)
      assert.strictEqual(gaugeValue(snapshots, "db.client.connection.max", pool), 2)
      assert.strictEqual(gaugeValue(snapshots, "db.client.connection.idle.max", pool), 2)
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(waiter)
      yield* a.end()
      yield* b.end()
      snapshots = yield* Metric.snapshot
      const timeouts = find(snapshots, "db.client.connection.timeouts", pool)
      assert.strictEqual(timeouts?.type === "Counter" ? Number(timeouts.state.count) : undefined, 1)
      for (const id of ["wait_time", "create_time", "use_time"]) {
        const histogram = find(snapshots, `db.client.connection.${id}_seconds`, pool)
        assert.isTrue(histogram?.type === "Histogram" && histogram.state.count > 0, id)
      }
    }).pipe(Effect.provideService(Metric.MetricRegistry, new Map())))

  it.effect("renders in Prometheus text with every duration in seconds: `_seconds` in the name, the unit in HELP", () =>
    Effect.gen(function*() {
      const conns = Connections.make()
      const p = yield* ConnectionPool.make({ acquire: conns.acquire, maxIdle: 1, maxSize: 1, name: "ldap-bind" })
      const lease = yield* hold(p)
      yield* TestClock.adjust("250 millis")
      yield* lease.end()
      const text = yield* PrometheusMetrics.format()
      const families = [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map(([, name, type]) => ({ name: name!, type: type! }))
      assert.deepStrictEqual(families, [
        { name: "db_client_connection_count", type: "gauge" },
        { name: "db_client_connection_pending_requests", type: "gauge" },
        { name: "db_client_connection_idle_max", type: "gauge" },
        { name: "db_client_connection_idle_min", type: "gauge" },
        { name: "db_client_connection_max", type: "gauge" },
        { name: "db_client_connection_timeouts", type: "counter" },
        { name: "db_client_connection_wait_time_seconds", type: "histogram" },
        { name: "db_client_connection_create_time_seconds", type: "histogram" },
        { name: "db_client_connection_use_time_seconds", type: "histogram" }
      ])
      for (const { name, type } of families) {
        const help = new RegExp(`^# HELP ${name} (.+)$`, "m").exec(text)?.[1]
        assert.isDefined(help, name)
        // A duration names its unit twice; nothing else claims one.
        if (type === "histogram") assert.match(help!, /, in seconds$/, name)
        else assert.notInclude(help!, "seconds", name)
      }
      // The `unit` attribute tells OTLP the unit and stays out of the Prometheus labels.
      assert.notMatch(text, /unit=/)
      // The lease was held for 250 ms of TestClock time: the sum is in seconds, not milliseconds.
      assert.match(text, /^db_client_connection_use_time_seconds_sum\{db_client_connection_pool_name="ldap-bind"\} 0\.25$/m)
      assert.match(text, /^db_client_connection_use_time_seconds_bucket\{db_client_connection_pool_name="ldap-bind",le="0\.4096"\} 1$/m)
    }).pipe(Effect.provideService(Metric.MetricRegistry, new Map())))

  it.effect("stats follow the pool: total = idle + inUse + opening + closing, created - closed = idle + inUse + closing", () =>
    Effect.gen(function*() {
      const conns = Connections.make()
      let slow = false
      const p = yield* ConnectionPool.make({
        acquire: Effect.suspend(() => slow ? Effect.andThen(Effect.sleep("1 second"), conns.acquire) : conns.acquire),
        maxIdle: 1,
        closeTimeout: "1 minute"
      })
      const [a, b] = yield* Effect.all([hold(p), hold(p)])
      assert.deepStrictEqual(yield* ConnectionPool.stats(p), {
        idle: 0,
        inUse: 2,
        opening: 0,
        closing: 0,
        waiting: 0,
        total: 2,
        created: 2,
        closed: 0
      })
      yield* a.end()
      yield* b.end()
      assert.deepStrictEqual(yield* ConnectionPool.stats(p), {
        idle: 1,
        inUse: 0,
        opening: 0,
        closing: 0,
        waiting: 0,
        total: 1,
        created: 2,
        closed: 1
      })
      // While an opening runs it counts in total, not in created; while a close runs it counts in closing.
      slow = true
      const [c, d] = yield* Effect.all([hold(p), Effect.forkChild(hold(p))])
      yield* settle
      let stats = yield* ConnectionPool.stats(p)
      assert.deepStrictEqual([stats.inUse, stats.opening, stats.waiting, stats.total, stats.created], [1, 1, 1, 2, 2])
      identities(stats)
      conns.closeWith = () => Effect.sleep("10 seconds")
      yield* ConnectionPool.invalidate(p, c.connection)
      yield* c.end()
      stats = yield* ConnectionPool.stats(p)
      assert.deepStrictEqual([stats.inUse, stats.opening, stats.closing, stats.total, stats.closed], [0, 1, 1, 2, 1])
      identities(stats)
      yield* TestClock.adjust("1 second")
      const lease = yield* Fiber.join(d)
      stats = yield* ConnectionPool.stats(p)
      assert.deepStrictEqual([stats.inUse, stats.opening, stats.closing, stats.created], [1, 0, 1, 3])
      identities(stats)
      yield* TestClock.adjust("9 seconds")
      stats = yield* ConnectionPool.stats(p)
      assert.deepStrictEqual([stats.closing, stats.closed, stats.total], [0, 2, 1])
      identities(stats)
      conns.closeWith = undefined
      yield* lease.end()
    }))

  it.effect("a borrower that has to wait is traced by a ConnectionPool.wait span", () =>
    Effect.gen(function*() {
      const spans: Array<string> = []
      const tracer = Tracer.make({
        span(options) {
          spans.push(options.name)
          return new Tracer.NativeSpan(options)
        }
      })
      yield* Effect.gen(function*() {
        const conns = Connections.make()
        const p = yield* ConnectionPool.make({ acquire: conns.acquire, maxIdle: 1, maxSize: 1, name: "ldap-bind" })
        yield* ConnectionPool.use(p, Effect.succeed)
        assert.deepStrictEqual(spans, [])
        const lease = yield* hold(p)
        const waiter = yield* Effect.forkChild(ConnectionPool.use(p, Effect.succeed))
        yield* settle
        yield* lease.end()
        yield* Fiber.join(waiter)
        assert.deepStrictEqual(spans, ["ConnectionPool.wait"])
      }).pipe(Effect.withTracer(tracer))
    }))
})
