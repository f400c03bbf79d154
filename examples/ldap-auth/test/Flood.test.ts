/**
 * A flood straight at the auth port, as an attacker on the host (or one that got past nginx) would send it: the
 * server runs as a child process (`main.ts serve`) against a real slapd, and 100,000 requests with distinct
 * 4 KB user names that are not UTF-8, each from its own claimed `Client-IP`, fill its limiter to the brim.
 * Loopback only, a fixed count, and the test stops by itself.
 */
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Path from "node:path"
import { assert, layer } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import * as ServerProcess from "../harness/ServerProcess.ts"
import * as Slapd from "../harness/Slapd.ts"

const main = Path.join(import.meta.dirname, "..", "main.ts")

const requests = 100_000
const concurrency = 32
/**
 * The server's JavaScript heap is capped, so that memory the flood left reachable (keys, windows, sockets) would
 * end the process with "heap out of memory" instead of hiding behind garbage that V8 collects late.
 */
const maxOldSpaceMegabytes = 160
/** The bound on the whole process's resident set while flooded (measured: see the README). */
const maxResidentBytes = 400 * 1024 * 1024

/** One request on its own connection (the server runs one per connection); resolves with `Auth-Status`. */
const ask = (port: number, headers: Record<string, string>) =>
  new Promise<string>((resolve) => {
    const socket = Net.connect({ host: "127.0.0.1", port })
    let received = ""
    socket.on("data", (chunk) => (received += chunk.toString("latin1")))
    socket.on("error", () => {})
    socket.on("close", () => resolve(/^auth-status: (.*)\r$/im.exec(received)?.[1] ?? "(no answer)"))
    const lines = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join("")
    // latin1: every character is the byte it stands for, as nginx would send the client's bytes.
    socket.write(`GET /auth HTTP/1.0\r\nHost: localhost\r\n${lines}\r\n`, "latin1")
  })

const login = (user: string, password: string, clientIp: string) => ({
  "Auth-Method": "plain",
  "Auth-User": user,
  "Auth-Pass": password,
  "Auth-Protocol": "imap",
  "Auth-Login-Attempt": "1",
  "Client-IP": clientIp
})

/** A name of 4096 bytes, distinct per `i`, with 0xBC bytes that are not UTF-8. */
const hostileName = (i: number) => `\xbc${i}\xbc`.padEnd(4096, "\xbc")

const residentBytes = (pid: number) => {
  const match = /^VmRSS:\s+(\d+) kB/m.exec(Fs.readFileSync(`/proc/${pid}/status`, "utf8"))
  return Number(match?.[1] ?? 0) * 1024
}

layer(Slapd.layer(), { excludeTestServices: true, timeout: 300_000 })("auth server under a flood", (it) => {
  it.effect("100,000 undecodable 4 KB names: memory within its bound, limits kept, a handful of log lines", () =>
    Effect.gen(function*() {
      const slapd = yield* Slapd.Slapd
      const [authPort, metricsPort] = [yield* ServerProcess.freePort, yield* ServerProcess.freePort]
      let stderr = ""
      const child = ChildProcess.spawn(process.execPath, [`--max-old-space-size=${maxOldSpaceMegabytes}`, "--conditions=effect-connection-pool:source", main, "serve"], {
        env: {
          PATH: process.env.PATH ?? "",
          LDAP_URLS: slapd.url,
          LDAP_BASE_DN: slapd.baseDn,
          LDAP_BIND_DN: slapd.serviceDn,
          LDAP_BIND_PASSWORD: Redacted.value(slapd.servicePassword),
          AUTH_HTTP_PORT: String(authPort),
          METRICS_PORT: String(metricsPort)
        },
        stdio: ["ignore", "ignore", "pipe"]
      })
      child.stderr.on("data", (chunk) => (stderr += chunk.toString("utf8")))
      yield* Effect.addFinalizer(() => Effect.sync(() => child.kill("SIGKILL")))
      yield* ServerProcess.waitForPorts("serve", [authPort, metricsPort])
      const alice = Redacted.value(slapd.users.alice.password)
      const bob = Redacted.value(slapd.users.bob.password)

      // bob guessed at from 192.0.2.10 until that (user, address) is limited (10 per 5 minutes).
      for (let i = 0; i < 10; i++) yield* Effect.promise(() => ask(authPort, login("bob", `guess-${i}`, "192.0.2.10")))
      assert.strictEqual(yield* Effect.promise(() => ask(authPort, login("bob", bob, "192.0.2.10"))), "Invalid login or password")

      const startRss = residentBytes(child.pid!)
      let maxRss = startRss
      let refusedAddressChecked = false
      let next = 0
      const statuses = new Map<string, number>()
      const worker = async () => {
        while (next < requests) {
          const i = next++
          // Near the end, with the store already full: an address that sends 50 such requests is limited.
          if (i === requests - 10_000 && !refusedAddressChecked) {
            refusedAddressChecked = true
            for (let j = 0; j < 50; j++) await ask(authPort, login(hostileName(requests + j), "x", "192.0.2.9"))
          }
          const status = await ask(authPort, login(hostileName(i), "x", `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`))
          statuses.set(status, (statuses.get(status) ?? 0) + 1)
          if (i % 2000 === 0) maxRss = Math.max(maxRss, residentBytes(child.pid!))
        }
      }
      yield* Effect.promise(() => Promise.all(Array.from({ length: concurrency }, worker)))
      maxRss = Math.max(maxRss, residentBytes(child.pid!))

      assert.deepStrictEqual([...statuses], [["Invalid login or password", requests]])
      assert.isBelow(maxRss, maxResidentBytes, `resident ${maxRss} bytes, ${startRss} before the flood`)
      // The server still answers, the flood did not make it forget a limited address nor a limited (user, address),
      // and another user from another address is not affected.
      assert.strictEqual(yield* Effect.promise(() => ask(authPort, login("alice", alice, "192.0.2.9"))), "Invalid login or password")
      assert.strictEqual(yield* Effect.promise(() => ask(authPort, login("bob", bob, "192.0.2.10"))), "Invalid login or password")
      assert.strictEqual(yield* Effect.promise(() => ask(authPort, login("alice", alice, "192.0.2.11"))), "OK")
      // 100,000 undecodable requests: a few throttled lines, not one each.
      const lines = stderr.split("\n").filter((line) => line !== "")
      assert.isAtMost(lines.length, 12, lines.join("\n"))
      console.log(`flood: ${requests} requests, resident ${startRss} -> max ${maxRss} bytes, ${lines.length} log lines`)
    }))
})
