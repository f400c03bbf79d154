/**
 * The service account, at start-up and at run time, against real slapd: `serve` (a child process) stops with one
 * line naming LDAP_BIND_DN when the directory refuses the account, and starts with one warning when the
 * directory does not answer; at run time a refused account is `Misconfigured`, answered temporary and logged as
 * a misconfiguration once per interval (on `TestClock`), never as a directory that did not answer. And what an
 * operator reads from a running `serve` with `LOG_FORMAT` and `LOG_LEVEL` set.
 */
import { assert, describe, it, layer } from "@effect/vitest"
import { Effect, Layer, Redacted, References } from "effect"
import { TestClock } from "effect/testing"
import * as ServerProcess from "../harness/ServerProcess.ts"
import * as Slapd from "../harness/Slapd.ts"
import * as AuthHttpHandler from "../src/AuthHttpHandler.ts"
import { AuthError } from "../src/AuthError.ts"
import { LdapAuth } from "../src/LdapAuth.ts"
import * as LdapAuthInternal from "../src/internal/ldapAuth.ts"
import * as RateLimiter from "../src/RateLimiter.ts"
import * as ServeChild from "./utils/serveChild.ts"
import * as CapturedLogs from "./utils/capturedLogs.ts"

const serveEnv = (slapd: Slapd.SlapdInstance, extra: Record<string, string> = {}) =>
  Effect.gen(function*() {
    return {
      LDAP_URLS: slapd.url,
      LDAP_BASE_DN: slapd.baseDn,
      LDAP_BIND_DN: slapd.serviceDn,
      LDAP_BIND_PASSWORD: Redacted.value(slapd.servicePassword),
      AUTH_SHARED_SECRET: "startup-test-secret",
      AUTH_HTTP_PORT: String(yield* ServerProcess.freePort),
      METRICS_PORT: String(yield* ServerProcess.freePort),
      ...extra
    }
  })

const ask = (port: string, password: string) =>
  Effect.promise(() =>
    fetch(`http://127.0.0.1:${port}/auth`, {
      headers: {
        "Auth-Method": "plain",
        "Auth-User": "alice",
        "Auth-Pass": password,
        "Auth-Protocol": "imap",
        "Auth-Login-Attempt": "1",
        "Client-IP": "192.0.2.8",
        "X-Auth-Key": "startup-test-secret"
      }
    }).then((response) => response.headers.get("auth-status"))
  )

layer(Slapd.layer(), { excludeTestServices: true, timeout: 120_000 })("serve's start-up check", (it) => {
  it.effect("a refused service password or DN stops serve with one line naming LDAP_BIND_DN, exit 1", () =>
    Effect.gen(function*() {
      const slapd = yield* Slapd.Slapd
      const wrongPassword = yield* ServeChild.runToExit(yield* serveEnv(slapd, { LDAP_BIND_PASSWORD: "not-the-password" }))
      assert.deepStrictEqual(wrongPassword, {
        code: 1,
        stderr: `Configuration error: LDAP_BIND_DN=${slapd.serviceDn}: ${slapd.url} refuses this service account's credentials (invalid credentials); check LDAP_BIND_DN and LDAP_BIND_PASSWORD\n`
      })
      const wrongDn = `cn=nobody,ou=services,${slapd.baseDn}`
      const unknown = yield* ServeChild.runToExit(yield* serveEnv(slapd, { LDAP_BIND_DN: wrongDn }))
      assert.strictEqual(unknown.code, 1)
      assert.match(unknown.stderr, new RegExp(`^Configuration error: LDAP_BIND_DN=${wrongDn}: [^\\n]+\\n$`))
      assert.notInclude(wrongPassword.stderr + unknown.stderr, "not-the-password")
    }))

  it.effect("check with a refused service account: temporary, saying so, exit 2", () =>
    Effect.gen(function*() {
      const slapd = yield* Slapd.Slapd
      const result = yield* ServeChild.runToExit(yield* serveEnv(slapd, { LDAP_BIND_PASSWORD: "not-the-password" }), {
        args: ["check", "alice"],
        stdin: `${Redacted.value(slapd.users.alice.password)}\n`
      })
      assert.deepStrictEqual(result, {
        code: 2,
        stdout: `temporary: ${slapd.url} refused the service account ${slapd.serviceDn}: invalid credentials (result 49)\n`,
        stderr: ""
      })
    }))

  it.effect("a directory that does not answer is one warning; serve starts and logins work once it is back", () =>
    Effect.gen(function*() {
      const slapd = yield* Slapd.Slapd
      const env = yield* serveEnv(slapd)
      yield* slapd.stop
      const serve = yield* ServeChild.spawn(env)
      yield* ServeChild.waitForLog(serve, (stderr) => stderr.includes("auth server started")).pipe(
        Effect.ensuring(Effect.orDie(slapd.start))
      )
      const lines = serve.stderr().split("\n").filter((line) => line !== "")
      assert.strictEqual(lines.length, 2, lines.join("\n"))
      assert.match(lines[0]!, /level=WARN .*no LDAP server answered the start-up check, serving anyway .*ECONNREFUSED/)
      assert.match(lines[1]!, /level=INFO .*auth server started/)
      assert.strictEqual(yield* ask(env.AUTH_HTTP_PORT, Redacted.value(slapd.users.alice.password)), "OK")
      serve.child.kill("SIGTERM")
      assert.strictEqual(yield* serve.exited, 0)
    }))

  it.effect("LOG_FORMAT=json LOG_LEVEL=DEBUG: one JSON object a line, each login at debug, start and stop at info", () =>
    Effect.gen(function*() {
      const slapd = yield* Slapd.Slapd
      const env = yield* serveEnv(slapd, { LOG_FORMAT: "json", LOG_LEVEL: "DEBUG" })
      const serve = yield* ServeChild.spawn(env)
      yield* ServeChild.waitForLog(serve, (stderr) => stderr.includes("auth server started"))
      assert.strictEqual(yield* ask(env.AUTH_HTTP_PORT, Redacted.value(slapd.users.alice.password)), "OK")
      assert.strictEqual(yield* ask(env.AUTH_HTTP_PORT, "wrong-password"), "Invalid login or password")
      serve.child.kill("SIGTERM")
      assert.strictEqual(yield* serve.exited, 0)
      const entries = serve.stderr().split("\n").filter((line) => line !== "").map((line) =>
        JSON.parse(line) as { message: unknown; level: string; annotations: Record<string, unknown> }
      )
      const logins = entries.filter((entry) => entry.message === "login")
      assert.deepStrictEqual(logins.map((entry) => [entry.level, entry.annotations.outcome]), [["DEBUG", "ok"], ["DEBUG", "invalid"]])
      const info = entries.filter((entry) => entry.level === "INFO").map((entry) => String(entry.message))
      assert.match(info[0]!, new RegExp(`^auth server started: auth_http on http://127\\.0\\.0\\.1:${env.AUTH_HTTP_PORT}/auth, `))
      assert.include(info[0]!, `; LDAP ${slapd.url} as ${slapd.serviceDn}; pools of 16 connections (16 idle)`)
      assert.include(info[0]!, "; rate limits in this process's memory")
      // The summary's remainder at shutdown, then the last line.
      assert.deepStrictEqual(info.slice(1), ["logins since the last summary: 2 (invalid 1, ok 1)", "auth server stopped"])
      for (const secret of [env.LDAP_BIND_PASSWORD, env.AUTH_SHARED_SECRET, Redacted.value(slapd.users.alice.password), "wrong-password"]) {
        assert.notInclude(serve.stderr(), secret)
      }
    }))

  it.effect("LOG_LEVEL=warn keeps a healthy start and stop out of the log", () =>
    Effect.gen(function*() {
      const slapd = yield* Slapd.Slapd
      const env = yield* serveEnv(slapd, { LOG_LEVEL: "warn" })
      const serve = yield* ServeChild.spawn(env)
      yield* ServerProcess.waitForPorts("serve", [Number(env.AUTH_HTTP_PORT), Number(env.METRICS_PORT)])
      assert.strictEqual(yield* ask(env.AUTH_HTTP_PORT, "wrong-password"), "Invalid login or password")
      serve.child.kill("SIGTERM")
      assert.strictEqual(yield* serve.exited, 0)
      assert.strictEqual(serve.stderr(), "")
    }))
})

