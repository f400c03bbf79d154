/**
 * The auth server as an attacker on the host meets it: `main.ts serve` as a child process against a real slapd,
 * asked straight on its port with any `Client-IP` it likes. Whether an attempt reached the directory is read from
 * slapd's own log; what the server wrote, from its stderr. Loopback only, fixed counts, and every test stops by
 * itself.
 */
import * as Net from "node:net"
import { assert, layer } from "@effect/vitest"
import { Effect, Redacted, Schedule } from "effect"
import * as ServeProcess from "../harness/ServeProcess.ts"
import * as Slapd from "../harness/Slapd.ts"

const invalid = "Invalid login or password"

/** `count` requests, `concurrency` at a time; resolves with how many got each `Auth-Status`. */
const flood = (count: number, concurrency: number, request: (i: number) => Promise<ServeProcess.Answer>) =>
  Effect.promise(async () => {
    const statuses: Record<string, number> = {}
    let next = 0
    const worker = async () => {
      while (next < count) {
        const answer = await request(next++)
        const status = answer.headers["auth-status"] ?? "(no answer)"
        statuses[status] = (statuses[status] ?? 0) + 1
      }
    }
    await Promise.all(Array.from({ length: concurrency }, worker))
    return statuses
  })

/** A name with a 0xBC byte, which is not UTF-8: the request cannot be decoded. */
const undecodable = (i: number) => `\xbc${i}\xbc`

const binds = (slapd: Slapd.SlapdInstance, dn: string) =>
  Effect.map(slapd.log, (log) => Slapd.operations(log).filter((op) => op.kind === "BIND" && op.dn === dn).length)

const lines = (text: string) => text.split("\n").filter((line) => line !== "")

