/**
 * The auth server's own metrics, next to the pool's `db.client.connection.*`: login outcomes by mail protocol
 * and result, and how long the LDAP check took. Served in Prometheus text by `effect/observability`.
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

export const ldapDuration = Metric.timer("mail_auth_ldap_duration", {
  description: "Time spent checking one login against LDAP"
})

export const countLogin = (protocol: MailProtocol | "unknown", outcome: Outcome): Effect.Effect<void> =>
  Metric.update(Metric.withAttributes(logins, { protocol, result: outcome }), 1)

/** Times `effect` (success or failure) into `ldapDuration`. */
export const timeLdap = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.trackDuration(effect, ldapDuration)
