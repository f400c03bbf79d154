/**
 * How many connections logins open, counted from slapd's own log (one `conn=… ACCEPT` line per connection): none
 * under a steady load with the default pool sizes, two per login with `reuse: false`, and fewer than that with
 * `maxIdle` 0, which is therefore not "no reuse".
 */
import { assert, describe, layer } from "@effect/vitest"
import { Effect } from "effect"
import * as LdapAuth from "../src/LdapAuth.ts"
import * as Slapd from "../harness/Slapd.ts"

const accepted = (log: string) => (log.match(/conn=\d+ fd=\d+ ACCEPT from /g) ?? []).length

/** `logins` right-password logins, `concurrency` at a time; the connections slapd accepted meanwhile. */
const loginsOpen = (auth: Context, logins: number, concurrency: number) =>
  Effect.gen(function*() {
    const slapd = yield* Slapd.Slapd
    const users = Object.values(slapd.users)
    const before = accepted(yield* slapd.log)
    yield* Effect.forEach(
      Array.from({ length: logins }, (_, i) => users[i % users.length]!),
      (user) => auth.authenticate(user.uid, user.password),
      { concurrency, discard: true }
    )
    return accepted(yield* slapd.log) - before
  })

type Context = Effect.Success<ReturnType<typeof LdapAuth.make>>

describe("LdapAuth connection reuse", () => {
  layer(Slapd.layer(), { excludeTestServices: true })((it) => {
    it.effect("with the default sizes, a steady load of 32 at once opens no connection after the first", () =>
      Effect.scoped(Effect.gen(function*() {
        const slapd = yield* Slapd.Slapd
        const auth = yield* LdapAuth.make({ ...slapd.authOptions, acquireTimeout: "10 seconds", timeout: "20 seconds" })
        const first = yield* loginsOpen(auth, 96, 32)
        assert.isTrue(first > 0 && first <= 32, `the first logins opened ${first}`)
        // Returns outpacing borrows for a moment must not push connections over maxIdle and close them.
        assert.strictEqual(yield* loginsOpen(auth, 480, 32), 0)
      })))

    it.effect("reuse: false opens a search and a bind connection for every login, even with logins waiting", () =>
      Effect.scoped(Effect.gen(function*() {
        const slapd = yield* Slapd.Slapd
        const auth = yield* LdapAuth.make({
          ...slapd.authOptions,
          acquireTimeout: "10 seconds",
          timeout: "20 seconds",
          maxSize: 4,
          reuse: false
        })
        assert.strictEqual(yield* loginsOpen(auth, 60, 12), 120)
      })))

    it.effect("maxIdle 0 is not that: a returned connection goes to a waiting login", () =>
      Effect.scoped(Effect.gen(function*() {
        const slapd = yield* Slapd.Slapd
        const auth = yield* LdapAuth.make({
          ...slapd.authOptions,
          acquireTimeout: "10 seconds",
          timeout: "20 seconds",
          maxSize: 4,
          maxIdle: 0
        })
        const opened = yield* loginsOpen(auth, 60, 12)
        assert.isTrue(opened < 120, `maxIdle 0 opened ${opened}`)
      })))
  })
})
