/**
 * `npm run bench [-- --quick] [-- --only borrow|memory|ldap|server|mail|scaling]`: runs the benchmarks, prints their tables, and
 * writes latest.json, latest.svg and ldap.svg: to bench/results/ for a full run, which also rewrites the README's
 * Performance section, to the git-ignored bench/results/scratch/ for `--quick` or `--only` (see output.ts).
 * `--quick` keeps the shape (every pool, every scenario, the same sizes of pool) with fewer borrows and rounds, to
 * finish in under a minute. `npm run bench:render` (`--render`) measures nothing: it redraws the charts and the
 * README from the committed bench/results/latest.json.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { runBorrowBench } from "./borrow.ts"
import { churnGoals, runChurnBench } from "./churn.ts"
import { competitors, ours } from "./competitors.ts"
import { goals, memoryGoals, ratioDirection } from "./goals.ts"
import { ldapGoals, runLdapBench, transports, unavailable } from "./ldap.ts"
import { describeMachine, machine } from "./machine.ts"
import { mailGoals, runMailBench, unavailable as mailUnavailable } from "./mail.ts"
import { memoryTable, runMemoryBench } from "./memory.ts"
import { outputDir } from "./output.ts"
import { costTable, examplePlatform, roundTripTable, size, sizingTable } from "./platform.ts"
import * as Readme from "./readme.ts"
import * as Report from "./report.ts"
import { scenarios } from "./scenario.ts"
import { runScalingBench, unavailable as scalingUnavailable } from "./scaling.ts"
import { runServerBench, serverGoals, unavailable as serverUnavailable } from "./server.ts"
import { borrowTable, churnTable, goalTable, ldapTable, mailTable, scalingTable, serverTable } from "./table.ts"

const args = process.argv.slice(2)
const readmeFile = new URL("../README.md", import.meta.url)

/** Writes the report and its charts into `dir`, and for the committed results the README too. */
const publish = (report: Report.Report, dir: URL, readme: boolean) => {
  const written = Report.write(report, dir).map((name) => Path.relative(process.cwd(), fileURLToPath(new URL(name, dir))))
  if (readme) {
    writeFileSync(readmeFile, Readme.update(readFileSync(readmeFile, "utf8"), report))
    written.push("README.md")
  }
  console.log(`Wrote ${written.join(", ")}`)
}

if (args.includes("--render")) {
  const dir = outputDir({ quick: false, only: undefined })
  publish(Report.derive(Report.read(new URL("latest.json", dir))), dir, true)
  process.exit(0)
}

const quick = args.includes("--quick")
const onlyIndex = args.indexOf("--only")
const only = onlyIndex >= 0 ? args[onlyIndex + 1] : undefined
const command = `npm run bench${args.length > 0 ? ` -- ${args.join(" ")}` : ""}`

const settings = quick ?
  { warmupRounds: 1, rounds: 3, borrows: 10_000, big: 10_000, borrowsPerWaiter: 3, logins: 600, ldapRounds: 3, roundSeconds: 0.5, warmupLogins: 100, serverLogins: 1_500, serverRoundSeconds: 1, mailLogins: 300, mailRounds: 2, memoryLarge: 2_000, memoryRounds: 1 } :
  { warmupRounds: 2, rounds: 11, borrows: 100_000, big: 10_000, borrowsPerWaiter: 10, logins: 10_000, ldapRounds: 5, roundSeconds: 2, warmupLogins: 500, serverLogins: 10_000, serverRoundSeconds: 4, mailLogins: 3_000, mailRounds: 3, memoryLarge: 10_000, memoryRounds: 5 }

const results = outputDir({ quick, only })
mkdirSync(results, { recursive: true })

const host = machine()
console.log(`${command}\n${describeMachine(host)}, load ${host.loadAverage.join(" ")}\nEvery ratio: ${ratioDirection}.\n`)

