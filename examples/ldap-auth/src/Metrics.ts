/**
 * The auth server's own metrics, next to the pool's `db.client.connection.*`: login outcomes by mail protocol
 * and result, and how long the LDAP check took (seconds). Served in Prometheus text by `effect/observability`.
 */
import { Effect, Metric } from "effect"
import type { MailProtocol } from "./AuthHttpProtocol.ts"

/** Why a login got the answer it got. Only `ok` lets the client in. */
export type Outcome =
  | "ok"
  | "invalid"
  | "temporary"
  | "rejected_input"
  | "rate_limited"
  | "bad_request"
  | "unauthorized"

export const logins = Metric.counter("mail_auth_logins_total", {
  description: "Login attempts answered for nginx, by mail protocol and result",
  incremental: true
})

/**
 * Seconds, as Prometheus and OpenTelemetry want durations: the name ends in `_seconds`, and the `unit` attribute
 * (which the Prometheus exporter leaves out of the labels) tells the OTLP exporter the unit is `s`.
 */
export const ldapDuration = Metric.histogram("mail_auth_ldap_duration_seconds", {
  description: "Time spent checking one login against LDAP, in seconds",
  attributes: { unit: "s" },
  // 1 ms to about 16 s.
  boundaries: Metric.exponentialBoundaries({ start: 0.001, factor: 2, count: 15 })
})

// One counter per protocol and result, made on first use: `withAttributes` builds a new metric and its key on
// every call. Both are fixed sets of constants, so this map stays as small as their product.
const loginCounters = new Map<string, Metric.Counter<number>>()

export const countLogin = (protocol: MailProtocol | "unknown", outcome: Outcome): Effect.Effect<void> => {
  const key = `${protocol} ${outcome}`
  let counter = loginCounters.get(key)
  if (counter === undefined) {
    counter = Metric.withAttributes(logins, { protocol, result: outcome })
    loginCounters.set(key, counter)
  }
  return Metric.update(counter, 1)
}

/** Times `effect` (success or failure) into `ldapDuration`, by the `Clock`'s monotonic time. */
export const timeLdap = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.clockWith((clock) => {
    const start = clock.monotonicTimeNanosUnsafe()
    return Effect.onExit(effect, () => Metric.update(ldapDuration, Number(clock.monotonicTimeNanosUnsafe() - start) / 1e9))
  })
