/**
 * Spans on the login path are made only when a tracer is installed: with Effect's built-in tracer they would go
 * nowhere, and with one installed they come back under the same names.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Tracer from "effect/Tracer"
import * as Tracing from "../../src/internal/tracing.ts"

/** A tracer that records the names of the spans it is asked for, and otherwise behaves as the built-in one. */
const recording = () => {
  const names: Array<string> = []
  const tracer = Tracer.make({
    span(options) {
      names.push(options.name)
      return Tracer.nativeTracer.span(options)
    }
  })
  return { names, tracer }
}

describe("tracing", () => {
  it.effect("with a tracer installed, the span is made, with the effect's result", () =>
    Effect.gen(function*() {
      const { names, tracer } = recording()
      const result = yield* Effect.succeed(42).pipe(Tracing.withSpan("LdapAuth.authenticate"), Effect.withTracer(tracer))
      assert.strictEqual(result, 42)
      assert.deepStrictEqual(names, ["LdapAuth.authenticate"])
    }))

  it.effect("with the built-in tracer, no span is made and failures pass through unchanged", () =>
    Effect.gen(function*() {
      const span = yield* Effect.currentSpan.pipe(Effect.option, Tracing.withSpan("AuthHttp.decide"))
      assert.strictEqual(span._tag, "None")
      const error = yield* Effect.flip(Effect.fail("refused").pipe(Tracing.withSpan("AuthHttp.decide")))
      assert.strictEqual(error, "refused")
    }))
})
