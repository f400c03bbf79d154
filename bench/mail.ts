/**
 * Part 3: end to end. IMAP logins from many concurrent clients through the whole chain, all real and on loopback:
 * client → nginx mail proxy → the example's auth server → slapd, then nginx → Dovecot. Run with the pool
 * (`maxIdle` = `maxSize`) and with reuse switched off (`maxIdle` 0: a new LDAP connection for every operation),
 * each against its own fresh set of servers (the example's `DemoServers`).
 */
import { Duration, Effect, Redacted } from "effect"
import * as DemoServers from "../examples/ldap-auth/harness/DemoServers.ts"
import * as MailClient from "../examples/ldap-auth/harness/MailClient.ts"
import { missingTool, unavailable as ldapUnavailable } from "./ldap.ts"
import { quantile } from "./stats.ts"

export interface MailOptions {
  readonly logins: number
  readonly concurrency: number
  readonly poolSize: number
  readonly onRun?: (setup: MailSetup) => void
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
  readonly loginsPerSecond: number
  readonly p50Millis: number
  readonly p99Millis: number
  /** Connections slapd accepted during the run, from its log. */
  readonly ldapConnections: number
}

export interface MailResult {
  readonly runs: ReadonlyArray<MailRun>
}

/** Why part 3 cannot run here, or undefined when it can. */
export const unavailable = (): string | undefined => ldapUnavailable() ?? missingTool(["nginx", "dovecot"])

// Every login comes from 127.0.0.1: the auth server's rate limits must not count them as an attack.
const range = (n: number): ReadonlyArray<number> => Array.from({ length: n }, (_, i) => i)

const runOne = (setup: MailSetup, options: MailOptions): Effect.Effect<MailRun, unknown> =>
  Effect.scoped(Effect.gen(function*() {
    const maxIdle = setup === "pooled" ? options.poolSize : 0
    const servers = yield* DemoServers.make({
      rateLimits: DemoServers.generousRateLimits(1_000_000),
      maxIdle,
      maxSize: options.poolSize,
      ldap: { operationTimeout: Duration.seconds(10), acquireTimeout: Duration.seconds(30), timeout: Duration.seconds(60) }
    })
    const { alice, bob, dave } = servers.slapd.users
    const users = [alice, bob, dave].map(({ password, uid }) => ({ user: uid, password: Redacted.value(password) }))
    const accepted = Effect.map(servers.slapd.log, (log) => (log.match(/ ACCEPT from /g) ?? []).length)
    yield* Effect.sleep(Duration.millis(300))
    const acceptedBefore = yield* accepted

    const latencies: Array<number> = new Array(options.logins)
    let errors = 0
    let firstError: string | undefined
    const failed = (message: string) =>
      Effect.sync(() => {
        errors++
        firstError ??= message
      })
    const one = (i: number) =>
      Effect.suspend(() => {
        const start = performance.now()
        return MailClient.login("imap", { port: servers.nginx.imapPort, ...users[i % users.length]! }).pipe(
          Effect.flatMap((result) => (result.accepted ? Effect.void : failed(result.reply))),
          Effect.catch((error) => failed(error.message)),
          Effect.ensuring(Effect.sync(() => {
            latencies[i] = performance.now() - start
          }))
        )
      })
    const start = performance.now()
    yield* Effect.forEach(range(options.logins), one, { concurrency: options.concurrency, discard: true })
    const seconds = (performance.now() - start) / 1000
    yield* Effect.sleep(Duration.millis(300))
    return {
      setup,
      maxIdle,
      maxSize: options.poolSize,
      concurrency: options.concurrency,
      logins: options.logins,
      errors,
      firstError,
      seconds,
      loginsPerSecond: (options.logins - errors) / seconds,
      p50Millis: quantile(latencies, 0.5),
      p99Millis: quantile(latencies, 0.99),
      ldapConnections: (yield* accepted) - acceptedBefore
    }
  }))

export const runMailBench = (options: MailOptions): Promise<MailResult> =>
  Effect.runPromise(Effect.gen(function*() {
    const runs: Array<MailRun> = []
    for (const setup of ["pooled", "no reuse"] as const) {
      options.onRun?.(setup)
      runs.push(yield* runOne(setup, options))
    }
    return { runs }
  }))
