/**
 * The auth server's configuration, read from the environment in one place. Every variable is listed once in
 * `variables` (name, default, meaning, parser), which also writes `serve --help`; each kind of value has one
 * parser, shared with the constructor that takes it (`LdapAuth.check`). `read` reports every problem of a run
 * at once, one line each, naming the variable and the value.
 *
 * To add a variable: an entry in `variables`, a field in `AppConfig` and its place in `assemble`; a rule over
 * several variables goes in `rules`.
 */
import * as Fs from "node:fs"
import * as Net from "node:net"
import { Config, ConfigProvider, Data, Duration, Effect, type LogLevel, Redacted, Result } from "effect"
import type { Backend, MailProtocol } from "./AuthHttpProtocol.ts"
import * as OpsKinds from "./internal/configOpsKinds.ts"
import * as Var from "./internal/configVariable.ts"
import * as Dn from "./internal/ldapDn.ts"
import * as Filter from "./internal/ldapFilter.ts"
import * as LdapUrl from "./internal/ldapUrl.ts"
import * as LdapAuth from "./LdapAuth.ts"
import type * as LdapClient from "./LdapClient.ts"
import * as RateLimiterStoreRedis from "./RateLimiterStoreRedis.ts"
import * as RateLimiter from "./RateLimiter.ts"
import { emptyPassword } from "./internal/ldapAuth.ts"

export interface AppConfig {
  readonly ldap: {
    readonly urls: ReadonlyArray<string>
    readonly baseDn: string
    readonly bindDn: string
    readonly bindPassword: Redacted.Redacted<string>
    readonly userFilter: string | undefined
    readonly maxIdle: number
    readonly maxSize: number
    readonly tls?: LdapClient.TlsOptions | undefined
    readonly loginAttribute: string
  }
  /** Where nginx's `auth_http` requests arrive: `host:port`, or a unix socket when `socket` is set. */
  readonly http: {
    readonly host: string
    readonly port: number
    readonly socket?: { readonly path: string; readonly mode: number } | undefined
  }
  readonly sharedSecret: Redacted.Redacted<string> | undefined
  readonly backends: Readonly<Record<MailProtocol, Backend>>
  readonly metricsPort: number
  /** Where the rate limiter keeps its state when it is shared with other auth servers; in memory when unset. */
  readonly redis?: { readonly url: RateLimiterStoreRedis.RedisUrl; readonly timeout: Duration.Duration } | undefined
  readonly security: Security
  /** Log level and format; `info` and the format chosen by `Logging.formatFor` when absent. */
  readonly log?: Logging | undefined
}

/** How `serve` logs: Effect's level names, and one of Effect's own console loggers. */
export interface Logging {
  readonly level: LogLevel.LogLevel
  /** `undefined`: pretty when stderr is a terminal, logfmt otherwise (journald, Loki). */
  readonly format: LogFormat | undefined
}

export type LogFormat = "pretty" | "json" | "logfmt"

/** What limits hostile traffic, beyond the rate limiter's own defaults. */
export interface Security {
  /** Client addresses limited per user only (a webmail host), as CIDRs. */
  readonly rateLimitExempt: ReadonlyArray<string>
  /** The limiter's memory store: `RATE_LIMIT_MAX_KEYS` counters at most, and as many familiar markers. */
  readonly limiterMemory: { readonly maxCounters: number; readonly maxMarkers: number }
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
  limiterMemory: { maxCounters: 100_000, maxMarkers: 100_000 },
  allowNoSecret: false,
  requestTimeout: Duration.seconds(5),
  maxConnections: 1024
}

/** Every problem found in one run, each a line for the operator. */
export class AppConfigError extends Data.TaggedError("AppConfigError")<{ readonly problems: ReadonlyArray<string> }> {
  override get message() {
    return this.problems.join("\n")
  }
}

// One parser per kind of value.

const ldapUrls = Var.parsed((raw) => {
  const urls = raw.split(",").map((url) => url.trim()).filter((url) => url !== "")
  if (urls.length === 0) return Result.fail("lists no URL, expected ldap[s]://host:port[,ldap[s]://host:port…]")
  for (const url of urls) {
    const parsed = LdapUrl.parse(url)
    if (typeof parsed === "string") return Result.fail(urls.length === 1 ? parsed : `has ${url}, which ${parsed}`)
  }
  return Result.succeed(urls)
})

const dn = Var.checked(Dn.check)

const userFilter = Var.checked((raw) => (raw === "" ? "is empty" : Filter.check(raw)))

