/**
 * Profiles one pool in one scenario of part 1, for finding where a borrow's time goes:
 *
 *   node --cpu-prof --cpu-prof-dir=bench/results bench/profile.ts [competitor] [scenario] [runs]
 *   node bench/profile.ts --summarize bench/results/<file>.cpuprofile
 *
 * Defaults: ours, "one", 20 runs of the full-size scenario. The summary lists self time by function, and by file.
 */
import { readFileSync } from "node:fs"
import { competitors } from "./competitors.ts"
import { scenarios } from "./scenario.ts"

interface ProfileNode {
  readonly id: number
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number }
}

interface Profile {
  readonly nodes: ReadonlyArray<ProfileNode>
  readonly samples: ReadonlyArray<number>
}

const top = (counts: Map<string, number>, total: number, n: number): string =>
  [...counts].sort((a, b) => b[1] - a[1]).slice(0, n)
    .map(([name, count]) => `${((count / total) * 100).toFixed(1).padStart(5)}%  ${name}`).join("\n")

const root = new URL("../", import.meta.url).href

const summarize = (path: string): void => {
  const profile = JSON.parse(readFileSync(path, "utf8")) as Profile
  const byId = new Map(profile.nodes.map((node) => [node.id, node]))
  const byFunction = new Map<string, number>()
  const byFile = new Map<string, number>()
  for (const id of profile.samples) {
    const frame = byId.get(id)!.callFrame
    const file = frame.url.replace(root, "").replace(/^.*\/node_modules\//, "node_modules/") || "(native)"
    const name = `${frame.functionName || "(anonymous)"} ${file}:${frame.lineNumber + 1}`
    byFunction.set(name, (byFunction.get(name) ?? 0) + 1)
    byFile.set(file, (byFile.get(file) ?? 0) + 1)
  }
  const total = profile.samples.length
  console.log(`Self time by function:\n${top(byFunction, total, 40)}\n\nSelf time by file:\n${top(byFile, total, 20)}`)
}

if (process.argv[2] === "--summarize") {
  summarize(process.argv[3]!)
} else {
  const [competitorId = "ours", scenarioId = "one", runs = "20"] = process.argv.slice(2)
  const competitor = competitors.find((c) => c.id === competitorId)
  const scenario = scenarios({ borrows: 100_000, big: 10_000, borrowsPerWaiter: 10 }).find((s) => s.id === scenarioId)
  if (competitor === undefined || scenario === undefined) {
    throw new Error(`unknown competitor "${competitorId}" or scenario "${scenarioId}"`)
  }
  for (let i = 0; i < Number(runs); i++) {
    const ms = await competitor.run(scenario)
    console.log(`${competitor.name}, ${scenario.title}: ${((ms * 1e6) / (scenario.borrowers * scenario.borrowsPerBorrower)).toFixed(0)} ns per borrow`)
  }
}
