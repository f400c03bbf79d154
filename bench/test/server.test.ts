/**
 * Runs part 3 of the benchmark once on tiny sizes: the auth server, the same server without reuse and the lean
 * server, each a child process on its own TLS slapd. Skipped where slapd is not installed. Nothing is timed; the
 * connection counts come from slapd's own log and are exact.
 */
import { assert, describe, it } from "@effect/vitest"
import { unavailable as ldapUnavailable } from "../ldap.ts"
import { runServerBench, serverGoals, serverSetups, unavailable } from "../server.ts"
import { serverTable } from "../table.ts"

describe("bench part 3: the whole server over LDAPS", () => {
  it.skipIf(ldapUnavailable() !== undefined || unavailable() !== undefined)(
    "answers every login through the HTTP endpoint and reads each server's CPU",
    async () => {
      const [logins, warmupLogins, poolSize] = [20, 4, 2]
      const result = await runServerBench({ logins, rounds: 2, warmupLogins, concurrency: 4, poolSize })
      assert.deepStrictEqual(result.runs.map((run) => run.setup), serverSetups)
      for (const run of result.runs) {
        assert.strictEqual(run.failures, 0, `${run.setup}: ${run.firstFailure}`)
        assert.strictEqual(run.logins, logins, run.setup)
        assert.strictEqual(run.cpuMicrosPerLoginByRound.length, 2, run.setup)
        assert.isTrue(run.cpuMicrosPerLogin >= 0 && run.p99Millis >= run.p50Millis, run.setup)
      }
      const [pooled, noReuse, lean] = result.runs
      assert.isTrue(pooled!.ldapConnections <= 2 * poolSize, `pooled opened ${pooled!.ldapConnections}`)
      assert.strictEqual(noReuse!.ldapConnections, 2 * (logins + warmupLogins))
      assert.strictEqual(lean!.ldapConnections, 0)
      const goals = serverGoals(result)
      assert.strictEqual(goals.length, 2)
      for (const goal of goals) assert.isTrue(goal.atLeast !== true && goal.met === goal.ratio <= goal.limit, goal.description)
      assert.include(serverTable(result), "no reuse")
    },
    120_000
  )
})
