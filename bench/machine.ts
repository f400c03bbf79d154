/** The machine a result was measured on, recorded next to it. */
import { readFileSync } from "node:fs"
import { availableParallelism, loadavg } from "node:os"

export interface Machine {
  readonly cpus: number
  readonly cpuModel: string
  readonly node: string
  readonly effect: string
  readonly loadAverage: ReadonlyArray<number>
  readonly date: string
}

const packageVersion = (name: string): string => {
  const json = JSON.parse(readFileSync(new URL(`../node_modules/${name}/package.json`, import.meta.url), "utf8"))
  return String(json.version)
}

const cpuModel = (): string => {
  try {
    const match = /^model name\s*:\s*(.*)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"))
    return match?.[1] ?? "unknown"
  } catch {
    return "unknown"
  }
}

export const machine = (): Machine => ({
  cpus: availableParallelism(),
  cpuModel: cpuModel(),
  node: process.version,
  effect: packageVersion("effect"),
  loadAverage: loadavg().map((l) => Math.round(l * 100) / 100),
  date: new Date().toISOString()
})

export const describeMachine = (m: Machine): string =>
  `${m.cpus} × ${m.cpuModel}, Node ${m.node}, effect ${m.effect}`
