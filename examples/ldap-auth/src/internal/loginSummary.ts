/**
 * One `info` line per interval with the logins answered since the last one, by result, instead of a line per
 * login (those are `debug`): an operator sees the traffic and its shape, and a flood costs one line a minute. No
 * line for an interval without logins; the remainder is written when the scope closes.
 */
import { Duration, Effect, Scope } from "effect"
import type * as Metrics from "../Metrics.ts"

export interface LoginSummary {
  /** Counts one answered login; written with the next summary line. */
  readonly count: (outcome: Metrics.Outcome) => Effect.Effect<void>
}

export const make = (interval: Duration.Input): Effect.Effect<LoginSummary, never, Scope.Scope> =>
  Effect.gen(function*() {
    const every = Duration.fromInputUnsafe(interval)
    // Outcomes are a fixed set of constants, so this map stays as small as the set.
    let counts = new Map<Metrics.Outcome, number>()
    const write = Effect.suspend(() => {
      if (counts.size === 0) return Effect.void
      const written = counts
      counts = new Map()
      const total = [...written.values()].reduce((sum, n) => sum + n, 0)
      const byResult = [...written].sort(([a], [b]) => a.localeCompare(b))
      return Effect.logInfo(
        `logins since the last summary: ${total} (${byResult.map(([result, n]) => `${result} ${n}`).join(", ")})`
      ).pipe(Effect.annotateLogs(Object.fromEntries(byResult)))
    })
    yield* Effect.forkScoped(Effect.forever(Effect.andThen(Effect.sleep(every), write)))
    yield* Effect.addFinalizer(() => write)
    return {
      count: (outcome) =>
        Effect.sync(() => {
          counts.set(outcome, (counts.get(outcome) ?? 0) + 1)
        })
    }
  })
