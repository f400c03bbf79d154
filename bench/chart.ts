/**
 * The SVG charts of the README, drawn 880 px wide (the README's width, so they show 1:1) with no text smaller than
 * 12 px. Bars that are compared share one axis, drawn and labelled under them:
 *
 * - `borrowChart` (latest.svg): time per borrow, one panel per scenario; the uncontended scenarios share one axis
 *   and the contended ones another (a borrow among 10,000 waiters and one in a tight loop differ by an order of
 *   magnitude). Each bar reads its time and ours ÷ theirs.
 * - `loginChart` (ldap.svg): the LDAP results side by side, logins/s, LDAP connections opened and TIME_WAIT
 *   sockets left, one row per client and setup in groups (`LoginRow.group`), whatever rows the report holds.
 */
import { type BorrowResult, cell } from "./borrow.ts"
import { oursOverTheirs, ratioDirection } from "./goals.ts"
import { formatNs } from "./stats.ts"

/** The width the charts are drawn for. */
export const width = 880
const margin = 12
const ours = "#d9480f"
const theirs = "#4c6ef5"
const muted = "#555555"
const grid = "#dddddd"

const escape = (text: string): string =>
  text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;")

const text = (x: number, y: number, content: string, attributes = ""): string =>
  `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}"${attributes}>${escape(content)}</text>`

const line = (x1: number, y1: number, x2: number, y2: number, stroke: string): string =>
  `<line x1="${x1.toFixed(1)}" y1="${y1.toFixed(1)}" x2="${x2.toFixed(1)}" y2="${y2.toFixed(1)}" stroke="${stroke}"/>`

/** A value axis: where a value sits (0 to 1 of the bar area) and the ticks to draw. */
interface Axis {
  readonly position: (value: number) => number
  readonly ticks: ReadonlyArray<{ readonly value: number; readonly label: string }>
}

/** From 0 to a round number at or above `max`, with 4 to 6 round ticks. */
export const linearAxis = (max: number, format: (value: number) => string): Axis => {
  const rough = Math.max(max, Number.MIN_VALUE) / 5
  const power = 10 ** Math.floor(Math.log10(rough))
  const step = [1, 2, 2.5, 5, 10].map((m) => m * power).find((s) => s >= rough)!
  const top = Math.max(step, Math.ceil(max / step) * step)
  const ticks = Array.from({ length: Math.round(top / step) + 1 }, (_, i) => i * step)
  return { position: (value) => value / top, ticks: ticks.map((value) => ({ value, label: format(value) })) }
}

const compact = (value: number): string =>
  value >= 1_000_000 ? `${value / 1_000_000}M` : value >= 1000 ? `${value / 1000}k` : String(value)

/** From 1 to `max` on a log scale, ticks at the powers of ten: counts from 2 to 10,000 on one axis. */
export const logAxis = (max: number): Axis => {
  const top = Math.max(max, 10)
  const ticks = Array.from({ length: Math.floor(Math.log10(top)) + 1 }, (_, i) => 10 ** i)
  return {
    position: (value) => Math.log10(Math.max(value, 1)) / Math.log10(top),
    ticks: ticks.map((value) => ({ value, label: compact(value) }))
  }
}

/** One bar: its label, its value on the axis (undefined: not measured), the text printed after it. */
interface Bar {
  readonly label: string
  readonly value: number | undefined
  readonly text: string
  readonly ours: boolean
}

const rowHeight = 20
const barHeight = 14

/** Bars from `x` over `span` px, one per row from `y`, on `axis`; gridlines at the axis' ticks behind them. */
const bars = (x: number, span: number, y: number, rows: ReadonlyArray<Bar>, axis: Axis): Array<string> => {
  const height = rows.length * rowHeight
  const parts = axis.ticks.map((tick) => line(x + axis.position(tick.value) * span, y, x + axis.position(tick.value) * span, y + height, grid))
  rows.forEach((bar, i) => {
    const top = y + i * rowHeight + (rowHeight - barHeight) / 2
    if (bar.value === undefined) {
      parts.push(text(x + 4, top + 11, bar.text, ` fill="${muted}"`))
      return
    }
    const length = Math.max(1, axis.position(bar.value) * span)
    parts.push(
      `<rect x="${x.toFixed(1)}" y="${top.toFixed(1)}" width="${length.toFixed(1)}" height="${barHeight}" fill="${bar.ours ? ours : theirs}"/>`,
      text(x + length + 5, top + 11, bar.text)
    )
  })
  return parts
}

/** The axis line under bars, its tick labels and its title; returns the parts and the height used. */
const axisBelow = (x: number, span: number, y: number, axis: Axis, title: string): Array<string> => [
  line(x, y, x + span, y, muted),
  ...axis.ticks.flatMap((tick) => {
    const at = x + axis.position(tick.value) * span
    return [line(at, y, at, y + 4, muted), text(at, y + 17, tick.label, ` text-anchor="middle" fill="${muted}"`)]
  }),
  text(x + span / 2, y + 34, title, ` text-anchor="middle" font-weight="bold"`)
]
const axisHeight = 44

const svg = (height: number, parts: ReadonlyArray<string>): string =>
  [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${Math.ceil(height)}" viewBox="0 0 ${width} ${
      Math.ceil(height)
    }" font-family="system-ui, -apple-system, 'Segoe UI', sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    ...parts,
    `</svg>`
  ].join("\n") + "\n"

const header = (title: string, lines: ReadonlyArray<string>): Array<string> => [
  text(margin, 24, title, ` font-size="16" font-weight="bold"`),
  ...lines.map((content, i) => text(margin, 44 + i * 17, content, ` fill="${muted}"`))
]
const headerHeight = (lines: number) => 44 + lines * 17

