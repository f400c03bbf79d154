/**
 * Where the login limiter keeps its counters: a small interface that `RateLimiter` (the policy: which keys,
 * which limits, familiar sources) drives, with an in-memory layer here and room for a shared one (Redis) so that
 * several auth servers see the same limits.
 *
 * Every operation is one atomic step on the store: the memory layer runs it synchronously, a Redis layer runs
 * it as one Lua script. The policy never reads a counter and writes it in two steps, so N concurrent guesses
 * cannot all pass a check that only the first should pass.
 */
import { Clock, Context, Duration, Effect, Layer } from "effect"

/**
 * One fixed-window failure counter touched by `consume`. Keys are built by the policy, at most `maxKeyLength`
 * characters, never raw client input.
 */
export interface Counter {
  readonly key: string
  /** `consume` refuses when the counter already holds this many. */
  readonly limit: number
  /** The window starts at the counter's first hit and is never extended; the store forgets it at its end. */
  readonly window: Duration.Duration
  /** A marker key (see `settle`'s `mark`): while it exists, the limit is not checked, but the hit still counts. */
  readonly waivedBy?: string | undefined
}

/** What `consume` did. `Refused` counted nothing at all; `key` is the first counter at its limit. */
export type Consumed =
  | { readonly _tag: "Counted" }
  | { readonly _tag: "Refused"; readonly key: string }

/** What to do once the outcome of an attempt is known; all of it is one atomic step. */
export interface Settlement {
  /** Take back one hit from each existing counter (never below 0, the window's end unchanged). */
  readonly refund?: ReadonlyArray<string> | undefined
  /** Forget these counters. */
  readonly reset?: ReadonlyArray<string> | undefined
  /** Create or renew a marker that lives for `ttl`. */
  readonly mark?: { readonly key: string; readonly ttl: Duration.Duration } | undefined
}

/**
 * The storage contract. Atomicity: each call is one indivisible step against the shared state: no other call's
 * effects interleave with it.
 *
 * - `consume(counters)`: if any counter whose limit is not waived (its `waivedBy` marker exists and is unexpired)
 *   already holds `limit` hits, change nothing and answer `Refused` with that counter's key. Otherwise add one
 *   hit to every counter, creating an absent or expired one with a window of `window` from now (an existing
 *   window keeps its end), and answer `Counted`. A store that has no room for a new counter must refuse rather
 *   than forget a counter that is at or over its limit.
 * - `settle(settlement)`: refunds, resets and the marker together.
 *
 * Neither fails: a store backed by a remote server falls back to local state when it cannot reach it (a login
 * must never be let in, nor a right password refused, because the store is down).
 */
export class RateLimiterStore extends Context.Service<RateLimiterStore, {
  readonly consume: (counters: ReadonlyArray<Counter>) => Effect.Effect<Consumed>
  readonly settle: (settlement: Settlement) => Effect.Effect<void>
}>()("effect-connection-pool/examples/RateLimiterStore") {}

/** The longest key the policy builds; a store may rely on it to bound its memory. */
export const maxKeyLength = 64

export interface MemoryOptions {
  /** Counters kept at most. Default 100,000. */
  readonly maxCounters?: number | undefined
  /** Markers kept at most; the oldest is forgotten first. Default 100,000. */
  readonly maxMarkers?: number | undefined
}

interface Window {
  count: number
  readonly limit: number
  readonly endsAt: number
}

/**
 * The store in this process's memory, bounded whatever arrives. When it is full, expired windows go first, then
 * a window with the fewest hits (oldest first among equals), never one at or over its limit: an attacker can only
 * push out windows that hold less than its own, and cannot choose which. When every window is at its limit a new
 * one is refused (and the attempt with it) until windows end.
 */
export const makeMemory = (options: MemoryOptions = {}): Effect.Effect<Context.Service.Shape<typeof RateLimiterStore>> =>
  Effect.sync(() => {
    const maxCounters = options.maxCounters ?? 100_000
    const maxMarkers = options.maxMarkers ?? 100_000
    for (const [name, value] of [["maxCounters", maxCounters], ["maxMarkers", maxMarkers]] as const) {
      if (!Number.isSafeInteger(value) || value < 1) {
        throw new RangeError(`RateLimiterStore: ${name} must be a positive integer, got ${value}`)
      }
    }
    // Insertion order is creation order, so the first entries are the ones whose windows began longest ago.
    const windows = new Map<string, Window>()
    // Windows below their limit, by hit count: the eviction candidates, oldest first within a count.
    const byCount: Array<Set<string>> = []
    const markers = new Map<string, number>()

    const unlist = (key: string, window: Window) => {
      if (window.count < window.limit) byCount[window.count]?.delete(key)
    }
    const list = (key: string, window: Window) => {
      if (window.count < window.limit) (byCount[window.count] ??= new Set()).add(key)
    }
    const forget = (key: string, window: Window) => {
      unlist(key, window)
      windows.delete(key)
    }
    const live = (key: string, now: number) => {
      const window = windows.get(key)
      if (window === undefined || window.endsAt > now) return window
      forget(key, window)
      return undefined
    }
    const marked = (key: string | undefined, now: number) => {
      if (key === undefined) return false
      const endsAt = markers.get(key)
      if (endsAt === undefined) return false
      if (endsAt > now) return true
      markers.delete(key)
      return false
    }
    /** Makes room for `needed` new windows, or says there is none. */
    const makeRoom = (needed: number, now: number) => {
      for (const [key, window] of windows) {
        if (windows.size + needed <= maxCounters || window.endsAt > now) break
        forget(key, window)
      }
      while (windows.size + needed > maxCounters) {
        const bucket = byCount.find((keys) => keys !== undefined && keys.size > 0)
        if (bucket === undefined) return false
        const key = bucket.values().next().value!
        forget(key, windows.get(key)!)
      }
      return true
    }

    const consume = (counters: ReadonlyArray<Counter>) =>
      Effect.map(Clock.currentTimeMillis, (now): Consumed => {
        let fresh = 0
        for (const counter of counters) {
          const window = live(counter.key, now)
          if (window === undefined) fresh++
          else if (window.count >= counter.limit && !marked(counter.waivedBy, now)) {
            return { _tag: "Refused", key: counter.key }
          }
        }
        if (fresh > 0 && !makeRoom(fresh, now)) return { _tag: "Refused", key: counters[0]?.key ?? "" }
        for (const counter of counters) {
          const window = windows.get(counter.key) ??
            { count: 0, limit: counter.limit, endsAt: now + Duration.toMillis(counter.window) }
          unlist(counter.key, window)
          window.count++
          windows.set(counter.key, window)
          list(counter.key, window)
        }
        return { _tag: "Counted" }
      })

    const settle = (settlement: Settlement) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        for (const key of settlement.refund ?? []) {
          const window = live(key, now)
          if (window === undefined || window.count === 0) continue
          unlist(key, window)
          window.count--
          list(key, window)
        }
        for (const key of settlement.reset ?? []) {
          const window = windows.get(key)
          if (window !== undefined) forget(key, window)
        }
        if (settlement.mark !== undefined) {
          const { key, ttl } = settlement.mark
          markers.delete(key)
          if (markers.size >= maxMarkers) markers.delete(markers.keys().next().value!)
          markers.set(key, now + Duration.toMillis(ttl))
        }
      })

    return RateLimiterStore.of({ consume, settle })
  })

/** `makeMemory` as a layer. */
export const layerMemory = (options: MemoryOptions = {}): Layer.Layer<RateLimiterStore> =>
  Layer.effect(RateLimiterStore, makeMemory(options))