/** A PEM file of CA certificates, read once at start-up: a path that cannot be read is a setting to fix, not a login failure. */
const caFile = Var.parsed((raw) => {
  try {
    const pem = Fs.readFileSync(raw, "utf8")
    return pem.includes("-----BEGIN CERTIFICATE-----")
      ? Result.succeed(pem)
      : Result.fail("holds no PEM certificate (-----BEGIN CERTIFICATE-----)")
  } catch (cause) {
    const code = (cause as { readonly code?: unknown }).code
    return Result.fail(`cannot be read (${typeof code === "string" ? code : String(cause)})`)
  }
})

const serverName = Var.checked((raw) =>
  /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*$/i.test(raw) || Net.isIP(raw) !== 0
    ? undefined
    : "is not a host name or IP address")

const ipAddress = Var.checked((raw) => (Net.isIP(raw) !== 0 ? undefined : "is not an IP address"))

/** `Config.Port`: 1-65535. Port 0 (any free port) is for tests, which build `AppConfig` themselves. */
const port = Var.effectConfig(Config.Port, "is not a port number (1-65535)")

const integer = (min: number) =>
  Var.refine(Var.effectConfig(Config.Int, `is not an integer >= ${min}`), (value) =>
    value >= min ? undefined : `is below ${min}`)

/** `ip:port` or `[ipv6]:port`; nginx takes only IP literals for `Auth-Server`. */
const backend = Var.parsed((raw): Result.Result<Backend, string> => {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(raw)
  const host = match?.[1] ?? match?.[2] ?? ""
  const port = Number(match?.[3])
  return match !== null && Net.isIP(host) !== 0 && port > 0 && port <= 65535
    ? Result.succeed({ host, port })
    : Result.fail("is not an IP address and port such as 127.0.0.1:143")
})

// Shared rate limits: where they live, and how long a login may wait for Redis before they are kept locally.
const redisUrl = Var.parsed(RateLimiterStoreRedis.parseUrl)

const redisTimeout = Var.parsed((raw) => {
  const match = /^(\d+) ?(ms|s)$/.exec(raw)
  const millis = Number(match?.[1]) * (match?.[2] === "s" ? 1000 : 1)
  return millis >= 1 && millis <= 60_000
    ? Result.succeed(Duration.millis(millis))
    : Result.fail("is not a duration from 1ms to 60s such as 250ms or 1s")
})

const attributeName = Var.checked((raw) =>
  /^[A-Za-z][A-Za-z0-9-]*$/.test(raw) ? undefined : "is not an attribute name such as uid"
)

const cidrs = Var.parsed((raw) => {
  const list = raw.split(",").map((cidr) => cidr.trim()).filter((cidr) => cidr !== "")
  try {
    RateLimiter.exemptList(list)
    return Result.succeed(list)
  } catch {
    return Result.fail("is not a comma-separated list of CIDRs such as 192.0.2.0/24")
  }
})

const boolean = Var.parsed((raw) =>
  /^(true|false)$/i.test(raw) ? Result.succeed(raw.toLowerCase() === "true") : Result.fail("is not true or false")
)

const seconds = Var.parsed((raw) => {
  const value = Number(raw)
  return /^\d+(\.\d+)?$/.test(raw) && value > 0 && value <= 3600
    ? Result.succeed(Duration.seconds(value))
    : Result.fail("is not a number of seconds in (0, 3600]")
})

const defaultBackend = (port: number): Backend => ({ host: "127.0.0.1", port })

