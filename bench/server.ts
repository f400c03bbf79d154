/**
 * Part 3: the whole server. Logins through the auth server's own HTTP endpoint (`GET /auth`, as nginx asks, one
 * request per connection), with the directory reached over `ldaps://`, from `concurrency` clients at once, against
 * three servers each run as a child process with its own slapd:
 *
 * - pooled: `ldap-auth serve`, the example's server as an operator runs it (`POOL_MAX_SIZE` = `poolSize`);
 * - no reuse: the same server with `reuse: false` (`servers/noReuse.ts`): a search and a bind connection per login;
 * - lean: the floor (`servers/lean.ts`), Node `http` and plain ldapts on `poolSize` long-lived connection pairs.
 *
 * Rounds are interleaved as in part 2; a round ends after `logins ÷ rounds` logins or `roundSeconds`. Each round
 * reads the child's CPU time (user + system, from `/proc/<pid>/stat`) before and after, so CPU per login is the
 * server's own, not the load generator's (which shares the machine).
 */
import { execFileSync } from "node:child_process"
import { randomUUID } from "node:crypto"
import { readFileSync } from "node:fs"
import * as Http from "node:http"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { Duration, Effect, Redacted } from "effect"
import * as ServerProcess from "../examples/ldap-auth/harness/ServerProcess.ts"
import * as Slapd from "../examples/ldap-auth/harness/Slapd.ts"
import { atMost, type Goal } from "./goals.ts"
import { median, quantile } from "./stats.ts"

export type ServerSetup = "pooled" | "no reuse" | "lean"

export const serverSetups: ReadonlyArray<ServerSetup> = ["pooled", "no reuse", "lean"]

export interface ServerOptions {
  /** The most measured logins per setup, split evenly over `rounds`. */
  readonly logins: number
  readonly rounds: number
  /** A round also ends after this long. Default: no limit. */
  readonly roundSeconds?: number | undefined
  readonly warmupLogins: number
  readonly concurrency: number
  readonly poolSize: number
  /** Default: all three. */
  readonly setups?: ReadonlyArray<ServerSetup> | undefined
  readonly onRound?: (round: number, warmup: boolean) => void
}

export interface ServerRun {
  readonly setup: ServerSetup
  readonly concurrency: number
  /** Measured logins (warm-up excluded). */
  readonly logins: number
  /** Every login, warm-up included. */
  readonly allLogins: number
  /** Logins not answered `Auth-Status: OK`: every one here should be. */
  readonly failures: number
  readonly firstFailure: string | undefined
  readonly loginsPerSecondByRound: ReadonlyArray<number>
  readonly loginsPerSecond: number
  /** The server process's CPU time (user + system) per login, one sample per round. */
  readonly cpuMicrosPerLoginByRound: ReadonlyArray<number>
  readonly cpuMicrosPerLogin: number
  readonly p50Millis: number
  readonly p99Millis: number
  /** Connections slapd accepted over the whole run, from its log. */
  readonly ldapConnections: number
}

export interface ServerResult {
  readonly runs: ReadonlyArray<ServerRun>
  /** Pooled logins/s ÷ no-reuse logins/s, median of the per-round ratios. */
  readonly pooledOverNoReuse: number
  /** Lean CPU per login ÷ pooled CPU per login, median of the per-round ratios. */
  readonly leanCpuOverPooledCpu: number
  /** Logins one core's second of the pooled server's CPU answers: 10⁶ ÷ its CPU µs per login. */
  readonly pooledLoginsPerCoreSecond: number
}

/** Why part 3 cannot run here, or undefined when it can. */
export const unavailable = (): string | undefined => {
  try {
    readFileSync("/proc/self/stat")
  } catch {
    return "/proc/<pid>/stat is not readable"
  }
  return undefined
}

const here = Path.dirname(fileURLToPath(import.meta.url))
const repo = Path.resolve(here, "..")
const clockTicks = Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim())

/** CPU time of a process so far, user + system, in microseconds. */
const cpuMicros = (pid: number): number => {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
  return ((Number(fields[11]) + Number(fields[12])) / clockTicks) * 1_000_000
}

interface Subject {
  readonly setup: ServerSetup
  readonly port: number
  readonly pid: number
  readonly secret: string | undefined
  readonly slapd: Slapd.SlapdInstance
  readonly latencies: Array<number>
  readonly loginsPerSecond: Array<number>
  readonly cpuPerLogin: Array<number>
  measured: number
  all: number
  failures: number
  firstFailure: string | undefined
}

