/**
 * The periodic login summary on `TestClock`: one `info` line per interval with the logins by result since the
 * last line, none for an interval without logins, the remainder when the scope closes.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Logger, References, Scope } from "effect"
import { TestClock } from "effect/testing"
import * as LoginSummary from "../../src/internal/loginSummary.ts"

const capture = () => {
  const lines: Array<{ level: string; message: string; annotations: Record<string, unknown> }> = []
  const logger = Logger.make(({ fiber, logLevel, message }) =>
    lines.push({
      level: logLevel,
      message: String(message),
      annotations: { ...fiber.getRef(References.CurrentLogAnnotations) }
    })
  )
  return { lines, layer: Logger.layer([logger]) }
}

describe("LoginSummary", () => {
  it.effect("one info line per interval with the logins by result, none for a quiet interval, the rest at close", () => {
    const { lines, layer } = capture()
    return Effect.gen(function*() {
      const scope = yield* Scope.make()
      const summary = yield* LoginSummary.make("1 minute").pipe(Scope.provide(scope))
      for (const outcome of ["ok", "ok", "invalid", "ok", "rate_limited"] as const) yield* summary.count(outcome)
      yield* TestClock.adjust("59 seconds")
      assert.deepStrictEqual(lines, [])
      yield* TestClock.adjust("1 second")
      assert.deepStrictEqual(lines, [{
        level: "Info",
        message: "logins since the last summary: 5 (invalid 1, ok 3, rate_limited 1)",
        annotations: { invalid: 1, ok: 3, rate_limited: 1 }
      }])
      // A quiet minute writes nothing; counts start again from zero.
      yield* TestClock.adjust("1 minute")
      assert.strictEqual(lines.length, 1)
      yield* summary.count("temporary")
      yield* TestClock.adjust("1 minute")
      assert.strictEqual(lines[1]?.message, "logins since the last summary: 1 (temporary 1)")
      yield* summary.count("ok")
      yield* Scope.close(scope, Exit.void)
      assert.strictEqual(lines[2]?.message, "logins since the last summary: 1 (ok 1)")
      yield* TestClock.adjust("5 minutes")
      assert.strictEqual(lines.length, 3)
    }).pipe(Effect.provide(layer))
  })

  it.effect("many fibers counting at once lose no login", () => {
    const { lines, layer } = capture()
    return Effect.gen(function*() {
      const summary = yield* LoginSummary.make("1 minute")
      yield* Effect.forEach(Array.from({ length: 1000 }, (_, i) => i), (i) =>
        Effect.andThen(Effect.yieldNow, summary.count(i % 4 === 0 ? "invalid" : "ok")), { concurrency: "unbounded" })
      yield* TestClock.adjust("1 minute")
      assert.deepStrictEqual(lines.map((line) => line.annotations), [{ invalid: 250, ok: 750 }])
    }).pipe(Effect.provide(layer))
  })
})
