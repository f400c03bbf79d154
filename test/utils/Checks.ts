/**
 * Checks shared by the pool's tests: the identities `Stats` documents, and log
 * lines captured as text.
 */
import { assert } from "@effect/vitest"
import { Effect, Logger } from "effect"
import type * as ConnectionPool from "../../src/ConnectionPool.ts"

/** The identities `Stats` documents, which hold at every instant. */
export const identities = (stats: ConnectionPool.Stats, maxSize = Infinity): void => {
  assert.strictEqual(stats.total, stats.idle + stats.inUse + stats.opening + stats.closing, "total")
  assert.strictEqual(stats.created - stats.closed, stats.idle + stats.inUse + stats.closing, "created - closed")
  assert.isAtMost(stats.total, maxSize, "maxSize")
}

/** Runs `body` with every log line, in logfmt, pushed onto `lines`. */
export const capturing = <A, E, R>(lines: Array<string>, body: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  body.pipe(Effect.provide(Logger.layer([Logger.map(Logger.formatLogFmt, (line) => void lines.push(line))])))
