/**
 * What the scaling part reads about the processes it runs: CPU time from `/proc/<pid>/stat` (user + system, so
 * a server's cost per login is its own and not the load generator's, which shares the machine), the pid of a
 * slapd from its command line, and what a redis-server is asked, from `redis-cli monitor`.
 */
import * as ChildProcess from "node:child_process"
import { readdirSync, readFileSync } from "node:fs"
import * as Path from "node:path"
import { Effect, Scope } from "effect"
import * as ServerProcess from "../examples/ldap-auth/harness/ServerProcess.ts"

let ticks: number | undefined

/** Clock ticks per second of `/proc/<pid>/stat`'s times (`getconf CLK_TCK`, 100 on Linux). */
const clockTicks = (): number => (ticks ??= Number(ChildProcess.execFileSync("getconf", ["CLK_TCK"]).toString().trim()))

/** CPU seconds a process has used so far, user + system; NaN once it is gone. */
export const cpuSeconds = (pid: number): number => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    return (Number(fields[11]) + Number(fields[12])) / clockTicks()
  } catch {
    return Number.NaN
  }
}

/** The pid of the running `command` whose command line contains `needle` (a port), or undefined. */
export const findPid = (command: string, needle: string): number | undefined => {
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const args = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0")
      if (Path.basename(args[0] ?? "") === command && args.some((arg) => arg.includes(needle))) return Number(entry)
    } catch {
      // The process ended while the list was read.
    }
  }
  return undefined
}

/** Commands per name, as `redis-cli monitor` saw them between two marks: sent by clients, and run by scripts. */
export interface Monitored {
  readonly sent: Record<string, number>
  readonly inScripts: Record<string, number>
}

const monitorLine = /^\d+\.\d+ \[\d+ (\S+)\] "([^"]+)"/

/**
 * `redis-cli monitor` on the Redis at `port`, stopped when the scope closes. `mark` returns what ran since the
 * previous mark: it sends an `ECHO` of its own (not counted) and waits until the monitor shows it, so that every
 * command before it is in.
 */
export const redisMonitor = (port: number): Effect.Effect<Effect.Effect<Monitored>, never, Scope.Scope> =>
  Effect.gen(function*() {
    const child = yield* Effect.acquireRelease(
      Effect.sync(() =>
        ChildProcess.spawn("redis-cli", ["-h", "127.0.0.1", "-p", String(port), "monitor"], {
          stdio: ["ignore", "pipe", "ignore"],
          env: ServerProcess.commandEnv
        })
      ),
      (child) => Effect.sync(() => child.kill("SIGKILL"))
    )
    let partial = ""
    let lines: Array<string> = []
    child.stdout!.on("data", (chunk: Buffer) => {
      const parts = (partial + chunk.toString("utf8")).split("\n")
      partial = parts.pop()!
      lines.push(...parts)
    })
    let marks = 0
    const mark = Effect.gen(function*() {
      const token = `scaling-mark-${marks++}`
      const seen = () => lines.findIndex((line) => line.toLowerCase().endsWith(`"echo" "${token}"`))
      // Until the monitor is attached, an ECHO goes unseen: send again until one shows.
      while (seen() < 0) {
        yield* ServerProcess.execute("redis-cli", ["-h", "127.0.0.1", "-p", String(port), "ECHO", token]).pipe(Effect.orDie)
        for (let wait = 0; wait < 100 && seen() < 0; wait++) yield* Effect.sleep("10 millis")
      }
      const taken = lines.slice(0, seen())
      lines = lines.slice(seen() + 1)
      const monitored: Monitored = { sent: {}, inScripts: {} }
      for (const line of taken) {
        const match = monitorLine.exec(line)
        if (match === null) continue
        const counts = match[1] === "lua" ? monitored.inScripts : monitored.sent
        const command = match[2]!.toLowerCase()
        if (command !== "echo") counts[command] = (counts[command] ?? 0) + 1
      }
      return monitored
    })
    yield* mark
    return mark
  })
