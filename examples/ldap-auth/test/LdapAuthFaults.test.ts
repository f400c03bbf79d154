/**
 * Faults of a real directory against `LdapAuth`: restart, freeze, idle drops, a dead server among two, and
 * interrupted logins. After each, no lease is left behind and, once the service is shut down, slapd holds no
 * connection of ours.
 */
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Exit, Fiber, Redacted, References, Scope } from "effect"
import { ConnectionPool } from "effect-connection-pool"
import type { LdapAuthOptions } from "../src/LdapAuth.ts"
import * as LdapClient from "../src/LdapClient.ts"
import * as LdapAuthInternal from "../src/internal/ldapAuth.ts"
import * as Server from "../src/internal/ldapServer.ts"
import * as Slapd from "../harness/Slapd.ts"
import * as CapturedLogs from "./utils/capturedLogs.ts"

/**
 * Runs `f` with an `LdapAuth` in its own scope, then checks that no pool has a lease or a waiter left, shuts the
 * service down and waits until every slapd has no connection left.
 */
const withAuth = <A, E>(
  options: LdapAuthOptions,
  slapds: ReadonlyArray<Slapd.SlapdInstance>,
  f: (auth: LdapAuthInternal.Instance) => Effect.Effect<A, E>
) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const instance = yield* LdapAuthInternal.make(options).pipe(Scope.provide(scope))
    // The failover's warnings are expected here; keep the test output to failures.
    const result = yield* f(instance).pipe(Effect.provideService(References.MinimumLogLevel, "Error"))
    for (const server of instance.servers) {
      for (const pool of [server.searchPool, server.bindPool]) {
        const stats = yield* ConnectionPool.stats(pool)
        assert.strictEqual(stats.inUse, 0, `${pool.name} inUse`)
        assert.strictEqual(stats.waiting, 0, `${pool.name} waiting`)
      }
    }
    yield* Scope.close(scope, Exit.void)
    for (const slapd of slapds) yield* slapd.awaitConnections(0)
    return result
  })

const login = (auth: LdapAuthInternal.Instance, slapd: Slapd.SlapdInstance) =>
  auth.service.authenticate("alice", slapd.users.alice.password)

const searchesOn = (slapd: Slapd.SlapdInstance) =>
  Effect.map(slapd.log, (log) => Slapd.operations(log).filter((op) => op.kind === "SRCH" && op.dn !== "").length)

