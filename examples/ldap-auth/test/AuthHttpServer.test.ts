/**
 * The HTTP server on a real socket, with an in-test `LdapAuth` at the service boundary: what nginx reads, and
 * what shutdown does to a login in flight.
 */
import * as Net from "node:net"
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Layer, Schedule, Scope } from "effect"
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

/** Starts the server in its own scope, with `authenticate` waiting for `proceed` after signalling `entered`. */
const start = Effect.gen(function*() {
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
      Layer.provide(Layer.mergeAll(ldap, RateLimiter.layerMemory()))
    ),
    scope
  )
  const port = yield* Effect.provideContext(AuthHttpServer.port, context)
  const ask = Effect.tryPromise(() =>
    fetch(`http://127.0.0.1:${port}/auth`, { headers }).then(async (response) => ({
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
  return { entered, proceed, scope, ask, listening }
})

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
