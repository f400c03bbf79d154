import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Logger, Redacted, References } from "effect"
import { TestClock } from "effect/testing"
import { AuthError } from "../src/AuthError.ts"
import * as AuthHttpHandler from "../src/AuthHttpHandler.ts"
import { LdapAuth } from "../src/LdapAuth.ts"
import * as RateLimiter from "../src/RateLimiter.ts"

const backends = {
  imap: { host: "192.0.2.1", port: 143 },
  pop3: { host: "192.0.2.1", port: 110 },
  smtp: { host: "192.0.2.2", port: 25 }
}

/** The service boundary: alice/alice-pw is right, `down` means the directory is down, `frozen` never answers,
 * `broken` dies. `calls` counts what reached it. */
const directory = () => {
  const calls: Array<string> = []
  const ldap = Layer.succeed(LdapAuth)({
    authenticate: (user, password) =>
      Effect.suspend(() => {
        calls.push(user)
        switch (user) {
          case "down":
            return Effect.fail(new AuthError({ reason: "Temporary", message: "server down" }))
          case "frozen":
            return Effect.never
          case "broken":
            return Effect.die("bug")
          case "bad\u0001":
            return Effect.fail(new AuthError({ reason: "RejectedInput", message: "control character" }))
        }
        return user.trim().toLowerCase() === "alice" && Redacted.value(password) === "alice-pw"
          ? Effect.succeed({ dn: "uid=alice,ou=people,dc=example,dc=org", attributes: {} })
          : Effect.fail(new AuthError({ reason: "InvalidCredentials", message: "invalid credentials" }))
      })
  })
  return { calls, ldap }
}

const decide = (
  headers: Record<string, string | undefined>,
  options: Partial<AuthHttpHandler.Options> = {},
  limits: RateLimiter.Options = RateLimiter.defaultOptions
) => {
  const { calls, ldap } = directory()
  const run = (more: Array<Record<string, string | undefined>> = []) =>
    Effect.gen(function*() {
      const handler = yield* AuthHttpHandler.AuthHttpHandler
      const decisions: Array<AuthHttpHandler.Decision> = []
      for (const each of [headers, ...more]) decisions.push(yield* handler.decide(request(each)))
      return decisions
    }).pipe(
      Effect.provide(
        AuthHttpHandler.layer({ backends, ...options }).pipe(
          Layer.provide(Layer.mergeAll(ldap, RateLimiter.layer(limits)))
        )
      )
    )
  return { calls, run }
}

const request = (overrides: Record<string, string | undefined> = {}) => ({
  "auth-method": "plain",
  "auth-user": "alice",
  "auth-pass": "alice-pw",
  "auth-protocol": "imap",
  "auth-login-attempt": "1",
  "client-ip": "198.51.100.4",
  ...overrides
})

const status = (decision: AuthHttpHandler.Decision) =>
  decision.response._tag === "Accept" ? "OK" : decision.response.status

