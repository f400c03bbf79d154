/**
 * `serve` on `AUTH_HTTP_SOCKET`, as a child process against real slapd: real nginx asks it through
 * `auth_http unix:…:/auth`; the file gets its mode, is removed at exit, replaced when a SIGKILL left it behind,
 * and refused when a live server answers on it or the path is not a socket.
 */
import * as Fs from "node:fs"
import * as Http from "node:http"
import * as Path from "node:path"
import { assert, layer } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import * as MailClient from "../harness/MailClient.ts"
import * as NginxServer from "../harness/NginxServer.ts"
import * as ServerProcess from "../harness/ServerProcess.ts"
import * as Slapd from "../harness/Slapd.ts"
import * as SmtpBackend from "../harness/SmtpBackend.ts"
import * as ServeChild from "./utils/serveChild.ts"

const secret = "socket-test-secret"

const serveEnv = (slapd: Slapd.SlapdInstance, socket: string, extra: Record<string, string> = {}) =>
  Effect.map(ServerProcess.freePort, (metricsPort) => ({
    LDAP_URLS: slapd.url,
    LDAP_BASE_DN: slapd.baseDn,
    LDAP_BIND_DN: slapd.serviceDn,
    LDAP_BIND_PASSWORD: Redacted.value(slapd.servicePassword),
    AUTH_HTTP_SOCKET: socket,
    AUTH_SHARED_SECRET: secret,
    METRICS_PORT: String(metricsPort),
    ...extra
  }))

/** `serve` started and answering on its socket. */
const started = (env: Record<string, string>) =>
  Effect.gen(function*() {
    const serve = yield* ServeChild.spawn(env)
    yield* ServeChild.waitForLog(serve, (stderr) => stderr.includes("auth server started"))
    return serve
  })

/** One `GET /auth` over the socket; the `Auth-Status` nginx would read. */
const askOver = (socket: string, password: string) =>
  Effect.callback<string | null>((resume) => {
    const request = Http.request({
      socketPath: socket,
      path: "/auth",
      headers: {
        "Auth-Method": "plain",
        "Auth-User": "alice",
        "Auth-Pass": password,
        "Auth-Protocol": "imap",
        "Auth-Login-Attempt": "1",
        "Client-IP": "192.0.2.7",
        "X-Auth-Key": secret
      }
    }, (response) => {
      response.resume()
      resume(Effect.succeed(response.headers["auth-status"] as string | undefined ?? null))
    })
    request.once("error", (error) => resume(Effect.die(error)))
    request.end()
  })

layer(Slapd.layer(), { excludeTestServices: true, timeout: 120_000 })("serve on a unix socket", (it) => {
  it.effect("nginx asks it through auth_http unix:…:/auth; the socket has mode 0660 and is removed on SIGTERM", () =>
    Effect.gen(function*() {
      const slapd = yield* Slapd.Slapd
      const dir = yield* ServerProcess.tempDir("auth-socket-")
      const socket = Path.join(dir, "auth.sock")
      const smtp = yield* SmtpBackend.make
      const serve = yield* started(yield* serveEnv(slapd, socket, { MAIL_BACKEND_SMTP: `127.0.0.1:${smtp.port}` }))
      const stat = Fs.statSync(socket)
      assert.isTrue(stat.isSocket())
      assert.strictEqual(stat.mode & 0o777, 0o660)
      assert.match(serve.stderr(), new RegExp(`auth server started: auth_http on unix:${socket}:/auth, `))

      const nginx = yield* NginxServer.make({ authHttp: `unix:${socket}:/auth`, sharedSecret: Redacted.make(secret) })
      const right = yield* MailClient.login("smtp", {
        port: nginx.smtpPort,
        user: "alice",
        password: Redacted.value(slapd.users.alice.password)
      })
      const wrong = yield* MailClient.login("smtp", { port: nginx.smtpPort, user: "alice", password: "wrong" })
      assert.deepStrictEqual([right.accepted, right.backend], [true, "250 2.0.0 backend serves alice"])
      assert.deepStrictEqual([wrong.accepted, wrong.reply], [false, "535 5.7.8 Invalid login or password"])

      serve.child.kill("SIGTERM")
      assert.strictEqual(yield* serve.exited, 0)
      assert.isFalse(Fs.existsSync(socket), "the socket file is removed at shutdown")
      assert.match(serve.stderr(), /auth server stopped/)
    }))

  it.effect("AUTH_HTTP_SOCKET_MODE sets the file's mode", () =>
    Effect.gen(function*() {
      const slapd = yield* Slapd.Slapd
      const socket = Path.join(yield* ServerProcess.tempDir("auth-socket-"), "auth.sock")
      yield* started(yield* serveEnv(slapd, socket, { AUTH_HTTP_SOCKET_MODE: "0600" }))
      assert.strictEqual(Fs.statSync(socket).mode & 0o777, 0o600)
    }))

  it.effect("a socket left by a SIGKILLed server is replaced at start-up; one a live server answers on is refused", () =>
    Effect.gen(function*() {
      const slapd = yield* Slapd.Slapd
      const socket = Path.join(yield* ServerProcess.tempDir("auth-socket-"), "auth.sock")
      const env = yield* serveEnv(slapd, socket)
      const killed = yield* started(env)
      killed.child.kill("SIGKILL")
      yield* killed.exited
      assert.isTrue(Fs.lstatSync(socket).isSocket(), "SIGKILL leaves the socket file behind")
      assert.isFalse(yield* ServeChild.socketAnswers(socket))

      const again = yield* started(yield* serveEnv(slapd, socket))
      assert.match(again.stderr(), /removed a stale socket left by a server that did not stop/)
      assert.strictEqual(yield* askOver(socket, Redacted.value(slapd.users.alice.password)), "OK")
      assert.strictEqual(yield* askOver(socket, "wrong"), "Invalid login or password")

      const second = yield* ServeChild.runToExit(yield* serveEnv(slapd, socket))
      assert.deepStrictEqual(second, {
        code: 1,
        stderr: `Configuration error: AUTH_HTTP_SOCKET=${socket}: a running server answers on it; stop it first\n`
      })
      // The refused start left the running server's socket alone.
      assert.strictEqual(yield* askOver(socket, Redacted.value(slapd.users.alice.password)), "OK")
    }))

  it.effect("a path that is not a socket is never replaced: one line, exit 1, the file intact", () =>
    Effect.gen(function*() {
      const slapd = yield* Slapd.Slapd
      const path = Path.join(yield* ServerProcess.tempDir("auth-socket-"), "auth.sock")
      Fs.writeFileSync(path, "not a socket")
      const result = yield* ServeChild.runToExit(yield* serveEnv(slapd, path))
      assert.deepStrictEqual(result, {
        code: 1,
        stderr: `Configuration error: AUTH_HTTP_SOCKET=${path}: exists and is not a socket; refusing to replace it\n`
      })
      assert.strictEqual(Fs.readFileSync(path, "utf8"), "not a socket")
    }))
})
