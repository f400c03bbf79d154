/**
 * The goals for part 1, each checked against a per-round ratio: our time over a competitor's in the same
 * scenario, or our time in a large scenario over our time in its small counterpart; and those of part 4, our
 * bytes over effect/Pool's.
 */
import { type BorrowResult, cell } from "./borrow.ts"
import { memoryCell, type MemoryResult } from "./memory.ts"
import { median } from "./stats.ts"

export interface Goal {
  readonly description: string
  /** The ratio must be at most `limit`, or at least when `atLeast`. */
  readonly limit: number
  readonly atLeast?: boolean
  readonly ratio: number
  readonly met: boolean
}

const perRound = (numerator: ReadonlyArray<number>, denominator: ReadonlyArray<number>): number =>
  median(numerator.map((value, round) => value / denominator[round]!))

/** Scaling: a competitor's time per borrow with 10,000 idle or waiting over its time with 10. */
export const scaling = (result: BorrowResult, competitor: string) => ({
  idle: perRound(cell(result, "idle", competitor).nsPerBorrow, cell(result, "one", competitor).nsPerBorrow),
  waiting: perRound(cell(result, "waiting", competitor).nsPerBorrow, cell(result, "hundred", competitor).nsPerBorrow)
})

export const goals = (result: BorrowResult): ReadonlyArray<Goal> => {
  const ours = result.baseline
  const against = (scenario: string, competitor: string) =>
    perRound(cell(result, scenario, ours).nsPerBorrow, cell(result, scenario, competitor).nsPerBorrow)
  const goal = (description: string, limit: number, ratio: number): Goal => ({
    description,
    limit,
    ratio,
    met: ratio <= limit
  })
  const scale = scaling(result, ours)
  const title = (id: string) => result.scenarios.find((s) => s.id === id)!.title
  return [
    goal(`${title("one")}: ours / effect/Pool.make`, 0.8, against("one", "effect-pool")),
    goal(`${title("one")}: ours / generic-pool`, 1, against("one", "generic-pool")),
    goal(`${title("one")}: ours / Effect floor (acquireRelease)`, 1.5, against("one", "effect-floor")),
    goal(`${title("hundred")}: ours / effect/Pool.make`, 0.8, against("hundred", "effect-pool")),
    goal(`ours: ${title("idle")} / ${title("one")}`, 1.2, scale.idle),
    goal(`ours: ${title("waiting")} / ${title("hundred")}`, 1.2, scale.waiting),
    // 10,000 fibers cost the Effect runtime itself more per step than 100 (the floor shows it): this line keeps
    // only what the pool adds, which is what "no scans on the hot path" is about.
    goal(
      `the same, divided by the Effect floor's own (${scaling(result, "effect-floor").waiting.toFixed(2)}×)`,
      1.2,
      scale.waiting / scaling(result, "effect-floor").waiting
    )
  ]
}

/** Part 4: our bytes per idle connection and per waiting borrower over effect/Pool.make's, per round. */
export const memoryGoals = (result: MemoryResult): ReadonlyArray<Goal> =>
  ([["idle", "idle connection"], ["waiting", "waiting borrower"]] as const).map(([kind, what]): Goal => {
    const ratio = perRound(memoryCell(result, kind, "ours").bytes, memoryCell(result, kind, "effect-pool").bytes)
    return { description: `bytes of heap per ${what}: ours / effect/Pool.make`, limit: 1, ratio, met: ratio <= 1 }
  })
