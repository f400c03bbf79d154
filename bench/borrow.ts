/**
 * Part 1: the cost of a borrow. Every competitor runs every scenario once per round, in an order rotated each round
 * (A, B, C, then B, C, A …) so that no pool always runs first or last; warm-up rounds are discarded. Times are
 * reported as medians, and our time is divided by each competitor's within the same round before taking the median
 * (ours ÷ theirs, lower is better), so that a slow patch on this shared machine cancels out of the ratio.
 */
import { type Competitor } from "./competitors.ts"
import { median } from "./stats.ts"
import { type Scenario, totalBorrows } from "./scenario.ts"

export interface BorrowOptions {
  readonly scenarios: ReadonlyArray<Scenario>
  readonly competitors: ReadonlyArray<Competitor>
  /** The id of the competitor that ratios are taken against (ours). */
  readonly baseline: string
  readonly warmupRounds: number
  readonly rounds: number
  readonly onRound?: (round: number, warmup: boolean) => void
}

export interface BorrowCell {
  readonly scenario: string
  readonly competitor: string
  /** Nanoseconds per borrow, one sample per measured round. */
  readonly nsPerBorrow: ReadonlyArray<number>
  readonly medianNsPerBorrow: number
  /** Ours ÷ this competitor's time, per round (1 for ours): below 1, ours is faster. */
  readonly oursOverThis: ReadonlyArray<number>
  readonly medianOursOverThis: number
}

/** A cell from its samples and ours, round by round. */
export const makeCell = (
  scenario: string,
  competitor: string,
  nsPerBorrow: ReadonlyArray<number>,
  oursNsPerBorrow: ReadonlyArray<number>
): BorrowCell => {
  const ratios = nsPerBorrow.map((value, round) => oursNsPerBorrow[round]! / value)
  return {
    scenario,
    competitor,
    nsPerBorrow,
    medianNsPerBorrow: median(nsPerBorrow),
    oursOverThis: ratios,
    medianOursOverThis: median(ratios)
  }
}

export interface BorrowResult {
  readonly baseline: string
  readonly warmupRounds: number
  readonly rounds: number
  readonly scenarios: ReadonlyArray<Scenario>
  readonly competitors: ReadonlyArray<{ readonly id: string; readonly name: string }>
  readonly cells: ReadonlyArray<BorrowCell>
}

export const runBorrowBench = async (options: BorrowOptions): Promise<BorrowResult> => {
  const { competitors, scenarios } = options
  // samples[scenario][competitor][round]
  const samples = scenarios.map(() => competitors.map(() => [] as Array<number>))
  const totalRounds = options.warmupRounds + options.rounds
  for (let round = 0; round < totalRounds; round++) {
    const warmup = round < options.warmupRounds
    options.onRound?.(round, warmup)
    for (let s = 0; s < scenarios.length; s++) {
      const scenario = scenarios[s]!
      for (let k = 0; k < competitors.length; k++) {
        const c = (k + round) % competitors.length
        const ms = await competitors[c]!.run(scenario)
        if (!warmup) samples[s]![c]!.push((ms * 1e6) / totalBorrows(scenario))
      }
    }
  }

  const baselineIndex = competitors.findIndex((c) => c.id === options.baseline)
  if (baselineIndex < 0) throw new Error(`baseline "${options.baseline}" is not among the competitors`)
  const cells = scenarios.flatMap((scenario, s) =>
    competitors.map((competitor, c) => makeCell(scenario.id, competitor.id, samples[s]![c]!, samples[s]![baselineIndex]!))
  )
  return {
    baseline: options.baseline,
    warmupRounds: options.warmupRounds,
    rounds: options.rounds,
    scenarios,
    competitors: competitors.map(({ id, name }) => ({ id, name })),
    cells
  }
}

export const cell = (result: BorrowResult, scenario: string, competitor: string): BorrowCell => {
  const found = result.cells.find((c) => c.scenario === scenario && c.competitor === competitor)
  if (found === undefined) throw new Error(`no result for ${competitor} in ${scenario}`)
  return found
}
