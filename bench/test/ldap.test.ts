/**
 * Runs part 2 of the benchmark once on tiny sizes against real slapds, over plain LDAP, LDAPS and StartTLS, so that
 * its code paths cannot rot. Skipped where slapd is not installed. Nothing is timed; the connection counts are
 * exact, so they are asserted.
 */
import { assert, describe, it } from "@effect/vitest"
import { churnGoals, runChurnBench } from "../churn.ts"
import { clients, ldapGoals, runLdapBench, transports, unavailable } from "../ldap.ts"
import { churnTable, ldapTable } from "../table.ts"

describe("bench part 2: LDAP logins", () => {
  it.skipIf(unavailable() !== undefined)("runs every client over every transport and counts its connections", async () => {
    const logins = 12
    const warmupLogins = 3
    const poolSize = 2
    const result = await runLdapBench({ logins, rounds: 2, warmupLogins, concurrencies: [1, 4], poolSize })

    assert.strictEqual(result.runs.length, clients.length * transports.length * 2)
    for (const run of result.runs) {
      const name = `${run.client} over ${run.transport} at ${run.concurrency}`
      assert.strictEqual(run.failures, 0, `${name}: ${run.firstFailure}`)
      assert.strictEqual(run.logins, logins, name)
      assert.strictEqual(run.allLogins, logins + warmupLogins, name)
      assert.strictEqual(run.loginsPerSecondByRound.length, 2, name)
      assert.isTrue(run.loginsPerSecond > 0 && run.p50Millis > 0 && run.p99Millis >= run.p50Millis, name)
      assert.strictEqual(run.connectionsAccepted, run.connectionsOpenedClient, name)
      // A lower bound, which a TLS connection gone between two polls of `ss` escapes (it ends without TIME_WAIT).
      assert.isTrue(run.connectionsOpenedServer <= run.connectionsAccepted, name)
      switch (run.client) {
        case "per-login":
          // A search connection and a bind connection for every login, as slapd itself counted them.
          assert.strictEqual(run.connectionsAccepted, 2 * (logins + warmupLogins), name)
          break
        case "pooled":
          assert.isTrue(run.connectionsAccepted <= 2 * poolSize, name)
          break
        case "ldapts-floor":
          assert.strictEqual(run.connectionsAccepted, 2 * Math.min(run.concurrency, poolSize), name)
      }
    }

    for (const list of [result.pooledOverPerLogin, result.pooledOverFloor]) {
      assert.strictEqual(list.length, transports.length * 2)
      for (const { ratio } of list) assert.isTrue(Number.isFinite(ratio) && ratio > 0)
    }
    const goals = ldapGoals(result)
    // Plain LDAP: floor, connections, TIME_WAIT; over TLS: floor, per-login, connections; at both concurrencies.
    assert.strictEqual(goals.length, 2 * 3 * 3)
    // One direction: ours ÷ theirs of a cost, at most the limit.
    for (const goal of goals) assert.isTrue(goal.atLeast !== true && goal.met === goal.ratio <= goal.limit, goal.description)
    assert.include(ldapTable(result), "connection per login")
  })
})

describe("bench part 2b: churn", () => {
  it.skipIf(unavailable() !== undefined)("counts the connections a steady load opens, none when maxIdle = maxSize", async () => {
    const runs = await runChurnBench({
      logins: 200,
      warmupLogins: 60,
      concurrency: 16,
      settings: [{ maxIdle: 1, maxSize: 8 }, { maxIdle: 8, maxSize: 8 }]
    })
    assert.deepStrictEqual(runs.map((run) => run.failures), [0, 0])
    const [low, full] = runs
    // Returns outpace borrows for a moment: the idle set overflows and connections are reopened.
    assert.isTrue(low!.opened > 0, `maxIdle 1 opened ${low!.opened}`)
    assert.strictEqual(full!.opened, 0)
    assert.deepStrictEqual(churnGoals(runs).map((goal) => goal.met), [true])
    assert.include(churnTable(runs), "8 / 8")
  })
})
