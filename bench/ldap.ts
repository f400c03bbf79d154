/**
 * Part 2: the workload. Logins (search for the user as the service account, then bind as the user) against a real
 * slapd on loopback, started by the example's test fixture, through three clients:
 *
 * - pooled: the example's `LdapAuth` (a search pool and a bind pool, `maxIdle` = `maxSize`);
 * - per-login: the same steps on a new connection per login (connect, bind as the service, search, bind as the
 *   user, unbind), with the example's `LdapClient`;
 * - ldapts floor: plain `ldapts`, no Effect and no pool: one long-lived client bound as the service that searches,
 *   one long-lived client that binds users, one login at a time (binds on a connection are sequential).
 *
 * At each concurrency, each client gets its own fresh slapd on its own port, so that TIME_WAIT sockets and
 * connection counts belong to that client alone, and keeps one instance (one `LdapAuth`, one pair of ldapts
 * clients) for the whole run, as a server would. The logins are split into rounds, interleaved between the clients
 * (A, B, C, then B, C, A …) after a warm-up round; logins/s is the median over rounds, and the ratio pooled ÷
 * per-login is taken round by round. Connections are counted over the whole run, warm-up and closing included: from
 * the client (`net.client.socket`), from the server's port (`ss`) and from slapd's own log.
 */
import { execFileSync } from "node:child_process"
import { existsSync } from "node:fs"
import { Cause, Duration, Effect, Exit, Redacted, Scope } from "effect"
import * as Ldapts from "ldapts"
import * as LdapAuth from "../examples/ldap-auth/src/LdapAuth.ts"
import * as LdapClient from "../examples/ldap-auth/src/LdapClient.ts"
import { defaultUserFilter } from "../examples/ldap-auth/src/internal/ldapAuth.ts"
import * as Filter from "../examples/ldap-auth/src/internal/ldapFilter.ts"
import * as ServerProcess from "../examples/ldap-auth/harness/ServerProcess.ts"
import * as Slapd from "../examples/ldap-auth/harness/Slapd.ts"
import { countClientConnections, watchServerConnections } from "./sockets.ts"
import { atMost, type Goal, perRound } from "./goals.ts"
import { median, quantile } from "./stats.ts"

export type Client = "pooled" | "per-login" | "ldapts-floor"

export const clients: ReadonlyArray<Client> = ["pooled", "per-login", "ldapts-floor"]

export interface LdapOptions {
  /** Measured logins per client and concurrency, split evenly over `rounds`. */
  readonly logins: number
  readonly rounds: number
  /** Logins of the warm-up round, not measured (but their connections are counted). */
  readonly warmupLogins: number
  readonly concurrencies: ReadonlyArray<number>
  /** `maxIdle` and `maxSize` of each of `LdapAuth`'s two pools. */
  readonly poolSize: number
  /** Default: all three. */
  readonly clients?: ReadonlyArray<Client> | undefined
  readonly onRound?: (concurrency: number, round: number, warmup: boolean) => void
}

export interface LdapRun {
  readonly client: Client
  readonly concurrency: number
  /** Measured logins (warm-up excluded). */
  readonly logins: number
  readonly failures: number
  readonly firstFailure: string | undefined
  /** Logins per second, one sample per round. */
  readonly loginsPerSecondByRound: ReadonlyArray<number>
  readonly loginsPerSecond: number
  /** Over every measured login of every round. */
  readonly p50Millis: number
  readonly p99Millis: number
  /** TCP connections this process opened to slapd. */
  readonly connectionsOpenedClient: number
  /** Connections slapd accepted, from its `stats` log: the exact server-side count. */
  readonly connectionsAccepted: number
  /**
   * Distinct client ports `ss` saw on slapd's port: a lower bound, because Linux reuses a loopback port still in
   * TIME_WAIT for the next connection (`net.ipv4.tcp_tw_reuse` = 2, the default).
   */
  readonly connectionsOpenedServer: number
  /** Most connections `ss` saw established at once. */
  readonly maxEstablished: number
  /** TIME_WAIT sockets on slapd's port once the client is closed. */
  readonly timeWaitAfter: number
}

