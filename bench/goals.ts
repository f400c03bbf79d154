/**
 * The goals for part 1, and the one direction every ratio of the benchmark is written in: ours ÷ theirs, of a
 * cost (time, connections, sockets), so that lower is better and below 1 ours costs less. Each goal is checked
 * against a per-round ratio: our time over a competitor's in the same scenario and round, or our time in a large
 * scenario over our time in its small counterpart;
 * and for the memory part, our bytes over effect/Pool's.
 */
import { type BorrowResult, cell } from "./borrow.ts"
import { memoryCell, type MemoryResult } from "./memory.ts"
import { median } from "./stats.ts"

/** How every ratio reads, named once for the tables, the charts and the README. */
export const ratioDirection = "ours ÷ theirs, time: lower is better"

export interface Goal {
  readonly description: string
  /**
   * The ratio must be at most `limit`, or at least when `atLeast`: kept for a ratio that is no cost of ours over
   * theirs, and printed "higher is better"; a goal on ours ÷ theirs is `atMost`.
   */
  readonly limit: number
  readonly atLeast?: boolean
  readonly ratio: number
  readonly met: boolean
  /** What explains a miss, from what was measured; shown next to a goal that is not met. */
  readonly why?: string | undefined
}

/** The median of the ratios of `numerator` to `denominator` taken round by round. */
export const perRound = (numerator: ReadonlyArray<number>, denominator: ReadonlyArray<number>): number =>
  median(numerator.map((value, round) => value / denominator[round]!))

/** Our time per borrow over `competitor`'s in `scenario`, median of the per-round ratios (1 for ours). */
export const oursOverTheirs = (result: BorrowResult, scenario: string, competitor: string): number =>
  cell(result, scenario, competitor).medianOursOverThis

/** Scaling: a competitor's time per borrow with 10,000 idle or waiting over its time with 10. */
export const scaling = (result: BorrowResult, competitor: string) => ({
  idle: perRound(cell(result, "idle", competitor).nsPerBorrow, cell(result, "one", competitor).nsPerBorrow),
  waiting: perRound(cell(result, "waiting", competitor).nsPerBorrow, cell(result, "hundred", competitor).nsPerBorrow)
})

/** A goal on a ratio that must stay at or below `limit`. */
export const atMost = (description: string, limit: number, ratio: number, why?: string): Goal => ({
  description,
  limit,
  ratio,
  met: ratio <= limit,
  ...(ratio <= limit || why === undefined ? {} : { why })
})

export const goals = (result: BorrowResult): ReadonlyArray<Goal> => {
  const against = (scenario: string, competitor: string) => oursOverTheirs(result, scenario, competitor)
  const scale = scaling(result, result.baseline)
  const floor = scaling(result, "effect-floor").waiting
  const title = (id: string) => result.scenarios.find((s) => s.id === id)!.title
  return [
    atMost(
      `${title("one")}: ours ÷ effect/Pool.make (aiming for 0.8×)`,
      1,
      against("one", "effect-pool"),
      "two clock reads per borrow where effect/Pool makes one: the use-time metric needs the time at lend and at " +
        "return. A read costs about 100 ns on a virtualised machine; with the clock stubbed out (a diagnostic run, " +
        "not a setting) ours took 0.79–0.93× effect/Pool's CPU"
    ),
    atMost(`${title("one")}: ours ÷ generic-pool`, 1, against("one", "generic-pool")),
    atMost(`${title("one")}: ours ÷ Effect floor (acquireRelease)`, 1.5, against("one", "effect-floor")),
    atMost(
      `${title("hundred")}: ours ÷ effect/Pool.make`,
      0.8,
      against("hundred", "effect-pool"),
      "the ratio moved between 0.72× and 0.89× over this code's recent full runs on a 2-core shared machine, " +
        "which is more than its margin to the limit; where the rest goes was not profiled"
    ),
    atMost(`ours: ${title("idle")} ÷ ${title("one")}`, 1.2, scale.idle),
    atMost(
      `ours: ${title("waiting")} ÷ ${title("hundred")}`,
      1.2,
      scale.waiting,
      `the Effect runtime itself slows down with 10,000 fibers: the Effect floor's own time grows ${
        floor.toFixed(2)
      }× between the same two scenarios; net of that (next goal) the pool adds ${(scale.waiting / floor).toFixed(2)}×`
    ),
    // 10,000 fibers cost the Effect runtime itself more per step than 100 (the floor shows it): this line keeps
    // only what the pool adds, which is what "no scans on the hot path" is about.
    atMost(`the same, divided by the Effect floor's own (${floor.toFixed(2)}×)`, 1.2, scale.waiting / floor)
  ]
}

/** The memory part: our bytes per idle connection and per waiting borrower over effect/Pool.make's, per round. */
export const memoryGoals = (result: MemoryResult): ReadonlyArray<Goal> =>
  ([["idle", "idle connection"], ["waiting", "waiting borrower"]] as const).map(([kind, what]): Goal =>
    atMost(
      `bytes of heap per ${what}: ours ÷ effect/Pool.make`,
      1,
      perRound(memoryCell(result, kind, "ours").bytes, memoryCell(result, kind, "effect-pool").bytes)
    ))
