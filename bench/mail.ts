/**
 * Part 4: end to end. IMAP logins from many concurrent clients through the whole chain, all real and on loopback:
 * client → nginx mail proxy → the example's auth server → slapd over `ldaps://`, then nginx → Dovecot. Run with
 * the pool (`maxIdle` = `maxSize`) and without reuse (`reuse: false`: a new search and a new bind connection for
 * every login, which slapd's log confirms), each against its own fresh set of servers (the example's
 * `DemoServers`), both up at once and their rounds interleaved.
 */
import { Duration, Effect, Redacted } from "effect"
import * as DemoServers from "../examples/ldap-auth/harness/DemoServers.ts"
import * as MailClient from "../examples/ldap-auth/harness/MailClient.ts"
import { missingTool, unavailable as ldapUnavailable } from "./ldap.ts"
import { atMost, type Goal } from "./goals.ts"
import { median, quantile } from "./stats.ts"

export interface MailOptions {
  /** Logins per setup, split evenly over `rounds`. */
  readonly logins: number
  /** Default: 1. */
  readonly rounds?: number | undefined
  /** Default: true. */
  readonly tls?: boolean | undefined
  readonly concurrency: number
  readonly poolSize: number
  readonly onRun?: (setup: MailSetup, round: number) => void
}

export type MailSetup = "pooled" | "no reuse"

export interface MailRun {
  readonly setup: MailSetup
  readonly maxIdle: number
  readonly maxSize: number
  readonly concurrency: number
  readonly logins: number
  /** Logins that failed or were refused: every one here should be accepted. */
  readonly errors: number
  readonly firstError: string | undefined
  readonly seconds: number
  /** Median over rounds. */
  readonly loginsPerSecond: number
  readonly p50Millis: number
  readonly p99Millis: number
  /** Connections slapd accepted during the run, from its log. */
  readonly ldapConnections: number
}

export interface MailResult {
  readonly tls: boolean
  readonly runs: ReadonlyArray<MailRun>
}

/** Why part 3 cannot run here, or undefined when it can. */
export const unavailable = (): string | undefined => ldapUnavailable() ?? missingTool(["nginx", "dovecot"])

const range = (n: number): ReadonlyArray<number> => Array.from({ length: n }, (_, i) => i)

interface Chain {
  readonly setup: MailSetup
  readonly servers: DemoServers.Servers
  readonly accepted: Effect.Effect<number, unknown>
  readonly acceptedBefore: number
  readonly latencies: Array<number>
  readonly loginsPerSecond: Array<number>
  seconds: number
  errors: number
  firstError: string | undefined
}

const startChain = (setup: MailSetup, options: MailOptions) =>
  Effect.gen(function*() {
    const servers = yield* DemoServers.make({
      // Every login comes from 127.0.0.1: the auth server's rate limits must not count them as an attack.
      rateLimits: DemoServers.generousRateLimits(1_000_000),
      maxIdle: options.poolSize,
      maxSize: options.poolSize,
      reuse: setup === "pooled",
      tls: options.tls ?? true,
      ldap: { operationTimeout: Duration.seconds(10), acquireTimeout: Duration.seconds(30), timeout: Duration.seconds(60) }
    })
    const accepted = Effect.map(servers.slapd.log, (log) => (log.match(/ ACCEPT from /g) ?? []).length)
    yield* Effect.sleep(Duration.millis(300))
    const chain: Chain = {
      setup,
      servers,
      accepted,
      acceptedBefore: yield* accepted,
      latencies: [],
      loginsPerSecond: [],
      seconds: 0,
      errors: 0,
      firstError: undefined
    }
    return chain
  })

const round = (chain: Chain, logins: number, concurrency: number) =>
  Effect.suspend(() => {
    const { alice, bob, dave } = chain.servers.slapd.users
    const users = [alice, bob, dave].map(({ password, uid }) => ({ user: uid, password: Redacted.value(password) }))
    let errors = 0
    const failed = (message: string) =>
      Effect.sync(() => {
        errors++
        chain.firstError ??= message
      })
    const one = (i: number) =>
      Effect.suspend(() => {
        const start = performance.now()
        return MailClient.login("imap", { port: chain.servers.nginx.imapPort, ...users[i % users.length]! }).pipe(
          Effect.flatMap((result) => (result.accepted ? Effect.void : failed(result.reply))),
          Effect.catch((error) => failed(error.message)),
          Effect.ensuring(Effect.sync(() => {
            chain.latencies.push(performance.now() - start)
          }))
        )
      })
    const start = performance.now()
    return Effect.forEach(range(logins), one, { concurrency, discard: true }).pipe(
      Effect.andThen(Effect.sync(() => {
        const seconds = (performance.now() - start) / 1000
        chain.seconds += seconds
        chain.errors += errors
        chain.loginsPerSecond.push((logins - errors) / seconds)
      }))
    )
  })

export const runMailBench = (options: MailOptions): Promise<MailResult> =>
  Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const chains: Array<Chain> = []
    for (const setup of ["pooled", "no reuse"] as const) chains.push(yield* startChain(setup, options))
    const rounds = options.rounds ?? 1
    const perRound = Math.ceil(options.logins / rounds)
    for (let r = 0; r < rounds; r++) {
      for (let k = 0; k < chains.length; k++) {
        const chain = chains[(k + r) % chains.length]!
        options.onRun?.(chain.setup, r + 1)
        yield* round(chain, perRound, options.concurrency)
      }
    }
    yield* Effect.sleep(Duration.millis(300))
    const runs: Array<MailRun> = []
    for (const chain of chains) {
      runs.push({
        setup: chain.setup,
        maxIdle: options.poolSize,
        maxSize: options.poolSize,
        concurrency: options.concurrency,
        logins: perRound * rounds,
        errors: chain.errors,
        firstError: chain.firstError,
        seconds: chain.seconds,
        loginsPerSecond: median(chain.loginsPerSecond),
        p50Millis: quantile(chain.latencies, 0.5),
        p99Millis: quantile(chain.latencies, 0.99),
        ldapConnections: (yield* chain.accepted) - chain.acceptedBefore
      })
    }
    return { tls: options.tls ?? true, runs }
  })))

/** The goal for part 4, as ours ÷ theirs of a cost (lower is better): pooled p99 at most half the no-reuse p99. */
export const mailGoals = (result: MailResult): ReadonlyArray<Goal> => {
  const find = (setup: MailSetup) => result.runs.find((run) => run.setup === setup)
  const [pooled, noReuse] = [find("pooled"), find("no reuse")]
  if (pooled === undefined || noReuse === undefined) return []
  return [atMost(
    `IMAP through nginx, ${result.tls ? "ldaps://" : "ldap://"}, ${pooled.concurrency} clients: pooled ÷ no reuse, p99`,
    0.5,
    pooled.p99Millis / noReuse.p99Millis
  )]
}
