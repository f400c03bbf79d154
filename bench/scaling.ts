/**
 * Part 5: what one auth server costs, for sizing a platform of several. `ldap-auth serve` runs as a child process
 * with `REDIS_URL` set, as each nginx host would run it, against its own slapd (TLS from the harness) and one
 * shared redis-server; logins are `GET /auth` requests straight to it (no nginx), one per connection as nginx
 * sends them, right passwords, at each of `concurrencies` in turn. One server per setup (`ldaps://`, `ldap://`);
 * at each concurrency, a warm-up on each, then rounds interleaved between them. Each round reads, before and after:
 *
 * - the server's CPU seconds (`/proc/<pid>/stat`), so "logins per core second" is honest on a loaded machine;
 * - slapd's and redis-server's CPU seconds, for the directory's and Redis's share;
 * - redis-server's `INFO commandstats`: the scripts the server ran per login, and the commands Redis executed.
 *
 * LDAP connections are read from slapd's log (accepted during the warm-up and during the measured rounds) and from
 * the server's `/metrics` (held at the end). Then, one login at a time on the first server, the Redis round trips
 * of a right password, a wrong one and an unknown user, counted exactly with `redis-cli monitor`, which tells the
 * commands a client sent from those its scripts ran.
 */
import { Effect, Redacted } from "effect"
import * as RedisServer from "../examples/ldap-auth/harness/RedisServer.ts"
import * as ServeProcess from "../examples/ldap-auth/harness/ServeProcess.ts"
import * as Slapd from "../examples/ldap-auth/harness/Slapd.ts"
import { missingTool, unavailable as ldapUnavailable } from "./ldap.ts"
import { cpuSeconds, findPid, type Monitored, redisMonitor } from "./processes.ts"
import { median, quantile } from "./stats.ts"

export type Transport = "ldaps" | "ldap"

export const transports: ReadonlyArray<Transport> = ["ldaps", "ldap"]

export interface ScalingOptions {
  /** Measured logins per setup, split evenly over `rounds`. */
  readonly logins: number
  readonly rounds: number
  readonly warmupLogins: number
  /** Logins in flight at once, one block of rounds each, in this order. */
  readonly concurrencies: ReadonlyArray<number>
  /** `POOL_MAX_SIZE` and `POOL_MAX_IDLE` of each server (two pools: search and bind). */
  readonly poolSize: number
  /** Logins of each kind for the Redis round trips, one at a time. */
  readonly roundTripLogins: number
  /** Default: both. */
  readonly transports?: ReadonlyArray<Transport> | undefined
  readonly onRound?: (concurrency: number, round: number, warmup: boolean) => void
}

export interface ScalingRun {
  readonly transport: Transport
  readonly concurrency: number
  readonly poolSize: number
  /** Measured logins (warm-up excluded). */
  readonly logins: number
  /** Logins not answered `Auth-Status: OK`: every one here should be. */
  readonly failures: number
  readonly firstFailure: string | undefined
  readonly loginsPerSecondByRound: ReadonlyArray<number>
  readonly loginsPerSecond: number
  /** The auth server's CPU time per login, one sample per round. */
  readonly cpuMicrosPerLoginByRound: ReadonlyArray<number>
  readonly cpuMicrosPerLogin: number
  /** slapd's and redis-server's CPU time per login, median over rounds. */
  readonly slapdCpuMicrosPerLogin: number
  readonly redisCpuMicrosPerLogin: number
  /** Scripts the server ran on Redis per login under load (`EVALSHA` and `EVAL`), median over rounds. */
  readonly redisScriptsPerLogin: number
  /** Commands Redis executed per login under load, those inside the scripts included, median over rounds. */
  readonly redisCommandsPerLogin: number
  readonly p50Millis: number
  readonly p99Millis: number
  /** Connections slapd accepted during this concurrency's warm-up, and during its measured rounds. */
  readonly ldapConnectionsWarmup: number
  readonly ldapConnectionsMeasured: number
  /** LDAP connections the server's pools held at the end (`db_client_connection_count`, idle + used). */
  readonly ldapConnectionsHeld: number
}

/**
 * Redis round trips per login of each kind (commands the server sent, one login at a time, from `redis-cli
 * monitor`), and the commands by name: sent, and run inside the scripts (not round trips, but Redis's work).
 */
export interface RoundTrips {
  readonly logins: number
  readonly right: number
  readonly wrong: number
  readonly unknownUser: number
  readonly byKind: Readonly<Record<"right" | "wrong" | "unknownUser", Monitored>>
}

