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
 * Each run gets a fresh slapd on a fresh port, so that TIME_WAIT sockets and connection counts belong to that run
 * alone. Connections are counted from the client (`net.client.socket`), from the server's port (`ss`) and from
 * slapd's own log.
 */
import { execFileSync } from "node:child_process"
import { existsSync } from "node:fs"
import { Cause, Duration, Effect, Redacted } from "effect"
import * as Ldapts from "ldapts"
import * as LdapAuth from "../examples/ldap-auth/src/LdapAuth.ts"
import * as LdapClient from "../examples/ldap-auth/src/LdapClient.ts"
import { defaultUserFilter } from "../examples/ldap-auth/src/internal/ldapAuth.ts"
import * as Filter from "../examples/ldap-auth/src/internal/ldapFilter.ts"
import * as Slapd from "../examples/ldap-auth/test/fixtures/Slapd.ts"
import { countClientConnections, watchServerConnections } from "./sockets.ts"
import type { Goal } from "./goals.ts"
import { quantile } from "./stats.ts"

export type Client = "pooled" | "per-login" | "ldapts-floor"

export const clients: ReadonlyArray<Client> = ["pooled", "per-login", "ldapts-floor"]

export interface LdapOptions {
  readonly logins: number
  readonly concurrencies: ReadonlyArray<number>
  /** `maxIdle` and `maxSize` of each of `LdapAuth`'s two pools. */
  readonly poolSize: number
  /** Default: all three. */
  readonly clients?: ReadonlyArray<Client> | undefined
  readonly onRun?: (client: Client, concurrency: number) => void
}

export interface LdapRun {
  readonly client: Client
  readonly concurrency: number
  readonly logins: number
  readonly failures: number
  readonly firstFailure: string | undefined
  readonly seconds: number
  readonly loginsPerSecond: number
  readonly p50Millis: number
  readonly p99Millis: number
  /** TCP connections this process opened to slapd. */
  readonly connectionsOpenedClient: number
  /**
   * Distinct client ports `ss` saw on slapd's port during the run and its teardown: a lower bound, because Linux
   * reuses a loopback port still in TIME_WAIT for the next connection (`net.ipv4.tcp_tw_reuse` = 2, the default).
   */
  readonly connectionsOpenedServer: number
  /** Connections slapd accepted, from its `stats` log: the exact server-side count. */
  readonly connectionsAccepted: number
  /** Most connections `ss` saw established at once. */
  readonly maxEstablished: number
  /** TIME_WAIT sockets on slapd's port once the client is closed. */
  readonly timeWaitAfter: number
}

export interface LdapResult {
  readonly logins: number
  readonly poolSize: number
  readonly runs: ReadonlyArray<LdapRun>
}

/** Why part 2 cannot run here, or undefined when it can. */
export const unavailable = (): string | undefined => {
  for (const tool of ["slapd", "slapadd", "slappasswd", "ldapsearch", "ss"]) {
    try {
      execFileSync("sh", ["-c", `command -v ${tool}`], { stdio: "ignore" })
    } catch {
      return `${tool} is not installed`
    }
  }
  if (!existsSync("/etc/ldap/schema/inetorgperson.schema")) return "the OpenLDAP schemas are not in /etc/ldap/schema"
  return undefined
}

interface Login {
  readonly user: string
  readonly password: Redacted.Redacted<string>
}

interface Measured {
  readonly seconds: number
  readonly latencies: ReadonlyArray<number>
  readonly failures: number
  readonly firstFailure: string | undefined
}

// Generous bounds: on a loaded two-core machine a login may queue, and a timeout would be counted as a failure.
const timeouts = {
  connectTimeout: Duration.seconds(5),
  operationTimeout: Duration.seconds(10),
  acquireTimeout: Duration.seconds(30),
  timeout: Duration.seconds(60)
} as const

const range = (n: number): ReadonlyArray<number> => Array.from({ length: n }, (_, i) => i)

/** Runs `count` logins, `concurrency` at a time, timing each; failures are counted, not thrown. */
const measure = (
  logins: ReadonlyArray<Login>,
  count: number,
  concurrency: number,
  login: (login: Login) => Effect.Effect<unknown, unknown>
): Effect.Effect<Measured> =>
  Effect.suspend(() => {
    const latencies: Array<number> = new Array(count)
    let failures = 0
    let firstFailure: string | undefined
    const one = (i: number) =>
      Effect.suspend(() => {
        const start = performance.now()
        return login(logins[i % logins.length]!).pipe(
          Effect.catchCause((cause) =>
            Effect.sync(() => {
              failures++
              firstFailure ??= Cause.pretty(cause)
            })
          ),
          Effect.ensuring(Effect.sync(() => {
            latencies[i] = performance.now() - start
          }))
        )
      })
    const start = performance.now()
    return Effect.forEach(range(count), one, { concurrency, discard: true }).pipe(
      Effect.map(() => ({ seconds: (performance.now() - start) / 1000, latencies, failures, firstFailure }))
    )
  })

/** One client: set it up, run the logins with `measure`, close it; all in the current scope. */
type Driver = (
  slapd: Slapd.SlapdInstance,
  run: (login: (login: Login) => Effect.Effect<unknown, unknown>) => Effect.Effect<Measured>,
  poolSize: number
) => Effect.Effect<Measured, unknown>