describe("LdapAuth faults", () => {
  it.live("a server stopped mid-run fails logins as Temporary, and the first login after it is back succeeds", () =>
    Effect.gen(function*() {
      const slapd = yield* Slapd.make()
      yield* withAuth(slapd.authOptions, [slapd], (auth) =>
        Effect.gen(function*() {
          yield* login(auth, slapd)
          yield* slapd.stop
          for (let i = 0; i < 3; i++) {
            const error = yield* Effect.flip(login(auth, slapd))
            assert.strictEqual(error.reason, "Temporary")
          }
          yield* slapd.start
          const user = yield* login(auth, slapd)
          assert.strictEqual(user.dn, slapd.users.alice.dn)
        }))
    }))

  it.live("a restart that left every idle connection dead fails no login: each is closed unused, without traffic", () =>
    Effect.gen(function*() {
      const slapd = yield* Slapd.make()
      yield* withAuth({ ...slapd.authOptions, maxSize: 4 }, [slapd], (auth) =>
        Effect.gen(function*() {
          // Four logins at once leave four idle connections in each pool.
          yield* Effect.all(Array.from({ length: 4 }, () => login(auth, slapd)), { concurrency: 4 })
          assert.strictEqual((yield* ConnectionPool.stats(auth.servers[0]!.searchPool)).idle, 4)
          yield* slapd.stop
          yield* slapd.start
          yield* slapd.awaitConnections(0)
          const user = yield* login(auth, slapd)
          assert.strictEqual(user.dn, slapd.users.alice.dn)
          for (const pool of [auth.servers[0]!.searchPool, auth.servers[0]!.bindPool]) {
            const stats = yield* ConnectionPool.stats(pool)
            assert.strictEqual(stats.closed, 4, pool.name)
            assert.strictEqual(stats.idle, 1, pool.name)
          }
        }))
    }))

  it.live("a frozen server fails the login as Temporary within the operation timeout; after a thaw logins succeed", () =>
    Effect.gen(function*() {
      const slapd = yield* Slapd.make()
      yield* withAuth(slapd.authOptions, [slapd], (auth) =>
        Effect.gen(function*() {
          yield* login(auth, slapd)
          yield* slapd.freeze
          // An idle connection, then a new one whose bind the frozen server never answers.
          for (let i = 0; i < 2; i++) {
            const error = yield* Effect.flip(login(auth, slapd))
            assert.strictEqual(error.reason, "Temporary")
          }
          yield* slapd.thaw
          yield* login(auth, slapd)
        }))
    }))

  it.live("a login the frozen server holds past the login's timeout answers Temporary then, holding no connection", () =>
    Effect.gen(function*() {
      const slapd = yield* Slapd.make()
      const options: LdapAuthOptions = {
        ...slapd.authOptions,
        timeout: "300 millis",
        operationTimeout: "1 minute",
        acquireTimeout: "1 minute"
      }
      yield* withAuth(options, [slapd], (auth) =>
        Effect.gen(function*() {
          yield* login(auth, slapd)
          yield* slapd.freeze
          const error = yield* Effect.flip(login(auth, slapd))
          assert.strictEqual(error.reason, "Temporary")
          assert.include(String((error.cause as Error).message), "login: no answer within 300ms")
          for (const pool of [auth.servers[0]!.searchPool, auth.servers[0]!.bindPool]) {
            assert.strictEqual((yield* ConnectionPool.stats(pool)).inUse, 0, pool.name)
          }
          yield* slapd.thaw
          yield* login(auth, slapd)
        }))
    }))

  it.live("connections dropped by the server's idletimeout never fail the next login", () =>
    Effect.gen(function*() {
      const slapd = yield* Slapd.make({ idleTimeoutSeconds: 1 })
      yield* withAuth(slapd.authOptions, [slapd], (auth) =>
        Effect.gen(function*() {
          yield* login(auth, slapd)
          yield* slapd.awaitConnections(2)
          yield* Effect.sleep("1500 millis")
          yield* slapd.awaitConnections(0)
          yield* login(auth, slapd)
          const search = auth.servers[0]!.searchPool
          assert.strictEqual((yield* ConnectionPool.stats(search)).created, 2)
        }))
    }))

  it.live("with two servers and one stopped, logins go on, and the stopped one is used again once it is back", () =>
    Effect.gen(function*() {
      const first = yield* Slapd.make()
      const second = yield* Slapd.make()
      const options = { ...first.authOptions, urls: [first.url, second.url] }
      yield* withAuth(options, [first, second], (auth) =>
        Effect.gen(function*() {
          yield* login(auth, first)
          assert.strictEqual(yield* searchesOn(second), 0)
          yield* first.stop
          for (let i = 0; i < 5; i++) yield* login(auth, first)
          assert.strictEqual(yield* searchesOn(second), 5)
          yield* first.start
          yield* Effect.sleep("250 millis") // the cooldown of the test options
          const before = yield* searchesOn(first)
          yield* login(auth, first)
          assert.strictEqual(yield* searchesOn(first), before + 1)
        }))
    }))

  it.live("a server that is down writes one warning without a stack, however many logins fail on it, and one line once back", () =>
    Effect.gen(function*() {
      const slapd = yield* Slapd.make()
      const { lines, layer: capture } = CapturedLogs.capture()
      yield* withAuth(slapd.authOptions, [slapd], (auth) =>
        Effect.gen(function*() {
          yield* login(auth, slapd)
          yield* slapd.stop
          for (let i = 0; i < 20; i++) {
            const error = yield* Effect.flip(login(auth, slapd))
            assert.strictEqual(error.reason, "Temporary")
          }
          yield* slapd.start
          yield* login(auth, slapd)
        }).pipe(Effect.provide(capture), Effect.provideService(References.MinimumLogLevel, "Info")))
      const failed = lines.filter((line) => line.includes("LDAP server failed"))
      assert.strictEqual(failed.length, 1, lines.join("\n"))
      assert.include(failed[0]!, slapd.url)
      assert.match(failed[0]!, /fault=.*ECONNREFUSED|fault=.*(closed|reset)/i)
      assert.notMatch(failed[0]!, /\bat .*\.ts:\d+/)
      assert.strictEqual(lines.filter((line) => line.includes("LDAP server answers again")).length, 1)
      assert.isAtMost(lines.length, 3, lines.join("\n"))
    }))

  it.live("wrong passwords (result 49) keep the bind connection; nothing is closed", () =>
    Effect.gen(function*() {
      const slapd = yield* Slapd.make()
      yield* withAuth(slapd.authOptions, [slapd], (auth) =>
        Effect.gen(function*() {
          for (let i = 0; i < 5; i++) {
            const error = yield* Effect.flip(auth.service.authenticate("alice", Redacted.make(`wrong-${i}`)))
            assert.strictEqual(error.reason, "InvalidCredentials")
          }
          yield* login(auth, slapd)
          for (const pool of [auth.servers[0]!.searchPool, auth.servers[0]!.bindPool]) {
            const stats = yield* ConnectionPool.stats(pool)
            assert.deepStrictEqual([stats.created, stats.closed], [1, 0], pool.name)
          }
        }))
    }))

  it.live("an idle connection past validateAfter is checked with WhoAmI before it is lent", () =>
    Effect.gen(function*() {
      const slapd = yield* Slapd.make()
      yield* withAuth({ ...slapd.authOptions, validateAfter: "0 millis" }, [slapd], (auth) =>
        Effect.gen(function*() {
          yield* login(auth, slapd)
          const before = (yield* slapd.log).split("WHOAMI").length
          yield* login(auth, slapd)
          // One ping on the search connection, one on the bind connection.
          assert.strictEqual((yield* slapd.log).split("WHOAMI").length, before + 2)
        }))
    }))

  it.live("an operation that meets a dead connection is retried once on another, and the dead one is closed", () =>
    Effect.gen(function*() {
      const slapd = yield* Slapd.make()
      yield* withAuth(slapd.authOptions, [slapd], (auth) =>
        Effect.gen(function*() {
          const pool = auth.servers[0]!.bindPool
          const seen: Array<LdapClient.LdapConnection> = []
          const identity = yield* Server.withConnection(pool, (connection) => {
            seen.push(connection)
            // The first connection dies under the borrower, after the pool checked it.
            return seen.length === 1
              ? Effect.andThen(Effect.sync(() => connection.socket.destroy()), LdapClient.whoAmI(connection))
              : LdapClient.whoAmI(connection)
          }, 16)
          assert.strictEqual(identity, "")
          assert.strictEqual(seen.length, 2)
          assert.notStrictEqual(seen[0], seen[1])
          const stats = yield* ConnectionPool.stats(pool)
          assert.strictEqual(stats.closed, 1)
          assert.strictEqual(stats.idle, 1)
        }))
    }))

  it.live("concurrent logins with random interruptions leave no lease behind and stay within maxSize", () =>
    Effect.gen(function*() {
      const slapd = yield* Slapd.make()
      yield* withAuth({ ...slapd.authOptions, maxSize: 3, maxIdle: 2 }, [slapd], (auth) =>
        Effect.gen(function*() {
          const users = [
            ["alice", slapd.users.alice.password],
            ["bob", slapd.users.bob.password],
            ["bob", Redacted.make("wrong")],
            ["nobody", Redacted.make("x")]
          ] as const
          const fibers = yield* Effect.forEach(Array.from({ length: 60 }, (_, i) => i), (i) => {
            const [user, password] = users[i % users.length]!
            return Effect.forkChild(Effect.exit(auth.service.authenticate(user, password)))
          })
          // Every third login is interrupted after a random few milliseconds: waiting for a connection, opening
          // one, or with a search or bind in flight.
          yield* Effect.forEach(
            fibers,
            (fiber, i) =>
              i % 3 === 0 ? Effect.andThen(Effect.sleep(Duration.millis(Math.random() * 5)), Fiber.interrupt(fiber)) : Effect.void,
            { concurrency: "unbounded" }
          )
          const exits = yield* Effect.forEach(fibers, Fiber.await)
          assert.isAtMost(yield* slapd.connections, 6)
          exits.forEach((exit, i) => {
            if (i % 3 === 0) return
            // Not interrupted: the login itself ended, in success or a typed AuthError, never a defect.
            assert.isTrue(Exit.isSuccess(exit))
            if (Exit.isSuccess(exit) && Exit.isFailure(exit.value)) {
              assert.strictEqual(exit.value.cause.reasons[0]?._tag, "Fail")
            }
          })
          // Still healthy afterwards.
          yield* login(auth, slapd)
        }))
    }))
})
