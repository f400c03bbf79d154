/** The slapd fixture itself: restart on the same port with the same data, freeze and thaw, two side by side. */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as LdapClient from "../src/LdapClient.ts"
import * as Slapd from "../harness/Slapd.ts"

const bindAsService = (slapd: Slapd.SlapdInstance) =>
  Effect.gen(function*() {
    const connection = yield* LdapClient.connect({ url: slapd.url, connectTimeout: "1 second", operationTimeout: "300 millis" })
    yield* LdapClient.bind(connection, slapd.serviceDn, slapd.servicePassword)
  }).pipe(Effect.scoped)

describe("Slapd fixture", () => {
  it.live("two instances run side by side; stop and start keep the port and the data; freeze and thaw", () =>
    Effect.gen(function*() {
      const [first, second] = yield* Effect.all([Slapd.make(), Slapd.make()], { concurrency: 2 })
      assert.notStrictEqual(first.port, second.port)
      yield* first.stop
      yield* bindAsService(second)
      yield* first.start
      yield* bindAsService(first)
      yield* first.freeze
      assert.strictEqual((yield* Effect.flip(bindAsService(first))).reason, "Timeout")
      yield* first.thaw
      yield* bindAsService(first)
      assert.strictEqual((yield* first.log).split("slapd starting").length - 1, 2)
    }))
})
