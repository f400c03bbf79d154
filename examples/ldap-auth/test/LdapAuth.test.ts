/**
 * The security rules of `LdapAuth`, each shown against a real slapd: what reaches the directory (read back from
 * slapd's own `stats` log) and what the caller sees.
 */
import { assert, describe, layer } from "@effect/vitest"
import { Cause, Effect, Layer, Logger, Redacted, References } from "effect"
import { AuthError } from "../src/AuthError.ts"
import * as LdapAuth from "../src/LdapAuth.ts"
import * as Slapd from "../harness/Slapd.ts"

const env = Layer.effect(LdapAuth.LdapAuth, Effect.flatMap(Slapd.Slapd, (slapd) => LdapAuth.make(slapd.authOptions)))
  .pipe(Layer.provideMerge(Slapd.layer()))

/** Runs `effect` and returns what slapd logged meanwhile. */
const serverLogDuring = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const slapd = yield* Slapd.Slapd
    const before = (yield* slapd.log).length
    const result = yield* effect
    return [result, (yield* slapd.log).slice(before)] as const
  })

const refused = (user: string, password: Redacted.Redacted<string>) =>
  Effect.flatMap(LdapAuth.LdapAuth, (auth) => Effect.flip(auth.authenticate(user, password)))

describe("LdapAuth security rules", () => {
  layer(env, { excludeTestServices: true })((it) => {
    it.effect("alice logs in with her password and gets her entry, without userPassword", () =>
      Effect.gen(function*() {
        const slapd = yield* Slapd.Slapd
        const auth = yield* LdapAuth.LdapAuth
        const user = yield* auth.authenticate("alice", slapd.users.alice.password)
        assert.strictEqual(user.dn, slapd.users.alice.dn)
        assert.deepStrictEqual(user.attributes.mail, ["alice@example.org"])
        assert.notProperty(user.attributes, "userPassword")
      }))

    it.effect("a non-ASCII UTF-8 password binds as written", () =>
      Effect.gen(function*() {
        const slapd = yield* Slapd.Slapd
        const auth = yield* LdapAuth.LdapAuth
        const user = yield* auth.authenticate("dave", slapd.users.dave.password)
        assert.strictEqual(user.dn, slapd.users.dave.dn)
      }))

    it.effect("an empty password is refused before any LDAP traffic", () =>
      Effect.gen(function*() {
        const [error, log] = yield* serverLogDuring(refused("alice", Redacted.make("")))
        assert.strictEqual(error.reason, "RejectedInput")
        assert.strictEqual(log, "")
      }))

    it.effect("user input is escaped in the filter and never used as a DN or a SASL name", () =>
      Effect.gen(function*() {
        const slapd = yield* Slapd.Slapd
        const hostile = [
          "*",
          "alic*",
          "*)(uid=alice",
          "admin)(|(uid=*",
          "alice)(|(uid=*))",
          "alice\u0000",
          "alice,ou=services",
          slapd.users.alice.dn,
          "EXTERNAL",
          "PLAIN",
          "\\61lice",
          "alice "
        ]
        for (const user of hostile) {
          const [error, log] = yield* serverLogDuring(refused(user, slapd.users.alice.password))
          assert.oneOf(error.reason, ["InvalidCredentials", "RejectedInput"], user)
          for (const operation of Slapd.operations(log)) {
            if (operation.kind === "SRCH") {
              // One equality assertion on uid, whatever the input: no wildcard, no extra branch.
              assert.match(operation.filter, /^\(&\(objectClass=inetOrgPerson\)\(uid=[^()*]*\)\)$/, user)
            } else {
              assert.notStrictEqual(operation.dn, user, user)
              assert.isFalse(operation.dn === slapd.users.alice.dn && operation.result === 0, user)
            }
          }
        }
      }))

    it.effect("length, control-character and UTF-8 rules refuse input before any LDAP traffic", () =>
      Effect.gen(function*() {
        const slapd = yield* Slapd.Slapd
        const good = slapd.users.alice.password
        const cases: ReadonlyArray<readonly [string, Redacted.Redacted<string>]> = [
          ["", good],
          ["a".repeat(257), good],
          ["é".repeat(129), good],
          ["alice\n", good],
          ["ali\tce", good],
          [" alice", good],
          ["alice\u007f", good],
          ["alice\u0085", good],
          ["alice\ud800", good],
          ["alice\ufffd", good],
          ["alice", Redacted.make("x".repeat(1025))],
          ["alice", Redacted.make("alice-pw\r\n")],
          ["alice", Redacted.make("alice-pw\u0000")],
          ["alice", Redacted.make("pw\udc00")]
        ]
        for (const [user, password] of cases) {
          const [error, log] = yield* serverLogDuring(refused(user, password))
          assert.strictEqual(error.reason, "RejectedInput", JSON.stringify(user))
          assert.strictEqual(log, "", JSON.stringify(user))
        }
        // The limits themselves are allowed.
        const longest = yield* Effect.flip(
          Effect.flatMap(LdapAuth.LdapAuth, (auth) => auth.authenticate("a".repeat(256), Redacted.make("x".repeat(1024))))
        )
        assert.strictEqual(longest.reason, "InvalidCredentials")
      }))

    it.effect("an unknown user, an ambiguous user and a wrong password fail alike, each after one bind", () =>
      Effect.gen(function*() {
        const slapd = yield* Slapd.Slapd
        const attempts = [
          ["nobody", Redacted.make("whatever")],
          ["carol", Redacted.make("carol-pw")],
          ["alice", Redacted.make("wrong")]
        ] as const
        const errors: Array<AuthError> = []
        for (const [user, password] of attempts) {
          const [error, log] = yield* serverLogDuring(refused(user, password))
          errors.push(error)
          const binds = Slapd.operations(log).filter((operation) => operation.kind === "BIND" && operation.dn !== slapd.serviceDn)
          assert.deepStrictEqual(binds.map((bind) => bind.result), [49], user)
        }
        for (const error of errors) {
          assert.deepStrictEqual({ ...error }, { ...errors[0]! })
          assert.strictEqual(error.reason, "InvalidCredentials")
          assert.isUndefined(error.cause)
        }
      }))

    it.effect("passwords never appear in logs or errors, raw or percent-encoded", () =>
      Effect.gen(function*() {
        const slapd = yield* Slapd.Slapd
        const marker = "Marker-pässwörd 42%"
        const lines: Array<string> = []
        const capture = Logger.map(Logger.formatLogFmt, (line) => {
          lines.push(line)
        })
        const down = yield* LdapAuth.make({ ...slapd.authOptions, urls: ["ldap://127.0.0.1:1/"] })
        const auth = yield* LdapAuth.LdapAuth
        const errors = yield* Effect.all([
          Effect.flip(auth.authenticate("alice", Redacted.make(marker))),
          Effect.flip(auth.authenticate("nobody", Redacted.make(marker))),
          Effect.flip(auth.authenticate("alice\n", Redacted.make(marker))),
          Effect.flip(auth.authenticate("alice", Redacted.make(`${marker}\u0000`))),
          Effect.flip(down.authenticate("alice", Redacted.make(marker)))
        ]).pipe(
          Effect.provide(Logger.layer([capture])),
          Effect.provideService(References.MinimumLogLevel, "All")
        )
        assert.deepStrictEqual(errors.map((error) => error.reason), [
          "InvalidCredentials",
          "InvalidCredentials",
          "RejectedInput",
          "RejectedInput",
          "Temporary"
        ])
        assert.isAbove(lines.length, 0)
        const seen = [
          ...lines,
          ...errors.flatMap((error) => [String(error), JSON.stringify(error), Cause.pretty(Cause.fail(error))]),
          yield* slapd.log
        ].join("\n")
        for (const form of [marker, encodeURIComponent(marker), escape(marker)]) {
          assert.notInclude(seen, form)
        }
      }))

    it.effect("searches run only as the service account, never anonymously or as a user", () =>
      Effect.gen(function*() {
        const slapd = yield* Slapd.Slapd
        const auth = yield* LdapAuth.LdapAuth
        for (let i = 0; i < 3; i++) {
          yield* auth.authenticate("alice", slapd.users.alice.password)
          yield* auth.authenticate("bob", slapd.users.bob.password)
          yield* Effect.flip(auth.authenticate("bob", Redacted.make("wrong")))
        }
        const operations = Slapd.operations(yield* slapd.log)
        // The fixture's readiness probe reads the root DSE anonymously; every other search is a login's.
        const searches = operations.filter((operation) => operation.kind === "SRCH" && operation.dn !== "")
        assert.isAbove(searches.length, 9)
        for (const search of searches) {
          assert.strictEqual(search.identity, slapd.serviceDn)
        }
        const userBindConnections = new Set(
          operations.filter((operation) => operation.kind === "BIND" && operation.dn !== slapd.serviceDn).map((bind) =>
            bind.connection
          )
        )
        for (const search of searches) {
          assert.isFalse(userBindConnections.has(search.connection))
        }
      }))
  })
})
