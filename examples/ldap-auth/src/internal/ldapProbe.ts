/**
 * One bind as the service account on a fresh connection, closed at once: what `serve` checks at start-up and
 * what `/healthz` asks when no login has reached the directory lately. It does not touch the pools, so it
 * proves the directory answers now, not that a pooled connection is still open.
 */
import { Duration, Effect, type Redacted } from "effect"
import * as LdapClient from "../LdapClient.ts"
import type { LdapError } from "../LdapError.ts"
import * as Server from "./ldapServer.ts"

export interface ProbeOptions {
  readonly bindDn: string
  readonly bindPassword: Redacted.Redacted<string>
  readonly tls?: LdapClient.TlsOptions | undefined
  /** Default 2 seconds, as the pools'. */
  readonly connectTimeout?: Duration.Input | undefined
  /** Default 2 seconds, as the pools'. */
  readonly operationTimeout?: Duration.Input | undefined
}

/** Connects to `url`, binds as the service account and unbinds; `Misconfigured` when the account is refused. */
export const bindOnce = (options: ProbeOptions, url: string): Effect.Effect<void, LdapError> =>
  Effect.scoped(
    Effect.flatMap(
      LdapClient.connect({
        url,
        connectTimeout: options.connectTimeout ?? Duration.seconds(2),
        operationTimeout: options.operationTimeout ?? Duration.seconds(2),
        tls: options.tls
      }),
      (connection) => Server.bindService(connection, options.bindDn, options.bindPassword)
    )
  )
