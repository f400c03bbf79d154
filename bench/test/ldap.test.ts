/**
 * Runs part 2 of the benchmark once on tiny sizes against a real slapd, so that its code paths cannot rot. Skipped
 * where slapd is not installed. Nothing is timed; the connection counts are exact, so they are asserted.
 */
import { assert, describe, it } from "@effect/vitest"
import { clients, ldapGoals, runLdapBench, unavailable } from "../ldap.ts"
import { ldapTable } from "../table.ts"

describe("bench part 2: LDAP logins", () => {
  it.skipIf(unavailable() !== undefined)("runs every client at every concurrency and counts its connections", async () => {
    const logins = 12
    const warmupLogins = 3
    const poolSize = 2
    const result = await runLdapBench({ logins, rounds: 2, warmupLogins, concurrencies: [1, 4], poolSize })

    assert.strictEqual(result.runs.length, clients.length * 2)
    for (const run of result.runs) {
      const name = `${run.client} at ${run.concurrency}`
      assert.strictEqual(run.failures, 0, `${name}: ${run.firstFailure}`)
      assert.strictEqual(run.loginsPerSecondByRound.length, 2, name)
      assert.isTrue(run.loginsPerSecond > 0 && run.p50Millis > 0 && run.p99Millis >= run.p50Millis, name)
      assert.strictEqual(run.connectionsAccepted, run.connectionsOpenedClient, name)
      assert.isTrue(run.connectionsOpenedServer > 0 && run.connectionsOpenedServer <= run.connectionsAccepted, name)
    }
    const perLogin = result.runs.filter((run) => run.client === "per-login")
    for (const run of perLogin) assert.strictEqual(run.connectionsOpenedClient, logins + warmupLogins)
    const pooled = result.runs.filter((run) => run.client === "pooled")
    for (const run of pooled) assert.isTrue(run.connectionsOpenedClient <= 2 * poolSize)

    assert.deepStrictEqual(result.pooledOverPerLogin.map(({ concurrency }) => concurrency), [1, 4])
    for (const { ratio } of result.pooledOverPerLogin) assert.isTrue(Number.isFinite(ratio) && ratio > 0)
    assert.strictEqual(ldapGoals(result).length, 6)
    assert.include(ldapTable(result), "connection per login")
  })
})
