/**
 * The README's Performance section below its heading, written from a report: every figure in it comes from
 * `latest.json`, so it cannot drift from the results (`bench/test/readme.test.ts` checks the committed README
 * against the committed report). `npm run bench:render` and a full `npm run bench` rewrite it.
 */
import { oursOverTheirs, perRound, ratioDirection, scaling } from "./goals.ts"
import type { LdapResult, LdapRun } from "./ldap.ts"
import { describeMachine } from "./machine.ts"
import type { MailResult } from "./mail.ts"
import { ran, type Report, transportOf } from "./report.ts"
import { borrowTable, clientNames, goalTable, mailTable } from "./table.ts"

export const begin = "<!-- Written by `npm run bench:render` from bench/results/latest.json: edit bench/readme.ts, not this. -->"
export const end = "<!-- End of the part written from bench/results/latest.json. -->"

const x = (ratio: number) => `${ratio.toFixed(2)}×`
const count = (n: number) => Math.round(n).toLocaleString("en")
const percent = (ratio: number) => `${(100 * ratio).toFixed(ratio < 0.01 ? 2 : 1)}%`
const row = (cells: ReadonlyArray<string>): string => `| ${cells.join(" | ")} |`

/** Prose wrapped at the README's width; a bullet's lines continue under its text. Tables and images stay whole. */
const wrap = (paragraph: string, width = 115): string => {
  if (/^[|!<]/.test(paragraph)) return paragraph
  const indent = paragraph.startsWith("- ") ? "  " : ""
  const lines: Array<string> = []
  let current = ""
  for (const word of paragraph.split(" ")) {
    if (current !== "" && current.length + 1 + word.length > width) {
      lines.push(current)
      current = indent + word
    } else current = current === "" ? word : `${current} ${word}`
  }
  return [...lines, current].join("\n")
}

const intro = (report: Report): string => {
  const borrow = ran(report.borrow)
  const rounds = borrow === undefined ? "" :
    ` Times per borrow are medians over ${borrow.rounds} interleaved rounds after ${borrow.warmupRounds} warm-up rounds.`
  return [
    ...(ran(report.ldap) === undefined && ran(report.mail) === undefined ? [] : ["![LDAP logins: the pool against a connection per login](bench/results/ldap.svg)", ""]),
    `**Every ratio here is ${ratioDirection}** (below 1×, ours costs less); connections and sockets are ` +
      `compared the same way, ours ÷ theirs of the count. Logins/s are shown as measured (higher is better) and ` +
      `compared through their inverse, the time per login. Each ratio is taken within a round, then the median ` +
      `of the rounds, so a slow patch on the shared machine cancels out.`,
    "",
    `Produced by \`${report.command}\` on ${describeMachine(report.machine)}, ${report.machine.date.slice(0, 10)} ` +
      `(load ${report.machine.loadAverage.join(" ")} at the start).${rounds} Every per-round sample is in ` +
      "`bench/results/latest.json` in the repository; `npm run bench:render` redraws the charts and this section " +
      "from it. `npm run bench -- --quick` runs the same shape on small sizes; it and `--only` write to the " +
      "git-ignored `bench/results/scratch/`, so only a full run replaces the results shown here. CI times nothing, " +
      "but `npm test` runs every part of the benchmark once on tiny sizes so it cannot rot."
  ].join("\n")
}

const goalsPart = (report: Report): string => {
  const borrow = ran(report.borrow)
  const ldap = ran(report.ldap)
  const all = [...(borrow?.goals ?? []), ...(ldap?.goals ?? [])]
  const missed = all.filter((goal) => !goal.met).length
  return [
    "### Goals",
    "",
    `${all.length - missed} of ${all.length} met. Each limit is on ${ratioDirection}, or large ÷ small for scaling.`,
    ...(borrow === undefined ? [] : ["", "**The cost of a borrow**", "", goalTable(borrow.goals)]),
    ...(ldap === undefined ? [] : ["", "**LDAP logins** (two pools, `maxIdle` = `maxSize` = " + ldap.poolSize + ")", "", goalTable(ldap.goals)])
  ].join("\n")
}

