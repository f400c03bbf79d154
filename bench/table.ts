/**
 * The markdown tables that `npm run bench` prints and the README shows: time per borrow with ours ÷ theirs,
 * scaling, the goals, the LDAP logins and the end-to-end logins.
 */
import { type BorrowResult, cell } from "./borrow.ts"
import { formatNs } from "./stats.ts"
import { type Goal, oursOverTheirs, scaling } from "./goals.ts"
import type { Client, LdapResult } from "./ldap.ts"
import type { ChurnRun } from "./churn.ts"
import type { MailResult } from "./mail.ts"
import type { ServerResult } from "./server.ts"

const row = (cells: ReadonlyArray<string>): string => `| ${cells.join(" | ")} |`

export const borrowTable = (result: BorrowResult): string => {
  const header = row(["pool", ...result.scenarios.map((s) => s.title)])
  const rule = row(["---", ...result.scenarios.map(() => "---:")])
  const body = result.competitors.map((competitor) =>
    row([
      competitor.id === result.baseline ? `**${competitor.name}**` : competitor.name,
      ...result.scenarios.map((scenario) => {
        const c = cell(result, scenario.id, competitor.id)
        return `${formatNs(c.medianNsPerBorrow)} (${oursOverTheirs(result, scenario.id, competitor.id).toFixed(2)}×)`
      })
    ])
  )
  return [header, rule, ...body].join("\n")
}

export const scalingTable = (result: BorrowResult): string => {
  const [one, hundred, idle, waiting] = ["one", "hundred", "idle", "waiting"].map((id) =>
    result.scenarios.find((s) => s.id === id)!.title
  )
  const header = row(["pool", `${idle} ÷ ${one}`, `${waiting} ÷ ${hundred}`])
  const body = result.competitors.map((competitor) => {
    const s = scaling(result, competitor.id)
    return row([competitor.name, `${s.idle.toFixed(2)}×`, `${s.waiting.toFixed(2)}×`])
  })
  return [header, row(["---", "---:", "---:"]), ...body].join("\n")
}

/** Met or not, and for each goal not met what explains it. */
export const goalTable = (goals: ReadonlyArray<Goal>): string =>
  [
    row(["goal", "limit", "measured", "met", "why not met"]),
    row(["---", "---:", "---:", ":---:", "---"]),
    ...goals.map((g) =>
      row([
        g.description,
        g.atLeast === true ? `≥ ${Number(g.limit.toPrecision(3))}× (higher is better)` : `≤ ${Number(g.limit.toPrecision(3))}×`,
        `${g.ratio < 0.01 ? g.ratio.toPrecision(2) : g.ratio.toFixed(2)}×`,
        g.met ? "met" : "**not met**",
        g.met ? "" : g.why ?? "not analysed yet"
      ])
    )
  ].join("\n")

/** How the tables and the chart name each LDAP client. */
export const clientNames: Record<Client, string> = {
  pooled: "pooled (LdapAuth)",
  "per-login": "connection per login",
  "ldapts-floor": "ldapts floor (long-lived, one login per client pair)"
}

export const ldapTable = (result: LdapResult): string =>
  [
    row(["client", "concurrency", "logins/s", "p50", "p99", "connections (client)", "(slapd log)", "(ss, ≥)", "TIME_WAIT after", "failures"]),
    row(["---", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:"]),
    ...result.runs.map((run) =>
      row([
        clientNames[run.client] ?? run.client,
        String(run.concurrency),
        Math.round(run.loginsPerSecond).toLocaleString("en"),
        `${run.p50Millis.toFixed(2)} ms`,
        `${run.p99Millis.toFixed(2)} ms`,
        run.connectionsOpenedClient.toLocaleString("en"),
        run.connectionsAccepted.toLocaleString("en"),
        run.connectionsOpenedServer.toLocaleString("en"),
        run.timeWaitAfter.toLocaleString("en"),
        String(run.failures)
      ])
    )
  ].join("\n")

export const mailTable = (result: MailResult): string =>
  [
    row(["LDAP pool", "maxIdle / maxSize", "IMAP clients", "logins/s", "p50", "p99", "errors", "LDAP connections"]),
    row(["---", "---:", "---:", "---:", "---:", "---:", "---:", "---:"]),
    ...result.runs.map((run) =>
      row([
        run.setup,
        `${run.maxIdle} / ${run.maxSize}`,
        String(run.concurrency),
        Math.round(run.loginsPerSecond).toLocaleString("en"),
        `${run.p50Millis.toFixed(1)} ms`,
        `${run.p99Millis.toFixed(1)} ms`,
        String(run.errors),
        run.ldapConnections.toLocaleString("en")
      ])
    )
  ].join("\n")

export const serverTable = (result: ServerResult): string =>
  [
    row(["server", "concurrency", "logins/s", "CPU per login", "p50", "p99", "LDAP connections (slapd log)", "failures"]),
    row(["---", "---:", "---:", "---:", "---:", "---:", "---:", "---:"]),
    ...result.runs.map((run) =>
      row([
        run.setup,
        String(run.concurrency),
        Math.round(run.loginsPerSecond).toLocaleString("en"),
        `${Math.round(run.cpuMicrosPerLogin)} µs`,
        `${run.p50Millis.toFixed(1)} ms`,
        `${run.p99Millis.toFixed(1)} ms`,
        run.ldapConnections.toLocaleString("en"),
        String(run.failures)
      ])
    )
  ].join("\n")

export const churnTable = (runs: ReadonlyArray<ChurnRun>): string =>
  [
    row(["maxIdle / maxSize", "concurrency", "logins", "connections opened", "failures"]),
    row(["---:", "---:", "---:", "---:", "---:"]),
    ...runs.map((run) =>
      row([
        `${run.maxIdle} / ${run.maxSize}`,
        String(run.concurrency),
        run.logins.toLocaleString("en"),
        run.opened.toLocaleString("en"),
        String(run.failures)
      ])
    )
  ].join("\n")