/** Every variable, in the order `serve --help` lists them. */
export const variables = {
  urls: Var.required(
    "LDAP_URLS",
    "LDAP servers, comma-separated ldap://host:port or ldaps://host:port (TLS), tried in order",
    ldapUrls
  ),
  startTls: Var.withDefault(
    "LDAP_STARTTLS",
    false,
    "false",
    "upgrade every ldap:// connection with StartTLS before any bind; one that cannot be upgraded is never used",
    boolean
  ),
  tlsCaFile: Var.optional(
    "LDAP_TLS_CA_FILE",
    "the system's CAs",
    "PEM file of the CAs the directory's certificate must chain to (ldaps:// and StartTLS)",
    caFile
  ),
  tlsServerName: Var.optional(
    "LDAP_TLS_SERVER_NAME",
    "each URL's host",
    "the name the directory's certificate must carry",
    serverName
  ),
  baseDn: Var.required("LDAP_BASE_DN", "where users are searched (subtree), e.g. ou=people,dc=example,dc=org", dn),
  bindDn: Var.required("LDAP_BIND_DN", "the service account that searches for users", dn),
  bindPassword: Var.required("LDAP_BIND_PASSWORD", "the service account's password", Var.secret(emptyPassword), {
    secret: true
  }),
  userFilter: Var.optional(
    "LDAP_USER_FILTER",
    "(&(objectClass=inetOrgPerson)(uid={user}))",
    "search filter; {user} is replaced by the escaped user name",
    userFilter
  ),
  maxIdle: Var.optional(
    "POOL_MAX_IDLE",
    "POOL_MAX_SIZE, so that a steady load opens no connections",
    "idle LDAP connections kept per pool (2 pools per server)",
    integer(0)
  ),
  maxSize: Var.withDefault("POOL_MAX_SIZE", 16, "16", "LDAP connections per pool at most", integer(1)),
  httpHost: Var.withDefault("AUTH_HTTP_HOST", "127.0.0.1", "127.0.0.1", "IP address the auth_http and metrics listeners bind", ipAddress),
  httpPort: Var.withDefault("AUTH_HTTP_PORT", 9180, "9180", "port of GET /auth for nginx's auth_http", port),
  httpSocket: Var.optional(
    "AUTH_HTTP_SOCKET",
    "listen on AUTH_HTTP_HOST:AUTH_HTTP_PORT",
    "unix socket GET /auth listens on instead (nginx: auth_http unix:/path:/auth); a stale one is replaced",
    OpsKinds.socketPath
  ),
  httpSocketMode: Var.withDefault(
    "AUTH_HTTP_SOCKET_MODE",
    0o660,
    "0660",
    "file mode of AUTH_HTTP_SOCKET, in octal: nginx's user must be able to write to it",
    OpsKinds.octalMode
  ),
  sharedSecret: Var.optional(
    "AUTH_SHARED_SECRET",
    "no X-Auth-Key check",
    "value nginx sends in X-Auth-Key (auth_http_header X-Auth-Key …)",
    Var.secret("is empty: unset it to turn the X-Auth-Key check off"),
    { secret: true }
  ),
  imap: Var.withDefault("MAIL_BACKEND_IMAP", defaultBackend(143), "127.0.0.1:143", "IMAP server nginx proxies to", backend),
  pop3: Var.withDefault("MAIL_BACKEND_POP3", defaultBackend(110), "127.0.0.1:110", "POP3 server nginx proxies to", backend),
  smtp: Var.withDefault("MAIL_BACKEND_SMTP", defaultBackend(25), "127.0.0.1:25", "SMTP server nginx proxies to", backend),
  metricsPort: Var.withDefault("METRICS_PORT", 9181, "9181", "port of GET /metrics (Prometheus) and GET /healthz, on AUTH_HTTP_HOST", port),
  redisUrl: Var.optional(
    "REDIS_URL",
    "limits kept in this process's memory",
    "redis://host:port[/db] holding the rate limits shared by every auth server using it",
    redisUrl
  ),
  redisTimeout: Var.withDefault(
    "REDIS_TIMEOUT",
    Duration.millis(250),
    "250ms",
    "longest a login waits for Redis before the limits are kept locally until it answers again",
    redisTimeout
  ),
  loginAttribute: Var.withDefault(
    "LDAP_LOGIN_ATTRIBUTE",
    "uid",
    "uid",
    "the entry's attribute sent back to nginx as Auth-User (the name the backend sees)",
    attributeName
  ),
  rateLimitExempt: Var.withDefault(
    "RATE_LIMIT_EXEMPT",
    defaultSecurity.rateLimitExempt,
    "none",
    "comma-separated CIDRs (a webmail host) limited per user only, never per address",
    cidrs
  ),
  maxKeys: Var.withDefault(
    "RATE_LIMIT_MAX_KEYS",
    defaultSecurity.limiterMemory.maxCounters,
    "100000",
    "rate-limit counters kept in memory at most, and as many familiar-address markers",
    integer(1)
  ),
  allowNoSecret: Var.withDefault(
    "AUTH_ALLOW_NO_SECRET",
    defaultSecurity.allowNoSecret,
    "false",
    "serve without AUTH_SHARED_SECRET on an address that is not loopback",
    boolean
  ),
  requestTimeout: Var.withDefault(
    "AUTH_HTTP_REQUEST_TIMEOUT",
    defaultSecurity.requestTimeout,
    "5",
    "seconds a request has to arrive whole before its socket is closed",
    seconds
  ),
  maxConnections: Var.withDefault(
    "AUTH_HTTP_MAX_CONNECTIONS",
    defaultSecurity.maxConnections,
    "1024",
    "connections open at once on the auth port; the rest are refused at once",
    integer(1)
  ),
  logLevel: Var.withDefault(
    "LOG_LEVEL",
    "Info" as LogLevel.LogLevel,
    "info",
    "least severe level logged: trace, debug (every login), info, warn, error, fatal, none",
    OpsKinds.logLevel
  ),
  logFormat: Var.optional(
    "LOG_FORMAT",
    "pretty on a terminal, logfmt otherwise",
    "log line format: pretty, json or logfmt (one line per entry, for journald or Loki)",
    OpsKinds.logFormat
  )
}

