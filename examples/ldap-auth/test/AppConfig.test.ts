import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, type LogLevel, Redacted } from "effect"
import * as AppConfig from "../src/AppConfig.ts"
import * as Dn from "../src/internal/ldapDn.ts"
import * as Logging from "../src/internal/logging.ts"
import * as LdapUrl from "../src/internal/ldapUrl.ts"
import * as LdapAuth from "../src/LdapAuth.ts"

const required = {
  LDAP_URLS: "ldap://192.0.2.1:389/, ldap://192.0.2.2:389",
  LDAP_BASE_DN: "dc=example,dc=org",
  LDAP_BIND_DN: "cn=auth,ou=services,dc=example,dc=org",
  LDAP_BIND_PASSWORD: "service-secret"
}

const load = (env: Record<string, string | undefined>) => Effect.result(AppConfig.read(AppConfig.fromEnv(env)))

/** The lines an operator would read, or `[]` when the configuration loaded. */
const problems = (env: Record<string, string | undefined>) =>
  Effect.map(load(env), (result) => (result._tag === "Failure" ? result.failure.problems : []))

describe("AppConfig", () => {
  it.effect("reads the required variables and fills in the documented defaults", () =>
    Effect.gen(function*() {
      const result = yield* load(required)
      assert.strictEqual(result._tag, "Success")
      if (result._tag !== "Success") return
      const config = result.success
      assert.deepStrictEqual(config.ldap.urls, ["ldap://192.0.2.1:389/", "ldap://192.0.2.2:389"])
      assert.strictEqual(Redacted.value(config.ldap.bindPassword), "service-secret")
      assert.deepStrictEqual(
        [config.ldap.userFilter, config.ldap.maxIdle, config.ldap.maxSize, config.sharedSecret],
        [undefined, 16, 16, undefined]
      )
      assert.deepStrictEqual(config.http, { host: "127.0.0.1", port: 9180 })
      assert.strictEqual(config.metricsPort, 9181)
      assert.deepStrictEqual(config.backends, {
        imap: { host: "127.0.0.1", port: 143 },
        pop3: { host: "127.0.0.1", port: 110 },
        smtp: { host: "127.0.0.1", port: 25 }
      })
      assert.deepStrictEqual(config.security, AppConfig.defaultSecurity)
      assert.deepStrictEqual(config.security.limiterMemory, { maxCounters: 100_000, maxMarkers: 100_000 })
    }))

  it.effect("takes IPv6 backends in brackets and keeps the shared secret redacted", () =>
    Effect.gen(function*() {
      const result = yield* load({ ...required, MAIL_BACKEND_SMTP: "[2001:db8::25]:587", AUTH_SHARED_SECRET: "k" })
      assert.strictEqual(result._tag, "Success")
      if (result._tag !== "Success") return
      assert.deepStrictEqual(result.success.backends.smtp, { host: "2001:db8::25", port: 587 })
      assert.notInclude(JSON.stringify(result.success), "service-secret")
    }))

  it.effect("reports every missing variable in one run", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* problems({}), [
        "LDAP_URLS is not set",
        "LDAP_BASE_DN is not set",
        "LDAP_BIND_DN is not set",
        "LDAP_BIND_PASSWORD is not set"
      ])
    }))

  it.effect("an empty LDAP_BIND_PASSWORD reads as empty, not as unset", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* problems({ ...required, LDAP_BIND_PASSWORD: "" }), [
        "LDAP_BIND_PASSWORD is empty: an empty password is an unauthenticated bind, which proves nothing"
      ])
    }))

  const exact: ReadonlyArray<readonly [Record<string, string>, string]> = [
    [{ LDAP_URLS: "ldap://ldap.example.org:99999" }, `LDAP_URLS="ldap://ldap.example.org:99999" has port "99999", expected 1-65535`],
    [{ LDAP_URLS: "ldap://ldap.example.org:0" }, `LDAP_URLS="ldap://ldap.example.org:0" has port "0", expected 1-65535`],
    [
      { LDAP_URLS: "ldap://auth:secret@ldap.example.org" },
      `LDAP_URLS="ldap://auth:secret@ldap.example.org" carries a user name or password; use LDAP_BIND_DN and LDAP_BIND_PASSWORD`
    ],
    [
      { LDAP_URLS: "ldap://ldap.example.org/dc=org" },
      `LDAP_URLS="ldap://ldap.example.org/dc=org" has "/dc=org" after the host; only ldap[s]://host:port is read`
    ],
    [
      { LDAP_URLS: "ldap://192.0.2.1, http://192.0.2.2" },
      `LDAP_URLS="ldap://192.0.2.1, http://192.0.2.2" has http://192.0.2.2, which has scheme http://, expected ldap:// or ldaps://`
    ],
    [{ LDAP_URLS: " , " }, `LDAP_URLS=" , " lists no URL, expected ldap[s]://host:port[,ldap[s]://host:port…]`],
    [
      { LDAP_BASE_DN: "not a dn" },
      `LDAP_BASE_DN="not a dn" is not a DN such as dc=example,dc=org: it has "not a dn" where attr=value belongs`
    ],
    [{ LDAP_USER_FILTER: "(uid=alice)" }, `LDAP_USER_FILTER="(uid=alice)" has no {user} placeholder`],
    [{ LDAP_USER_FILTER: "(&(uid={user})" }, `LDAP_USER_FILTER="(&(uid={user})" has unbalanced parentheses`],
    [{ LDAP_USER_FILTER: "(uid={user}))" }, `LDAP_USER_FILTER="(uid={user}))" is not an LDAP filter (check the parentheses)`],
    [{ AUTH_HTTP_PORT: "0" }, `AUTH_HTTP_PORT="0" is not a port number (1-65535)`],
    [{ AUTH_HTTP_PORT: "" }, `AUTH_HTTP_PORT="" is not a port number (1-65535)`],
    [{ POOL_MAX_SIZE: "0" }, `POOL_MAX_SIZE="0" is below 1`],
    [{ POOL_MAX_IDLE: "four" }, `POOL_MAX_IDLE="four" is not an integer >= 0`],
    [{ RATE_LIMIT_MAX_KEYS: "0" }, `RATE_LIMIT_MAX_KEYS="0" is below 1`],
    [{ RATE_LIMIT_MAX_KEYS: "many" }, `RATE_LIMIT_MAX_KEYS="many" is not an integer >= 1`],
    [
      { POOL_MAX_IDLE: "20", POOL_MAX_SIZE: "16" },
      "POOL_MAX_IDLE=20 and POOL_MAX_SIZE=16: maxIdle (20) must not be above maxSize (16)"
    ],
    [{ METRICS_PORT: "9180" }, "METRICS_PORT=9180 and AUTH_HTTP_PORT=9180: both listen on AUTH_HTTP_HOST, so they must differ"],
    [{ AUTH_SHARED_SECRET: "" }, "AUTH_SHARED_SECRET is empty: unset it to turn the X-Auth-Key check off"],
    [{ AUTH_HTTP_SOCKET: "run/auth.sock" }, `AUTH_HTTP_SOCKET="run/auth.sock" is not an absolute path such as /run/mail-auth/auth.sock`],
    [{ AUTH_HTTP_SOCKET: "/run/mail-auth/" }, `AUTH_HTTP_SOCKET="/run/mail-auth/" names a directory, not a socket file`],
    [
      { AUTH_HTTP_SOCKET: `/${"s".repeat(107)}` },
      `AUTH_HTTP_SOCKET="/${"s".repeat(107)}" is longer than a unix socket path may be (107 bytes)`
    ],
    [{ AUTH_HTTP_SOCKET_MODE: "0668" }, `AUTH_HTTP_SOCKET_MODE="0668" is not an octal file mode such as 0660`],
    [{ AUTH_HTTP_SOCKET_MODE: "rw-rw----" }, `AUTH_HTTP_SOCKET_MODE="rw-rw----" is not an octal file mode such as 0660`],
    [{ AUTH_HTTP_SOCKET_MODE: "01777" }, `AUTH_HTTP_SOCKET_MODE="01777" is not an octal file mode such as 0660`],
    [
      { LOG_LEVEL: "verbose" },
      `LOG_LEVEL="verbose" is not a log level (all, fatal, error, warn, info, debug, trace, none)`
    ],
    [{ LOG_FORMAT: "xml" }, `LOG_FORMAT="xml" is not pretty, json or logfmt`]
  ]
  it.effect("reads a unix socket with its octal mode, and then lets METRICS_PORT take AUTH_HTTP_PORT's number", () =>
    Effect.gen(function*() {
      const socket = yield* load({ ...required, AUTH_HTTP_SOCKET: "/run/mail-auth/auth.sock", METRICS_PORT: "9180" })
      assert.strictEqual(socket._tag, "Success")
      if (socket._tag === "Success") assert.deepStrictEqual(socket.success.http.socket, { path: "/run/mail-auth/auth.sock", mode: 0o660 })
      const mode = yield* load({ ...required, AUTH_HTTP_SOCKET: "/run/auth.sock", AUTH_HTTP_SOCKET_MODE: "600" })
      if (mode._tag === "Success") assert.strictEqual(mode.success.http.socket?.mode, 0o600)
      else assert.fail(mode.failure.message)
    }))

  it.effect("LOG_LEVEL in any case maps to Effect's level names; LOG_FORMAT unset is left to the terminal check", () =>
    Effect.gen(function*() {
      const levels: Record<string, LogLevel.LogLevel> = { DEBUG: "Debug", info: "Info", Warning: "Warn", warn: "Warn", none: "None" }
      for (const [raw, level] of Object.entries(levels)) {
        const result = yield* load({ ...required, LOG_LEVEL: raw, LOG_FORMAT: "JSON" })
        if (result._tag === "Failure") return assert.fail(result.failure.message)
        assert.deepStrictEqual(result.success.log, { level, format: "json" })
      }
      const defaults = yield* load(required)
      if (defaults._tag === "Success") assert.deepStrictEqual(defaults.success.log, { level: "Info", format: undefined })
      assert.deepStrictEqual([Logging.formatFor(undefined, true), Logging.formatFor(undefined, false)], ["pretty", "logfmt"])
      assert.strictEqual(Logging.formatFor("json", true), "json")
    }))

  for (const [override, line] of exact) {
    it.effect(`refuses ${JSON.stringify(override)} in one line naming the variable and the value`, () =>
      Effect.gen(function*() {
        assert.deepStrictEqual(yield* problems({ ...required, ...override }), [line])
      }))
  }

  it.effect("reports several bad variables together, one line each, never a secret's value", () =>
    Effect.gen(function*() {
      const lines = yield* problems({
        ...required,
        LDAP_BIND_PASSWORD: undefined,
        AUTH_HTTP_HOST: "localhost",
        AUTH_HTTP_PORT: "65536",
        METRICS_PORT: "-1",
        MAIL_BACKEND_IMAP: "mail.example.org:143",
        MAIL_BACKEND_POP3: "127.0.0.1",
        LDAP_BIND_DN: "cn=auth,",
        AUTH_SHARED_SECRET: "x".repeat(10)
      })
      assert.deepStrictEqual(lines.map((line) => line.split(/[= ]/)[0]), [
        "LDAP_BIND_DN",
        "LDAP_BIND_PASSWORD",
        "AUTH_HTTP_HOST",
        "AUTH_HTTP_PORT",
        "MAIL_BACKEND_IMAP",
        "MAIL_BACKEND_POP3",
        "METRICS_PORT"
      ])
      for (const line of lines) assert.notInclude(line, "\n")
      assert.notInclude(lines.join(" "), "xxxxxxxxxx")
    }))

  it("help lists every variable with its default and meaning", () => {
    const help = AppConfig.help("")
    for (const variable of Object.values(AppConfig.variables)) {
      assert.match(help, new RegExp(`^${variable.name} +${variable.meaning.replaceAll(/[()[\]{}.*+?|\\]/g, "\\$&")}$`, "m"))
      assert.include(help, `(${variable.fallback})`)
    }
  })
})

