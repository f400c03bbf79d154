/**
 * Password checks against LDAP for a mail auth backend: find the user with the service account, then bind as the
 * user's DN with the password, over pooled connections to one or more servers.
 *
 * Every login is checked before it reaches the directory (no empty password, no control characters, bounded
 * lengths), the user name only ever appears escaped inside the search filter, an unknown user costs a dummy bind so
 * it answers like a wrong password, and the password stays `Redacted` until the bind request is written.
 */
import { Config, Context, Duration, Effect, Layer, Redacted, Scope } from "effect"
import type { AuthError } from "./AuthError.ts"
import type * as LdapClient from "./LdapClient.ts"
import * as internal from "./internal/ldapAuth.ts"
import * as Input from "./internal/ldapInput.ts"

export interface LdapAuthOptions {
  /**
   * One or more `ldap://host:port/` or `ldaps://host:port/` URLs, tried in order; a failing one is skipped for
   * `serverCooldown`.
   */
  readonly urls: ReadonlyArray<string>
  /** Where users are searched (subtree). */
  readonly baseDn: string
  /** The service account that searches; the only identity a search ever runs under. */
  readonly bindDn: string
  readonly bindPassword: Redacted.Redacted<string>
  /** `{user}` is replaced by the escaped user name. Default: `(&(objectClass=inetOrgPerson)(uid={user}))`. */
  readonly userFilter?: string | undefined
  /** Attributes returned with a successful login (`userPassword` is always left out). Default: uid, mail, cn. */
  readonly attributes?: ReadonlyArray<string> | undefined
  /** The attribute whose value is the user's canonical login name (`AuthenticatedUser.login`). Default: `uid`. */
  readonly loginAttribute?: string | undefined
  /**
   * Idle connections kept per pool (two pools per server: search and bind). Default: `maxSize`, so that a steady load
   * opens no connections; lower it to hold fewer connections on the directory after a burst.
   */
  readonly maxIdle?: number | undefined
  /** Connections per pool. Default: 16. */
  readonly maxSize?: number | undefined
  /**
   * `false` closes every connection when its operation ends, so each login opens a search connection and a bind
   * connection of its own: the cost of an auth server without pooling, for a benchmark or a demo. (`maxIdle` 0 is
   * not that: a returned connection goes to a waiting login first.) Default: true.
   */
  readonly reuse?: boolean | undefined
  /**
   * How connections are secured: StartTLS for `ldap://` URLs, the CAs and the server name the certificate is
   * checked against. `ldaps://` URLs always use TLS. A connection that cannot be secured is never used.
   */
  readonly tls?: LdapClient.TlsOptions | undefined
  /** TCP connect (and the TLS handshake of `ldaps://`). Default: 2 seconds. */
  readonly connectTimeout?: Duration.Input | undefined
  /** Each LDAP operation (bind, search, WhoAmI); when it fires the connection is closed. Default: 2 seconds. */
  readonly operationTimeout?: Duration.Input | undefined
  /** Waiting for a pooled connection, opening included. Default: 5 seconds. */
  readonly acquireTimeout?: Duration.Input | undefined
  /** The whole login, failover included; past it the login fails as `Temporary`. Default: 10 seconds. */
  readonly timeout?: Duration.Input | undefined
  /**
   * An idle connection older than this is checked with WhoAmI before it is lent, so a connection the server or a
   * firewall dropped silently never fails a login. Keep it below the server's `idletimeout`. Default: 30 seconds.
   */
  readonly validateAfter?: Duration.Input | undefined
  /** Idle connections older than this are closed. Default: 5 minutes. */
  readonly idleTimeout?: Duration.Input | undefined
  /** How long a server that failed is skipped. Default: 10 seconds. */
  readonly serverCooldown?: Duration.Input | undefined
  /** A refused service account is logged once per interval (every login meets it). Default: 1 minute. */
  readonly logInterval?: Duration.Input | undefined
  /** Prefix of the pool names in metrics. Default: `"ldap"`. */
  readonly name?: string | undefined
}

/** The user that a successful login authenticated. */
export interface AuthenticatedUser {
  readonly dn: string
  /** The entry's own `loginAttribute` value (`alice` for `ALICE`); `undefined` when the entry has none. */
  readonly login: string | undefined
  readonly attributes: Readonly<Record<string, ReadonlyArray<string>>>
}

export class LdapAuth extends Context.Service<LdapAuth, {
  /**
   * Checks a user name and password. Fails with `InvalidCredentials` for an unknown, ambiguous or wrongly
   * authenticated user alike, `Temporary` when no server answered in time, `Misconfigured` when the directory
   * refused the service account, `RejectedInput` for input that broke a rule (and never reached the directory). The directory matches names its own way (`ALICE` finds alice):
   * take the canonical name (`login`) from the returned entry, not from the input.
   *
   * `admit`, when given, is asked once the directory has named the entry and before the password is tried
   * (a rate limiter's per-entry budget); `false` fails the login with `RateLimited` and sends no bind.
   */
  readonly authenticate: (
    user: string,
    password: Redacted.Redacted<string>,
    admit?: ((dn: string) => Effect.Effect<boolean>) | undefined
  ) => Effect.Effect<AuthenticatedUser, AuthError>
}>()("effect-connection-pool/examples/LdapAuth") {}

/**
 * The input rules `authenticate` applies before any LDAP traffic (lengths, control characters, UTF-8, no empty
 * password), for a caller that must tell such input apart first: fails with `RejectedInput` naming the rule.
 */
export const checkInput: (user: string, password: Redacted.Redacted<string>) => Effect.Effect<void, AuthError> =
  Input.check

/**
 * The rules `make` enforces, as a pure function: `undefined`, or the first problem naming the option and the value
 * (`maxIdle (8) must not be above maxSize (4)`). A configuration calls it to report a bad setting as one line
 * instead of a defect at start-up.
 */
export const check: (options: LdapAuthOptions) => string | undefined = internal.check

/**
 * Builds the service and its pools in the current scope; no connection opens until the first login. Invalid
 * options are a defect naming the option and its value.
 */
export const make = (options: LdapAuthOptions): Effect.Effect<Context.Service.Shape<typeof LdapAuth>, never, Scope.Scope> =>
  Effect.map(internal.make(options), (instance) => instance.service)

/** The service as a layer; the pools close with it. */
export const layer = (options: LdapAuthOptions): Layer.Layer<LdapAuth> => Layer.effect(LdapAuth, make(options))

/**
 * Like `layer`, with the options read from `Config`, for example
 * `{ urls: Config.Array(Schema.String, "LDAP_URLS"), bindPassword: Config.Redacted("LDAP_BIND_PASSWORD"), … }`.
 */
export const layerConfig = (config: Config.Wrap<LdapAuthOptions>): Layer.Layer<LdapAuth, Config.ConfigError> =>
  Layer.effect(LdapAuth, Effect.flatMap(Config.unwrap(config), make))
