/**
 * The HTTP server on a real socket, with an in-test `LdapAuth` at the service boundary: what nginx reads, and
 * what shutdown does to a login in flight.
 */
import * as Net from "node:net"
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Layer, Schedule, Scope } from "effect"
import * as Tracer from "effect/Tracer"
import * as AuthHttpHandler from "../src/AuthHttpHandler.ts"
import * as AuthHttpServer from "../src/AuthHttpServer.ts"
import { LdapAuth } from "../src/LdapAuth.ts"
import * as RateLimiter from "../src/RateLimiter.ts"

const backends = {
  imap: { host: "127.0.0.1", port: 143 },
  pop3: { host: "127.0.0.1", port: 110 },
  smtp: { host: "127.0.0.1", port: 25 }
}

const headers = {
  "Auth-Method": "plain",
  "Auth-User": "alice",
  "Auth-Pass": "alice-pw",
  "Auth-Protocol": "imap",
  "Auth-Login-Attempt": "1",
  "Client-IP": "127.0.0.1"
}

/**
 * Starts the server in its own scope, with `authenticate` waiting for `proceed` after signalling `entered`, and
 * `tracer` installed when given.
 */
const startWith = (tracer?: Tracer.Tracer) => Effect.gen(function*() {
  const entered = yield* Deferred.make<void>()
  const proceed = yield* Deferred.make<void>()
  const ldap = Layer.succeed(LdapAuth)({
    authenticate: () =>
      Deferred.succeed(entered, undefined).pipe(
        Effect.andThen(Deferred.await(proceed)),
        Effect.as({ dn: "uid=alice,ou=people,dc=example,dc=org", login: "alice", attributes: {} })
      )
  })
  const scope = yield* Scope.make()
  const context = yield* Layer.buildWithScope(
    AuthHttpServer.layer({ host: "127.0.0.1", port: 0 }).pipe(
      Layer.provide(AuthHttpHandler.layer({ backends })),
      Layer.provide(Layer.mergeAll(ldap, RateLimiter.layerMemory())),
      Layer.provide(tracer === undefined ? Layer.empty : Layer.succeed(Tracer.Tracer)(tracer))
    ),
    scope
  )
  const port = yield* Effect.provideContext(AuthHttpServer.port, context)
  const askAt = (path: string) => Effect.tryPromise(() =>
    fetch(`http://127.0.0.1:${port}${path}`, { headers }).then(async (response) => ({
      status: response.status,
      headers: Object.fromEntries([...response.headers].filter(([name]) => name.startsWith("auth-"))),
      body: await response.text()
    }))
  )
  const listening = Effect.callback<boolean>((resume) => {
    const socket = Net.connect({ host: "127.0.0.1", port })
    socket.once("connect", () => {
      socket.destroy()
      resume(Effect.succeed(true))
    })
    socket.once("error", () => resume(Effect.succeed(false)))
  })
  return { entered, proceed, scope, ask: askAt("/auth"), askAt, listening }
})

const start = startWith()

describe("AuthHttpServer", () => {
  it.live("answers GET /auth with status 200, the decision in the headers and no body", () =>
    Effect.gen(function*() {
      const server = yield* start
      yield* Deferred.succeed(server.proceed, undefined)
      const response = yield* server.ask
      yield* Scope.close(server.scope, Exit.void)
      assert.deepStrictEqual(response, {
        status: 200,
        headers: { "auth-status": "OK", "auth-server": "127.0.0.1", "auth-port": "143", "auth-user": "alice" },
        body: ""
      })
    }))

  it.live("answers the same with a tracer installed, and then each request gets its server span", () =>
    Effect.gen(function*() {
      const spans: Array<{ readonly name: string; readonly kind: Tracer.SpanKind }> = []
      const tracer = Tracer.make({
        span: (options) => {
          spans.push({ name: options.name, kind: options.kind })
          return Tracer.nativeTracer.span(options)
        }
      })
      const server = yield* startWith(tracer)
      yield* Deferred.succeed(server.proceed, undefined)
      const response = yield* server.ask
      yield* Scope.close(server.scope, Exit.void)
      assert.deepStrictEqual(response.headers, {
        "auth-status": "OK",
        "auth-server": "127.0.0.1",
        "auth-port": "143",
        "auth-user": "alice"
      })
      assert.isTrue(spans.some((span) => span.kind === "server"), JSON.stringify(spans))
      assert.isTrue(spans.some((span) => span.name === "AuthHttp.decide"), JSON.stringify(spans))
    }))

  it.live("answers only GET /auth: another path or method is the router's 404", () =>
    Effect.gen(function*() {
      const server = yield* start
      yield* Deferred.succeed(server.proceed, undefined)
      const withQuery = yield* server.askAt("/auth?from=nginx")
      const other = yield* server.askAt("/other")
      yield* Scope.close(server.scope, Exit.void)
      assert.strictEqual(withQuery.headers["auth-status"], "OK")
      assert.strictEqual(other.status, 404)
      assert.deepStrictEqual(other.headers, {})
    }))

  it.live("on shutdown stops accepting but answers the login in flight", () =>
    Effect.gen(function*() {
      const server = yield* start
      const inFlight = yield* Effect.forkChild(server.ask)
      yield* Deferred.await(server.entered)
      const closing = yield* Effect.forkChild(Scope.close(server.scope, Exit.void))
      // Closing waits for the login in flight; new connections are refused meanwhile.
      const stillListening = yield* server.listening.pipe(
        Effect.repeat({ until: (listening) => !listening, schedule: Schedule.spaced("10 millis"), times: 500 })
      )
      assert.isFalse(stillListening)
      yield* Deferred.succeed(server.proceed, undefined)
      const answered = yield* Fiber.join(inFlight)
      yield* Fiber.join(closing)
      assert.strictEqual(answered.headers["auth-status"], "OK")
    }))
})