describe("AppConfig TLS", () => {
  it.effect("reads ldaps:// URLs, StartTLS, a CA file and a server name", () =>
    Effect.gen(function*() {
      const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "appconfig-"))
      const pem = Path.join(dir, "ca.pem")
      Fs.writeFileSync(pem, "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
      const result = yield* load({
        ...required,
        LDAP_URLS: "ldaps://ldap1.example.org, ldap://ldap2.example.org:389",
        LDAP_STARTTLS: "TRUE",
        LDAP_TLS_CA_FILE: pem,
        LDAP_TLS_SERVER_NAME: "ldap.example.org"
      })
      Fs.rmSync(dir, { recursive: true })
      assert.strictEqual(result._tag, "Success")
      if (result._tag !== "Success") return
      assert.deepStrictEqual(result.success.ldap.urls, ["ldaps://ldap1.example.org", "ldap://ldap2.example.org:389"])
      assert.deepStrictEqual(result.success.ldap.tls, {
        startTls: true,
        ca: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
        serverName: "ldap.example.org"
      })
    }))

  it.effect("defaults to no StartTLS, the system's CAs and each URL's host", () =>
    Effect.gen(function*() {
      const result = yield* load(required)
      assert.strictEqual(result._tag, "Success")
      if (result._tag !== "Success") return
      assert.deepStrictEqual(result.success.ldap.tls, { startTls: false, ca: undefined, serverName: undefined })
    }))

  it.effect("refuses a bad TLS setting in one line naming the variable and the value", () =>
    Effect.gen(function*() {
      const missing = Path.join(Os.tmpdir(), "no-such-dir-for-appconfig", "ca.pem")
      assert.deepStrictEqual(
        yield* problems({
          ...required,
          LDAP_STARTTLS: "maybe",
          LDAP_TLS_CA_FILE: missing,
          LDAP_TLS_SERVER_NAME: "bad name"
        }),
        [
          'LDAP_STARTTLS="maybe" is not true or false',
          `LDAP_TLS_CA_FILE=${JSON.stringify(missing)} cannot be read (ENOENT)`,
          'LDAP_TLS_SERVER_NAME="bad name" is not a host name or IP address'
        ]
      )
    }))
})