const report: { -readonly [K in keyof Report.Report]: Report.Report[K] } = { command, quick, machine: host }

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
  console.log(`\nMedian time per borrow (in brackets: ${ratioDirection}, per round):\n\n${borrowTable(borrow)}\n`)
  console.log(`Scaling (large ÷ small, time per borrow: lower is better, per round):\n\n${scalingTable(borrow)}\n`)
  console.log(`Goals:\n\n${goalTable(met)}\n`)
  report.borrow = { ...borrow, goals: met }
}

if (only === undefined || only === "memory") {
  console.log(`Memory: heap per idle connection and per waiting borrower (${settings.memoryRounds} rounds)`)
  const memory = await runMemoryBench({ small: 100, large: settings.memoryLarge, rounds: settings.memoryRounds })
  const met = memoryGoals(memory)
  console.log(
    `\nBytes of heap after a full GC: (heap with ${memory.large.toLocaleString("en")} − heap with ${memory.small}) ÷ ` +
      `${(memory.large - memory.small).toLocaleString("en")}, median over rounds:\n\n${memoryTable(memory)}\n\nGoals:\n\n${goalTable(met)}\n`
  )
  report.memory = { ...memory, goals: met }
}

if (only === undefined || only === "ldap") {
  const why = unavailable()
  if (why !== undefined) {
    console.log(`Part 2 (LDAP logins) skipped: ${why}.\n`)
    report.ldap = { skipped: why }
  } else {
    const poolSize = 16
    console.log(
      `Part 2: LDAP logins against slapd on loopback over ldap://, ldaps:// and StartTLS, at most ` +
        `${settings.logins.toLocaleString("en")} per client, transport and concurrency in ${settings.ldapRounds} ` +
        `rounds of at most ${settings.roundSeconds} s each, after a warm-up of ${settings.warmupLogins}`
    )
    const ldap = await runLdapBench({
      logins: settings.logins,
      rounds: settings.ldapRounds,
      roundSeconds: settings.roundSeconds,
      warmupLogins: settings.warmupLogins,
      concurrencies: [1, 32],
      poolSize,
      onRound: (concurrency, round, warmup) =>
        process.stdout.write(`  concurrency ${concurrency}, ${warmup ? "warm-up" : `round ${round}`}\n`)
    })
    const met = ldapGoals(ldap)
    const byTransport = transports.map((transport) =>
      `${transport}:\n\n${ldapTable({ ...ldap, runs: ldap.runs.filter((run) => run.transport === transport) })}`
    )
    console.log(
      `\nlogins/s: median over rounds; p50/p99: over every measured login; connections and TIME_WAIT: the whole ` +
        `run, warm-up and closing included.\n\n${byTransport.join("\n\n")}\n\n` +
        `Goals (pooled: two pools, maxIdle = maxSize = ${poolSize}; per-login: a search and a bind connection per ` +
        `login):\n\n${goalTable(met)}\n`
    )
    const churn = await runChurnBench({
      logins: settings.logins,
      warmupLogins: settings.warmupLogins,
      concurrency: 32,
      settings: [{ maxIdle: 4, maxSize: 16 }, { maxIdle: 16, maxSize: 16 }]
    })
    const churnMet = churnGoals(churn)
    console.log(
      `Churn: ${settings.logins.toLocaleString("en")} logins, 32 at once, after ${settings.warmupLogins} of warm-up ` +
        `(plain ldap://, connections from slapd's log):\n\n${churnTable(churn)}\n\n${goalTable(churnMet)}\n`
    )
    report.ldap = { ...ldap, goals: met }
    report.churn = { runs: churn, goals: churnMet }
  }
}

