import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Redacted, References } from "effect"
import { TestClock } from "effect/testing"
import { AuthError } from "../src/AuthError.ts"
import * as AuthHttpHandler from "../src/AuthHttpHandler.ts"
import { LdapAuth } from "../src/LdapAuth.ts"
import * as RateLimiter from "../src/RateLimiter.ts"
import * as CapturedLogs from "./utils/capturedLogs.ts"

const backends = {
  imap: { host: "192.0.2.1", port: 143 },
  pop3: { host: "192.0.2.1", port: 110 },
  smtp: { host: "192.0.2.2", port: 25 }
}

/** The service boundary: alice/alice-pw is right (any case), `down` means the directory is down, `frozen` never
 * answers, `broken` dies. `calls` lists the names that reached a bind (after `admit`, like the real one). */
const aliceDn = "uid=alice,ou=people,dc=example,dc=org"

const directory = () => {
  const calls: Array<string> = []
  const ldap = Layer.succeed(LdapAuth)({
    authenticate: (user, password, admit) =>
      Effect.gen(function*() {
        const dn = user.toLowerCase() === "alice" ? aliceDn : `uid=${user},ou=people,dc=example,dc=org`
        if (admit !== undefined && !(yield* admit(dn))) {
          return yield* new AuthError({ reason: "RateLimited", message: "limited" })
        }
        calls.push(user)
        switch (user) {
          case "down":
            return yield* new AuthError({ reason: "Temporary", message: "server down" })
          case "frozen":
            return yield* Effect.never
          case "broken":
            return yield* Effect.die("bug")
        }
        return dn === aliceDn && Redacted.value(password) === "alice-pw"
          ? { dn, login: "alice", attributes: {} }
          : yield* new AuthError({ reason: "InvalidCredentials", message: "invalid credentials" })
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
          Layer.provide(Layer.mergeAll(ldap, RateLimiter.layerMemory(limits)))
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
      assert.deepStrictEqual(imap!.response, { _tag: "Accept", backend: backends.imap, user: "alice" })
      assert.deepStrictEqual(smtp!.response, { _tag: "Accept", backend: backends.smtp, user: "alice" })
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

  it.effect("accepts the shared secret alone: no prefix, extension, padding or look-alike of it", () =>
    Effect.gen(function*() {
      const sharedSecret = Redacted.make("s3crét")
      const outcomes: Array<string> = []
      for (const given of ["", "s3cr", "s3cre", "s3cret", "s3crét ", "s3crét\u0000", "s3crétx", "S3CRÉT", "s3crét".repeat(50)]) {
        outcomes.push((yield* decide(request({ "x-auth-key": given }), { sharedSecret }).run())[0]!.outcome)
      }
      assert.deepStrictEqual(outcomes, Array(9).fill("unauthorized"))
      assert.strictEqual((yield* decide(request({ "x-auth-key": "s3crét" }), { sharedSecret }).run())[0]!.outcome, "ok")
    }))

  it.effect("admits as the directory's name for the entry, not as typed", () =>
    Effect.gen(function*() {
      const [decision] = yield* decide(request({ "auth-user": "ALICE" })).run()
      assert.deepStrictEqual(decision!.response, { _tag: "Accept", backend: backends.imap, user: "alice" })
    }))

  it.effect("stops trying a user's password after too many failures from anywhere, however the name is spelled", () =>
    Effect.gen(function*() {
      const limits: RateLimiter.Options = {
        ...RateLimiter.defaultOptions,
        perUser: { failures: 3, window: "5 minutes" }
      }
      const guesses = ["alice", "Alice", "ALICE"].map((user, i) =>
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
      assert.deepStrictEqual(attempt.calls, ["alice", "Alice", "ALICE", "bob"])
      assert.strictEqual(status(decisions[3]!), "Invalid login or password")
    }))

  it.effect("an address over its limit costs nothing: no directory call, whatever it sends", () =>
    Effect.gen(function*() {
      const limits: RateLimiter.Options = { ...RateLimiter.defaultOptions, perAddress: { failures: 2, window: "1 minute" } }
      const attempt = decide(request({ "auth-pass": "wrong" }), {}, limits)
      const decisions = yield* attempt.run([
        request({ "auth-user": "bob", "auth-pass": "wrong" }),
        request(),
        request({ "auth-method": "cram-md5" }),
        request({ "auth-user": "%FF%FE" }),
        request({ "auth-user": "bad%01" })
      ])
      assert.deepStrictEqual(decisions.map((decision) => decision.outcome), [
        "invalid",
        "invalid",
        "rate_limited",
        "rejected_input",
        "bad_request",
        "rejected_input"
      ])
      assert.deepStrictEqual(attempt.calls, ["alice", "bob"])
    }))

  it.effect("a directory that did not answer takes the attempt back", () =>
    Effect.gen(function*() {
      const limits: RateLimiter.Options = { ...RateLimiter.defaultOptions, perAddress: { failures: 1, window: "1 minute" } }
      const decisions = yield* decide(request({ "auth-user": "down" }), {}, limits).run([
        request({ "auth-user": "down" }),
        request({ "auth-pass": "wrong" }),
        request()
      ])
      assert.deepStrictEqual(decisions.map((decision) => decision.outcome), ["temporary", "temporary", "invalid", "rate_limited"])
    }))

  it.effect("concurrent guesses cannot slip past the limit while the first are at the directory", () =>
    Effect.gen(function*() {
      const limits: RateLimiter.Options = {
        ...RateLimiter.defaultOptions,
        perUserAndAddress: { failures: 3, window: "5 minutes" }
      }
      const binds: Array<string> = []
      const slow = Layer.succeed(LdapAuth)({
        authenticate: (user, _password, admit) =>
          Effect.gen(function*() {
            yield* Effect.sleep(`${1 + Math.floor(Math.random() * 1000)} millis`)
            if (admit !== undefined && !(yield* admit(aliceDn))) {
              return yield* new AuthError({ reason: "RateLimited", message: "limited" })
            }
            binds.push(user)
            return yield* new AuthError({ reason: "InvalidCredentials", message: "invalid" })
          })
      })
      const fiber = yield* Effect.gen(function*() {
        const handler = yield* AuthHttpHandler.AuthHttpHandler
        return yield* Effect.forEach(
          Array.from({ length: 200 }, (_, i) => i),
          (i) => handler.decide(request({ "auth-user": i % 2 === 0 ? "alice" : "ALICE", "auth-pass": `guess ${i}` })),
          { concurrency: "unbounded" }
        )
      }).pipe(
        Effect.provide(
          AuthHttpHandler.layer({ backends }).pipe(Layer.provide(Layer.mergeAll(slow, RateLimiter.layerMemory(limits))))
        ),
        Effect.forkChild
      )
      yield* TestClock.adjust("2 seconds")
      const decisions = yield* Fiber.join(fiber)
      assert.strictEqual(binds.length, 3)
      assert.strictEqual(decisions.filter((decision) => decision.outcome === "rate_limited").length, 197)
    }))

  it.effect("never logs the password, raw or percent-encoded, whatever the outcome", () =>
    Effect.gen(function*() {
      const { lines, layer: capture } = CapturedLogs.capture()
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

  it.effect("a thousand undecodable requests and a thousand wrong secrets write a handful of lines, with the count", () =>
    Effect.gen(function*() {
      const { lines, layer: capture } = CapturedLogs.capture()
      const secret = "nginx-secret"
      const { ldap, calls } = directory()
      yield* Effect.gen(function*() {
        const handler = yield* AuthHttpHandler.AuthHttpHandler
        for (let i = 0; i < 1000; i++) {
          // Distinct names of 4 KB that are not UTF-8, each from its own address.
          const user = `%BC${i}`.padEnd(4096, "x")
          yield* handler.decide(request({ "auth-user": user, "x-auth-key": secret, "client-ip": `10.0.${i >> 8}.${i & 255}` }))
          yield* handler.decide(request({ "x-auth-key": `wrong-${i}` }))
        }
        assert.isAtMost(lines.length, 4, lines.join("\n"))
        yield* TestClock.adjust("1 minute")
        yield* handler.decide(request({ "auth-user": "%BC", "x-auth-key": secret }))
        yield* handler.decide(request({ "x-auth-key": "wrong" }))
      }).pipe(
        Effect.provide(
          AuthHttpHandler.layer({ backends, sharedSecret: Redacted.make(secret) }).pipe(
            Layer.provide(Layer.mergeAll(ldap, RateLimiter.layerMemory()))
          )
        ),
        Effect.provide(capture),
        Effect.provideService(References.MinimumLogLevel, "Info")
      )
      assert.strictEqual(calls.length, 0)
      assert.isAtMost(lines.length, 6, lines.join("\n"))
      assert.isTrue(lines.some((line) => line.includes("undecodable") && line.includes("suppressed=999")), lines.join("\n"))
      assert.isTrue(lines.some((line) => line.includes("shared secret") && line.includes("suppressed=999")), lines.join("\n"))
      for (const line of lines) assert.isBelow(line.length, 400)
    }))

  it.effect("logs a name cut to 64 characters and escaped, and never a name that failed the input rules", () =>
    Effect.gen(function*() {
      const { lines, layer: capture } = CapturedLogs.capture()
      const long = "ż".repeat(120)
      yield* decide(request({ "auth-user": "evil%01name" }), {}, RateLimiter.defaultOptions)
        .run([request({ "auth-user": "evil%0Aname" }), request({ "auth-user": encodeURI(long) }), request({ "auth-user": "a\u001b[31m" })])
        .pipe(Effect.provide(capture), Effect.provideService(References.MinimumLogLevel, "All"))
      const joined = lines.join("\n")
      assert.notInclude(joined, "evil")
      assert.notInclude(joined, "\u001b")
      assert.include(joined, "\\u017c".repeat(64) + "…")
      assert.notInclude(joined, "\\u017c".repeat(65))
    }))
})