describe("AuthHttpHandler", () => {
  it.effect("admits the right password and sends the protocol's backend", () =>
    Effect.gen(function*() {
      const [imap] = yield* decide(request()).run()
      const [smtp] = yield* decide(request({ "auth-protocol": "smtp" })).run()
      assert.deepStrictEqual(imap!.response, { _tag: "Accept", backend: backends.imap })
      assert.deepStrictEqual(smtp!.response, { _tag: "Accept", backend: backends.smtp })
      assert.strictEqual(imap!.outcome, "ok")
    }))

  it.effect("answers a wrong password, an unknown user and rejected input with the same text", () =>
    Effect.gen(function*() {
      const answers = [
        yield* decide(request({ "auth-pass": "wrong" })).run(),
        yield* decide(request({ "auth-user": "mallory" })).run(),
        yield* decide(request({ "auth-user": "bad%01" })).run()
      ].map(([decision]) => decision!)
      assert.deepStrictEqual(answers.map(status), Array(3).fill("Invalid login or password"))
      assert.deepStrictEqual(answers.map((decision) => decision.outcome), ["invalid", "invalid", "rejected_input"])
    }))

  it.effect("answers a directory that is down with the temporary text and SMTP's 451", () =>
    Effect.gen(function*() {
      const [decision] = yield* decide(request({ "auth-user": "down", "auth-protocol": "smtp" })).run()
      assert.deepStrictEqual(decision!.response, {
        _tag: "Reject",
        status: "Temporary server problem, try again later",
        waitSeconds: 1,
        errorCode: "451 4.3.0"
      })
    }))

  it.effect("answers before its deadline when the directory never does", () =>
    Effect.gen(function*() {
      const fiber = yield* decide(request({ "auth-user": "frozen" }), { deadline: "3 seconds" }).run().pipe(
        Effect.forkChild
      )
      yield* TestClock.adjust("3 seconds")
      const [decision] = yield* Fiber.join(fiber)
      assert.strictEqual(decision!.outcome, "temporary")
      assert.strictEqual(status(decision!), "Temporary server problem, try again later")
    }))

  it.effect("turns a defect into a temporary refusal, never an admission", () =>
    Effect.gen(function*() {
      const [decision] = yield* decide(request({ "auth-user": "broken" })).run()
      assert.strictEqual(decision!.response._tag, "Reject")
      assert.strictEqual(decision!.outcome, "temporary")
    }))

  it.effect("refuses other methods and undecodable requests without asking LDAP", () =>
    Effect.gen(function*() {
      for (const headers of [
        request({ "auth-method": "cram-md5" }),
        request({ "auth-method": "none" }),
        request({ "auth-pass": "%FF%FE" }),
        request({ "auth-user": undefined }),
        request({ "client-ip": "localhost" })
      ]) {
        const attempt = decide(headers)
        const [decision] = yield* attempt.run()
        assert.strictEqual(status(decision!), "Invalid login or password")
        assert.deepStrictEqual(attempt.calls, [])
      }
    }))

  it.effect("requires the shared secret when one is configured, before anything else", () =>
    Effect.gen(function*() {
      const sharedSecret = Redacted.make("s3cret")
      const missing = decide(request(), { sharedSecret })
      const wrong = decide(request({ "x-auth-key": "s3cre" }), { sharedSecret })
      const right = decide(request({ "x-auth-key": "s3cret" }), { sharedSecret })
      assert.strictEqual((yield* missing.run())[0]!.outcome, "unauthorized")
      assert.strictEqual((yield* wrong.run())[0]!.outcome, "unauthorized")
      assert.strictEqual((yield* right.run())[0]!.outcome, "ok")
      assert.deepStrictEqual([missing.calls, wrong.calls], [[], []])
    }))

  it.effect("stops asking LDAP for a user after too many failures, however the name is spelled", () =>
    Effect.gen(function*() {
      const limits: RateLimiter.Options = {
        perIp: { failures: 100, window: "1 minute" },
        perUser: { failures: 3, window: "5 minutes" }
      }
      const guesses = ["alice", "Alice", " ALICE "].map((user, i) =>
        request({ "auth-user": user, "auth-pass": "guess", "client-ip": `203.0.113.${i + 1}` })
      )
      const attempt = decide(guesses[0]!, {}, limits)
      const decisions = yield* attempt.run([...guesses.slice(1), request(), request({ "auth-user": "bob" })])
      assert.deepStrictEqual(decisions.map((decision) => decision.outcome), [
        "invalid",
        "invalid",
        "invalid",
        "rate_limited",
        "invalid"
      ])
      assert.deepStrictEqual(attempt.calls, ["alice", "Alice", " ALICE ", "bob"])
      assert.strictEqual(status(decisions[3]!), "Invalid login or password")
    }))

  it.effect("stops asking LDAP for an address after too many failures, until the window ends", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make({
        perIp: { failures: 2, window: "1 minute" },
        perUser: { failures: 100, window: "1 minute" }
      })
      const from = (user: string) => ({ clientIp: "198.51.100.9", user })
      yield* limiter.recordFailure(from("a"))
      yield* limiter.recordFailure(from("b"))
      assert.isFalse(yield* limiter.allows(from("c")))
      assert.isTrue(yield* limiter.allows({ clientIp: "198.51.100.10", user: "c" }))
      yield* TestClock.adjust("1 minute")
      assert.isTrue(yield* limiter.allows(from("c")))
    }))

  it.effect("counts an IPv6 client by its /64 and an IPv4-mapped address as the IPv4 address", () =>
    Effect.gen(function*() {
      assert.strictEqual(RateLimiter.clientKey("2001:db8:0:1::7"), "2001:db8:0:1::/64")
      assert.strictEqual(RateLimiter.clientKey("2001:0db8:0000:0001:ffff:0:0:1"), "2001:db8:0:1::/64")
      assert.strictEqual(RateLimiter.clientKey("::1"), "0:0:0:0::/64")
      assert.strictEqual(RateLimiter.clientKey("::ffff:192.0.2.1"), "192.0.2.1")
      assert.strictEqual(RateLimiter.clientKey("192.0.2.1"), "192.0.2.1")
      const limiter = yield* RateLimiter.make({
        perIp: { failures: 2, window: "1 minute" },
        perUser: { failures: 100, window: "1 minute" }
      })
      yield* limiter.recordFailure({ clientIp: "2001:db8:0:1::a", user: "a" })
      yield* limiter.recordFailure({ clientIp: "2001:db8:0:1:ffff::b", user: "b" })
      assert.isFalse(yield* limiter.allows({ clientIp: "2001:db8:0:1::c", user: "c" }))
      assert.isTrue(yield* limiter.allows({ clientIp: "2001:db8:0:2::c", user: "c" }))
    }))

  it.effect("lets a right password clear the user's failures but not the address's", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make({
        perIp: { failures: 2, window: "1 minute" },
        perUser: { failures: 2, window: "1 minute" }
      })
      const alice = { clientIp: "198.51.100.9", user: "alice" }
      yield* limiter.recordFailure(alice)
      yield* limiter.recordSuccess(alice)
      yield* limiter.recordFailure({ clientIp: "198.51.100.11", user: "alice" })
      assert.isTrue(yield* limiter.allows({ clientIp: "198.51.100.12", user: "alice" }))
      yield* limiter.recordFailure({ clientIp: "198.51.100.9", user: "bob" })
      assert.isFalse(yield* limiter.allows({ clientIp: "198.51.100.9", user: "carol" }))
    }))

  it.effect("never logs the password, raw or percent-encoded, whatever the outcome", () =>
    Effect.gen(function*() {
      const lines: Array<string> = []
      const capture = Logger.layer([Logger.map(Logger.formatLogFmt, (line) => void lines.push(line))])
      const marker = "Marker%20pw 7f3a"
      for (const user of ["alice", "down", "broken", "bad%01", "mallory"]) {
        yield* decide(request({ "auth-user": user, "auth-pass": marker })).run().pipe(
          Effect.provide(capture),
          Effect.provideService(References.MinimumLogLevel, "All")
        )
      }
      yield* decide(request({ "auth-pass": marker + "%FF" })).run().pipe(
        Effect.provide(capture),
        Effect.provideService(References.MinimumLogLevel, "All")
      )
      assert.isAbove(lines.length, 3)
      for (const line of lines) {
        assert.notInclude(line, "Marker")
        assert.notInclude(line, "7f3a")
      }
    }))

  it.effect("forgets the oldest windows beyond maxKeys", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make({
        perIp: { failures: 1, window: "1 hour" },
        perUser: { failures: 1000, window: "1 hour" },
        maxKeys: 100
      })
      for (let i = 0; i < 1000; i++) yield* limiter.recordFailure({ clientIp: `10.0.${i >> 8}.${i & 255}`, user: "x" })
      assert.isTrue(yield* limiter.allows({ clientIp: "10.0.0.0", user: "y" }))
      assert.isFalse(yield* limiter.allows({ clientIp: "10.0.3.231", user: "y" }))
    }))
})
