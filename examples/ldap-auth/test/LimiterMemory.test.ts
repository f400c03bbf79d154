/**
 * The limiter's memory bound, as the README states it: what one counter and one marker cost once the store is
 * full at its default size, measured in a process of its own (`harness/LimiterMemory.ts`, with `--expose-gc`, so
 * the heap is read after a full collection and nothing else of the test runner's is in it).
 */
import * as ChildProcess from "node:child_process"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import type * as LimiterMemory from "../harness/LimiterMemory.ts"

const script = Path.join(import.meta.dirname, "..", "harness", "LimiterMemory.ts")

/** The README's bounds, in bytes. */
const maxBytesPerCounter = 220
const maxBytesPerMarker = 145

describe("RateLimiterStore memory", () => {
  it.live("a counter costs at most 220 bytes and a marker 145, with the policy's keys and the longest", () =>
    Effect.gen(function*() {
      const output = yield* Effect.callback<string>((resume) => {
        ChildProcess.execFile(
          process.execPath,
          ["--expose-gc", "--conditions=effect-connection-pool:source", script, "100000"],
          { timeout: 60_000 },
          (error, stdout, stderr) => resume(error === null ? Effect.succeed(stdout) : Effect.die(new Error(stderr)))
        )
      })
      const measured: Record<"policy" | "longest", LimiterMemory.Measured> = JSON.parse(output)
      for (const [shape, figures] of Object.entries(measured)) {
        assert.strictEqual(figures.keys, 100_000)
        assert.isAtMost(figures.bytesPerCounter, maxBytesPerCounter, `${shape}: ${output}`)
        assert.isAtMost(figures.bytesPerMarker, maxBytesPerMarker, `${shape}: ${output}`)
        // A measurement that found nothing would pass the bounds too.
        assert.isAtLeast(figures.bytesPerCounter, 50, `${shape}: ${output}`)
        assert.isAtLeast(figures.bytesPerMarker, 30, `${shape}: ${output}`)
      }
      assert.strictEqual(measured.longest.keyLength, 64)
    }), { timeout: 90_000 })
})
