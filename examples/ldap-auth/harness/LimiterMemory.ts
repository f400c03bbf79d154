/**
 * What the limiter's memory store holds per key, measured: a store filled to `RATE_LIMIT_MAX_KEYS` counters and
 * as many markers, V8's heap read after a full collection before and after. Keys are the policy's own (hashed,
 * 24 characters) or the longest a store must accept (`RateLimiterStore.maxKeyLength`); every counter holds one
 * hit, so it is also in the eviction index (the most a counter costs).
 *
 *   node --expose-gc --conditions=effect-connection-pool:source examples/ldap-auth/harness/LimiterMemory.ts [keys]
 *
 * prints one JSON line; `test/LimiterMemory.test.ts` runs it and holds the README's figures to it.
 */
import * as Crypto from "node:crypto"
import { Duration, Effect } from "effect"
import * as RateLimiter from "../src/RateLimiter.ts"
import * as RateLimiterStore from "../src/RateLimiterStore.ts"

export interface Measured {
  readonly keys: number
  readonly keyLength: number
  readonly bytesPerCounter: number
  readonly bytesPerMarker: number
}

const heapAfterGc = (gc: () => void) => {
  gc()
  gc()
  return process.memoryUsage().heapUsed
}

/** Fills one store with `keys` counters, then `keys` markers, named by `keyOf`. */
export const measure = (gc: () => void, keys: number, keyOf: (i: number) => string): Measured => {
  const window = Duration.minutes(5)
  const start = heapAfterGc(gc)
  const store = Effect.runSync(RateLimiterStore.makeMemory({ maxCounters: keys, maxMarkers: keys }))
  // Each key is made as a request would make it, so its string is part of what the store holds.
  for (let i = 0; i < keys; i++) Effect.runSync(store.consume([{ key: keyOf(i), limit: 10, window }]))
  const counters = heapAfterGc(gc)
  for (let i = 0; i < keys; i++) Effect.runSync(store.settle({ mark: { key: keyOf(keys + i), ttl: Duration.days(30) } }))
  const markers = heapAfterGc(gc)
  // The store must still be reachable when the heap is read.
  Effect.runSync(store.consume([{ key: keyOf(0), limit: 10, window }]))
  return {
    keys,
    keyLength: keyOf(0).length,
    bytesPerCounter: Math.round((counters - start) / keys),
    bytesPerMarker: Math.round((markers - counters) / keys)
  }
}

/** The policy's keys (a user and address, hashed) and keys of the longest length a store must take. */
export const shapes = {
  policy: (i: number) => RateLimiter.keys.nameAndAddress(`user${i}`, `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`),
  // 48 bytes in base64url: 64 characters, a flat string as the policy's own digests are.
  longest: (i: number) => Crypto.createHash("sha384").update(String(i)).digest("base64url")
}

if (import.meta.main) {
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc === undefined) throw new Error("run with node --expose-gc")
  const keys = Number(process.argv[2] ?? 100_000)
  console.log(JSON.stringify({ policy: measure(gc, keys, shapes.policy), longest: measure(gc, keys, shapes.longest) }))
}