const pooled: Driver = (slapd, run, poolSize) =>
  Effect.scoped(Effect.gen(function*() {
    const auth = yield* LdapAuth.make({ ...slapd.authOptions, ...timeouts, maxIdle: poolSize, maxSize: poolSize })
    return yield* run(({ password, user }) => auth.authenticate(user, password))
  }))

const perLogin: Driver = (slapd, run) =>
  run(({ password, user }) =>
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

const ldaptsFloor: Driver = (slapd, run) =>
  Effect.acquireUseRelease(
    Effect.promise(async () => {
      const searcher = new Ldapts.Client({ url: slapd.url })
      const binder = new Ldapts.Client({ url: slapd.url })
      await searcher.bind(slapd.serviceDn, Redacted.value(slapd.servicePassword))
      return { searcher, binder }
    }),
    ({ binder, searcher }) => {
      let tail: Promise<unknown> = Promise.resolve()
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
      return run((credentials) =>
        Effect.tryPromise(() => {
          const result = tail.then(() => login(credentials))
          tail = result.catch(() => {})
          return result
        })
      )
    },
    ({ binder, searcher }) => Effect.promise(() => Promise.all([searcher.unbind(), binder.unbind()]))
  )

const drivers: Record<Client, Driver> = { pooled, "per-login": perLogin, "ldapts-floor": ldaptsFloor }

/** One client at one concurrency against a fresh slapd. */
const runOne = (client: Client, concurrency: number, options: LdapOptions): Effect.Effect<LdapRun, unknown> =>
  Effect.scoped(Effect.gen(function*() {
    const slapd = yield* Slapd.make()
    const { alice, bob, dave } = slapd.users
    const logins = [alice, bob, dave].map(({ password, uid }): Login => ({ user: uid, password }))
    const accepted = Effect.map(slapd.log, (log) => (log.match(/ ACCEPT from /g) ?? []).length)
    // slapd writes its log asynchronously: let the readiness probe's lines land before taking the baseline.
    yield* Effect.sleep(Duration.millis(300))
    const acceptedBefore = yield* accepted
    const clientSide = countClientConnections(slapd.port)
    const serverSide = yield* Effect.promise(() => watchServerConnections(slapd.port, 500))
    const measured = yield* drivers[client](
      slapd,
      (login) => measure(logins, options.logins, concurrency, login),
      options.poolSize
    )
    const connectionsOpenedClient = clientSide.stop()
    // Let the closes finish on both ends before counting what they left behind.
    yield* Effect.sleep(Duration.millis(500))
    const server = yield* Effect.promise(() => serverSide.stop())
    const timeWaitAfter = yield* Effect.promise(() => serverSide.timeWait())
    const connectionsAccepted = (yield* accepted) - acceptedBefore
    const succeeded = options.logins - measured.failures
    return {
      client,
      concurrency,
      logins: options.logins,
      failures: measured.failures,
      firstFailure: measured.firstFailure,
      seconds: measured.seconds,
      loginsPerSecond: succeeded / measured.seconds,
      p50Millis: quantile(measured.latencies, 0.5),
      p99Millis: quantile(measured.latencies, 0.99),
      connectionsOpenedClient,
      connectionsOpenedServer: server.opened,
      connectionsAccepted,
      maxEstablished: server.maxEstablished,
      timeWaitAfter
    }
  }))

/** Every client at every concurrency, interleaved (pooled, per-login, floor at 1, then the same at 32). */
export const runLdapBench = (options: LdapOptions): Promise<LdapResult> =>
  Effect.runPromise(Effect.gen(function*() {
    const runs: Array<LdapRun> = []
    for (const concurrency of options.concurrencies) {
      for (const client of options.clients ?? clients) {
        options.onRun?.(client, concurrency)
        runs.push(yield* runOne(client, concurrency, options))
      }
    }
    return { logins: options.logins, poolSize: options.poolSize, runs }
  }))

/** The goals of issue 5 for part 2, at each concurrency. */
export const ldapGoals = (result: LdapResult): ReadonlyArray<Goal> =>
  [...new Set(result.runs.map((run) => run.concurrency))].flatMap((concurrency) => {
    const find = (client: Client) => result.runs.find((run) => run.client === client && run.concurrency === concurrency)
    const pooledRun = find("pooled")
    const perLoginRun = find("per-login")
    if (pooledRun === undefined || perLoginRun === undefined) return []
    const most = 2 * result.poolSize
    return [
      {
        description: `concurrency ${concurrency}: pooled logins/s ÷ per-login logins/s`,
        limit: 5,
        atLeast: true,
        ratio: pooledRun.loginsPerSecond / perLoginRun.loginsPerSecond,
        met: pooledRun.loginsPerSecond >= 5 * perLoginRun.loginsPerSecond
      },
      {
        description: `concurrency ${concurrency}: pooled connections opened ÷ 2 pools × maxSize ${result.poolSize}`,
        limit: 1,
        ratio: pooledRun.connectionsOpenedClient / most,
        met: pooledRun.connectionsOpenedClient <= most
      },
      {
        description: `concurrency ${concurrency}: pooled TIME_WAIT ÷ per-login TIME_WAIT`,
        limit: 0.01,
        ratio: pooledRun.timeWaitAfter / Math.max(1, perLoginRun.timeWaitAfter),
        met: pooledRun.timeWaitAfter <= 0.01 * perLoginRun.timeWaitAfter
      }
    ]
  })
