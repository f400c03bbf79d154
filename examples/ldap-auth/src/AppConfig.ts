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
 * | `REDIS_URL`, `REDIS_TIMEOUT` | none (limits kept in memory), `250ms` |
 */
import * as Net from "node:net"
import { Config, ConfigProvider, Duration, Effect, Option, Redacted } from "effect"
import type { Backend, MailProtocol } from "./AuthHttpProtocol.ts"
import * as RateLimiterStoreRedis from "./RateLimiterStoreRedis.ts"

export interface AppConfig {
  readonly ldap: {
    readonly urls: ReadonlyArray<string>
    readonly baseDn: string
    readonly bindDn: string
    readonly bindPassword: Redacted.Redacted<string>
    readonly userFilter: string | undefined
    readonly maxIdle: number
    readonly maxSize: number
  }
  readonly http: { readonly host: string; readonly port: number }
  readonly sharedSecret: Redacted.Redacted<string> | undefined
  readonly backends: Readonly<Record<MailProtocol, Backend>>
  readonly metricsPort: number
  /** Where the rate limiter keeps its state when it is shared with other auth servers; in memory when unset. */
  readonly redis?: { readonly url: RateLimiterStoreRedis.RedisUrl; readonly timeout: Duration.Duration } | undefined
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

// Shared rate limits: REDIS_URL, and how long a login may wait for Redis before the limits are kept locally.
const redis = Config.all({
  url: optional(checked("REDIS_URL", RateLimiterStoreRedis.parseUrl)),
  timeout: checked("REDIS_TIMEOUT", (raw) => {
    const match = /^(\d+) ?(ms|s)$/.exec(raw)
    const millis = Number(match?.[1]) * (match?.[2] === "s" ? 1000 : 1)
    return millis >= 1 && millis <= 60_000
      ? { value: Duration.millis(millis) }
      : `must be a duration from 1ms to 60s such as 250ms or 1s, got ${JSON.stringify(raw)}`
  }).pipe(Config.withDefault(Duration.millis(250)))
}).pipe(Config.map(({ timeout, url }) => (url === undefined ? undefined : { url, timeout })))

export const config: Config.Config<AppConfig> = Config.all({
  ldap: Config.all({
    urls: ldapUrls,
    baseDn: nonEmpty("LDAP_BASE_DN"),
    bindDn: nonEmpty("LDAP_BIND_DN"),
    bindPassword: Config.Redacted("LDAP_BIND_PASSWORD"),
    userFilter: optional(nonEmpty("LDAP_USER_FILTER")),
    maxIdle: count("POOL_MAX_IDLE", 4, 0),
    maxSize: count("POOL_MAX_SIZE", 16, 1)
  }),
  http: Config.all({
    host: checked("AUTH_HTTP_HOST", (raw) => (Net.isIP(raw) !== 0 ? { value: raw } : "must be an IP address"))
      .pipe(Config.withDefault("127.0.0.1")),
    port: port("AUTH_HTTP_PORT", 9180)
  }),
  sharedSecret: optional(Config.Redacted("AUTH_SHARED_SECRET")),
  backends: Config.all({
    imap: backend("MAIL_BACKEND_IMAP", { host: "127.0.0.1", port: 143 }),
    pop3: backend("MAIL_BACKEND_POP3", { host: "127.0.0.1", port: 110 }),
    smtp: backend("MAIL_BACKEND_SMTP", { host: "127.0.0.1", port: 25 })
  }),
  metricsPort: port("METRICS_PORT", 9181),
  redis
})

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