type Values = { readonly [K in keyof typeof variables]: (typeof variables)[K] extends Var.Variable<infer A> ? A : never }

const assemble = (values: Values): AppConfig => ({
  ldap: {
    urls: values.urls,
    baseDn: values.baseDn,
    bindDn: values.bindDn,
    bindPassword: values.bindPassword,
    userFilter: values.userFilter,
    maxIdle: values.maxIdle ?? values.maxSize,
    maxSize: values.maxSize,
    tls: { startTls: values.startTls, ca: values.tlsCaFile, serverName: values.tlsServerName },
    loginAttribute: values.loginAttribute
  },
  http: {
    host: values.httpHost,
    port: values.httpPort,
    ...(values.httpSocket === undefined ? {} : { socket: { path: values.httpSocket, mode: values.httpSocketMode } })
  },
  sharedSecret: values.sharedSecret,
  backends: { imap: values.imap, pop3: values.pop3, smtp: values.smtp },
  metricsPort: values.metricsPort,
  redis: values.redisUrl === undefined ? undefined : { url: values.redisUrl, timeout: values.redisTimeout },
  security: {
    rateLimitExempt: values.rateLimitExempt,
    limiterMemory: { maxCounters: values.maxKeys, maxMarkers: values.maxKeys },
    allowNoSecret: values.allowNoSecret,
    requestTimeout: values.requestTimeout,
    maxConnections: values.maxConnections
  },
  log: { level: values.logLevel, format: values.logFormat }
})

/** A rule over several variables, each already valid on its own; the line names all of them with their values. */
interface Rule {
  readonly variables: ReadonlyArray<keyof typeof variables>
  readonly check: (config: AppConfig) => string | undefined
}

const rules: ReadonlyArray<Rule> = [
  // Each value passed its own parser, so what LdapAuth's rules can still refuse is how they combine.
  { variables: ["maxIdle", "maxSize"], check: (config) => LdapAuth.check(config.ldap) },
  {
    variables: ["metricsPort", "httpPort"],
    check: (config) =>
      config.http.socket === undefined && config.metricsPort === config.http.port ? "both listen on AUTH_HTTP_HOST, so they must differ" : undefined
  }
]

const ruleLine = (rule: Rule, values: Values, problem: string) =>
  `${rule.variables.map((key) => `${variables[key].name}=${String(values[key])}`).join(" and ")}: ${problem}`

/** Reads every variable from `provider`; fails with every problem found. */
export const read = (provider: ConfigProvider.ConfigProvider): Effect.Effect<AppConfig, AppConfigError> =>
  Effect.gen(function*() {
    const reads: Record<string, Config.Config<Result.Result<unknown, string>>> = Object.fromEntries(
      Object.entries(variables).map(([key, variable]) => [key, variable.read])
    )
    const results: Record<string, Result.Result<unknown, string>> = yield* Config.all(reads).parse(provider).pipe(
      Effect.mapError((error) => new AppConfigError({ problems: [`the environment could not be read: ${error.message}`] }))
    )
    const problems = Object.values(results).flatMap((result) => (Result.isFailure(result) ? [result.failure] : []))
    if (problems.length > 0) return yield* new AppConfigError({ problems })
    const values = Object.fromEntries(
      Object.entries(results).map(([key, result]) => [key, Result.getOrThrow(result)])
    ) as unknown as Values
    const config = assemble(values)
    const conflicts = rules.flatMap((rule) => {
      const problem = rule.check(config)
      return problem === undefined ? [] : [ruleLine(rule, values, problem)]
    })
    if (conflicts.length > 0) return yield* new AppConfigError({ problems: conflicts })
    return config
  })

/** The process environment as `read` wants it: an empty variable is empty, not unset. */
export const fromEnv = (env?: Record<string, string | undefined>): ConfigProvider.ConfigProvider =>
  ConfigProvider.fromEnv({ env: env as Record<string, string> | undefined, preserveEmptyStrings: true })

/** The variables as a table for `serve --help`: name, default, meaning. */
export const help = (indent: string): string => {
  const all = Object.values(variables)
  const width = Math.max(...all.map((variable) => variable.name.length))
  return all.map((variable) =>
    `${indent}${variable.name.padEnd(width)}  ${variable.meaning}\n${indent}${" ".repeat(width)}  (${variable.fallback})`
  ).join("\n")
}
