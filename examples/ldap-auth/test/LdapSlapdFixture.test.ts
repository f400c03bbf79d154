import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Slapd from "./fixtures/Slapd.ts"

describe("Slapd fixture", () => {
  it.live("starts, stops, starts again on the same port, freezes and thaws", () =>
    Effect.gen(function*() {
      const slapd = yield* Slapd.make()
      assert.strictEqual(yield* slapd.connections, 0)
      yield* slapd.stop
      yield* slapd.start
      yield* slapd.freeze
      yield* slapd.thaw
      const log = yield* slapd.log
      assert.include(log, "slapd starting")
    }))
})
