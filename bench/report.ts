/**
 * The report a benchmark run writes (`latest.json`) and everything drawn from it: the ratios and goals (recomputed
 * from the per-round samples, so an old report reads in today's ratio direction), the rows of the LDAP chart, and the
 * charts. `npm run bench:render` redraws them from a report without measuring anything.
 */
import { readFileSync, writeFileSync } from "node:fs"
import { type BorrowResult, cell, makeCell } from "./borrow.ts"
import type { ChurnRun } from "./churn.ts"
import { borrowChart, type LoginRow, loginChart } from "./chart.ts"
import { type Goal, goals } from "./goals.ts"
import { ldapGoals, type LdapResult, type LdapRun } from "./ldap.ts"
import { describeMachine, type Machine } from "./machine.ts"
import type { MailResult } from "./mail.ts"
import type { MemoryResult } from "./memory.ts"
import type { ScalingResult } from "./scaling.ts"
import type { ServerResult } from "./server.ts"
import { clientNames } from "./table.ts"

/** A part that could not run here, and why. */
export interface Skipped {
  readonly skipped: string
}

export interface Report {
  readonly command: string
  readonly quick: boolean
  readonly machine: Machine
  readonly borrow?: (BorrowResult & { readonly goals: ReadonlyArray<Goal> }) | undefined
  readonly memory?: (MemoryResult & { readonly goals: ReadonlyArray<Goal> }) | undefined
  readonly ldap?: (LdapResult & { readonly goals: ReadonlyArray<Goal> }) | Skipped | undefined
  readonly churn?: { readonly runs: ReadonlyArray<ChurnRun>; readonly goals: ReadonlyArray<Goal> } | undefined
  readonly server?: (ServerResult & { readonly goals: ReadonlyArray<Goal> }) | Skipped | undefined
  readonly mail?: (MailResult & { readonly goals?: ReadonlyArray<Goal> | undefined }) | Skipped | undefined
  readonly scaling?: ScalingResult | Skipped | undefined
}

/** A part's result, or undefined when it was skipped or not run. */
export const ran = <A extends object>(part: A | Skipped | undefined): A | undefined =>
  part === undefined || "skipped" in part ? undefined : part

export const read = (file: URL): Report => JSON.parse(readFileSync(file, "utf8"))

/** The report with its ratios and goals computed again from its samples, in today's direction. */
export const derive = (report: Report): Report => {
  const measured = ran(report.borrow)
  const borrow = measured === undefined ? undefined : {
    ...measured,
    cells: measured.cells.map((c) =>
      makeCell(c.scenario, c.competitor, c.nsPerBorrow, cell(measured, c.scenario, measured.baseline).nsPerBorrow)
    )
  }
  const ldap = ran(report.ldap)
  return {
    ...report,
    ...(borrow === undefined ? {} : { borrow: { ...borrow, goals: goals(borrow) } }),
    ...(ldap === undefined ? {} : { ldap: { ...ldap, goals: ldapGoals(ldap) } })
  }
}

/** A run's transport (`ldap`, `ldaps`, `starttls`) when the run says, so that each is grouped apart. */
export const transportOf = (run: LdapRun): string | undefined => {
  const transport: unknown = (run as { readonly transport?: unknown }).transport
  return typeof transport === "string" ? transport : undefined
}

/**
 * One row per run of an LDAP result, grouped by transport (when runs carry one) and concurrency, named by client:
 * new clients, transports and concurrencies show up by themselves.
 */
export const ldapRows = (result: LdapResult, where: string): ReadonlyArray<LoginRow> =>
  result.runs.map((run) => ({
    group: `${where}${transportOf(run) === undefined ? "" : ` over ${transportOf(run)}`}, ${
      run.concurrency === 1 ? "one login at a time" : `${run.concurrency} logins at once`
    }`,
    name: clientNames[run.client] ?? run.client,
    ours: run.client.startsWith("pooled"),
    loginsPerSecond: run.loginsPerSecond,
    connections: run.connectionsAccepted,
    timeWait: run.timeWaitAfter
  }))

const mailNames: Record<string, string> = { pooled: "pooled (LdapAuth)", "no reuse": "no reuse (new connection each time)" }

export const mailRows = (result: MailResult): ReadonlyArray<LoginRow> =>
  result.runs.map((run) => ({
    group: `end to end: IMAP through nginx to Dovecot, ${run.concurrency} clients`,
    name: mailNames[run.setup] ?? run.setup,
    ours: run.setup === "pooled",
    loginsPerSecond: run.loginsPerSecond,
    connections: run.ldapConnections,
    timeWait: undefined
  }))

/** Every row of the LDAP chart, in the order drawn. */
export const loginRows = (report: Report): ReadonlyArray<LoginRow> => {
  const ldap = ran(report.ldap)
  const mail = ran(report.mail)
  return [...(ldap === undefined ? [] : ldapRows(ldap, "slapd on loopback")), ...(mail === undefined ? [] : mailRows(mail))]
}

export const caption = (report: Report): string =>
  `${report.command} · ${describeMachine(report.machine)} · ${report.machine.date.slice(0, 10)}`

/** The charts a report has data for, by file name. */
export const charts = (report: Report): Record<string, string> => {
  const borrow = ran(report.borrow)
  const rows = loginRows(report)
  return {
    ...(borrow === undefined ? {} : { "latest.svg": borrowChart(borrow, caption(report)) }),
    ...(rows.length === 0 ? {} : { "ldap.svg": loginChart(rows, caption(report)) })
  }
}

/** Writes `latest.json` and the charts into `dir`; returns the names written. */
export const write = (report: Report, dir: URL): ReadonlyArray<string> => {
  writeFileSync(new URL("latest.json", dir), JSON.stringify(report, null, 2) + "\n")
  const drawn = charts(report)
  for (const [name, svg] of Object.entries(drawn)) writeFileSync(new URL(name, dir), svg)
  return ["latest.json", ...Object.keys(drawn)]
}