/** A server whose directory counts the logins it sees, with tight socket limits. */
const hardened = Effect.gen(function*() {
  let logins = 0
  const ldap = Layer.succeed(LdapAuth)({
    authenticate: () => Effect.sync(() => ++logins).pipe(Effect.as({ dn: "uid=alice", login: "alice", attributes: {} }))
  })
  const context = yield* Layer.build(
    AuthHttpServer.layer({ host: "127.0.0.1", port: 0 }, { requestTimeout: "300 millis", maxConnections: 3 }).pipe(
      Layer.provide(AuthHttpHandler.layer({ backends })),
      Layer.provide(Layer.mergeAll(ldap, RateLimiter.layerMemory()))
    )
  )
  const port = yield* Effect.provideContext(AuthHttpServer.port, context)
  return { port, logins: () => logins }
})

const request = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join("")

/** Opens a socket, writes `data`, and reads until the server closes it. */
const exchange = (port: number, data: string) =>
  Effect.callback<string>((resume) => {
    const socket = Net.connect({ host: "127.0.0.1", port })
    let received = ""
    socket.on("data", (chunk) => (received += chunk.toString("latin1")))
    socket.on("error", () => {})
    socket.on("close", () => resume(Effect.succeed(received)))
    socket.once("connect", () => data !== "" && socket.write(data))
  })

describe("AuthHttpServer under hostile clients", () => {
  it.live("runs one request per connection: requests pipelined behind it never reach the directory", () =>
    Effect.gen(function*() {
      const server = yield* hardened
      const one = `GET /auth HTTP/1.1\r\nHost: x\r\n${request}\r\n`
      const received = yield* exchange(server.port, one.repeat(5))
      assert.strictEqual(received.match(/auth-status: OK/gi)?.length, 1)
      assert.strictEqual(server.logins(), 1)
    }))

  it.live("closes a socket that sends nothing, or half a request, after the request timeout", () =>
    Effect.gen(function*() {
      const server = yield* hardened
      const [idle, half] = yield* Effect.all([
        exchange(server.port, ""),
        exchange(server.port, `GET /auth HTTP/1.0\r\n${request}`)
      ], { concurrency: 2 }).pipe(Effect.timeout("10 seconds"))
      assert.notMatch(idle, /auth-status/i)
      assert.notMatch(half, /auth-status/i)
      assert.strictEqual(server.logins(), 0)
    }))

  it.live("refuses connections beyond maxConnections at once, and serves again once they close", () =>
    Effect.gen(function*() {
      const server = yield* hardened
      const idle = yield* Effect.forEach([1, 2, 3], () => Effect.forkChild(exchange(server.port, "")))
      yield* Effect.sleep("50 millis")
      const refused = yield* exchange(server.port, `GET /auth HTTP/1.0\r\n${request}\r\n`).pipe(Effect.timeout("200 millis"))
      assert.strictEqual(refused, "")
      yield* Effect.forEach(idle, Fiber.join)
      const served = yield* exchange(server.port, `GET /auth HTTP/1.0\r\n${request}\r\n`)
      assert.match(served, /auth-status: OK/i)
    }))
})
