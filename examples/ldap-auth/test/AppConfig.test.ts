import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Duration, Effect, Redacted } from "effect"
import * as AppConfig from "../src/AppConfig.ts"

const required = {
  LDAP_URLS: "ldap://192.0.2.1:389/, ldap://192.0.2.2:389",
  LDAP_BASE_DN: "dc=example,dc=org",
  LDAP_BIND_DN: "cn=auth,ou=services,dc=example,dc=org",
  LDAP_BIND_PASSWORD: "service-secret"
}

const load = (env: Record<string, string | undefined>) =>
  Effect.result(AppConfig.config.parse(ConfigProvider.fromEnv({ env: env as Record<string, string> })))

const problem = (env: Record<string, string | undefined>) =>
  Effect.map(load(env), (result) => (result._tag === "Failure" ? AppConfig.describeError(result.failure) : "loaded"))

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
        [undefined, 4, 16, undefined]
      )
      assert.deepStrictEqual(config.http, { host: "127.0.0.1", port: 9180 })
      assert.strictEqual(config.metricsPort, 9181)
      assert.deepStrictEqual(config.backends, {
        imap: { host: "127.0.0.1", port: 143 },
        pop3: { host: "127.0.0.1", port: 110 },
        smtp: { host: "127.0.0.1", port: 25 }
      })
    }))

  it.effect("takes IPv6 backends in brackets and keeps the shared secret redacted", () =>
    Effect.gen(function*() {
      const result = yield* load({ ...required, MAIL_BACKEND_SMTP: "[2001:db8::25]:587", AUTH_SHARED_SECRET: "k" })
      assert.strictEqual(result._tag, "Success")
      if (result._tag !== "Success") return
      assert.deepStrictEqual(result.success.backends.smtp, { host: "2001:db8::25", port: 587 })
      assert.notInclude(JSON.stringify(result.success), "service-secret")
    }))

  it.effect("names the variable in one line when it is missing or invalid", () =>
    Effect.gen(function*() {
      assert.strictEqual(yield* problem({ ...required, LDAP_BIND_PASSWORD: undefined }),
        "Configuration error: LDAP_BIND_PASSWORD is not set")
      const cases: ReadonlyArray<readonly [string, string]> = [
        ["LDAP_URLS", "ldaps://192.0.2.1"],
        ["LDAP_URLS", " , "],
        ["AUTH_HTTP_HOST", "localhost"],
        ["AUTH_HTTP_PORT", "65536"],
        ["METRICS_PORT", "-1"],
        ["MAIL_BACKEND_IMAP", "mail.example.org:143"],
        ["MAIL_BACKEND_POP3", "127.0.0.1"],
        ["POOL_MAX_SIZE", "0"],
        ["POOL_MAX_IDLE", "four"],
        ["LDAP_BASE_DN", ""]
      ]
      for (const [name, value] of cases) {
        const line = yield* problem({ ...required, [name]: value })
        assert.match(line, new RegExp(`^Configuration error: ${name} [^\\n]+$`), `${name}=${value}`)
      }
    }))

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

  it.effect("names REDIS_URL or REDIS_TIMEOUT and the value in one line, never a password in the URL", () =>
    Effect.gen(function*() {
      assert.strictEqual(yield* problem({ ...required, REDIS_URL: "rediss://r:6379" }),
        `Configuration error: REDIS_URL must be redis://host:port[/db], got "rediss://r:6379"`)
      const secret = yield* problem({ ...required, REDIS_URL: "redis://user:hunter2@r:6379/0" })
      assert.match(secret, /^Configuration error: REDIS_URL must be redis:\/\/host:port\[\/db\], got "redis:\/\/…@r:6379\/0"$/)
      for (const value of ["redis://r:0", "redis://r:65536", "redis://r:6379/x", "redis://", "r:6379", "redis://r:6379/0/1"]) {
        assert.match(yield* problem({ ...required, REDIS_URL: value }), /^Configuration error: REDIS_URL must be [^\n]+$/, value)
      }
      for (const value of ["0ms", "2 minutes", "fast", "61s", "-1s"]) {
        assert.strictEqual(yield* problem({ ...required, REDIS_URL: "redis://r", REDIS_TIMEOUT: value }),
          `Configuration error: REDIS_TIMEOUT must be a duration from 1ms to 60s such as 250ms or 1s, got ${JSON.stringify(value)}`)
      }
    }))
})
