/**
 * The `RateLimiterStore` contract as a suite any store runs: `storeContract("memory", { … })` here, the same call
 * with a Redis layer there. Keys are unique per test, so a store shared between tests (one Redis) needs no
 * flushing. `elapse` moves the store's time: `TestClock.adjust` for memory, a real sleep for a server with its
 * own clock (then pick a short `window` and `live: true`).
 */
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Layer } from "effect"
import * as RateLimiterStore from "../../src/RateLimiterStore.ts"

export interface ContractOptions {
  readonly layer: Layer.Layer<RateLimiterStore.RateLimiterStore>
  readonly elapse: (duration: Duration.Duration) => Effect.Effect<void>
  /** The windows the tests use; they wait a little more than one. */
  readonly window: Duration.Duration
  /** Run on real time (`it.live`) instead of the TestClock. */
  readonly live?: boolean | undefined
}

let serial = 0

export const storeContract = (name: string, options: ContractOptions) =>
  describe(`RateLimiterStore contract: ${name}`, () => {
    const test = options.live === true ? it.live : it.effect
    const run = <A>(body: (store: RateLimiterStore.RateLimiterStore["Service"], key: (name: string) => string) => Effect.Effect<A>) =>
      Effect.gen(function*() {
        const store = yield* RateLimiterStore.RateLimiterStore
        const prefix = `t${process.pid}.${serial++}.${Math.random().toString(36).slice(2, 8)}`
        return yield* body(store, (name) => `${prefix} ${name}`)
      }).pipe(Effect.provide(options.layer))
    const counter = (key: string, limit: number, waivedBy?: string): RateLimiterStore.Counter => ({
      key,
      limit,
      window: options.window,
      waivedBy
    })
    const tags = (results: ReadonlyArray<RateLimiterStore.Consumed>) => results.map((result) => result._tag)

    test("counts up to the limit, then refuses", () =>
      run((store, key) =>
        Effect.gen(function*() {
          const results = yield* Effect.forEach([1, 2, 3, 4], () => store.consume([counter(key("a"), 3)]))
          assert.deepStrictEqual(tags(results), ["Counted", "Counted", "Counted", "Refused"])
          assert.deepStrictEqual(results[3], { _tag: "Refused", key: key("a") })
        })))

    test("a refusal counts nothing, not even on the counters that had room", () =>
      run((store, key) =>
        Effect.gen(function*() {
          yield* store.consume([counter(key("full"), 1)])
          for (let i = 0; i < 5; i++) {
            const refused = yield* store.consume([counter(key("room"), 2), counter(key("full"), 1)])
            assert.deepStrictEqual(refused, { _tag: "Refused", key: key("full") })
          }
          const results = yield* Effect.forEach([1, 2, 3], () => store.consume([counter(key("room"), 2)]))
          assert.deepStrictEqual(tags(results), ["Counted", "Counted", "Refused"])
        })))

    test("a window is fixed from its first hit and forgotten at its end", () =>
      run((store, key) =>
        Effect.gen(function*() {
          yield* store.consume([counter(key("a"), 2)])
          yield* options.elapse(Duration.divideUnsafe(options.window, 2))
          yield* store.consume([counter(key("a"), 2)])
          assert.strictEqual((yield* store.consume([counter(key("a"), 2)]))._tag, "Refused")
          yield* options.elapse(Duration.sum(Duration.divideUnsafe(options.window, 2), Duration.millis(50)))
          const results = yield* Effect.forEach([1, 2, 3], () => store.consume([counter(key("a"), 2)]))
          assert.deepStrictEqual(tags(results), ["Counted", "Counted", "Refused"])
        })))

    test("a marker waives the limit while it lives; the hits still count", () =>
      run((store, key) =>
        Effect.gen(function*() {
          const waived = counter(key("user"), 1, key("familiar"))
          const half = Duration.divideUnsafe(options.window, 2)
          yield* store.settle({ mark: { key: key("familiar"), ttl: half } })
          const results = yield* Effect.forEach([1, 2, 3], () => store.consume([waived]))
          assert.deepStrictEqual(tags(results), ["Counted", "Counted", "Counted"])
          assert.strictEqual((yield* store.consume([counter(key("user"), 1)]))._tag, "Refused")
          assert.strictEqual((yield* store.consume([counter(key("user"), 1, key("other"))]))._tag, "Refused")
          // The marker has ended, the counter's window has not.
          yield* options.elapse(Duration.sum(half, Duration.millis(50)))
          assert.strictEqual((yield* store.consume([waived]))._tag, "Refused")
        })))

    test("a renewed marker lives for its new ttl", () =>
      run((store, key) =>
        Effect.gen(function*() {
          const half = Duration.divideUnsafe(options.window, 2)
          yield* store.consume([counter(key("user"), 1)])
          yield* store.settle({ mark: { key: key("familiar"), ttl: half } })
          yield* store.settle({ mark: { key: key("familiar"), ttl: options.window } })
          yield* options.elapse(Duration.sum(half, Duration.millis(50)))
          assert.strictEqual((yield* store.consume([counter(key("user"), 1, key("familiar"))]))._tag, "Counted")
        })))

    test("refund takes one hit back, never below zero, and creates nothing", () =>
      run((store, key) =>
        Effect.gen(function*() {
          yield* store.consume([counter(key("a"), 2)])
          yield* store.consume([counter(key("a"), 2)])
          yield* store.settle({ refund: [key("a"), key("absent")] })
          assert.strictEqual((yield* store.consume([counter(key("a"), 2)]))._tag, "Counted")
          assert.strictEqual((yield* store.consume([counter(key("a"), 2)]))._tag, "Refused")
          yield* store.settle({ refund: [key("b"), key("b")] })
          yield* store.consume([counter(key("b"), 1)])
          assert.strictEqual((yield* store.consume([counter(key("b"), 1)]))._tag, "Refused")
          yield* store.settle({ refund: [key("b"), key("b"), key("b")] })
          assert.deepStrictEqual(tags(yield* Effect.forEach([1, 2], () => store.consume([counter(key("b"), 1)]))), [
            "Counted",
            "Refused"
          ])
        })))

    test("reset forgets a counter at once", () =>
      run((store, key) =>
        Effect.gen(function*() {
          yield* store.consume([counter(key("a"), 1)])
          yield* store.settle({ reset: [key("a")] })
          assert.strictEqual((yield* store.consume([counter(key("a"), 1)]))._tag, "Counted")
        })))

    test("concurrent consumers: exactly the limit are counted, whatever the interleaving", () =>
      run((store, key) =>
        Effect.gen(function*() {
          const results = yield* Effect.forEach(
            Array.from({ length: 200 }, (_, i) => i),
            (i) => store.consume([counter(key("shared"), 37), counter(key(`own ${i % 7}`), 1000)]),
            { concurrency: "unbounded" }
          )
          assert.strictEqual(results.filter((result) => result._tag === "Counted").length, 37)
        })))
  })
