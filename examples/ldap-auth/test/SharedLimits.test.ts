/**
 * Two auth servers (`main.ts serve` as child processes) against one slapd and one redis-server, as two nginx
 * hosts would run them: the limits they enforce are one set. Whether an attempt reached the directory is read
 * from slapd's own log (a limited attempt costs no bind).
 */
import { assert, layer } from "@effect/vitest"
import { Effect, Layer, Redacted } from "effect"
import * as RedisServer from "../harness/RedisServer.ts"
import * as ServeProcess from "../harness/ServeProcess.ts"
import * as Slapd from "../harness/Slapd.ts"

/** One `serve` with REDIS_URL, killed when the scope closes; resolves with its auth port. */
const serve = (slapd: Slapd.SlapdInstance, redis: RedisServer.RedisServerInstance) =>
  Effect.map(ServeProcess.make(slapd, { env: { REDIS_URL: redis.url(0) } }), (server) => server.authPort)

const bindsAs = (slapd: Slapd.SlapdInstance, dn: string) =>
  Effect.map(slapd.log, (log) => Slapd.operations(log).filter((op) => op.kind === "BIND" && op.dn === dn).length)

layer(Layer.merge(Slapd.layer(), RedisServer.layer), { excludeTestServices: true, timeout: 120_000 })(
  "two auth servers sharing one Redis",
  (it) => {
    it.effect("failures spread across both add up; a right password on one clears the counter on the other", () =>
      Effect.gen(function*() {
        const slapd = yield* Slapd.Slapd
        const redis = yield* RedisServer.RedisServer
        const [a, b] = yield* Effect.all([serve(slapd, redis), serve(slapd, redis)], { concurrency: 2 })
        const servers = [a, b]

        // 16 wrong passwords for alice from one address, alternating between the servers: 10 reach LDAP.
        for (let i = 0; i < 16; i++) yield* ServeProcess.status(servers[i % 2]!, "alice", "wrong", "192.0.2.7")
        assert.strictEqual(yield* bindsAs(slapd, slapd.users.alice.dn), 10)

        // bob: 9 wrong on a, the right one on b, then a fresh budget of 10 on a, and the 11th is refused unasked.
        const bob = Redacted.value(slapd.users.bob.password)
        for (let i = 0; i < 9; i++) yield* ServeProcess.status(a, "bob", "wrong", "192.0.2.8")
        assert.strictEqual(yield* ServeProcess.status(b, "bob", bob, "192.0.2.8"), "OK")
        for (let i = 0; i < 11; i++) yield* ServeProcess.status(a, "bob", "wrong", "192.0.2.8")
        assert.strictEqual(yield* bindsAs(slapd, slapd.users.bob.dn), 9 + 1 + 10)
      }))
  }
)
