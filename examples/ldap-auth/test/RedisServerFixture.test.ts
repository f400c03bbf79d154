/** The redis-server fixture itself: two side by side, stop and start on the same port, freeze and thaw, cleanup. */
import * as Fs from "node:fs"
import * as Net from "node:net"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Scope } from "effect"
import * as RedisServer from "../harness/RedisServer.ts"

/** Whether something accepts a TCP connection on the port right now. */
const listening = (port: number) =>
  Effect.callback<boolean>((resume) => {
    const socket = Net.connect({ host: "127.0.0.1", port })
    socket.once("connect", () => {
      socket.destroy()
      resume(Effect.succeed(true))
    })
    socket.once("error", () => resume(Effect.succeed(false)))
  })

describe("RedisServer fixture", () => {
  it.live("two instances run side by side; stop and start keep the port; freeze and thaw", () =>
    Effect.gen(function*() {
      const [first, second] = yield* Effect.all([RedisServer.make(), RedisServer.make()], { concurrency: 2 })
      assert.notStrictEqual(first.port, second.port)
      assert.strictEqual(first.url(3), `redis://127.0.0.1:${first.port}/3`)
      assert.strictEqual((yield* first.cli("SET", "k", "first")).trim(), "OK")
      assert.strictEqual((yield* second.cli("GET", "k")).trim(), "")

      yield* first.stop
      assert.isFalse(yield* listening(first.port))
      assert.strictEqual((yield* second.cli("PING")).trim(), "PONG")
      yield* first.start
      assert.strictEqual((yield* first.cli("PING")).trim(), "PONG")
      // No persistence: a restarted server starts empty, as a Redis without save or appendonly does.
      assert.strictEqual((yield* first.cli("GET", "k")).trim(), "")

      yield* first.freeze
      const frozen = yield* Effect.flip(
        first.cli("PING").pipe(Effect.timeoutOrElse({ duration: "300 millis", orElse: () => Effect.fail("no answer") }))
      )
      assert.strictEqual(frozen, "no answer")
      yield* first.thaw
      assert.strictEqual((yield* first.cli("PING")).trim(), "PONG")
      assert.strictEqual((yield* first.log).split("Ready to accept connections").length - 1, 2)
    }))

  it.live("closing the scope stops a frozen server and removes its directory", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const server = yield* RedisServer.make().pipe(Scope.provide(scope))
      const dir = (yield* server.cli("CONFIG", "GET", "dir")).split("\n")[1]!.trim()
      assert.isTrue(Fs.existsSync(dir))
      yield* server.freeze
      yield* Scope.close(scope, Exit.void)
      assert.isFalse(yield* listening(server.port))
      assert.isFalse(Fs.existsSync(dir))
    }))
})
