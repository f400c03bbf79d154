import { assert, describe, it, layer } from "@effect/vitest"
import { Effect, Exit, Redacted, Schedule, Scope } from "effect"
import * as LdapClient from "../src/LdapClient.ts"
import * as LdapError from "../src/LdapError.ts"
import * as Slapd from "../harness/Slapd.ts"

const options = (slapd: Slapd.SlapdInstance): LdapClient.LdapClientOptions => ({
  url: slapd.url,
  connectTimeout: "1 second",
  operationTimeout: "300 millis"
})

const failure = <A, E>(exit: Exit.Exit<A, E>): E => {
  if (Exit.isSuccess(exit)) throw new Error("expected a failure")
  const error = exit.cause.reasons.find((reason) => reason._tag === "Fail")
  if (error === undefined) throw new Error(`expected a typed failure, got ${String(exit.cause)}`)
  return error.error
}

describe("LdapClient", () => {
  layer(Slapd.layer(), { excludeTestServices: true })("against one slapd", (it) => {
    it.effect("binds as the service account, searches and reports the identity", () =>
      Effect.gen(function*() {
        const slapd = yield* Slapd.Slapd
        const connection = yield* LdapClient.connect(options(slapd))
        yield* LdapClient.bind(connection, slapd.serviceDn, slapd.servicePassword)
        assert.strictEqual(yield* LdapClient.whoAmI(connection), `dn:${slapd.serviceDn}`)
        const entries = yield* LdapClient.search(connection, slapd.baseDn, { filter: "(uid=alice)", attributes: ["mail"] })
        assert.deepStrictEqual(entries, [{ dn: slapd.users.alice.dn, attributes: { mail: ["alice@example.org"] } }])
      }))

    it.effect("a wrong password fails with result 49 and leaves the connection usable but anonymous", () =>
      Effect.gen(function*() {
        const slapd = yield* Slapd.Slapd
        const connection = yield* LdapClient.connect(options(slapd))
        yield* LdapClient.bind(connection, slapd.serviceDn, slapd.servicePassword)
        const error = failure(yield* Effect.exit(LdapClient.bind(connection, slapd.users.alice.dn, Redacted.make("x"))))
        assert.strictEqual(error.reason, "InvalidCredentials")
        assert.strictEqual(error.code, 49)
        assert.isFalse(error.isRetryable)
        assert.isFalse(error.breaksConnection)
        // ldapts still says isBound; the server says anonymous. Hence WhoAmI, not isBound, to check an identity.
        assert.isTrue(connection.client.isBound)
        assert.strictEqual(yield* LdapClient.whoAmI(connection), "")
      }))

    it.effect("result 53 (slapd refusing an unauthenticated bind) maps to UnwillingToPerform and keeps the connection", () =>
      Effect.gen(function*() {
        const slapd = yield* Slapd.Slapd
        const connection = yield* LdapClient.connect(options(slapd))
        yield* LdapClient.whoAmI(connection)
        // Straight to ldapts: the wrapper itself never sends an empty password.
        const error = yield* Effect.flip(Effect.tryPromise({
          try: () => connection.client.bind(slapd.users.alice.dn, ""),
          catch: LdapError.fromCause("bind")
        }))
        assert.strictEqual(error.reason, "UnwillingToPerform")
        assert.strictEqual(error.code, 53)
        assert.isFalse(error.breaksConnection)
        assert.strictEqual(yield* LdapClient.whoAmI(connection), "")
      }))

    it.effect("refuses an empty password and a SASL mechanism name without sending a bind", () =>
      Effect.gen(function*() {
        const slapd = yield* Slapd.Slapd
        const connection = yield* LdapClient.connect(options(slapd))
        const whoAmIs = (log: string) => [...log.matchAll(/conn=\d+ op=(\d+) WHOAMI/g)].map((m) => m[1])
        const before = whoAmIs(yield* slapd.log).length
        for (const [dn, password] of [[slapd.users.alice.dn, ""], ["EXTERNAL", "alice-pw"], ["plain", "x"]] as const) {
          const error = failure(yield* Effect.exit(LdapClient.bind(connection, dn, Redacted.make(password))))
          assert.strictEqual(error.reason, "UnsafeRequest")
        }
        // Operations are numbered per connection from 0: a WhoAmI logged as op=0 is the first the server saw.
        assert.strictEqual(yield* LdapClient.whoAmI(connection), "")
        const logged = yield* slapd.log.pipe(
          Effect.map(whoAmIs),
          Effect.filterOrFail((ops) => ops.length > before, () => "WhoAmI not logged yet"),
          Effect.retry({ schedule: Schedule.spaced("20 millis"), times: 50 })
        )
        assert.strictEqual(logged[before], "0")
      }))

    it.effect("closing the scope closes the connection on the server's side", () =>
      Effect.gen(function*() {
        const slapd = yield* Slapd.Slapd
        const scope = yield* Scope.make()
        const connection = yield* LdapClient.connect(options(slapd)).pipe(Scope.provide(scope))
        yield* LdapClient.bind(connection, slapd.serviceDn, slapd.servicePassword)
        yield* slapd.awaitConnections(1)
        yield* Scope.close(scope, Exit.void)
        yield* slapd.awaitConnections(0)
      }))
  })

  it.live("never reconnects: after the server restarts, the old connection fails as Unavailable", () =>
    Effect.gen(function*() {
      const slapd = yield* Slapd.make()
      const connection = yield* LdapClient.connect(options(slapd))
      yield* LdapClient.bind(connection, slapd.serviceDn, slapd.servicePassword)
      yield* slapd.stop
      yield* slapd.start
      const error = failure(yield* Effect.exit(LdapClient.whoAmI(connection)))
      assert.strictEqual(error.reason, "Unavailable")
      assert.isTrue(error.breaksConnection)
      assert.strictEqual(yield* slapd.connections, 0)
    }))

  it.live("a frozen server fails the operation as Timeout instead of hanging", () =>
    Effect.gen(function*() {
      const slapd = yield* Slapd.make()
      const connection = yield* LdapClient.connect(options(slapd))
      yield* LdapClient.bind(connection, slapd.serviceDn, slapd.servicePassword)
      yield* slapd.freeze
      const error = failure(yield* Effect.exit(LdapClient.whoAmI(connection)))
      assert.strictEqual(error.reason, "Timeout")
      assert.isTrue(error.isRetryable)
      yield* slapd.thaw
      assert.strictEqual(failure(yield* Effect.exit(LdapClient.whoAmI(connection))).reason, "Unavailable")
    }))

  it.live("a stopped server fails the connect as Unavailable", () =>
    Effect.gen(function*() {
      const slapd = yield* Slapd.make()
      yield* slapd.stop
      const error = failure(yield* Effect.exit(LdapClient.connect(options(slapd))))
      assert.strictEqual(error.reason, "Unavailable")
      assert.isTrue(error.isRetryable)
    }))
})