layer(Slapd.layer(), { excludeTestServices: true, timeout: 120_000 })("auth server under attack", (it) => {
  it.effect("a flooded limiter still refuses a limited address and a limited (user, address), unasked", () =>
    Effect.gen(function*() {
      const slapd = yield* Slapd.Slapd
      // 1,000 keys at most, so that a few thousand requests overflow the store many times over.
      const serve = yield* ServeProcess.make(slapd, { env: { RATE_LIMIT_MAX_KEYS: "1000" } })
      const port = serve.authPort
      const alice = slapd.users.alice
      const bob = slapd.users.bob
      // bob guessed at from 192.0.2.10 until that (user, address) is limited; 192.0.2.9 over its own limit.
      for (let i = 0; i < 10; i++) yield* ServeProcess.status(port, "bob", `guess-${i}`, "192.0.2.10")
      yield* flood(50, 8, (i) => ServeProcess.ask(port, ServeProcess.login(undecodable(i), "x", "192.0.2.9")))
      assert.strictEqual(yield* ServeProcess.status(port, "bob", Redacted.value(bob.password), "192.0.2.10"), invalid)
      assert.strictEqual(yield* ServeProcess.status(port, "alice", Redacted.value(alice.password), "192.0.2.9"), invalid)
      const before = [yield* binds(slapd, bob.dn), yield* binds(slapd, alice.dn)]

      // 3,000 requests, each from its own address, each creating keys: unknown names (a search each, the address
      // and the name counted) and undecodable ones (the address only).
      const statuses = yield* flood(3000, 16, (i) => {
        const clientIp = `10.0.${i >> 8}.${i & 255}`
        return ServeProcess.ask(port, ServeProcess.login(i % 2 === 0 ? `flood${i}` : undecodable(i), "x", clientIp))
      })
      assert.deepStrictEqual(statuses, { [invalid]: 3000 })

      assert.strictEqual(yield* ServeProcess.status(port, "bob", Redacted.value(bob.password), "192.0.2.10"), invalid)
      assert.strictEqual(yield* ServeProcess.status(port, "alice", Redacted.value(alice.password), "192.0.2.9"), invalid)
      // Both refused before the directory was asked; and the server still serves everyone else.
      assert.deepStrictEqual([yield* binds(slapd, bob.dn), yield* binds(slapd, alice.dn)], before)
      assert.strictEqual(yield* ServeProcess.status(port, "alice", Redacted.value(alice.password), "192.0.2.11"), "OK")
    }))

  it.effect("a user attacked from 20 addresses still logs in from a familiar one; guesses stay bounded in total", () =>
    Effect.gen(function*() {
      const slapd = yield* Slapd.Slapd
      const serve = yield* ServeProcess.make(slapd)
      const port = serve.authPort
      const bob = slapd.users.bob
      const password = Redacted.value(bob.password)
      // bob logs in from home: that address is now familiar to him.
      assert.strictEqual(yield* ServeProcess.status(port, "bob", password, "198.51.100.7"), "OK")
      const before = yield* binds(slapd, bob.dn)

      // 20 addresses, 10 wrong passwords each: each address stays within its own limits.
      const statuses = yield* flood(200, 8, (i) =>
        ServeProcess.ask(port, ServeProcess.login("bob", `guess-${i}`, `203.0.113.${(i % 20) + 1}`)))
      assert.deepStrictEqual(statuses, { [invalid]: 200 })
      // Only 50 (the per-user limit from unfamiliar addresses) reached the directory.
      assert.strictEqual((yield* binds(slapd, bob.dn)) - before, 50)

      assert.strictEqual(yield* ServeProcess.status(port, "bob", password, "198.51.100.7"), "OK")
      // The price of the bound in total: a new address is refused until the window ends.
      assert.strictEqual(yield* ServeProcess.status(port, "bob", password, "198.51.100.8"), invalid)
    }))

  it.effect("a thousand undecodable requests and wrong secrets write a handful of lines, no name; 20 KB of headers get 431", () =>
    Effect.gen(function*() {
      const slapd = yield* Slapd.Slapd
      const secret = "flood-test-secret"
      const serve = yield* ServeProcess.make(slapd, { env: { AUTH_SHARED_SECRET: secret } })
      const port = serve.authPort
      const startup = lines(serve.stderr()).length
      const statuses = yield* flood(1000, 16, (i) =>
        ServeProcess.ask(port, {
          ...ServeProcess.login(undecodable(i), "x", `10.1.${i >> 8}.${i & 255}`),
          "X-Auth-Key": i % 2 === 0 ? secret : `wrong-${i}`
        }))
      assert.deepStrictEqual(statuses, { [invalid]: 1000 })
      const answer = yield* Effect.promise(() =>
        ServeProcess.ask(port, {
          ...ServeProcess.login("alice", Redacted.value(slapd.users.alice.password), "192.0.2.20"),
          "X-Auth-Key": secret
        })
      )
      assert.strictEqual(answer.headers["auth-status"], "OK")
      const written = lines(serve.stderr()).slice(startup)
      // One line per kind (undecodable, wrong secret) per minute.
      assert.isAtMost(written.length, 2, written.join("\n"))
      for (const line of written) assert.notMatch(line, /\xbc|\ufffd|wrong-/, line)

      // Beyond Node's 16 KB of headers a request is answered 431 before it is decoded, and logs nothing.
      const oversized = yield* Effect.promise(() =>
        ServeProcess.ask(port, { ...ServeProcess.login("a".repeat(20_000), "x", "192.0.2.21"), "X-Auth-Key": secret })
      )
      assert.match(oversized.statusLine, /^HTTP\/1\.1 431 /)
      assert.isAtMost(lines(serve.stderr()).slice(startup).length, 2)
    }))

  it.effect("out of file descriptors: logged with the count of connections, once, and logins again after", () =>
    Effect.gen(function*() {
      const slapd = yield* Slapd.Slapd
      const serve = yield* ServeProcess.make(slapd, {
        maxOpenFiles: 64,
        // Idle sockets held for the whole test, as an attacker's would be until the request timeout.
        env: { AUTH_HTTP_REQUEST_TIMEOUT: "60", AUTH_SHARED_SECRET: "fd-test-secret" }
      })
      const login = {
        ...ServeProcess.login("alice", Redacted.value(slapd.users.alice.password), "127.0.0.1"),
        "X-Auth-Key": "fd-test-secret"
      }
      const status = Effect.promise(() => ServeProcess.ask(serve.authPort, login)).pipe(
        Effect.map((answer) => answer.headers["auth-status"] ?? "(no answer)")
      )
      assert.strictEqual(yield* status, "OK")

      // 100 idle sockets, far more than 64 descriptors: the server cannot accept them all.
      const sockets = yield* Effect.acquireRelease(
        Effect.promise(() =>
          Promise.all(Array.from({ length: 100 }, () =>
            new Promise<Net.Socket>((resolve) => {
              const socket = Net.connect({ host: "127.0.0.1", port: serve.authPort }, () => resolve(socket))
              socket.on("error", () => resolve(socket))
            })))
        ),
        (sockets) => Effect.sync(() => sockets.forEach((socket) => socket.destroy()))
      )
      assert.strictEqual(yield* status, "(no answer)")
      const exhausted = (text: string) => lines(text).filter((line) => line.includes("out of file descriptors"))
      const logged = yield* Effect.sync(() => exhausted(serve.stderr())).pipe(
        Effect.filterOrFail((found) => found.length > 0),
        Effect.retry({ schedule: Schedule.spaced("100 millis"), times: 50 })
      )
      assert.match(logged[0]!, /EMFILE: \d+ connections open on the auth port/)
      // The watch looks every second: a second line must not come in the next two and a half looks.
      const second = yield* Effect.sync(() => exhausted(serve.stderr())).pipe(
        Effect.filterOrFail((found) => found.length > 1),
        Effect.retry({ schedule: Schedule.spaced("100 millis"), times: 25 }),
        Effect.option
      )
      assert.isTrue(second._tag === "None", serve.stderr())
      assert.strictEqual(yield* status, "(no answer)")
      sockets.forEach((socket) => socket.destroy())
      const again = yield* status.pipe(
        Effect.filterOrFail((answer) => answer === "OK"),
        Effect.retry({ schedule: Schedule.spaced("100 millis"), times: 50 })
      )
      assert.strictEqual(again, "OK")
      assert.strictEqual(exhausted(serve.stderr()).length, 1, serve.stderr())
    }))
})
