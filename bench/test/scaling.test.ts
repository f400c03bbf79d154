/**
 * Runs part 4 of the benchmark once on tiny sizes against real servers (`ldap-auth serve`, slapd with TLS,
 * redis-server), so that its code paths cannot rot, and asserts what is exact: the Redis round trips of each kind of
 * login (one script per limiter call: two checks and a settle for a right password), that the pools keep every
 * connection they open, and the platform arithmetic. Skipped where those servers are not installed. Nothing is timed.
 */
import { assert, describe, it } from "@effect/vitest"
import { costTable, examplePlatform, roundTripTable, size, sizingTable } from "../platform.ts"
import { parseCommandStats, parseKeyspace, runScalingBench, type ScalingResult, type ScalingRun, unavailable } from "../scaling.ts"

describe("bench part 4: one auth server's cost, for scaling", () => {
  it.skipIf(unavailable() !== undefined)(
    "costs 3 Redis round trips for a right password, 2 for a wrong one and 1 for an unknown user, over both transports",
    async () => {
      const poolSize = 2
      const result = await runScalingBench({
        logins: 24,
        rounds: 2,
        warmupLogins: 8,
        concurrencies: [1, 4],
        poolSize,
        roundTripLogins: 6
      })

      const { byKind, right, unknownUser, wrong } = result.roundTrips
      assert.deepStrictEqual([right, wrong, unknownUser], [3, 2, 1])
      assert.deepStrictEqual(byKind.right.sent, { evalsha: 18 })
      assert.deepStrictEqual(byKind.wrong.sent, { evalsha: 12 })
      // A right password resets the user's counters and marks the address familiar, inside the settle script.
      assert.strictEqual(byKind.right.inScripts["set"], 6)
      assert.isUndefined(byKind.wrong.inScripts["set"])

      assert.deepStrictEqual(
        result.runs.map((run) => `${run.transport} ${run.concurrency}`),
        ["ldaps 1", "ldap 1", "ldaps 4", "ldap 4"]
      )
      for (const run of result.runs) {
        const name = `${run.transport}:// at ${run.concurrency}`
        assert.strictEqual(run.failures, 0, `${name}: ${run.firstFailure}`)
        assert.strictEqual(run.logins, 24, name)
        assert.strictEqual(run.redisScriptsPerLogin, 3, name)
        assert.isTrue(run.redisCommandsPerLogin > run.redisScriptsPerLogin, name)
        assert.isTrue(run.loginsPerSecond > 0 && run.cpuMicrosPerLogin >= 0 && run.p99Millis >= run.p50Millis, name)
        // A search and a bind connection per login in flight, at most maxSize in each pool.
        assert.isTrue(run.ldapConnectionsHeld > 0 && run.ldapConnectionsHeld <= 2 * Math.min(run.concurrency, poolSize), name)
      }
      // With maxIdle = maxSize nothing is closed and opened again: every connection slapd accepted is still held.
      for (const transport of ["ldaps", "ldap"]) {
        const runs = result.runs.filter((run) => run.transport === transport)
        const accepted = runs.reduce((sum, run) => sum + run.ldapConnectionsWarmup + run.ldapConnectionsMeasured, 0)
        assert.strictEqual(accepted, runs.at(-1)!.ldapConnectionsHeld, transport)
      }
      // Every key the limiter wrote, counters and familiar markers, expires by itself.
      assert.isAbove(result.redisKeys.keys, 0)
      assert.strictEqual(result.redisKeys.expiring, result.redisKeys.keys)
      assert.include(costTable(result), "| ldaps:// | 4 |")
      assert.include(roundTripTable(result), "| right password | 3 | EVALSHA × 3 |")
    },
    180_000
  )
})

const run: ScalingRun = {
  transport: "ldaps",
  concurrency: 32,
  poolSize: 16,
  logins: 1000,
  failures: 0,
  firstFailure: undefined,
  loginsPerSecondByRound: [400],
  loginsPerSecond: 400,
  cpuMicrosPerLoginByRound: [2000],
  cpuMicrosPerLogin: 2000,
  slapdCpuMicrosPerLogin: 500,
  redisCpuMicrosPerLogin: 100,
  redisScriptsPerLogin: 3,
  redisCommandsPerLogin: 20,
  p50Millis: 5,
  p99Millis: 10,
  ldapConnectionsWarmup: 32,
  ldapConnectionsMeasured: 0,
  ldapConnectionsHeld: 20
}

// At low concurrency a login costs more CPU; the sizing takes that run's CPU and the most connections held.
const quiet: ScalingRun = { ...run, concurrency: 4, cpuMicrosPerLogin: 2500, ldapConnectionsHeld: 8 }

const result: ScalingResult = {
  runs: [quiet, run, { ...run, transport: "ldap", cpuMicrosPerLogin: 9000 }],
  roundTrips: {
    logins: 1,
    right: 3,
    wrong: 2,
    unknownUser: 1,
    byKind: {
      right: { sent: { evalsha: 3 }, inScripts: {} },
      wrong: { sent: { evalsha: 2 }, inScripts: {} },
      unknownUser: { sent: { evalsha: 1 }, inScripts: {} }
    }
  },
  redisKeys: { keys: 100, expiring: 100, bytesPerKey: 120 }
}

describe("sizing a platform from one server's cost", () => {
  it("adds up 10 hosts and 1 million logins an hour, on average and at the peak", () => {
    const sizing = size(result, "ldaps", examplePlatform)
    assert.strictEqual(sizing.authServers, 10)
    assert.strictEqual(sizing.cpuFrom, quiet)
    assert.strictEqual(sizing.loginsPerCoreSecond, 400)
    // 1,000,000 / 3600 = 277.8 logins/s; 2.5 ms of CPU each.
    assert.closeTo(sizing.average.loginsPerSecond, 277.78, 0.01)
    assert.closeTo(sizing.average.loginsPerSecondPerHost, 27.78, 0.01)
    assert.closeTo(sizing.average.coresPerServer, 0.0694, 0.0001)
    assert.closeTo(sizing.peak.cores, 3.472, 0.001)
    assert.closeTo(sizing.peak.redisRoundTripsPerSecond, 4166.7, 0.1)
    assert.closeTo(sizing.peak.directoryCores, 0.694, 0.001)
    assert.closeTo(sizing.peak.redisCores, 0.139, 0.001)
    assert.strictEqual(sizing.ldapConnectionsOnDirectory, 200)
    assert.strictEqual(sizing.ldapConnectionsAtMost, 320)
    assert.include(sizingTable(sizing), "| logins/s, whole platform | 278 | 1,389 |")
  })

  it("reads redis-server's command counts without the reader's own INFO", () => {
    const info = "# Commandstats\r\ncmdstat_info:calls=7,usec=1\r\ncmdstat_evalsha:calls=30,usec=2\r\ncmdstat_get:calls=60,usec=1\r\n"
    assert.deepStrictEqual(parseCommandStats(info), { evalsha: 30, get: 60 })
  })

  it("adds up the keys of every database, and those with an expiry", () => {
    const info = "# Keyspace\r\ndb1:keys=12,expires=12,avg_ttl=1000\r\ndb2:keys=5,expires=4,avg_ttl=9\r\n"
    assert.deepStrictEqual(parseKeyspace(info), { keys: 17, expiring: 16 })
  })
})