/** What the limiter left in Redis at the end of the run, every server's database together. */
export interface RedisKeys {
  readonly keys: number
  /** Keys with an expiry: every one, when nothing the limiter writes outlives its window or marker. */
  readonly expiring: number
  /** `used_memory` grown since the servers started, per key. */
  readonly bytesPerKey: number
}

export interface ScalingResult {
  readonly runs: ReadonlyArray<ScalingRun>
  readonly roundTrips: RoundTrips
  readonly redisKeys: RedisKeys
}

/** Why part 5 cannot run here, or undefined when it can. */
export const unavailable = (): string | undefined =>
  ldapUnavailable() ?? missingTool(["redis-server", "redis-cli", "openssl", "getconf"])

/** Calls per command since redis-server started, from `INFO commandstats`, without the reader's own `INFO`. */
export const parseCommandStats = (info: string): Record<string, number> => {
  const calls: Record<string, number> = {}
  for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    if (match[1] !== "info") calls[match[1]!] = Number(match[2])
  }
  return calls
}

const difference = (after: Record<string, number>, before: Record<string, number>) =>
  Object.fromEntries(
    Object.entries(after).map(([name, calls]) => [name, calls - (before[name] ?? 0)]).filter(([, calls]) => calls !== 0)
  )

const total = (calls: Record<string, number>) => Object.values(calls).reduce((sum, n) => sum + n, 0)

/** A number field of `INFO`'s output. */
const infoField = (info: string, name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, "m").exec(info)?.[1] ?? Number.NaN)

const redisCpu = (redis: RedisServer.RedisServerInstance) =>
  Effect.map(redis.cli("INFO", "cpu"), (info) => infoField(info, "used_cpu_user") + infoField(info, "used_cpu_sys"))

const usedMemory = (redis: RedisServer.RedisServerInstance) =>
  Effect.map(redis.cli("INFO", "memory"), (info) => infoField(info, "used_memory"))

/** Keys and keys with an expiry over every database, from `INFO keyspace`. */
export const parseKeyspace = (info: string): { readonly keys: number; readonly expiring: number } => {
  let [keys, expiring] = [0, 0]
  for (const match of info.matchAll(/^db\d+:keys=(\d+),expires=(\d+)/gm)) {
    keys += Number(match[1])
    expiring += Number(match[2])
  }
  return { keys, expiring }
}

const commandStats = (redis: RedisServer.RedisServerInstance) =>
  Effect.map(redis.cli("INFO", "commandstats"), parseCommandStats)

interface Login {
  readonly user: string
  readonly password: string
  readonly clientIp: string
}

/**
 * `Auth-Status` of one login on a connection of its own, as nginx asks, the name and password %-escaped; a login
 * without an answer within 30 s is one that failed, so that a stuck server cannot hold the run.
 */
const ask = (server: ServeProcess.ServeProcess, login: Login) =>
  ServeProcess.status(server.authPort, encodeURIComponent(login.user), encodeURIComponent(login.password), login.clientIp)
    .pipe(Effect.timeoutOrElse({ duration: "30 seconds", orElse: () => Effect.succeed("(no answer within 30 s)") }))

/** `db_client_connection_count` summed over pools and states, from the server's `/metrics`. */
const connectionsHeld = (server: ServeProcess.ServeProcess) =>
  Effect.promise(async () => {
    const text = await (await fetch(`http://127.0.0.1:${server.metricsPort}/metrics`)).text()
    let sum = 0
    for (const match of text.matchAll(/^db_client_connection_count\{[^}]*\} ([\d.e+]+)$/gm)) sum += Number(match[1])
    return sum
  })

interface Samples {
  readonly loginsPerSecond: Array<number>
  readonly cpu: Array<number>
  readonly slapdCpu: Array<number>
  readonly redisCpu: Array<number>
  readonly commands: Array<number>
  readonly scripts: Array<number>
  readonly latencies: Array<number>
}

const noSamples = (): Samples => ({ loginsPerSecond: [], cpu: [], slapdCpu: [], redisCpu: [], commands: [], scripts: [], latencies: [] })

interface Subject {
  readonly transport: Transport
  readonly slapd: Slapd.SlapdInstance
  readonly slapdPid: number
  readonly server: ServeProcess.ServeProcess
  readonly accepted: Effect.Effect<number, unknown>
  /** What the current concurrency's rounds measured so far. */
  samples: Samples
  failures: number
  firstFailure: string | undefined
}

const users = (slapd: Slapd.SlapdInstance) =>
  [slapd.users.alice, slapd.users.bob, slapd.users.dave].map((user) => ({ user: user.uid, password: Redacted.value(user.password) }))

