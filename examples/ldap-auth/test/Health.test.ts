/**
 * `GET /healthz` on the metrics listener of the whole auth server, against real slapd, on `TestClock`: healthy
 * from a login the directory answered within the interval or from a probe run now, 503 with the reason when
 * slapd is stopped or refuses the service account; concurrent checks share one probe. The login summary line
 * comes from the same server.
 */
import { assert, layer } from "@effect/vitest"
import { Context, Effect, Fiber, Layer, Random, Redacted } from "effect"
import { TestClock } from "effect/testing"
import * as Slapd from "../harness/Slapd.ts"
import * as AppConfig from "../src/AppConfig.ts"
import * as Health from "../src/Health.ts"
import * as AuthApp from "../src/internal/AuthApp.ts"
import * as CapturedLogs from "./utils/capturedLogs.ts"

const start = (slapd: Slapd.SlapdInstance, bindPassword = slapd.servicePassword) =>
  Effect.gen(function*() {
    const config: AppConfig.AppConfig = {
      ldap: {
        urls: [slapd.url],
        baseDn: slapd.baseDn,
        bindDn: slapd.serviceDn,
        bindPassword,
        userFilter: undefined,
        maxIdle: 4,
        maxSize: 16,
        loginAttribute: "uid"
      },
      http: { host: "127.0.0.1", port: 0 },
      sharedSecret: undefined,
      backends: {
        imap: { host: "127.0.0.1", port: 143 },
        pop3: { host: "127.0.0.1", port: 110 },
        smtp: { host: "127.0.0.1", port: 25 }
      },
      metricsPort: 0,
      security: AppConfig.defaultSecurity
    }
    const app = yield* Layer.build(AuthApp.layer(config, { ldap: { ...slapd.authOptions, bindPassword } })).pipe(
      Effect.map((context) => Context.get(context, AuthApp.AuthApp))
    )
    const healthz = Effect.promise(() =>
      fetch(`http://127.0.0.1:${app.metricsPort}/healthz`).then(async (response) => ({
        status: response.status,
        type: response.headers.get("content-type"),
        body: await response.text()
      }))
    )
    const login = (password: string) =>
      Effect.promise(() =>
        fetch(`http://127.0.0.1:${app.authPort}/auth`, {
          headers: {
            "Auth-Method": "plain",
            "Auth-User": "alice",
            "Auth-Pass": password,
            "Auth-Protocol": "imap",
            "Auth-Login-Attempt": "1",
            "Client-IP": "192.0.2.20"
          }
        }).then((response) => response.headers.get("auth-status"))
      )
    return { healthz, login }
  })

const serviceBinds = (slapd: Slapd.SlapdInstance) =>
  Effect.map(
    TestClock.withLive(slapd.log),
    (log) => Slapd.operations(log).filter((op) => op.kind === "BIND" && op.dn === slapd.serviceDn).length
  )

// slapd's fixture waits in real time; each test runs on a TestClock of its own.
layer(Slapd.layer(), { excludeTestServices: true, timeout: 60_000 })("GET /healthz", (it) => {
  it.effect("200 from a probe, then from recent logins; 503 with the reason once slapd is stopped past the interval", () => {
    const { lines, layer } = CapturedLogs.capture()
    return Effect.gen(function*() {
      const slapd = yield* Slapd.Slapd
      const server = yield* start(slapd)
      const first = yield* server.healthz
      assert.deepStrictEqual(first, {
        status: 200,
        type: "application/json",
        body: `${JSON.stringify({ status: "ok", ldap: slapd.url })}\n`
      })
      assert.strictEqual(yield* server.login(Redacted.value(slapd.users.alice.password)), "OK")
      assert.strictEqual(yield* server.login("wrong"), "Invalid login or password")
      yield* slapd.stop
      yield* TestClock.adjust("20 seconds")
      // The wrong password was an answer too: 20 s ago, within the 30 s interval, so no probe.
      assert.deepStrictEqual(yield* server.healthz, {
        status: 200,
        type: "application/json",
        body: `{"status":"ok","answeredSecondsAgo":20}\n`
      })
      yield* TestClock.adjust("10 seconds")
      const down = yield* server.healthz
      assert.strictEqual(down.status, 503)
      assert.match(down.body, /^\{"status":"unavailable","reason":"connect ldap:\/\/127\.0\.0\.1:\d+\/?: connect ECONNREFUSED [^"\n]+"\}\n$/)
      yield* TestClock.withLive(slapd.start)
      assert.strictEqual((yield* server.healthz).status, 200)

      // The same server wrote the summary of the two logins after a minute.
      yield* TestClock.adjust("30 seconds")
      assert.deepStrictEqual(
        lines.filter((line) => line.includes("logins since the last summary")).map((line) => /message="([^"]+)"/.exec(line)?.[1]),
        ["logins since the last summary: 2 (invalid 1, ok 1)"]
      )
    }).pipe(Effect.provide(Layer.mergeAll(layer, TestClock.layer())))
  })

  it.effect("50 checks at once share one probe: one service-account bind at slapd", () =>
    Effect.gen(function*() {
      const slapd = yield* Slapd.Slapd
      const server = yield* start(slapd)
      const before = yield* serviceBinds(slapd)
      const answers = yield* Effect.all(Array.from({ length: 50 }, () => server.healthz), { concurrency: "unbounded" })
      assert.deepStrictEqual([...new Set(answers.map((answer) => answer.status))], [200])
      assert.strictEqual((yield* serviceBinds(slapd)) - before, 1)
    }).pipe(Effect.provide(TestClock.layer())))

  it.effect("200 checks, a random third interrupted (the one running the probe among them): the rest share one bind", () =>
    Effect.gen(function*() {
      const slapd = yield* Slapd.Slapd
      const health = yield* Health.make({ ...slapd.authOptions })
      const before = yield* serviceBinds(slapd)
      // The first fiber runs until the probe waits for slapd: it is the prober, and is interrupted for sure.
      const prober = yield* Effect.forkChild(health.check, { startImmediately: true })
      const others = yield* Effect.forEach(Array.from({ length: 199 }), () =>
        Effect.forkChild(Effect.andThen(Effect.yieldNow, health.check)))
      const fibers = [prober, ...others]
      yield* Effect.forkChild(Fiber.interrupt(prober))
      const interrupted = new Set([0])
      for (let i = 1; i < fibers.length; i++) {
        if ((yield* Random.next) < 1 / 3) {
          interrupted.add(i)
          yield* Effect.forkChild(Fiber.interrupt(fibers[i]!))
        }
      }
      for (let i = 0; i < fibers.length; i++) {
        const exit = yield* Fiber.await(fibers[i]!)
        if (exit._tag === "Success") assert.isTrue(exit.value.healthy, JSON.stringify(exit.value.body))
        else assert.isTrue(interrupted.has(i), `fiber ${i} failed without being interrupted`)
      }
      assert.isTrue((yield* health.check).healthy)
      assert.strictEqual((yield* serviceBinds(slapd)) - before, 1)
    }).pipe(Effect.provide(TestClock.layer())))

  it.effect("a refused service account is 503 misconfigured, not unavailable", () =>
    Effect.gen(function*() {
      const slapd = yield* Slapd.Slapd
      const server = yield* start(slapd, Redacted.make("rotated-away"))
      const answer = yield* server.healthz
      assert.strictEqual(answer.status, 503)
      assert.match(answer.body, /^\{"status":"misconfigured","reason":"[^"]*refused the service account cn=auth,[^"]*"\}\n$/)
      assert.notInclude(answer.body, "rotated-away")
    }).pipe(Effect.provide(TestClock.layer())))
})