const start = (setup: ServerSetup, poolSize: number) =>
  Effect.gen(function*() {
    const slapd = yield* Slapd.make({ tls: true })
    const dir = yield* ServerProcess.tempDir("bench-server-")
    const [port, metricsPort] = [yield* ServerProcess.freePort, yield* ServerProcess.freePort]
    const secret = setup === "lean" ? undefined : randomUUID()
    const common = {
      LDAP_TLS_CA_FILE: slapd.tls!.certificates.caFile,
      LDAP_BASE_DN: slapd.baseDn,
      LDAP_BIND_DN: slapd.serviceDn,
      LDAP_BIND_PASSWORD: Redacted.value(slapd.servicePassword),
      AUTH_HTTP_PORT: String(port)
    }
    const env: Record<string, string> = setup === "lean"
      ? { ...common, LDAP_URL: slapd.tls!.ldapsUrl, PAIRS: String(poolSize) }
      : {
        ...common,
        LDAP_URLS: slapd.tls!.ldapsUrl,
        METRICS_PORT: String(metricsPort),
        POOL_MAX_SIZE: String(poolSize),
        AUTH_SHARED_SECRET: secret!
      }
    const script = setup === "pooled"
      ? [Path.join(repo, "examples/ldap-auth/main.ts"), "serve"]
      : [Path.join(here, setup === "lean" ? "servers/lean.ts" : "servers/noReuse.ts")]
    const child = yield* ServerProcess.spawn({
      name: `auth server (${setup})`,
      command: "env",
      args: [
        ...Object.entries(env).map(([name, value]) => `${name}=${value}`),
        process.execPath,
        "--conditions=effect-connection-pool:source",
        ...script
      ],
      logPath: Path.join(dir, "server.log"),
      ports: [port]
    })
    return { setup, port, pid: child.pid!, secret, slapd }
  })

/** One request as nginx sends it; resolves with the `Auth-Status` answered. */
const ask = (subject: Subject, user: string, password: string, clientIp: string): Promise<string> =>
  new Promise((resolve, reject) => {
    const request = Http.request({
      host: "127.0.0.1",
      port: subject.port,
      path: "/auth",
      agent: false,
      headers: {
        "Auth-Method": "plain",
        "Auth-User": encodeURIComponent(user),
        "Auth-Pass": encodeURIComponent(password),
        "Auth-Protocol": "imap",
        "Auth-Login-Attempt": "1",
        "Client-IP": clientIp,
        ...(subject.secret === undefined ? {} : { "X-Auth-Key": subject.secret })
      }
    }, (response) => {
      response.resume()
      response.once("end", () => resolve(String(response.headers["auth-status"])))
    })
    request.once("error", reject)
    request.end()
  })

const range = (n: number): ReadonlyArray<number> => Array.from({ length: n }, (_, i) => i)

const round = (subject: Subject, count: number, seconds: number, concurrency: number, measured: boolean) =>
  Effect.suspend(() => {
    const users = Object.values(subject.slapd.users).map(({ password, uid }) => ({ uid, password: Redacted.value(password) }))
    let done = 0
    let failures = 0
    const begin = performance.now()
    const deadline = begin + seconds * 1000
    const cpuBefore = cpuMicros(subject.pid)
    const one = (i: number) =>
      Effect.suspend(() => {
        if (i >= concurrency && performance.now() > deadline) return Effect.void
        const user = users[i % users.length]!
        const started = performance.now()
        // Many clients, as nginx would see them: the limiter counts a login in flight as a failure until it
        // succeeds, so tens of logins of one user from one address at once would be refused.
        const clientIp = `192.0.2.${1 + (i % 200)}`
        return Effect.promise(() =>
          ask(subject, user.uid, user.password, clientIp).catch((error: Error) => error.message)
        ).pipe(
          Effect.map((status) => {
            done++
            if (measured) subject.latencies.push(performance.now() - started)
            if (status === "OK") return
            failures++
            subject.firstFailure ??= `${user.uid}: ${status}`
          })
        )
      })
    return Effect.forEach(range(count), one, { concurrency, discard: true }).pipe(
      Effect.andThen(Effect.sync(() => {
        subject.all += done
        if (!measured) return
        const cpu = cpuMicros(subject.pid) - cpuBefore
        subject.measured += done
        subject.failures += failures
        subject.loginsPerSecond.push((done - failures) / ((performance.now() - begin) / 1000))
        subject.cpuPerLogin.push(cpu / done)
      }))
    )
  })