// slapd's fixture waits in real time; the test runs on a TestClock of its own.
layer(Slapd.layer(), { excludeTestServices: true, timeout: 60_000 })("a service account refused at run time", (it) => {
  it.effect("is Misconfigured, logged as a misconfiguration once per interval, not as a directory that did not answer", () => {
    const { lines, layer } = CapturedLogs.capture()
    return Effect.gen(function*() {
      const slapd = yield* Slapd.Slapd
      const auth = yield* LdapAuthInternal.make({ ...slapd.authOptions, bindPassword: Redacted.make("rotated-away") })
      const fail = Effect.flip(auth.service.authenticate("alice", slapd.users.alice.password))
      for (let i = 0; i < 5; i++) {
        const error = yield* fail
        assert.strictEqual(error.reason, "Misconfigured")
        assert.notInclude(error.message, "did not answer")
      }
      assert.strictEqual(lines.length, 1, lines.join("\n"))
      assert.match(lines[0]!, /level=ERROR .*misconfiguration: the directory refuses the service account's credentials/)
      assert.match(lines[0]!, /bindDn="?cn=auth,ou=services,dc=example,dc=org/)
      assert.notInclude(lines.join("\n"), "rotated-away")
      yield* TestClock.adjust("59 seconds")
      yield* fail
      assert.strictEqual(lines.length, 1)
      yield* TestClock.adjust("1 second")
      yield* fail
      assert.strictEqual(lines.length, 2)
      // The next line counts the 4 + 1 logins it kept quiet about.
      assert.include(lines[1]!, "suppressed=5")
    }).pipe(
      Effect.provide(Layer.mergeAll(layer, TestClock.layer())),
      Effect.provideService(References.MinimumLogLevel, "Info")
    )
  })
})

describe("a Misconfigured directory at the handler", () => {
  it.effect("answers temporary, never invalid, and gives the rate limiter its hit back", () =>
    Effect.gen(function*() {
      const ldap = Layer.succeed(LdapAuth)({
        authenticate: () => Effect.fail(new AuthError({ reason: "Misconfigured", message: "service account refused" }))
      })
      const limits = { ...RateLimiter.defaultOptions, perUserAndAddress: { failures: 2, window: "5 minutes" as const } }
      const handler = yield* AuthHttpHandler.make({
        backends: { imap: { host: "127.0.0.1", port: 143 }, pop3: { host: "127.0.0.1", port: 110 }, smtp: { host: "127.0.0.1", port: 25 } }
      }).pipe(Effect.provide(Layer.mergeAll(ldap, RateLimiter.layerMemory(limits))))
      const headers = {
        "auth-method": "plain",
        "auth-user": "alice",
        "auth-pass": "right",
        "auth-protocol": "imap",
        "auth-login-attempt": "1",
        "client-ip": "192.0.2.9"
      }
      for (let i = 0; i < 5; i++) {
        const decision = yield* handler.decide(headers)
        assert.deepStrictEqual([decision.outcome, decision.response._tag], ["temporary", "Reject"])
      }
    }))
})