if (only === undefined || only === "server") {
  const why = unavailable() ?? serverUnavailable()
  if (why !== undefined) {
    console.log(`Part 3 (the whole server) skipped: ${why}.\n`)
    report.server = { skipped: why }
  } else {
    console.log(
      `Part 3: logins through GET /auth over ldaps://, 32 clients, at most ${settings.serverLogins.toLocaleString("en")} ` +
        `per server in ${settings.ldapRounds} rounds of at most ${settings.serverRoundSeconds} s each`
    )
    const server = await runServerBench({
      logins: settings.serverLogins,
      rounds: settings.ldapRounds,
      roundSeconds: settings.serverRoundSeconds,
      warmupLogins: settings.warmupLogins,
      concurrency: 32,
      poolSize: 16,
      onRound: (round, warmup) => process.stdout.write(`  ${warmup ? "warm-up" : `round ${round}`}\n`)
    })
    const met = serverGoals(server)
    console.log(
      `\nlogins/s and CPU per login (the server process's user + system time): median over rounds.\n\n` +
        `${serverTable(server)}\n\nThe pooled server answers ${Math.round(server.pooledLoginsPerCoreSecond).toLocaleString("en")} ` +
        `logins per second of one core's CPU.\n\nGoals:\n\n${goalTable(met)}\n`
    )
    report.server = { ...server, goals: met }
  }
}

if (only === undefined || only === "mail") {
  const why = mailUnavailable()
  if (why !== undefined) {
    console.log(`Part 4 (IMAP logins through nginx) skipped: ${why}.\n`)
    report.mail = { skipped: why }
  } else {
    console.log(
      `Part 4: ${settings.mailLogins.toLocaleString("en")} IMAP logins per setup in ${settings.mailRounds} rounds, ` +
        `nginx → auth server → slapd over ldaps://`
    )
    const mail = await runMailBench({
      logins: settings.mailLogins,
      rounds: settings.mailRounds,
      concurrency: 50,
      poolSize: 16,
      onRun: (setup, round) => process.stdout.write(`  ${setup}, round ${round}\n`)
    })
    const met = mailGoals(mail)
    console.log(`\n${mailTable(mail)}\n\nGoals:\n\n${goalTable(met)}\n`)
    report.mail = { ...mail, goals: met }
  }
}

if (only === undefined || only === "scaling") {
  const why = scalingUnavailable()
  if (why !== undefined) {
    console.log(`Part 5 (one auth server's cost, for scaling) skipped: ${why}.\n`)
    report.scaling = { skipped: why }
  } else {
    const scale = quick ? { logins: 600, rounds: 3, warmupLogins: 100 } : { logins: 6_000, rounds: 5, warmupLogins: 500 }
    console.log(
      `Part 5: ${scale.logins.toLocaleString("en")} right-password logins per LDAP transport straight to \`ldap-auth ` +
        `serve\` (REDIS_URL set), 4 then 32 at a time, each in ${scale.rounds} interleaved rounds after a warm-up of ` +
        `${scale.warmupLogins}`
    )
    const scaling = await runScalingBench({
      ...scale,
      concurrencies: [4, 32],
      poolSize: 16,
      roundTripLogins: 30,
      onRound: (concurrency, round, warmup) =>
        process.stdout.write(`  concurrency ${concurrency}, ${warmup ? "warm-up" : `round ${round}`}\n`)
    })
    const sizing = size(scaling, "ldaps")
    console.log(
      `\nCPU: user + system seconds of each process over the round (/proc, INFO cpu), median over rounds; logins/s ` +
        `is wall time on a shared machine.\n\n${costTable(scaling)}\n\nRedis round trips per login, one at a ` +
        `time (redis-cli monitor):\n\n${roundTripTable(scaling)}\n\nRedis keys at the end: ` +
        `${scaling.redisKeys.keys.toLocaleString("en")}, ${scaling.redisKeys.expiring.toLocaleString("en")} of them ` +
        `with an expiry, about ${Math.round(scaling.redisKeys.bytesPerKey)} bytes each (used_memory).\n\n` +
        `${examplePlatform.nginxHosts} nginx hosts, ` +
        `${examplePlatform.loginsPerHour.toLocaleString("en")} logins an hour: ${sizing.authServers} auth servers, ` +
        `${sizing.ldapConnectionsOnDirectory} LDAP connections on the directory (at most ` +
        `${sizing.ldapConnectionsAtMost}):\n\n${sizingTable(sizing)}\n`
    )
    report.scaling = scaling
  }
}

publish(report, results, !quick && only === undefined)
