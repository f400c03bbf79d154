/**
 * The auth server's configuration, read from the environment with effect `Config`. A missing or invalid
 * variable stops start-up; `describeError` turns the failure into one line that names the variable.
 *
 * | variable | default |
 * |---|---|
 * | `LDAP_URLS` (comma-separated) | required |
 * | `LDAP_BASE_DN`, `LDAP_BIND_DN`, `LDAP_BIND_PASSWORD` | required |
 * | `LDAP_USER_FILTER` | `(&(objectClass=inetOrgPerson)(uid={user}))` |
 * | `AUTH_HTTP_HOST`, `AUTH_HTTP_PORT` | `127.0.0.1`, `9180` |
 * | `AUTH_SHARED_SECRET` | none (no `X-Auth-Key` check) |
 * | `MAIL_BACKEND_IMAP`, `MAIL_BACKEND_POP3`, `MAIL_BACKEND_SMTP` | `127.0.0.1:143`, `127.0.0.1:110`, `127.0.0.1:25` |
 * | `POOL_MAX_IDLE`, `POOL_MAX_SIZE` | `4`, `16` |
 * | `METRICS_PORT` | `9181` |
 * | `LDAP_LOGIN_ATTRIBUTE` | `uid` (sent back to nginx as `Auth-User`) |
 * | `RATE_LIMIT_EXEMPT` (comma-separated CIDRs) | none |
 * | `AUTH_ALLOW_NO_SECRET` | `false` (no secret on a non-loopback address refuses to start) |
 * | `AUTH_HTTP_REQUEST_TIMEOUT` (seconds) | `5` |
 * | `AUTH_HTTP_MAX_CONNECTIONS` | `1024` |
 */
import * as Net from "node:net"
import { Config, ConfigProvider, Duration, Effect, Option, Redacted } from "effect"
import type { Backend, MailProtocol } from "./AuthHttpProtocol.ts"
import * as RateLimiter from "./RateLimiter.ts"

export interface AppConfig {
  readonly ldap: {
    readonly urls: ReadonlyArray<string>
    readonly baseDn: string
    readonly bindDn: string
    readonly bindPassword: Redacted.Redacted<string>
    readonly userFilter: string | undefined
    readonly maxIdle: number
    readonly maxSize: number
    readonly loginAttribute: string
  }
  readonly http: { readonly host: string; readonly port: number }
  readonly sharedSecret: Redacted.Redacted<string> | undefined
  readonly backends: Readonly<Record<MailProtocol, Backend>>
  readonly metricsPort: number
  readonly security: Security
}

/** What limits hostile traffic, beyond the rate limiter's own defaults. */
export interface Security {
  /** Client addresses limited per user only (a webmail host), as CIDRs. */
  readonly rateLimitExempt: ReadonlyArray<string>
  /** Serve without `AUTH_SHARED_SECRET` on an address that is not loopback. */
  readonly allowNoSecret: boolean
  /** A request must arrive whole within this, or its socket is closed. */
  readonly requestTimeout: Duration.Duration
  /** Connections open at once on the auth port; the rest are refused at once. */
  readonly maxConnections: number
}

/** The `Security` defaults, for a configuration built in code. */
export const defaultSecurity: Security = {
  rateLimitExempt: [],
  allowNoSecret: false,
  requestTimeout: Duration.seconds(5),
  maxConnections: 1024
}

const invalid = (name: string, why: string) =>
  new Config.ConfigError(new ConfigProvider.SourceError({ message: `${name} ${why}` }))

/** A string variable checked by `parse`, which returns the value or why it is wrong. */
const checked = <A>(name: string, parse: (raw: string) => { readonly value: A } | string) =>
  Config.String(name).pipe(
    Config.mapEffect((raw) => {
      const result = parse(raw.trim())
      return typeof result === "string" ? Effect.fail(invalid(name, result)) : Effect.succeed(result.value)
    })
  )

const nonEmpty = (name: string) =>
  checked(name, (raw) => (raw === "" ? "must not be empty" : { value: raw }))

const ldapUrls = checked("LDAP_URLS", (raw) => {
  const urls = raw.split(",").map((url) => url.trim()).filter((url) => url !== "")
  const bad = urls.find((url) => !/^ldap:\/\/[^/\s]+\/?$/i.test(url))
  return urls.length === 0
    ? "must list at least one ldap:// URL"
    : bad !== undefined
    ? `has ${JSON.stringify(bad)}, expected ldap://host:port`
    : { value: urls }
})

const port = (name: string, fallback: number) =>
  checked(name, (raw) => {
    const value = Number(raw)
    return /^\d+$/.test(raw) && value <= 65535 ? { value } : `must be a port number 0-65535, got ${JSON.stringify(raw)}`
  }).pipe(Config.withDefault(fallback))

const count = (name: string, fallback: number, min: number) =>
  checked(name, (raw) => {
    const value = Number(raw)
    return /^\d+$/.test(raw) && value >= min ? { value } : `must be an integer >= ${min}, got ${JSON.stringify(raw)}`
  }).pipe(Config.withDefault(fallback))

