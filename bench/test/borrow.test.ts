/**
 * Runs part 1 of the benchmark once on tiny sizes, so that its code paths cannot rot. Nothing here is timed: the
 * assertions are about shape (every pool measured every scenario, ratios exist, the outputs render).
 */
import { assert, describe, it } from "@effect/vitest"
import { runBorrowBench } from "../borrow.ts"
import { borrowChart } from "../chart.ts"
import { competitors, ours } from "../competitors.ts"
import { goals } from "../goals.ts"
import { scenarios } from "../scenario.ts"
import { borrowTable, goalTable, scalingTable } from "../table.ts"

describe("bench part 1: the cost of a borrow", () => {
  it("measures every pool in every scenario and renders the table and the chart", async () => {
    const result = await runBorrowBench({
      scenarios: scenarios({ borrows: 20, big: 40, borrowsPerWaiter: 2 }),
      competitors,
      baseline: ours.id,
      warmupRounds: 1,
      rounds: 2
    })

    assert.strictEqual(result.cells.length, result.scenarios.length * competitors.length)
    for (const cell of result.cells) {
      assert.strictEqual(cell.nsPerBorrow.length, 2, `${cell.competitor} in ${cell.scenario}`)
      assert.isTrue(cell.medianNsPerBorrow > 0, `${cell.competitor} in ${cell.scenario}`)
      assert.isTrue(Number.isFinite(cell.medianOursOverThis) && cell.medianOursOverThis > 0)
      if (cell.competitor === ours.id) assert.strictEqual(cell.medianOursOverThis, 1)
    }

    const checked = goals(result)
    assert.strictEqual(checked.length, 7)
    for (const goal of checked) assert.isTrue(Number.isFinite(goal.ratio) && goal.ratio > 0, goal.description)

    const table = borrowTable(result)
    for (const competitor of competitors) assert.include(table, competitor.name)
    assert.include(scalingTable(result), ours.name)
    assert.include(goalTable(checked), "effect/Pool.make")

    const svg = borrowChart(result, "test")
    assert.match(svg, /^<svg /)
    for (const scenario of result.scenarios) assert.include(svg, scenario.title)
    assert.strictEqual(svg.match(/<rect x=/g)?.length, result.cells.length)
  })
})
