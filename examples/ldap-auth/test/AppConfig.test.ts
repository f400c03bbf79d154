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
        ["LDAP_BASE_DN", ""],
        ["AUTH_SHARED_SECRET", "   "],
        ["RATE_LIMIT_EXEMPT", "192.0.2.0/24, webmail"],
        ["AUTH_ALLOW_NO_SECRET", "yes"],
        ["AUTH_HTTP_REQUEST_TIMEOUT", "0"],
        ["AUTH_HTTP_MAX_CONNECTIONS", "0"],
        ["LDAP_LOGIN_ATTRIBUTE", "uid)(x"]
      ]
      for (const [name, value] of cases) {
        const line = yield* problem({ ...required, [name]: value })
        assert.match(line, new RegExp(`^Configuration error: ${name} [^\\n]+$`), `${name}=${value}`)
      }
    }))

  it("a shared secret set but empty is an error, unset is not", () => {
    assert.match(AppConfig.emptySecretProblem({ AUTH_SHARED_SECRET: "" })!, /^AUTH_SHARED_SECRET is set but empty/)
    assert.isUndefined(AppConfig.emptySecretProblem({}))
    assert.isUndefined(AppConfig.emptySecretProblem({ AUTH_SHARED_SECRET: "k" }))
  })

  it.effect("reads the security settings, with their defaults", () =>
    Effect.gen(function*() {
      const defaults = yield* load(required)
      assert.deepStrictEqual(defaults._tag === "Success" ? defaults.success.security : undefined, AppConfig.defaultSecurity)
      assert.strictEqual(defaults._tag === "Success" ? defaults.success.ldap.loginAttribute : undefined, "uid")
      const result = yield* load({
        ...required,
        RATE_LIMIT_EXEMPT: "192.0.2.0/24, 2001:db8::/48",
        AUTH_ALLOW_NO_SECRET: "TRUE",
        AUTH_HTTP_REQUEST_TIMEOUT: "2.5",
        AUTH_HTTP_MAX_CONNECTIONS: "64",
        LDAP_LOGIN_ATTRIBUTE: "mailLogin"
      })
      assert.strictEqual(result._tag, "Success")
      if (result._tag !== "Success") return
      assert.deepStrictEqual(result.success.security.rateLimitExempt, ["192.0.2.0/24", "2001:db8::/48"])
      assert.isTrue(result.success.security.allowNoSecret)
      assert.strictEqual(Duration.toMillis(result.success.security.requestTimeout), 2500)
      assert.strictEqual(result.success.security.maxConnections, 64)
      assert.strictEqual(result.success.ldap.loginAttribute, "mailLogin")
    }))
})
