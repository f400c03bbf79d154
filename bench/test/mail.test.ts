/**
 * Runs part 4 of the benchmark once on tiny sizes through real nginx, Dovecot and slapd over LDAPS, so that its code
 * paths cannot rot. Skipped where those servers are not installed. Nothing is timed; the connection counts come from
 * slapd's own log and are exact.
 */
import { assert, describe, it } from "@effect/vitest"
import { mailGoals, runMailBench, unavailable } from "../mail.ts"
import { mailTable } from "../table.ts"

describe("bench part 4: IMAP logins through nginx", () => {
  it.skipIf(unavailable() !== undefined)("logs every client in, pooled and with a search and a bind connection per login", async () => {
    const logins = 12
    const result = await runMailBench({ logins, rounds: 2, concurrency: 4, poolSize: 2 })
    assert.isTrue(result.tls)
    assert.deepStrictEqual(result.runs.map((run) => run.setup), ["pooled", "no reuse"])
    for (const run of result.runs) {
      assert.strictEqual(run.errors, 0, `${run.setup}: ${run.firstError}`)
      assert.strictEqual(run.logins, logins, run.setup)
      assert.isTrue(run.loginsPerSecond > 0 && run.p99Millis >= run.p50Millis, run.setup)
    }
    const [pooled, noReuse] = result.runs
    assert.isTrue(pooled!.ldapConnections <= 4, `pooled opened ${pooled!.ldapConnections}`)
    // No reuse means it: logins waiting for a connection do not get a returned one.
    assert.strictEqual(noReuse!.ldapConnections, 2 * logins)
    const goals = mailGoals(result)
    assert.strictEqual(goals.length, 1)
    assert.isTrue(goals[0]!.atLeast !== true && goals[0]!.met === goals[0]!.ratio <= 0.5)
    assert.include(mailTable(result), "no reuse")
  })
})