const perRound = (a: ReadonlyArray<number>, b: ReadonlyArray<number>) => median(a.map((value, r) => value / b[r]!))

export const runServerBench = (options: ServerOptions): Promise<ServerResult> =>
  Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const subjects: Array<Subject> = []
    for (const setup of options.setups ?? serverSetups) {
      const started = yield* start(setup, options.poolSize)
      subjects.push({
        ...started,
        latencies: [],
        loginsPerSecond: [],
        cpuPerLogin: [],
        measured: 0,
        all: 0,
        failures: 0,
        firstFailure: undefined
      })
    }
    const accepted = (subject: Subject) =>
      Effect.map(subject.slapd.log, (log) => (log.match(/ ACCEPT from /g) ?? []).length)
    yield* Effect.sleep(Duration.millis(300))
    const acceptedBefore: Array<number> = []
    for (const subject of subjects) acceptedBefore.push(yield* accepted(subject))

    const count = Math.ceil(options.logins / options.rounds)
    const seconds = options.roundSeconds ?? Infinity
    for (let r = 0; r <= options.rounds; r++) {
      options.onRound?.(r, r === 0)
      for (let k = 0; k < subjects.length; k++) {
        const subject = subjects[(k + r) % subjects.length]!
        yield* round(subject, r === 0 ? options.warmupLogins : count, seconds, options.concurrency, r > 0)
      }
    }
    yield* Effect.sleep(Duration.millis(300))

    const runs: Array<ServerRun> = []
    for (let i = 0; i < subjects.length; i++) {
      const subject = subjects[i]!
      runs.push({
        setup: subject.setup,
        concurrency: options.concurrency,
        logins: subject.measured,
        allLogins: subject.all,
        failures: subject.failures,
        firstFailure: subject.firstFailure,
        loginsPerSecondByRound: subject.loginsPerSecond,
        loginsPerSecond: median(subject.loginsPerSecond),
        cpuMicrosPerLoginByRound: subject.cpuPerLogin,
        cpuMicrosPerLogin: median(subject.cpuPerLogin),
        p50Millis: quantile(subject.latencies, 0.5),
        p99Millis: quantile(subject.latencies, 0.99),
        ldapConnections: (yield* accepted(subject)) - acceptedBefore[i]!
      })
    }
    const find = (setup: ServerSetup) => runs.find((run) => run.setup === setup)
    const [pooled, noReuse, lean] = [find("pooled"), find("no reuse"), find("lean")]
    return {
      runs,
      pooledOverNoReuse: pooled === undefined || noReuse === undefined
        ? Number.NaN
        : perRound(pooled.loginsPerSecondByRound, noReuse.loginsPerSecondByRound),
      leanCpuOverPooledCpu: pooled === undefined || lean === undefined
        ? Number.NaN
        : perRound(lean.cpuMicrosPerLoginByRound, pooled.cpuMicrosPerLoginByRound),
      pooledLoginsPerCoreSecond: pooled === undefined ? Number.NaN : 1_000_000 / pooled.cpuMicrosPerLogin
    }
  })))

/**
 * The goals for part 3, as ours ÷ theirs of a cost like every ratio of the benchmark (lower is better): the pooled
 * server's CPU per login over the lean server's, and its time per login over the no-reuse server's.
 */
export const serverGoals = (result: ServerResult): ReadonlyArray<Goal> => {
  const concurrency = result.runs[0]?.concurrency ?? 0
  const where = `GET /auth over ldaps://, concurrency ${concurrency}`
  return [
    atMost(
      `${where}: pooled ÷ lean server, CPU per login`,
      1.5,
      1 / result.leanCpuOverPooledCpu,
      "what the lean server does not do, per request, measured by parts: answering without LDAP costs the pooled " +
        "server ~217 µs of CPU against the lean one's ~100 (a fiber per request, the hardened socket handling, " +
        "decoding and the secret check); the rate limiter ~30 µs; LdapAuth and the pools over raw ldapts ~140 µs, " +
        "most of it Effect's runtime. In a CPU profile Effect took 16% of the busy time, the example's own code 13%, " +
        "ldapts 9%, Node's HTTP, TLS and sockets the rest"
    ),
    atMost(`${where}: pooled ÷ no reuse, time per login`, 1 / 8, 1 / result.pooledOverNoReuse)
  ]
}