export interface LdapResult {
  readonly logins: number
  readonly rounds: number
  readonly warmupLogins: number
  readonly poolSize: number
  readonly runs: ReadonlyArray<LdapRun>
  /** Pooled logins/s ÷ per-login logins/s, median of the per-round ratios, by concurrency. */
  readonly pooledOverPerLogin: ReadonlyArray<{ readonly concurrency: number; readonly ratio: number }>
}

/** "<tool> is not installed" for the first of `tools` not on the PATH, or undefined. */
export const missingTool = (tools: ReadonlyArray<string>): string | undefined => {
  for (const tool of tools) {
    try {
      execFileSync("sh", ["-c", `command -v ${tool}`], { stdio: "ignore", env: ServerProcess.commandEnv })
    } catch {
      return `${tool} is not installed`
    }
  }
  return undefined
}

/** Why part 2 cannot run here, or undefined when it can. */
export const unavailable = (): string | undefined => {
  const missing = missingTool(["slapd", "slapadd", "slappasswd", "ldapsearch", "ss"])
  if (missing !== undefined) return missing
  if (!existsSync("/etc/ldap/schema/inetorgperson.schema")) return "the OpenLDAP schemas are not in /etc/ldap/schema"
  return undefined
}

interface Login {
  readonly user: string
  readonly password: Redacted.Redacted<string>
}

// Generous bounds: on a loaded two-core machine a login may queue, and a timeout would be counted as a failure.
const timeouts = {
  connectTimeout: Duration.seconds(5),
  operationTimeout: Duration.seconds(10),
  acquireTimeout: Duration.seconds(30),
  timeout: Duration.seconds(60)
} as const

const range = (n: number): ReadonlyArray<number> => Array.from({ length: n }, (_, i) => i)

type LoginFunction = (login: Login) => Effect.Effect<unknown, unknown>

/** One client, set up in the current scope (closed when the scope closes). */
type Driver = (slapd: Slapd.SlapdInstance, poolSize: number) => Effect.Effect<LoginFunction, unknown, Scope.Scope>

const pooled: Driver = (slapd, poolSize) =>
  Effect.map(
    LdapAuth.make({ ...slapd.authOptions, ...timeouts, maxIdle: poolSize, maxSize: poolSize }),
    (auth): LoginFunction => ({ password, user }) => auth.authenticate(user, password)
  )

const perLogin: Driver = (slapd) =>
  Effect.succeed(({ password, user }) =>
    Effect.scoped(Effect.gen(function*() {
      const connection = yield* LdapClient.connect({ url: slapd.url, ...timeouts })
      yield* LdapClient.bind(connection, slapd.serviceDn, slapd.servicePassword)
      const entries = yield* LdapClient.search(connection, slapd.baseDn, {
        filter: Filter.render(defaultUserFilter, user),
        attributes: ["uid", "mail", "cn"],
        sizeLimit: 2
      })
      if (entries.length !== 1) return yield* Effect.fail(new Error(`${user}: ${entries.length} entries`))
      yield* LdapClient.bind(connection, entries[0]!.dn, password)
    }))
  )

const ldaptsFloor: Driver = (slapd) =>
  Effect.map(
    Effect.acquireRelease(
      Effect.promise(async () => {
        const searcher = new Ldapts.Client({ url: slapd.url })
        const binder = new Ldapts.Client({ url: slapd.url })
        await searcher.bind(slapd.serviceDn, Redacted.value(slapd.servicePassword))
        return { searcher, binder }
      }),
      ({ binder, searcher }) => Effect.promise(() => Promise.all([searcher.unbind(), binder.unbind()]))
    ),
    ({ binder, searcher }): LoginFunction => {
      const login = async ({ password, user }: Login) => {
        const { searchEntries } = await searcher.search(slapd.baseDn, {
          filter: Filter.render(defaultUserFilter, user),
          attributes: ["uid", "mail", "cn"],
          sizeLimit: 2
        })
        if (searchEntries.length !== 1) throw new Error(`${user}: ${searchEntries.length} entries`)
        await binder.bind(searchEntries[0]!.dn, Redacted.value(password))
      }
      // One login at a time: a bind changes the identity of the whole connection.
      let tail: Promise<unknown> = Promise.resolve()
      return (credentials) =>
        Effect.tryPromise(() => {
          const result = tail.then(() => login(credentials))
          tail = result.catch(() => {})
          return result
        })
    }
  )

