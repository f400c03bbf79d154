/**
 * The SVG chart of part 1: one panel per scenario, one bar per pool, length = median time per borrow. Each panel has
 * its own scale (a borrow among 10,000 waiters and one in a tight loop differ by orders of magnitude), and every bar
 * is labelled with its value and its ratio to ours, so the picture reads without the table.
 */
import { type BorrowResult, cell } from "./borrow.ts"
import { formatNs } from "./stats.ts"

const escape = (text: string): string =>
  text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;")

export const borrowChart = (result: BorrowResult, caption: string): string => {
  const labelWidth = 250
  const barWidth = 330
  const valueWidth = 130
  const barHeight = 18
  const gap = 6
  const panelWidth = labelWidth + barWidth + valueWidth
  const panelHeight = 30 + result.competitors.length * (barHeight + gap)
  const columns = 2
  const top = 50
  const width = columns * panelWidth + 20
  const rows = Math.ceil(result.scenarios.length / columns)
  const height = top + rows * (panelHeight + 20) + 10

  const parts: Array<string> = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="10" y="20" font-size="15" font-weight="bold">Time per borrow (median, shorter is better)</text>`,
    `<text x="10" y="38" fill="#555">${escape(caption)} · label: time per borrow · time ÷ ours (median of per-round ratios)</text>`
  ]
  result.scenarios.forEach((scenario, s) => {
    const x0 = 10 + (s % columns) * panelWidth
    const y0 = top + Math.floor(s / columns) * (panelHeight + 20)
    const cells = result.competitors.map((competitor) => cell(result, scenario.id, competitor.id))
    const max = Math.max(...cells.map((c) => c.medianNsPerBorrow))
    parts.push(`<text x="${x0}" y="${y0 + 16}" font-size="13" font-weight="bold">${escape(scenario.title)}</text>`)
    result.competitors.forEach((competitor, c) => {
      const value = cells[c]!
      const y = y0 + 26 + c * (barHeight + gap)
      const length = Math.max(1, (value.medianNsPerBorrow / max) * barWidth)
      const ours = competitor.id === result.baseline
      parts.push(
        `<text x="${x0 + labelWidth - 8}" y="${y + 13}" text-anchor="end"${ours ? ` font-weight="bold"` : ""}>${
          escape(competitor.name)
        }</text>`,
        `<rect x="${x0 + labelWidth}" y="${y}" width="${length.toFixed(1)}" height="${barHeight}" fill="${
          ours ? "#d9480f" : "#4c6ef5"
        }"/>`,
        `<text x="${x0 + labelWidth + length + 6}" y="${y + 13}">${formatNs(value.medianNsPerBorrow)} · ${
          value.medianRatioToBaseline.toFixed(2)
        }×</text>`
      )
    })
  })
  parts.push(`</svg>`)
  return parts.join("\n") + "\n"
}