/** `ip:port` or `[ipv6]:port`; nginx takes only IP literals for `Auth-Server`. */
const backend = (name: string, fallback: Backend) =>
  checked(name, (raw): { readonly value: Backend } | string => {
    const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(raw)
    const host = match?.[1] ?? match?.[2] ?? ""
    const port = Number(match?.[3])
    return match !== null && Net.isIP(host) !== 0 && port > 0 && port <= 65535
      ? { value: { host, port } }
      : `must be an IP literal and a port such as 127.0.0.1:143, got ${JSON.stringify(raw)}`
  }).pipe(Config.withDefault(fallback))

const optional = <A>(config: Config.Config<A>) =>
  Config.option(config).pipe(Config.map(Option.getOrUndefined))

export const config: Config.Config<AppConfig> = Config.all({
  ldap: Config.all({
    urls: ldapUrls,
    baseDn: nonEmpty("LDAP_BASE_DN"),
    bindDn: nonEmpty("LDAP_BIND_DN"),
    bindPassword: Config.Redacted("LDAP_BIND_PASSWORD"),
    userFilter: optional(nonEmpty("LDAP_USER_FILTER")),
    maxIdle: count("POOL_MAX_IDLE", 4, 0),
    maxSize: count("POOL_MAX_SIZE", 16, 1),
    loginAttribute: checked("LDAP_LOGIN_ATTRIBUTE", (raw) =>
      /^[A-Za-z][A-Za-z0-9-]*$/.test(raw) ? { value: raw } : `must be an attribute name such as uid, got ${JSON.stringify(raw)}`
    ).pipe(Config.withDefault("uid"))
  }),
  http: Config.all({
    host: checked("AUTH_HTTP_HOST", (raw) => (Net.isIP(raw) !== 0 ? { value: raw } : "must be an IP address"))
      .pipe(Config.withDefault("127.0.0.1")),
    port: port("AUTH_HTTP_PORT", 9180)
  }),
  // Set but empty is a mistake, not "no secret": it would open the endpoint while looking configured.
  sharedSecret: optional(
    Config.Redacted("AUTH_SHARED_SECRET").pipe(
      Config.mapEffect((secret) =>
        Redacted.value(secret).trim() === ""
          ? Effect.fail(invalid("AUTH_SHARED_SECRET", "is set but empty; unset it to run without a secret"))
          : Effect.succeed(secret)
      )
    )
  ),
  backends: Config.all({
    imap: backend("MAIL_BACKEND_IMAP", { host: "127.0.0.1", port: 143 }),
    pop3: backend("MAIL_BACKEND_POP3", { host: "127.0.0.1", port: 110 }),
    smtp: backend("MAIL_BACKEND_SMTP", { host: "127.0.0.1", port: 25 })
  }),
  metricsPort: port("METRICS_PORT", 9181),
  security: Config.all({
    rateLimitExempt: checked("RATE_LIMIT_EXEMPT", (raw) => {
      const cidrs = raw.split(",").map((cidr) => cidr.trim()).filter((cidr) => cidr !== "")
      try {
        RateLimiter.exemptList(cidrs)
        return { value: cidrs }
      } catch {
        return `must be comma-separated CIDRs such as 192.0.2.0/24, got ${JSON.stringify(raw)}`
      }
    }).pipe(Config.withDefault(defaultSecurity.rateLimitExempt)),
    allowNoSecret: checked("AUTH_ALLOW_NO_SECRET", (raw) =>
      /^(true|false)$/i.test(raw) ? { value: raw.toLowerCase() === "true" } : `must be true or false, got ${JSON.stringify(raw)}`
    ).pipe(Config.withDefault(defaultSecurity.allowNoSecret)),
    requestTimeout: checked("AUTH_HTTP_REQUEST_TIMEOUT", (raw) => {
      const seconds = Number(raw)
      return /^\d+(\.\d+)?$/.test(raw) && seconds > 0 && seconds <= 3600
        ? { value: Duration.seconds(seconds) }
        : `must be a number of seconds in (0, 3600], got ${JSON.stringify(raw)}`
    }).pipe(Config.withDefault(defaultSecurity.requestTimeout)),
    maxConnections: count("AUTH_HTTP_MAX_CONNECTIONS", defaultSecurity.maxConnections, 1)
  })
})

/**
 * `AUTH_SHARED_SECRET=` (set, empty): Effect's environment provider reads an empty variable as unset, which here
 * would silently open the endpoint, so the raw environment is checked for it.
 */
export const emptySecretProblem = (env: Readonly<Record<string, string | undefined>>): string | undefined =>
  env.AUTH_SHARED_SECRET !== undefined && env.AUTH_SHARED_SECRET.trim() === ""
    ? "AUTH_SHARED_SECRET is set but empty; unset it to run without a secret"
    : undefined

/**
 * One line for an operator: `LDAP_BASE_DN is not set`, `AUTH_HTTP_PORT must be a port number …`. Effect's own
 * schema errors name the variable in a path (`at ["NAME"]`), which is rewritten the same way.
 */
export const describeError = (error: Config.ConfigError): string => {
  if (error.cause._tag === "SourceError") return `Configuration error: ${error.cause.message}`
  const message = error.message
  const name = /at \["([^"]+)"\]/.exec(message)?.[1]
  if (name === undefined) return `Configuration error: ${message.split("\n")[0]}`
  return /Expected string|Missing/i.test(message)
    ? `Configuration error: ${name} is not set`
    : `Configuration error: ${name} is invalid (${message.split("\n")[0]})`
}