describe("LdapUrl.parse", () => {
  it("reads ldaps:// with TLS, 636 by default", () => {
    assert.deepInclude(LdapUrl.parse("ldaps://ldap.example.org"), { host: "ldap.example.org", port: 636, secure: true })
    assert.deepInclude(LdapUrl.parse("ldap://ldap.example.org"), { secure: false })
    assert.isString(LdapUrl.parse("ldapi://%2Frun%2Fslapd"))
  })

  it("reads host and port, 389 by default, IPv6 in brackets", () => {
    assert.deepInclude(LdapUrl.parse("ldap://ldap.example.org"), { host: "ldap.example.org", port: 389 })
    assert.deepInclude(LdapUrl.parse(" LDAP://[2001:db8::1]:1389/ "), {
      host: "2001:db8::1",
      port: 1389,
      authority: "[2001:db8::1]:1389"
    })
  })

  it("refuses what it would otherwise ignore or misread", () => {
    for (const bad of ["ldap://", "ldap://[::1", "ldap://h:", "ldap://h:x", "ldap://h?x", "ldap://a b", "ldap:h", "ldap://h:-1"]) {
      assert.isString(LdapUrl.parse(bad), bad)
    }
  })
})

describe("AppConfig: shared rate limits", () => {
  it.effect("keeps the limits in memory without REDIS_URL, and reads redis://host:port[/db] with its timeout", () =>
    Effect.gen(function*() {
      const plain = yield* load(required)
      assert.strictEqual(plain._tag === "Success" && plain.success.redis, undefined)
      const shared = yield* load({ ...required, REDIS_URL: "redis://redis.example.org:6380/2", REDIS_TIMEOUT: "1s" })
      assert.strictEqual(shared._tag, "Success")
      if (shared._tag !== "Success") return
      assert.deepStrictEqual(shared.success.redis?.url, { host: "redis.example.org", port: 6380, db: 2 })
      assert.strictEqual(Duration.toMillis(shared.success.redis!.timeout), 1000)
      const defaults = yield* load({ ...required, REDIS_URL: "redis://[::1]" })
      assert.deepStrictEqual(defaults._tag === "Success" && defaults.success.redis, {
        url: { host: "::1", port: 6379, db: 0 },
        timeout: Duration.millis(250)
      })
    }))

  it.effect("names REDIS_URL or REDIS_TIMEOUT and the value in one line", () =>
    Effect.gen(function*() {
      for (const value of ["rediss://r:6379", "redis://u:p@r", "redis://r:0", "redis://r:65536", "redis://r:6379/x", "redis://", "r:6379"]) {
        assert.deepStrictEqual(yield* problems({ ...required, REDIS_URL: value }), [
          `REDIS_URL=${JSON.stringify(value)} is not redis://host:port[/db] (no user or password)`
        ])
      }
      for (const value of ["0ms", "2 minutes", "fast", "61s", "-1s"]) {
        assert.deepStrictEqual(yield* problems({ ...required, REDIS_URL: "redis://r", REDIS_TIMEOUT: value }), [
          `REDIS_TIMEOUT=${JSON.stringify(value)} is not a duration from 1ms to 60s such as 250ms or 1s`
        ])
      }
    }))
})

