/**
 * Runs part 3 of the benchmark once on tiny sizes through real nginx, Dovecot and slapd, so that its code paths
 * cannot rot. Skipped where those servers are not installed. Nothing is timed.
 */
import { assert, describe, it } from "@effect/vitest"
import { runMailBench, unavailable } from "../mail.ts"
import { mailTable } from "../table.ts"

describe("bench part 3: IMAP logins through nginx", () => {
  it.skipIf(unavailable() !== undefined)("logs every client in, with and without connection reuse", async () => {
    const result = await runMailBench({ logins: 6, concurrency: 3, poolSize: 2 })
    assert.deepStrictEqual(result.runs.map((run) => run.setup), ["pooled", "no reuse"])
    for (const run of result.runs) {
      assert.strictEqual(run.errors, 0, `${run.setup}: ${run.firstError}`)
      assert.isTrue(run.loginsPerSecond > 0 && run.p99Millis >= run.p50Millis, run.setup)
    }
    const [pooled, noReuse] = result.runs
    assert.isTrue(pooled!.ldapConnections <= 4, `pooled opened ${pooled!.ldapConnections}`)
    // Without reuse, a connection lives on only when it is handed straight to a waiting borrower.
    assert.isTrue(noReuse!.ldapConnections > pooled!.ldapConnections, `no reuse opened ${noReuse!.ldapConnections}`)
    assert.include(mailTable(result), "no reuse")
  })
})
