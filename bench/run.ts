/**
 * `npm run bench [-- --quick] [-- --only borrow|memory|ldap|mail]`: runs the benchmarks, prints their tables, and
 * writes latest.json and latest.svg: to bench/results/ for a full run, to the git-ignored bench/results/scratch/
 * for `--quick` or `--only` (see output.ts). `--quick` keeps the shape (every pool, every
 * scenario, the same sizes of pool) with fewer borrows and rounds, to finish in under a minute.
 */
import { mkdirSync, writeFileSync } from "node:fs"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { runBorrowBench } from "./borrow.ts"
import { borrowChart } from "./chart.ts"
import { competitors, ours } from "./competitors.ts"
import { goals, memoryGoals } from "./goals.ts"
import { ldapGoals, runLdapBench, unavailable } from "./ldap.ts"
import { describeMachine, machine } from "./machine.ts"
import { runMailBench, unavailable as mailUnavailable } from "./mail.ts"
import { memoryTable, runMemoryBench } from "./memory.ts"
import { outputDir } from "./output.ts"
import { scenarios } from "./scenario.ts"
import { borrowTable, goalTable, ldapTable, mailTable, scalingTable } from "./table.ts"

const args = process.argv.slice(2)
const quick = args.includes("--quick")
const onlyIndex = args.indexOf("--only")
const only = onlyIndex >= 0 ? args[onlyIndex + 1] : undefined
const command = `npm run bench${args.length > 0 ? ` -- ${args.join(" ")}` : ""}`

const settings = quick ?
  { warmupRounds: 1, rounds: 3, borrows: 10_000, big: 10_000, borrowsPerWaiter: 3, logins: 600, ldapRounds: 3, warmupLogins: 100, mailLogins: 200, memoryLarge: 2_000, memoryRounds: 1 } :
  { warmupRounds: 2, rounds: 11, borrows: 100_000, big: 10_000, borrowsPerWaiter: 10, logins: 10_000, ldapRounds: 5, warmupLogins: 500, mailLogins: 2_000, memoryLarge: 10_000, memoryRounds: 5 }

const results = outputDir({ quick, only })
const shown = Path.relative(process.cwd(), fileURLToPath(results))
mkdirSync(results, { recursive: true })

const host = machine()
console.log(`${command}\n${describeMachine(host)}, load ${host.loadAverage.join(" ")}\n`)

const report: Record<string, unknown> = { command, quick, machine: host }

if (only === undefined || only === "borrow") {
  console.log(`Part 1: the cost of a borrow (${settings.warmupRounds} warm-up + ${settings.rounds} rounds)`)
  const borrow = await runBorrowBench({
    scenarios: scenarios(settings),
    competitors,
    baseline: ours.id,
    warmupRounds: settings.warmupRounds,
    rounds: settings.rounds,
    onRound: (round, warmup) => process.stdout.write(`  round ${round + 1}${warmup ? " (warm-up)" : ""}\n`)
  })
  const met = goals(borrow)
  console.log(`\nMedian time per borrow (ratio to ours, per round):\n\n${borrowTable(borrow)}\n`)
  console.log(`Scaling (per round):\n\n${scalingTable(borrow)}\n`)
  console.log(`Goals:\n\n${goalTable(met)}\n`)
  report["borrow"] = { ...borrow, goals: met }
  writeFileSync(
    new URL("latest.svg", results),
    borrowChart(borrow, `${command} · ${describeMachine(host)} · ${host.date.slice(0, 10)}`)
  )
}

if (only === undefined || only === "memory") {
  console.log(`Part 4: heap per idle connection and per waiting borrower (${settings.memoryRounds} rounds)`)
  const memory = await runMemoryBench({ small: 100, large: settings.memoryLarge, rounds: settings.memoryRounds })
  const met = memoryGoals(memory)
  console.log(
    `\nBytes of heap after a full GC: (heap with ${memory.large.toLocaleString("en")} − heap with ${memory.small}) ÷ ` +
      `${(memory.large - memory.small).toLocaleString("en")}, median over rounds:\n\n${memoryTable(memory)}\n\nGoals:\n\n${goalTable(met)}\n`
  )
  report["memory"] = { ...memory, goals: met }
}

if (only === undefined || only === "ldap") {
  const why = unavailable()
  if (why !== undefined) {
    console.log(`Part 2 (LDAP logins) skipped: ${why}.\n`)
    report["ldap"] = { skipped: why }
  } else {
    const poolSize = 16
    console.log(
      `Part 2: LDAP logins against slapd on loopback, ${settings.logins.toLocaleString("en")} per client and ` +
        `concurrency in ${settings.ldapRounds} rounds after a warm-up of ${settings.warmupLogins}`
    )
    const ldap = await runLdapBench({
      logins: settings.logins,
      rounds: settings.ldapRounds,
      warmupLogins: settings.warmupLogins,
      concurrencies: [1, 32],
      poolSize,
      onRound: (concurrency, round, warmup) =>
        process.stdout.write(`  concurrency ${concurrency}, ${warmup ? "warm-up" : `round ${round}`}\n`)
    })
    const met = ldapGoals(ldap)
    console.log(
      `\nlogins/s: median over rounds; p50/p99: over every measured login; connections and TIME_WAIT: the whole ` +
        `run, warm-up and closing included.\n\n${ldapTable(ldap)}\n\n` +
        `Goals (pooled: two pools, maxIdle = maxSize = ${poolSize}):\n\n${goalTable(met)}\n`
    )
    report["ldap"] = { ...ldap, goals: met }
  }
}

if (only === undefined || only === "mail") {
  const why = mailUnavailable()
  if (why !== undefined) {
    console.log(`Part 3 (IMAP logins through nginx) skipped: ${why}.\n`)
    report["mail"] = { skipped: why }
  } else {
    console.log(`Part 3: ${settings.mailLogins.toLocaleString("en")} IMAP logins per run, nginx → auth server → slapd`)
    const mail = await runMailBench({
      logins: settings.mailLogins,
      concurrency: 50,
      poolSize: 16,
      onRun: (setup) => process.stdout.write(`  ${setup}\n`)
    })
    console.log(`\n${mailTable(mail)}\n`)
    report["mail"] = mail
  }
}

writeFileSync(new URL("latest.json", results), JSON.stringify(report, null, 2) + "\n")
console.log(`Wrote ${shown}/latest.json${only === undefined || only === "borrow" ? " and latest.svg" : ""}`)