describe("Dn.check", () => {
  it("accepts escaped, multi-valued and OID forms", () => {
    for (const dn of ["dc=example,dc=org", "cn=Smith\\, John+uid=js,ou=people,dc=example,dc=org", "2.5.4.3=x", "cn=a\\2cb"]) {
      assert.isUndefined(Dn.check(dn), dn)
    }
  })

  it("refuses a trailing comma, a missing value and other separators", () => {
    for (const dn of ["dc=example,", "cn=", "dc=example;dc=org", "=x", "cn=a,,dc=b", "cn=a<b"]) assert.isString(Dn.check(dn), dn)
  })
})

describe("LdapAuth.check", () => {
  it("is the constructor's rule, usable before building anything", () => {
    const options = {
      urls: ["ldap://127.0.0.1/"],
      baseDn: "dc=example,dc=org",
      bindDn: "cn=auth,dc=example,dc=org",
      bindPassword: Redacted.make("x")
    }
    assert.isUndefined(LdapAuth.check(options))
    assert.strictEqual(LdapAuth.check({ ...options, maxIdle: 5, maxSize: 4 }), "maxIdle (5) must not be above maxSize (4)")
    assert.strictEqual(LdapAuth.check({ ...options, maxIdle: 17 }), "maxIdle (17) must not be above maxSize (16)")
    assert.match(LdapAuth.check({ ...options, urls: ["ldap://h:0"] }) ?? "", /^urls has "ldap:\/\/h:0", which has port/)
  })
})
