/**
 * The README's Performance section and the committed charts say what bench/results/latest.json says: each is
 * written again from the committed report and compared with what is committed. After a benchmark run (or a change
 * to bench/readme.ts or bench/chart.ts), `npm run bench:render` brings them back in line.
 */
import { readFileSync } from "node:fs"
import { assert, describe, it } from "@effect/vitest"
import { ratioDirection } from "../goals.ts"
import * as Readme from "../readme.ts"
import * as Report from "../report.ts"

const results = new URL("../results/", import.meta.url)
const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8")
const committed = Report.read(new URL("latest.json", results))
const report = Report.derive(committed)
const hint = "run `npm run bench:render` to write it again from bench/results/latest.json"

describe("the README's Performance section", () => {
  it("is the one written from the committed latest.json, figure for figure", () => {
    assert.isTrue(readme.includes(Readme.begin) && readme.includes(Readme.end), "the README has lost its markers")
    const expected = Readme.update(readme, report)
    const [had, wants] = [readme.split("\n"), expected.split("\n")]
    const line = had.findIndex((text, i) => text !== wants[i])
    assert.strictEqual(line, -1, `README.md line ${line + 1} differs from latest.json: ${hint}\n  is: ${had[line]}\n  want: ${wants[line]}`)
  })

  it("opens with the LDAP chart and names the ratio direction once, before any ratio", () => {
    const section = readme.slice(readme.indexOf(Readme.begin) + Readme.begin.length).trimStart()
    assert.match(section.split("\n")[0]!, /^!\[[^\]]+\]\(bench\/results\/ldap\.svg\)$/)
    const direction = section.indexOf(ratioDirection)
    assert.isTrue(direction >= 0 && direction < section.search(/\d\.\d\d×/))
    for (const other of ["time ÷ ours", "ratio to ours", " / theirs"]) assert.notInclude(section, other)
  })

  it("shows every goal with met or not met, and why for each one not met", () => {
    const goals = [...(Report.ran(report.borrow)?.goals ?? []), ...(Report.ran(report.ldap)?.goals ?? [])]
    assert.isAbove(goals.length, 0)
    for (const goal of goals) {
      const row = readme.split("\n").find((text) => text.startsWith(`| ${goal.description} |`))
      assert.isDefined(row, goal.description)
      if (goal.met) assert.match(row!, /\| met \| {2}\|$/, goal.description)
      else {
        assert.isDefined(goal.why, `goal not met without a why: ${goal.description}`)
        assert.include(row!, `| **not met** | ${goal.why} |`)
      }
    }
  })
})

describe("the section written from another report", () => {
  it("compares runs over the same transport when runs carry one", () => {
    const ldap = Report.ran(report.ldap)!
    // Over TLS, per-login takes four times as long: pooled ÷ per-login is 0.25 there, whatever plain ldap:// says.
    const [pooled, perLogin] = ["pooled", "per-login"].map((client) => ldap.runs.find((r) => r.client === client && r.concurrency === 1)!)
    const overTls = [
      { ...pooled!, transport: "ldaps" as const, loginsPerSecondByRound: pooled!.loginsPerSecondByRound.map(() => 400), loginsPerSecond: 400 },
      { ...perLogin!, transport: "ldaps" as const, loginsPerSecondByRound: perLogin!.loginsPerSecondByRound.map(() => 100), loginsPerSecond: 100 }
    ]
    const runs = [...ldap.runs.map((run) => ({ ...run, transport: "ldap" as const })), ...overTls]
    const text = Readme.performance({ ...report, ldap: { ...ldap, runs } })
    assert.include(text, "| transport | client | concurrency |")
    assert.match(text, /^\| ldaps \| pooled \(LdapAuth\) \| 1 \| 400 \|.* \| 1\.00× \|$/m)
    assert.match(text, /^\| ldaps \| connection per login \| 1 \| 100 \|.* \| 0\.25× \|$/m)
    // Plain ldap:// keeps its own ratio, from the committed run.
    assert.match(text, /^\| ldap \| connection per login \| 1 \| [\d,]+ \|.* \| \d+\.\d\d× \|$/m)
  })
})

describe("the committed results", () => {
  it("keep their goals in today's ratio direction: the goals computed again from the samples", () => {
    assert.deepStrictEqual(JSON.parse(JSON.stringify(report)), committed, hint)
  })

  it("charts are the ones drawn from latest.json", () => {
    const charts = Report.charts(report)
    assert.sameMembers(Object.keys(charts), ["latest.svg", "ldap.svg"])
    for (const [name, svg] of Object.entries(charts)) {
      assert.strictEqual(readFileSync(new URL(name, results), "utf8"), svg, `bench/results/${name}: ${hint}`)
    }
  })
})
