/**
 * The charts are legible at the README's width and compare like with like: drawn 880 px wide with no text below
 * 12 px, the bars of one panel group on one labelled axis, and the LDAP chart drawing whatever rows a report holds.
 */
import { assert, describe, it } from "@effect/vitest"
import type { LdapResult, LdapRun } from "../ldap.ts"
import { borrowChart, linearAxis, logAxis, loginChart, width } from "../chart.ts"
import * as Report from "../report.ts"

const report = Report.derive(Report.read(new URL("../results/latest.json", import.meta.url)))
const borrow = Report.ran(report.borrow)!
const ldap = Report.ran(report.ldap)!

const legible = (svg: string) => {
  assert.match(svg, new RegExp(`^<svg [^>]*width="${width}"[^>]*viewBox="0 0 ${width} \\d+"`))
  assert.strictEqual(width, 880)
  const sizes = [...svg.matchAll(/font-size="(\d+(?:\.\d+)?)"/g)].map(([, size]) => Number(size))
  assert.isAbove(sizes.length, 0)
  for (const size of sizes) assert.isAtLeast(size, 12)
}

/** The bars in drawing order, with the text that follows each. */
const bars = (svg: string) =>
  [...svg.matchAll(/<rect x="([\d.]+)" y="[\d.]+" width="([\d.]+)"[^>]*\/>\n<text [^>]*>([^<]*)<\/text>/g)].map(
    ([, x, length, label]) => ({ x: Number(x), length: Number(length), label: label! })
  )

describe("bench charts", () => {
  it("time per borrow: 880 px, text >= 12 px, one labelled axis per group shared by its panels", () => {
    const svg = borrowChart(borrow, "test")
    legible(svg)
    assert.strictEqual(svg.match(/one axis for the panels above/g)?.length, 2)
    const drawn = bars(svg)
    // Drawn group by group (no waiting, then waiting), one panel per scenario, one bar per competitor.
    const order = [false, true].flatMap((waits) => borrow.scenarios.filter((s) => s.yieldWhileHolding === waits))
      .flatMap((s) => borrow.competitors.map((c) => borrow.cells.find((cell) => cell.scenario === s.id && cell.competitor === c.id)!))
    assert.strictEqual(drawn.length, borrow.cells.length)
    // Within a group one ns is one length, across its panels: 10 idle and 10,000 idle, 100 and 10,000 waiting.
    for (const [a, b] of [["one", "idle"], ["hundred", "waiting"]] as const) {
      const perNs = order.flatMap((c, i) => (c.scenario === a || c.scenario === b ? [drawn[i]!.length / c.medianNsPerBorrow] : []))
      assert.strictEqual(perNs.length, 2 * borrow.competitors.length)
      for (const scale of perNs) assert.approximately(scale, perNs[0]!, perNs[0]! * 0.01, `${a} and ${b}`)
    }
    // Every bar says its time and ours ÷ theirs, 1.00× for ours.
    for (const [i, c] of order.entries()) {
      assert.match(drawn[i]!.label, /· \d+\.\d\d×$/)
      if (c.competitor === borrow.baseline) assert.match(drawn[i]!.label, /· 1\.00×$/)
    }
  })

  it("LDAP: logins/s, connections and TIME_WAIT for every row of the report, new clients and groups included", () => {
    const lean: LdapRun = { ...ldap.runs[0]!, client: "pooled-lean" as LdapRun["client"], concurrency: 8, connectionsAccepted: 7 }
    const tls = { ...ldap.runs[1]!, transport: "ldaps" as const }
    const extended: LdapResult = { ...ldap, runs: [...ldap.runs, lean, tls] }
    const rows = [...Report.ldapRows(extended, "slapd on loopback"), ...Report.mailRows(Report.ran(report.mail)!)]
    const svg = loginChart(rows, "test")
    legible(svg)
    for (const title of ["logins/s", "LDAP connections opened", "TIME_WAIT sockets left"]) assert.include(svg, title)
    for (const unit of ["logins per second", "connections, log scale", "sockets, log scale"]) assert.include(svg, `>${unit}<`)
    for (
      const group of [
        "slapd on loopback over ldap, one login at a time",
        "slapd on loopback over ldap, 32 logins at once",
        "slapd on loopback over ldap, 8 logins at once",
        "slapd on loopback over ldaps, one login at a time",
        "end to end: IMAP through nginx to Dovecot, 50 clients"
      ]
    ) assert.include(svg, `>${group}<`)
    assert.include(svg, ">pooled-lean<")
    // Three bars per row, except TIME_WAIT where it was not measured (the end-to-end rows).
    const measured = rows.filter((row) => row.timeWait !== undefined).length
    assert.strictEqual(bars(svg).length, 2 * rows.length + measured)
    assert.strictEqual(svg.match(/>not measured</g)?.length, rows.length - measured)
    // The rows of ours are drawn in our colour.
    assert.strictEqual(svg.match(/fill="#d9480f"/g)?.length, 3 * rows.filter((r) => r.ours && r.timeWait !== undefined).length +
      2 * rows.filter((r) => r.ours && r.timeWait === undefined).length)
  })

  it("axes: round ticks from 0 to at least the largest value; log axes from 1 to it at powers of ten", () => {
    for (const max of [1, 7, 99, 2248, 9573, 5624, 0.3]) {
      const axis = linearAxis(max, String)
      const values = axis.ticks.map((t) => t.value)
      assert.strictEqual(values[0], 0)
      assert.isAtLeast(values.at(-1)!, max)
      assert.isTrue(values.length >= 3 && values.length <= 11, `${max}: ${values}`)
      assert.isAtMost(axis.position(max), 1)
    }
    const log = logAxis(10_500)
    assert.deepStrictEqual(log.ticks.map((t) => t.label), ["1", "10", "100", "1k", "10k"])
    assert.strictEqual(log.position(10_500), 1)
    assert.strictEqual(log.position(0), 0)
    assert.approximately(log.position(100), 2 / Math.log10(10_500), 1e-9)
  })
})
