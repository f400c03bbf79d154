/**
 * Runs part 4 of the benchmark once on tiny sizes, so that its code paths cannot rot. The figures are not judged
 * here, only their shape: every pool measured for idle connections and for waiters, goals and table rendered.
 */
import { assert, describe, it } from "@effect/vitest"
import { memoryGoals } from "../goals.ts"
import { memoryCompetitors, memoryTable, runMemoryBench } from "../memory.ts"
import { goalTable } from "../table.ts"

describe("bench part 4: memory", () => {
  it("measures the heap per idle connection and per waiter of every pool and renders the table", async () => {
    const result = await runMemoryBench({ small: 10, large: 1_000, rounds: 2 })

    assert.strictEqual(result.cells.length, 2 * memoryCompetitors.length)
    for (const cell of result.cells) {
      assert.strictEqual(cell.bytes.length, 2, `${cell.competitor} (${cell.kind})`)
      // A waiter holds at least its fiber, and an idle connection at least its own object.
      assert.isTrue(Number.isFinite(cell.medianBytes) && cell.medianBytes > 0, `${cell.competitor} (${cell.kind})`)
    }

    const checked = memoryGoals(result)
    assert.deepStrictEqual(checked.map((goal) => goal.limit), [1, 1])
    for (const goal of checked) assert.isTrue(Number.isFinite(goal.ratio) && goal.ratio > 0, goal.description)
    assert.include(goalTable(checked), "effect/Pool.make")
    const table = memoryTable(result)
    for (const competitor of memoryCompetitors) assert.include(table, competitor.name)
  })
})