const ldapPart = (ldap: LdapResult): string => {
  // Runs over TLS name their transport: a ratio compares runs over the same one.
  const tls = ldap.runs.some((r) => transportOf(r) !== undefined)
  const find = (client: string, like: LdapRun) =>
    ldap.runs.find((r) => r.client === client && r.concurrency === like.concurrency && transportOf(r) === transportOf(like))
  const timeRatio = (a: LdapRun, b: LdapRun) => perRound(b.loginsPerSecondByRound, a.loginsPerSecondByRound)
  const table = [
    row([...(tls ? ["transport"] : []), "client", "concurrency", "logins/s", "p50", "p99", "LDAP connections opened", "TIME_WAIT left", "pooled ÷ this, time per login"]),
    row([...(tls ? ["---"] : []), "---", "---:", "---:", "---:", "---:", "---:", "---:", "---:"]),
    ...ldap.runs.map((run) => {
      const pooled = find("pooled", run)
      return row([
        ...(tls ? [transportOf(run) ?? ""] : []),
        clientNames[run.client] ?? run.client,
        String(run.concurrency),
        count(run.loginsPerSecond),
        `${run.p50Millis.toFixed(2)} ms`,
        `${run.p99Millis.toFixed(2)} ms`,
        count(run.connectionsAccepted),
        count(run.timeWaitAfter),
        pooled === undefined ? "" : x(timeRatio(pooled, run))
      ])
    })
  ]
  const pairs = ldap.runs.filter((r) => r.client === "pooled").flatMap((pooled) => {
    const perLogin = find("per-login", pooled)
    return perLogin === undefined ? [] : [{ pooled, perLogin }]
  })
  const agree = ldap.runs.every((r) => r.connectionsAccepted === r.connectionsOpenedClient)
  const times = pairs.map(({ perLogin, pooled }) => timeRatio(pooled, perLogin))
  // Over TLS the per-login closes left no TIME_WAIT to compare with: the share is taken where there were some.
  const sockets = pairs.filter(({ perLogin }) => perLogin.timeWaitAfter > 0).map(({ perLogin, pooled }) =>
    pooled.timeWaitAfter / perLogin.timeWaitAfter
  )
  const range = (values: ReadonlyArray<number>, format: (v: number) => string) =>
    values.length === 0 ? "n/a" : `${format(Math.min(...values))}–${format(Math.max(...values))}`
  const most = Math.max(...pairs.map(({ pooled }) => pooled.connectionsAccepted))
  return [
    "### LDAP logins",
    "",
    `Against slapd on loopback, ${count(ldap.logins)} logins per client and concurrency (search + bind), ` +
      `${ldap.rounds} rounds after ${count(ldap.warmupLogins)} warm-up logins; connections and TIME_WAIT over the whole run:`,
    "",
    ...table,
    "",
    `Connections are counted from the client and from slapd's own log (they ${agree ? "agree" : "disagree"}; ` +
      "`ss` undercounts because Linux reuses loopback ports still in TIME_WAIT). The pool opens at most " +
      `${most} connections, no more than its two \`maxSize\` of ${ldap.poolSize}, and leaves ` +
      `${range(sockets, percent)} of connection-per-login's TIME_WAIT sockets where that left any. It takes ` +
      `${range(times, x)} the time per login of connection-per-login here: least over TLS, where every new ` +
      "connection costs a handshake on both ends; most on plain loopback, where connecting costs little and slapd " +
      "shares the two cores with the client."
  ].join("\n")
}

const mailPart = (mail: MailResult): string => {
  const pooled = mail.runs.find((r) => r.setup === "pooled")
  const bare = mail.runs.find((r) => r.setup === "no reuse")
  const first = mail.runs[0]
  const summary = pooled === undefined || bare === undefined ? [] : [
    "",
    `Pooled ÷ no reuse: ${x(bare.loginsPerSecond / pooled.loginsPerSecond)} the time per login ` +
      `(${count(pooled.loginsPerSecond)} against ${count(bare.loginsPerSecond)} logins/s) with ` +
      `${percent(pooled.ldapConnections / Math.max(1, bare.ldapConnections))} of the LDAP connections. "No reuse" ` +
      "is the same server with `maxIdle` 0: a new LDAP connection for every search and every bind."
  ]
  return [
    "### End to end",
    "",
    `${count(first?.logins ?? 0)} IMAP logins per setup from ${first?.concurrency ?? 0} concurrent clients through ` +
      "nginx → auth server → slapd, then nginx → Dovecot, all on loopback:",
    "",
    mailTable(mail),
    ...summary
  ].join("\n")
}

const borrowPart = (report: Report): string => {
  const borrow = ran(report.borrow)!
  const ours = scaling(borrow, borrow.baseline)
  const floor = scaling(borrow, "effect-floor")
  const pool = scaling(borrow, "effect-pool")
  const against = (scenario: string, competitor: string) => x(oursOverTheirs(borrow, scenario, competitor))
  return [
    "### The cost of a borrow",
    "",
    "![Time per borrow by pool and scenario](bench/results/latest.svg)",
    "",
    `No-op connections, so only the pool is measured; in brackets ${ratioDirection}:`,
    "",
    borrowTable(borrow),
    "",
    `- One borrower: ours takes ${against("one", "effect-pool")} effect/Pool.make's time, ` +
      `${against("one", "generic-pool")} generic-pool's, and ${against("one", "effect-floor")} and ` +
      `${against("one", "effect-floor-use")} the time of the two Effect floors. The gap to effect/Pool is what ` +
      "only this pool does: two clock reads per borrow (use-time metric, idle bookkeeping; about 20% of a borrow) " +
      "and a public `uninterruptibleMask` where effect/Pool uses a runtime-internal hook.",
    `- 100 borrowers on 10: ${against("hundred", "effect-pool")} effect/Pool's time. 10,000 idle cost ` +
      `${x(ours.idle)} of 10 idle; 10,000 waiters cost ${x(ours.waiting)} of 100 on 10, where the Effect floor's ` +
      `own time grows ${x(floor.waiting)} (the runtime managing 10,000 fibers), so ${x(ours.waiting / floor.waiting)} ` +
      `net (effect/Pool grows ${x(pool.waiting)}): nothing on the hot path scans connections or waiters.`
  ].join("\n")
}

/** The generated part of the Performance section, between `begin` and `end`. */
export const performance = (report: Report): string => {
  const ldap = ran(report.ldap)
  const mail = ran(report.mail)
  const parts = [
    begin,
    "",
    intro(report),
    "",
    goalsPart(report),
    ...(ldap === undefined ? [] : ["", ldapPart(ldap)]),
    ...(mail === undefined ? [] : ["", mailPart(mail)]),
    ...(ran(report.borrow) === undefined ? [] : ["", borrowPart(report)]),
    ""
  ]
  return [...parts.join("\n").split("\n").map((line) => wrap(line)), end].join("\n")
}

/** `readme` with its generated part replaced by the one written from `report`. */
export const update = (readme: string, report: Report): string => {
  const from = readme.indexOf(begin)
  const to = readme.indexOf(end)
  if (from < 0 || to < from) throw new Error(`the README has no part between "${begin}" and "${end}"`)
  return readme.slice(0, from) + performance(report) + readme.slice(to + end.length)
}