const drivers: Record<Client, Driver> = { pooled, "per-login": perLogin, "ldapts-floor": ldaptsFloor }

/** A client at work: its slapd, its login function, and what it measured so far. */
interface Subject {
  readonly client: Client
  readonly slapd: Slapd.SlapdInstance
  readonly login: LoginFunction
  readonly close: Effect.Effect<void>
  readonly latencies: Array<number>
  readonly loginsPerSecond: Array<number>
  failures: number
  firstFailure: string | undefined
}

/** Runs `count` logins, `concurrency` at a time, on `subject`; returns logins per second. */
const round = (subject: Subject, count: number, concurrency: number, measured: boolean): Effect.Effect<void> =>
  Effect.suspend(() => {
    const { alice, bob, dave } = subject.slapd.users
    const users = [alice, bob, dave].map(({ password, uid }): Login => ({ user: uid, password }))
    let failures = 0
    const one = (i: number) =>
      Effect.suspend(() => {
        const start = performance.now()
        return subject.login(users[i % users.length]!).pipe(
          Effect.catchCause((cause) =>
            Effect.sync(() => {
              failures++
              subject.firstFailure ??= Cause.pretty(cause)
            })
          ),
          Effect.ensuring(Effect.sync(() => {
            if (measured) subject.latencies.push(performance.now() - start)
          }))
        )
      })
    const start = performance.now()
    return Effect.forEach(range(count), one, { concurrency, discard: true }).pipe(
      Effect.andThen(Effect.sync(() => {
        if (!measured) return
        subject.failures += failures
        subject.loginsPerSecond.push((count - failures) / ((performance.now() - start) / 1000))
      }))
    )
  })

/** Every client at one concurrency: their slapds side by side, rounds interleaved, then each closed and counted. */
const atConcurrency = (concurrency: number, options: LdapOptions): Effect.Effect<ReadonlyArray<LdapRun>, unknown> =>
  Effect.scoped(Effect.gen(function*() {
    const chosen = options.clients ?? clients
    const subjects: Array<Subject> = []
    const counters: Array<{
      readonly accepted: Effect.Effect<number, unknown>
      readonly acceptedBefore: number
      readonly clientSide: ReturnType<typeof countClientConnections>
      readonly serverSide: Awaited<ReturnType<typeof watchServerConnections>>
    }> = []
    for (const client of chosen) {
      const slapd = yield* Slapd.make()
      const accepted = Effect.map(slapd.log, (log) => (log.match(/ ACCEPT from /g) ?? []).length)
      // slapd writes its log asynchronously: let the readiness probe's lines land before taking the baseline.
      yield* Effect.sleep(Duration.millis(300))
      counters.push({
        accepted,
        acceptedBefore: yield* accepted,
        clientSide: countClientConnections(slapd.port),
        serverSide: yield* Effect.promise(() => watchServerConnections(slapd.port, 500))
      })
      const scope = yield* Scope.make()
      subjects.push({
        client,
        slapd,
        login: yield* drivers[client](slapd, options.poolSize).pipe(Scope.provide(scope)),
        close: Scope.close(scope, Exit.void),
        latencies: [],
        loginsPerSecond: [],
        failures: 0,
        firstFailure: undefined
      })
    }

    const perRound = Math.ceil(options.logins / options.rounds)
    for (let r = 0; r <= options.rounds; r++) {
      const warmup = r === 0
      options.onRound?.(concurrency, r, warmup)
      for (let k = 0; k < subjects.length; k++) {
        const subject = subjects[(k + r) % subjects.length]!
        yield* round(subject, warmup ? options.warmupLogins : perRound, concurrency, !warmup)
      }
    }

    const runs: Array<LdapRun> = []
    for (let i = 0; i < subjects.length; i++) {
      const subject = subjects[i]!
      const counter = counters[i]!
      yield* subject.close
      const connectionsOpenedClient = counter.clientSide.stop()
      // Let the closes finish on both ends before counting what they left behind.
      yield* Effect.sleep(Duration.millis(500))
      const server = yield* Effect.promise(() => counter.serverSide.stop())
      runs.push({
        client: subject.client,
        concurrency,
        logins: perRound * options.rounds,
        failures: subject.failures,
        firstFailure: subject.firstFailure,
        loginsPerSecondByRound: subject.loginsPerSecond,
        loginsPerSecond: median(subject.loginsPerSecond),
        p50Millis: quantile(subject.latencies, 0.5),
        p99Millis: quantile(subject.latencies, 0.99),
        connectionsOpenedClient,
        connectionsAccepted: (yield* counter.accepted) - counter.acceptedBefore,
        connectionsOpenedServer: server.opened,
        maxEstablished: server.maxEstablished,
        timeWaitAfter: yield* Effect.promise(() => counter.serverSide.timeWait())
      })
    }
    return runs
  }))

