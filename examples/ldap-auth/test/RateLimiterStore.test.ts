import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import { TestClock } from "effect/testing"
import * as RateLimiterStore from "../src/RateLimiterStore.ts"
import { storeContract } from "./utils/rateLimiterStoreContract.ts"

storeContract("memory", {
  layer: RateLimiterStore.layerMemory(),
  elapse: TestClock.adjust,
  window: Duration.minutes(1)
})

const counter = (key: string, limit: number, window = Duration.minutes(1)): RateLimiterStore.Counter => ({
  key,
  limit,
  window
})

describe("RateLimiterStore.layerMemory when full", () => {
  it.effect("evicts the windows with the fewest hits, never one at its limit", () =>
    Effect.gen(function*() {
      const store = yield* RateLimiterStore.makeMemory({ maxCounters: 10 })
      // Two windows at their limit, then a flood of single hits from new keys.
      for (const key of ["victim", "own"]) {
        for (let i = 0; i < 3; i++) yield* store.consume([counter(key, 3)])
      }
      yield* store.consume([counter("half", 3)])
      yield* store.consume([counter("half", 3)])
      for (let i = 0; i < 10_000; i++) yield* store.consume([counter(`flood ${i}`, 3)])
      for (const key of ["victim", "own"]) {
        assert.strictEqual((yield* store.consume([counter(key, 3)]))._tag, "Refused", key)
      }
      // A window with two hits outlives every one-hit window.
      assert.strictEqual((yield* store.consume([counter("half", 3)]))._tag, "Counted")
      assert.strictEqual((yield* store.consume([counter("half", 3)]))._tag, "Refused")
    }))

  it.effect("forgets expired windows before live ones", () =>
    Effect.gen(function*() {
      const store = yield* RateLimiterStore.makeMemory({ maxCounters: 3 })
      // Two hits: the fewest-hits rule alone would forget a or b instead.
      yield* store.consume([counter("short", 5, Duration.seconds(1))])
      yield* store.consume([counter("short", 5, Duration.seconds(1))])
      yield* store.consume([counter("a", 5)])
      yield* store.consume([counter("b", 5)])
      yield* TestClock.adjust("2 seconds")
      yield* store.consume([counter("c", 5)])
      // a and b (one hit each) are still there: four more each fit, the fifth is refused.
      for (const key of ["a", "b"]) {
        for (let i = 0; i < 4; i++) assert.strictEqual((yield* store.consume([counter(key, 5)]))._tag, "Counted")
        assert.strictEqual((yield* store.consume([counter(key, 5)]))._tag, "Refused")
      }
    }))

  it.effect("refuses a new window when every window is at its limit, and takes new ones once they end", () =>
    Effect.gen(function*() {
      const store = yield* RateLimiterStore.makeMemory({ maxCounters: 2 })
      yield* store.consume([counter("x", 1)])
      yield* store.consume([counter("y", 1)])
      assert.strictEqual((yield* store.consume([counter("z", 1)]))._tag, "Refused")
      assert.strictEqual((yield* store.consume([counter("x", 1)]))._tag, "Refused")
      yield* TestClock.adjust("61 seconds")
      assert.strictEqual((yield* store.consume([counter("z", 1)]))._tag, "Counted")
    }))

  it.effect("keeps at most maxMarkers markers, forgetting the oldest", () =>
    Effect.gen(function*() {
      const store = yield* RateLimiterStore.makeMemory({ maxMarkers: 2 })
      for (const key of ["m1", "m2", "m3"]) yield* store.settle({ mark: { key, ttl: Duration.hours(1) } })
      const waived = (marker: string) => ({ ...counter(`c ${marker}`, 1), waivedBy: marker })
      const twice = (marker: string) =>
        Effect.map(
          Effect.forEach([1, 2], () => store.consume([waived(marker)])),
          (results) => results.map((result) => result._tag)
        )
      assert.deepStrictEqual(yield* twice("m1"), ["Counted", "Refused"])
      assert.deepStrictEqual(yield* twice("m3"), ["Counted", "Counted"])
    }))

  it("refuses a bound that is not a positive integer, naming it", () => {
    assert.throws(() => Effect.runSync(RateLimiterStore.makeMemory({ maxCounters: 0 })), /maxCounters .* got 0/)
  })
})