/**
 * The `i`th right-password login. Each comes from one of 200 addresses: the limiter counts a login as a failure
 * while it is in flight (10 per user and address), so 32 at once from one address would be refused as a guess.
 */
const rightLogin = (slapd: Slapd.SlapdInstance, i: number): Login => ({
  ...users(slapd)[i % 3]!,
  clientIp: `192.0.2.${1 + (i % 200)}`
})

/** `count` right-password logins, `concurrency` at a time; failures are counted, latencies kept when `measured`. */
const load = (subject: Subject, count: number, concurrency: number, measured: boolean) =>
  Effect.suspend(() => {
    const one = (i: number) =>
      Effect.suspend(() => {
        const start = performance.now()
        return ask(subject.server, rightLogin(subject.slapd, i)).pipe(
          Effect.flatMap((status) => (status === "OK" ? Effect.void : Effect.fail(new Error(`Auth-Status: ${status}`)))),
          Effect.catch((error) =>
            Effect.sync(() => {
              subject.failures++
              subject.firstFailure ??= error.message
            })
          ),
          Effect.ensuring(Effect.sync(() => {
            if (measured) subject.samples.latencies.push(performance.now() - start)
          }))
        )
      })
    return Effect.forEach(Array.from({ length: count }, (_, i) => i), one, { concurrency, discard: true })
  })

/** One measured round on `subject`: the CPU of the three processes and the Redis commands around the load. */
const round = (subject: Subject, redis: RedisServer.RedisServerInstance, count: number, concurrency: number) =>
  Effect.gen(function*() {
    const failuresBefore = subject.failures
    const commandsBefore = yield* commandStats(redis)
    const redisBefore = yield* redisCpu(redis)
    const pid = subject.server.child.pid!
    const [cpuBefore, slapdBefore, start] = [cpuSeconds(pid), cpuSeconds(subject.slapdPid), performance.now()]
    yield* load(subject, count, concurrency, true)
    const [cpuAfter, slapdAfter, end] = [cpuSeconds(pid), cpuSeconds(subject.slapdPid), performance.now()]
    const redisAfter = yield* redisCpu(redis)
    const commandsAfter = yield* commandStats(redis)
    const answered = count - (subject.failures - failuresBefore)
    const perLogin = (seconds: number) => (seconds * 1_000_000) / Math.max(1, answered)
    subject.samples.loginsPerSecond.push(answered / ((end - start) / 1000))
    subject.samples.cpu.push(perLogin(cpuAfter - cpuBefore))
    subject.samples.slapdCpu.push(perLogin(slapdAfter - slapdBefore))
    subject.samples.redisCpu.push(perLogin(redisAfter - redisBefore))
    const calls = difference(commandsAfter, commandsBefore)
    subject.samples.commands.push(total(calls) / count)
    subject.samples.scripts.push(((calls["evalsha"] ?? 0) + (calls["eval"] ?? 0)) / count)
  })

/** What `logins`, sent one at a time to `server`, cost on Redis: round trips per login, and the commands. */
const roundTripsOf = (
  mark: Effect.Effect<Monitored>,
  server: ServeProcess.ServeProcess,
  logins: ReadonlyArray<Login>,
  expected: string
) =>
  Effect.gen(function*() {
    yield* mark
    for (const login of logins) {
      const status = yield* ask(server, login)
      if (status !== expected) return yield* Effect.fail(new Error(`${login.user}: Auth-Status ${status}, expected ${expected}`))
    }
    const monitored = yield* mark
    return { perLogin: total(monitored.sent) / logins.length, monitored }
  })

const measureRoundTrips = (subject: Subject, redis: RedisServer.RedisServerInstance, count: number) =>
  Effect.scoped(Effect.gen(function*() {
    const mark = yield* redisMonitor(redis.port)
    const range = Array.from({ length: count }, (_, i) => i)
    // A wrong password from an address of its own each time: no limit is reached, every one is asked of LDAP.
    const wrong = range.map((i) => ({ ...rightLogin(subject.slapd, i), password: "wrong", clientIp: `198.51.100.${1 + (i % 250)}` }))
    const unknown = range.map((i) => ({ user: `nobody${i}`, password: "wrong", clientIp: `203.0.113.${1 + (i % 250)}` }))
    const right = yield* roundTripsOf(mark, subject.server, range.map((i) => rightLogin(subject.slapd, i)), "OK")
    const refused = yield* roundTripsOf(mark, subject.server, wrong, "Invalid login or password")
    const nobody = yield* roundTripsOf(mark, subject.server, unknown, "Invalid login or password")
    return {
      logins: count,
      right: right.perLogin,
      wrong: refused.perLogin,
      unknownUser: nobody.perLogin,
      byKind: { right: right.monitored, wrong: refused.monitored, unknownUser: nobody.monitored }
    } satisfies RoundTrips
  }))