/** Every client at every concurrency. */
export const runLdapBench = (options: LdapOptions): Promise<LdapResult> =>
  Effect.runPromise(Effect.gen(function*() {
    const runs: Array<LdapRun> = []
    for (const concurrency of options.concurrencies) runs.push(...(yield* atConcurrency(concurrency, options)))
    const pooledOverPerLogin = options.concurrencies.flatMap((concurrency) => {
      const find = (client: Client) => runs.find((run) => run.client === client && run.concurrency === concurrency)
      const [p, l] = [find("pooled"), find("per-login")]
      if (p === undefined || l === undefined) return []
      const ratios = p.loginsPerSecondByRound.map((value, r) => value / l.loginsPerSecondByRound[r]!)
      return [{ concurrency, ratio: median(ratios) }]
    })
    return {
      logins: options.logins,
      rounds: options.rounds,
      warmupLogins: options.warmupLogins,
      poolSize: options.poolSize,
      runs,
      pooledOverPerLogin
    }
  }))

/**
 * The goals for part 2, at each concurrency, as ours ÷ theirs of a cost like every ratio of the benchmark: time
 * per login (the inverse of logins/s, per round), connections opened, TIME_WAIT sockets left.
 */
export const ldapGoals = (result: LdapResult): ReadonlyArray<Goal> => {
  const find = (client: Client, concurrency: number) =>
    result.runs.find((run) => run.client === client && run.concurrency === concurrency)
  // Time per login of `a` over `b`: b's logins/s over a's, round by round.
  const timeRatio = (a: LdapRun, b: LdapRun) => perRound(b.loginsPerSecondByRound, a.loginsPerSecondByRound)
  const floor = [find("ldapts-floor", 1), find("per-login", 1)]
  const slowWhy = floor[0] !== undefined && floor[1] !== undefined ?
    "connecting costs little on loopback and slapd shares the two cores with the client, so a pool saves little " +
      `time per login here: even plain ldapts on two long-lived connections (no Effect, no pool) takes ${
        timeRatio(floor[0], floor[1]).toFixed(2)
      }× per-login's time at concurrency 1` :
    undefined
  return [...new Set(result.runs.map((run) => run.concurrency))].flatMap((concurrency) => {
    const pooledRun = find("pooled", concurrency)
    const perLoginRun = find("per-login", concurrency)
    if (pooledRun === undefined || perLoginRun === undefined) return []
    const most = 2 * result.poolSize
    return [
      atMost(
        `concurrency ${concurrency}: pooled ÷ per-login, time per login`,
        0.2,
        timeRatio(pooledRun, perLoginRun),
        slowWhy
      ),
      atMost(
        `concurrency ${concurrency}: pooled connections opened ÷ 2 pools × maxSize ${result.poolSize}`,
        1,
        pooledRun.connectionsOpenedClient / most
      ),
      atMost(
        `concurrency ${concurrency}: pooled ÷ per-login, TIME_WAIT sockets left`,
        0.01,
        pooledRun.timeWaitAfter / Math.max(1, perLoginRun.timeWaitAfter),
        `the pool's own ${pooledRun.connectionsAccepted} connections leave ${pooledRun.timeWaitAfter} sockets in ` +
          `TIME_WAIT as they close at the end, however many logins they served, and per-login left ` +
          `${perLoginRun.timeWaitAfter.toLocaleString("en")} for ${(result.logins + result.warmupLogins).toLocaleString("en")} ` +
          "logins: the ratio shrinks as the run grows"
      )
    ]
  })
}