/** Part 1: time per borrow; the scenarios without and with waiting each share an axis. */
export const borrowChart = (result: BorrowResult, caption: string): string => {
  const label = 268
  const valueRoom = 110
  const x = margin + label
  const span = width - x - valueRoom - margin
  const groups = [
    { title: "No waiting: a connection is always idle", scenarios: result.scenarios.filter((s) => !s.yieldWhileHolding) },
    { title: "Waiting: more borrowers than connections", scenarios: result.scenarios.filter((s) => s.yieldWhileHolding) }
  ].filter((group) => group.scenarios.length > 0)
  const lines = [caption, `bar: median time per borrow · label: that time · ${ratioDirection} (median of per-round ratios)`]
  const parts = header("Time per borrow (shorter is better)", lines)
  let y = headerHeight(lines.length) + 8
  for (const group of groups) {
    const max = Math.max(...group.scenarios.flatMap((s) => result.competitors.map((c) => cell(result, s.id, c.id).medianNsPerBorrow)))
    const axis = linearAxis(max, (ns) => (ns === 0 ? "0" : max < 1000 ? `${ns} ns` : `${ns / 1000} µs`))
    parts.push(text(margin, y + 14, group.title, ` font-size="14" font-weight="bold"`))
    y += 24
    for (const scenario of group.scenarios) {
      parts.push(text(margin, y + 13, scenario.title, ` font-size="13" font-weight="bold"`))
      y += 18
      const rows = result.competitors.map((competitor): Bar => {
        const median = cell(result, scenario.id, competitor.id).medianNsPerBorrow
        return {
          label: competitor.name,
          value: median,
          text: `${formatNs(median)} · ${oursOverTheirs(result, scenario.id, competitor.id).toFixed(2)}×`,
          ours: competitor.id === result.baseline
        }
      })
      rows.forEach((bar, i) =>
        parts.push(text(x - 8, y + i * rowHeight + 14, bar.label, ` text-anchor="end"${bar.ours ? ` font-weight="bold"` : ""}`))
      )
      parts.push(...bars(x, span, y, rows, axis))
      y += rows.length * rowHeight + 6
    }
    parts.push(...axisBelow(x, span, y, axis, "time per borrow, median over the rounds (one axis for the panels above)"))
    y += axisHeight + 12
  }
  return svg(y, parts)
}

/** One row of the LDAP chart: a client or setup, measured in one group of runs. */
export interface LoginRow {
  /** Rows of one group are drawn together under its title, e.g. "slapd on loopback, concurrency 32". */
  readonly group: string
  readonly name: string
  /** Drawn in our colour: a setup with the pool. */
  readonly ours: boolean
  readonly loginsPerSecond: number
  /** LDAP connections opened over the run. */
  readonly connections: number
  /** TIME_WAIT sockets left on the LDAP port; undefined where it was not measured. */
  readonly timeWait: number | undefined
}

/** The LDAP results: logins/s, connections opened and TIME_WAIT left, each metric on one axis for every row. */
export const loginChart = (rows: ReadonlyArray<LoginRow>, caption: string): string => {
  const label = 236
  const gap = 14
  const valueRoom = 50
  const panel = (width - 2 * margin - label - 2 * gap) / 3
  const span = panel - valueRoom
  const groups = [...new Set(rows.map((row) => row.group))].map((group) => ({
    title: group,
    rows: rows.filter((row) => row.group === group)
  }))
  const count = (n: number) => Math.round(n).toLocaleString("en")
  const metrics: ReadonlyArray<{
    readonly title: string
    readonly unit: string
    readonly axis: Axis
    readonly bar: (row: LoginRow) => Pick<Bar, "value" | "text">
  }> = [
    {
      title: "logins/s (longer is better)",
      unit: "logins per second",
      axis: linearAxis(Math.max(...rows.map((r) => r.loginsPerSecond)), compact),
      bar: (row) => ({ value: row.loginsPerSecond, text: count(row.loginsPerSecond) })
    },
    {
      title: "LDAP connections opened",
      unit: "connections, log scale",
      axis: logAxis(Math.max(...rows.map((r) => r.connections))),
      bar: (row) => ({ value: row.connections, text: count(row.connections) })
    },
    {
      title: "TIME_WAIT sockets left",
      unit: "sockets, log scale",
      axis: logAxis(Math.max(1, ...rows.map((r) => r.timeWait ?? 0))),
      bar: (row) => row.timeWait === undefined ? { value: undefined, text: "not measured" } : { value: row.timeWait, text: count(row.timeWait) }
    }
  ]
  const lines = [caption, "with the pool in orange, the others in blue · connections and sockets: fewer is better"]
  const parts = header("LDAP logins: the pool against a connection per login", lines)
  let y = headerHeight(lines.length) + 8
  const left = (m: number) => margin + label + m * (panel + gap)
  metrics.forEach((metric, m) => parts.push(text(left(m), y + 14, metric.title, ` font-size="13" font-weight="bold"`)))
  y += 22
  for (const group of groups) {
    parts.push(text(margin, y + 14, group.title, ` font-size="13" font-weight="bold"`))
    y += 20
    group.rows.forEach((row, i) =>
      parts.push(text(margin + label - 8, y + i * rowHeight + 14, row.name, ` text-anchor="end"${row.ours ? ` font-weight="bold"` : ""}`))
    )
    metrics.forEach((metric, m) =>
      parts.push(...bars(left(m), span, y, group.rows.map((row) => ({ label: row.name, ours: row.ours, ...metric.bar(row) })), metric.axis))
    )
    y += group.rows.length * rowHeight + 8
  }
  metrics.forEach((metric, m) => parts.push(...axisBelow(left(m), span, y, metric.axis, metric.unit)))
  return svg(y + axisHeight + 8, parts)
}