const start = (transport: Transport, redis: RedisServer.RedisServerInstance, db: number, poolSize: number) =>
  Effect.gen(function*() {
    const slapd = yield* Slapd.make({ tls: true })
    const slapdPid = findPid("slapd", `:${slapd.port}/`)
    if (slapdPid === undefined) return yield* Effect.fail(new Error(`no slapd process serves port ${slapd.port}`))
    const server = yield* ServeProcess.make(slapd, {
      env: {
        LDAP_URLS: transport === "ldaps" ? slapd.tls!.ldapsUrl : slapd.url,
        LDAP_TLS_CA_FILE: slapd.tls!.certificates.caFile,
        POOL_MAX_SIZE: String(poolSize),
        POOL_MAX_IDLE: String(poolSize),
        REDIS_URL: redis.url(db)
      }
    })
    const subject: Subject = {
      transport,
      slapd,
      slapdPid,
      server,
      accepted: Effect.map(slapd.log, (log) => (log.match(/ ACCEPT from /g) ?? []).length),
      samples: noSamples(),
      failures: 0,
      firstFailure: undefined
    }
    return subject
  })

/** Every setup at one concurrency: a warm-up on each, rounds interleaved, then what each measured. */
const atConcurrency = (
  subjects: ReadonlyArray<Subject>,
  redis: RedisServer.RedisServerInstance,
  concurrency: number,
  options: ScalingOptions
) =>
  Effect.gen(function*() {
    options.onRound?.(concurrency, 0, true)
    const accepted: Array<{ readonly before: number; readonly warm: number }> = []
    for (const subject of subjects) {
      subject.samples = noSamples()
      subject.failures = 0
      subject.firstFailure = undefined
      const before = yield* subject.accepted
      yield* load(subject, options.warmupLogins, concurrency, false)
      accepted.push({ before, warm: yield* subject.accepted })
    }
    const perRound = Math.ceil(options.logins / options.rounds)
    for (let r = 0; r < options.rounds; r++) {
      options.onRound?.(concurrency, r + 1, false)
      for (let k = 0; k < subjects.length; k++) {
        yield* round(subjects[(k + r) % subjects.length]!, redis, perRound, concurrency)
      }
    }
    const runs: Array<ScalingRun> = []
    for (let i = 0; i < subjects.length; i++) {
      const subject = subjects[i]!
      const { samples } = subject
      runs.push({
        transport: subject.transport,
        concurrency,
        poolSize: options.poolSize,
        logins: perRound * options.rounds,
        failures: subject.failures,
        firstFailure: subject.firstFailure,
        loginsPerSecondByRound: samples.loginsPerSecond,
        loginsPerSecond: median(samples.loginsPerSecond),
        cpuMicrosPerLoginByRound: samples.cpu,
        cpuMicrosPerLogin: median(samples.cpu),
        slapdCpuMicrosPerLogin: median(samples.slapdCpu),
        redisCpuMicrosPerLogin: median(samples.redisCpu),
        redisScriptsPerLogin: median(samples.scripts),
        redisCommandsPerLogin: median(samples.commands),
        p50Millis: quantile(samples.latencies, 0.5),
        p99Millis: quantile(samples.latencies, 0.99),
        ldapConnectionsWarmup: accepted[i]!.warm - accepted[i]!.before,
        ldapConnectionsMeasured: (yield* subject.accepted) - accepted[i]!.warm,
        ldapConnectionsHeld: yield* connectionsHeld(subject.server)
      })
    }
    return runs
  })

/** Every setup at every concurrency, then the round trips per kind of login. */
export const runScalingBench = (options: ScalingOptions): Promise<ScalingResult> =>
  Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const redis = yield* RedisServer.make()
    const chosen = options.transports ?? transports
    const subjects = yield* Effect.forEach(chosen, (transport, i) => start(transport, redis, i + 1, options.poolSize))
    const memoryBefore = yield* usedMemory(redis)
    const runs: Array<ScalingRun> = []
    for (const concurrency of options.concurrencies) runs.push(...(yield* atConcurrency(subjects, redis, concurrency, options)))
    const roundTrips = yield* measureRoundTrips(subjects[0]!, redis, options.roundTripLogins)
    const keyspace = parseKeyspace(yield* redis.cli("INFO", "keyspace"))
    const grown = (yield* usedMemory(redis)) - memoryBefore
    return { runs, roundTrips, redisKeys: { ...keyspace, bytesPerKey: grown / Math.max(1, keyspace.keys) } }
  })))
