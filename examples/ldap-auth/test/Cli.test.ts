/**
 * The command line as an operator runs it: `node examples/ldap-auth/main.ts …` as a child process, against a
 * real slapd.
 */
import * as ChildProcess from "node:child_process"
import * as Net from "node:net"
import * as Path from "node:path"
import { assert, describe, it, layer } from "@effect/vitest"
import { Effect, Fiber, Redacted, Schedule } from "effect"
import * as AppConfig from "../src/AppConfig.ts"
import * as ServeProcess from "../harness/ServeProcess.ts"
import * as ServerProcess from "../harness/ServerProcess.ts"
import * as Slapd from "../harness/Slapd.ts"

const main = Path.join(import.meta.dirname, "..", "main.ts")
// As `npm run ldap-auth` runs it: the pool resolved from `src/` through the package's own export condition.
const node = ["--conditions=effect-connection-pool:source", main]

interface Finished {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** Runs the CLI to completion with `env` (on top of PATH only) and `stdin`. */
const cli = (args: ReadonlyArray<string>, options: { env?: Record<string, string>; stdin?: string } = {}) =>
  Effect.callback<Finished>((resume) => {
    const child = ChildProcess.execFile(
      process.execPath,
      [...node, ...args],
      { env: { PATH: process.env.PATH ?? "", ...options.env }, timeout: 30_000 },
      (error, stdout, stderr) =>
        resume(Effect.succeed({ code: error === null ? 0 : typeof error.code === "number" ? error.code : null, stdout, stderr }))
    )
    child.stdin?.end(options.stdin ?? "")
  })

/** A complete configuration whose directory is never reached. */
const env = {
  LDAP_URLS: "ldap://127.0.0.1:1/",
  LDAP_BASE_DN: "dc=example,dc=org",
  LDAP_BIND_DN: "cn=auth,dc=example,dc=org",
  LDAP_BIND_PASSWORD: "x"
}

const { ldapEnv } = ServeProcess

describe("ldap-auth CLI", () => {
  it.live("--help lists the commands", () =>
    Effect.gen(function*() {
      const result = yield* cli(["--help"])
      assert.strictEqual(result.code, 0)
      for (const command of ["serve", "check", "demo"]) assert.match(result.stdout, new RegExp(`^  ${command} `, "m"))
    }))

  it.live("serve --help lists every variable with its default and meaning; check --help says it reads them", () =>
    Effect.gen(function*() {
      const serve = yield* cli(["serve", "--help"])
      assert.strictEqual(serve.code, 0)
      for (const variable of Object.values(AppConfig.variables)) {
        assert.match(serve.stdout, new RegExp(`^  ${variable.name} +\\S`, "m"), variable.name)
        assert.include(serve.stdout, variable.meaning)
        assert.include(serve.stdout, `(${variable.fallback})`)
      }
      const check = yield* cli(["check", "--help"])
      assert.strictEqual(check.code, 0)
      assert.include(check.stdout, "same LDAP_* and POOL_* variables as serve")
    }))

  it.live("every missing variable is reported in one run, one line each on stderr, exit 1", () =>
    Effect.gen(function*() {
      const result = yield* cli(["serve"], { env: { LDAP_BIND_PASSWORD: "" } })
      assert.strictEqual(result.code, 1)
      assert.strictEqual(result.stdout, "")
      assert.strictEqual(
        result.stderr,
        [
          "Configuration error: LDAP_URLS is not set",
          "Configuration error: LDAP_BASE_DN is not set",
          "Configuration error: LDAP_BIND_DN is not set",
          "Configuration error: LDAP_BIND_PASSWORD is empty: an empty password is an unauthenticated bind, which proves nothing",
          ""
        ].join("\n")
      )
    }))

  it.live("invalid and conflicting variables: every one named with its value, no stack", () =>
    Effect.gen(function*() {
      const invalid = yield* cli(["serve"], {
        env: {
          ...env,
          LDAP_URLS: "ldap://127.0.0.1:99999",
          LDAP_BASE_DN: "not a dn",
          LDAP_USER_FILTER: "(uid=alice)",
          AUTH_HTTP_PORT: "http"
        }
      })
      assert.strictEqual(invalid.code, 1)
      assert.strictEqual(
        invalid.stderr,
        [
          `Configuration error: LDAP_URLS="ldap://127.0.0.1:99999" has port "99999", expected 1-65535`,
          `Configuration error: LDAP_BASE_DN="not a dn" is not a DN such as dc=example,dc=org: it has "not a dn" where attr=value belongs`,
          `Configuration error: LDAP_USER_FILTER="(uid=alice)" has no {user} placeholder`,
          `Configuration error: AUTH_HTTP_PORT="http" is not a port number (1-65535)`,
          ""
        ].join("\n")
      )
      const conflicting = yield* cli(["serve"], {
        env: { ...env, POOL_MAX_IDLE: "20", AUTH_HTTP_PORT: "9999", METRICS_PORT: "9999" }
      })
      assert.strictEqual(conflicting.code, 1)
      assert.strictEqual(
        conflicting.stderr,
        [
          "Configuration error: POOL_MAX_IDLE=20 and POOL_MAX_SIZE=16: maxIdle (20) must not be above maxSize (16)",
          "Configuration error: METRICS_PORT=9999 and AUTH_HTTP_PORT=9999: both listen on AUTH_HTTP_HOST, so they must differ",
          ""
        ].join("\n")
      )
    }))

  it.live("a port in use stops start-up with one line naming the variable and the port", () =>
    Effect.gen(function*() {
      const busy = yield* Effect.acquireRelease(
        Effect.callback<Net.Server>((resume) => {
          const server = Net.createServer()
          server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
        }),
        (server) => Effect.callback<void>((resume) => void server.close(() => resume(Effect.void)))
      )
      const port = (busy.address() as Net.AddressInfo).port
      const free = yield* ServerProcess.freePort
      // A secret, so that the warning about running without one stays out of stderr.
      const secured = { ...env, AUTH_SHARED_SECRET: "test-secret" }
      const auth = yield* cli(["serve"], { env: { ...secured, AUTH_HTTP_PORT: String(port), METRICS_PORT: String(free) } })
      const metrics = yield* cli(["serve"], { env: { ...secured, AUTH_HTTP_PORT: String(free), METRICS_PORT: String(port) } })
      assert.deepStrictEqual([auth.code, metrics.code], [1, 1])
      assert.strictEqual(auth.stderr, `Configuration error: AUTH_HTTP_PORT=${port}: 127.0.0.1:${port} is already in use\n`)
      assert.strictEqual(metrics.stderr, `Configuration error: METRICS_PORT=${port}: 127.0.0.1:${port} is already in use\n`)
    }).pipe(Effect.scoped))

  it.live("no accidental oracle: an empty secret, or none on a public address, stops start-up with one line", () =>
    Effect.gen(function*() {
      const empty = yield* cli(["serve"], { env: { ...env, AUTH_SHARED_SECRET: "" } })
      const exposed = yield* cli(["serve"], { env: { ...env, AUTH_HTTP_HOST: "0.0.0.0", AUTH_HTTP_PORT: "19180" } })
      assert.deepStrictEqual([empty.code, exposed.code], [1, 1])
      assert.match(empty.stderr, /^Configuration error: AUTH_SHARED_SECRET is empty[^\n]*\n$/)
      assert.match(exposed.stderr, /^Configuration error: AUTH_SHARED_SECRET is not set and AUTH_HTTP_HOST=0\.0\.0\.0 [^\n]*\n$/)
    }))
})

layer(Slapd.layer(), { excludeTestServices: true })("ldap-auth CLI against slapd", (it) => {
  it.effect("check: the password from standard input; ok / invalid exit 0 / 1", () =>
    Effect.gen(function*() {
      const slapd = yield* Slapd.Slapd
      const env = ldapEnv(slapd)
      const right = yield* cli(["check", "alice"], { env, stdin: Redacted.value(slapd.users.alice.password) + "\n" })
      const wrong = yield* cli(["check", "alice"], { env, stdin: "wrong\n" })
      const unknown = yield* cli(["check", "nobody"], { env, stdin: "wrong" })
      assert.deepStrictEqual([right.code, right.stdout], [0, `ok ${slapd.users.alice.dn}\n`])
      assert.deepStrictEqual([wrong.code, wrong.stdout], [1, "invalid\n"])
      assert.deepStrictEqual([unknown.code, unknown.stdout], [1, "invalid\n"])
    }))

  it.effect("check: the directory down is one line, temporary with the reason, exit 2", () =>
    Effect.gen(function*() {
      const slapd = yield* Slapd.Slapd
      yield* slapd.stop
      const result = yield* cli(["check", "alice"], { env: ldapEnv(slapd), stdin: "whatever\n" }).pipe(
        Effect.ensuring(Effect.orDie(slapd.start))
      )
      assert.strictEqual(result.code, 2)
      assert.match(result.stdout, /^temporary: connect ldap:\/\/127\.0\.0\.1:\d+\/?: connect ECONNREFUSED [^\n]+\n$/)
      assert.strictEqual(result.stderr, "")
    }))

  for (const signal of ["SIGTERM", "SIGHUP"] as const) {
  it.effect(`serve: answers nginx, then on ${signal} under load answers every login in flight, exits 0 and unbinds`, () =>
    Effect.gen(function*() {
      const slapd = yield* Slapd.Slapd
      const logBefore = (yield* slapd.log).length
      const serve = yield* ServeProcess.make(slapd)
      const askFrom = (clientIp: string) =>
        Effect.promise(() =>
          ServeProcess.ask(serve.authPort, ServeProcess.login("alice", Redacted.value(slapd.users.alice.password), clientIp))
        )
      const answered = (answer: ServeProcess.Answer) => [answer.headers["auth-status"], answer.headers["auth-port"]]
      assert.deepStrictEqual(answered(yield* askFrom("127.0.0.1")), ["OK", "143"])
      assert.isAbove(yield* slapd.connections, 0)

      // Logins in flight when the signal arrives are answered with the right answer; later ones find the port
      // closed, or are reset from the listen backlog without ever reaching the server. Fifty, each from its own
      // address: a login in flight counts against the (user, address) budget until it is answered.
      const load = yield* Effect.forkChild(
        Effect.all(Array.from({ length: 50 }, (_, i) => askFrom(`192.0.2.${i + 1}`)), { concurrency: "unbounded" })
      )
      yield* Effect.sleep("5 millis")
      serve.child.kill(signal)
      assert.strictEqual(yield* serve.exited, 0)
      const results = yield* Fiber.join(load)
      for (const result of results) {
        if (result.error === undefined) assert.deepStrictEqual(answered(result), ["OK", "143"])
        else assert.match(result.error, /ECONNREFUSED|ECONNRESET/)
      }
      assert.isAbove(results.filter((result) => result.error === undefined).length, 0)
      // slapd logs an UNBIND after it has read it, which may be a moment after the client exited;
      // its log may also lag behind the fixture's own readiness probes.
      const notUnbound = Effect.orDie(slapd.log).pipe(
        Effect.map((full) => {
          const log = full.slice(logBefore)
          // Connections that bound: the server's, not a readiness probe that only connected.
          const opened = new Set([...log.matchAll(/conn=(\d+) op=\d+ BIND /g)].map((m) => m[1]))
          const unbound = new Set([...log.matchAll(/conn=(\d+) op=\d+ UNBIND/g)].map((m) => m[1]))
          return { opened: opened.size, notUnbound: [...opened].filter((conn) => !unbound.has(conn)) }
        }),
        Effect.filterOrFail((result) => result.notUnbound.length === 0, (result) => result),
        Effect.retry({ schedule: Schedule.spaced("50 millis"), times: 40 }),
        Effect.catch((result) => Effect.succeed(result))
      )
      const connections = yield* notUnbound
      assert.isAbove(connections.opened, 0)
      assert.deepStrictEqual(connections.notUnbound, [])
      const open = yield* slapd.connections.pipe(
        Effect.filterOrFail((count) => count === 0),
        Effect.retry({ schedule: Schedule.spaced("50 millis"), times: 40 })
      )
      assert.strictEqual(open, 0)
    }))
  }
})
