/**
 * Part 2b: churn. A steady load of `concurrency` logins at once on one `LdapAuth` (plain `ldap://`, its own slapd
 * per setting), after a warm-up: how many connections the measured logins still open, counted from slapd's log.
 * With `maxIdle` below what the load keeps busy, returns momentarily outpace borrows, the idle set overflows and
 * connections are closed, to be opened again a moment later; with `maxIdle` = `maxSize` (the example's default)
 * none are.
 */
import { Duration, Effect } from "effect"
import * as LdapAuth from "../examples/ldap-auth/src/LdapAuth.ts"
import * as Slapd from "../examples/ldap-auth/harness/Slapd.ts"
import { atMost, type Goal } from "./goals.ts"

export interface ChurnOptions {
  readonly logins: number
  readonly warmupLogins: number
  readonly concurrency: number
  readonly settings: ReadonlyArray<{ readonly maxIdle: number; readonly maxSize: number }>
}

export interface ChurnRun {
  readonly maxIdle: number
  readonly maxSize: number
  readonly concurrency: number
  readonly logins: number
  /** Connections slapd accepted during the measured logins. */
  readonly opened: number
  readonly failures: number
}

const accepted = (slapd: Slapd.SlapdInstance) =>
  Effect.map(slapd.log, (log) => (log.match(/ ACCEPT from /g) ?? []).length)

export const runChurnBench = (options: ChurnOptions): Promise<ReadonlyArray<ChurnRun>> =>
  Effect.runPromise(Effect.forEach(options.settings, ({ maxIdle, maxSize }) =>
    Effect.scoped(Effect.gen(function*() {
      const slapd = yield* Slapd.make()
      const auth = yield* LdapAuth.make({
        ...slapd.authOptions,
        maxIdle,
        maxSize,
        acquireTimeout: Duration.seconds(30),
        timeout: Duration.seconds(60)
      })
      const users = Object.values(slapd.users)
      let failures = 0
      const logins = (count: number) =>
        Effect.forEach(
          Array.from({ length: count }, (_, i) => users[i % users.length]!),
          (user) => auth.authenticate(user.uid, user.password).pipe(Effect.catch(() => Effect.sync(() => failures++))),
          { concurrency: options.concurrency, discard: true }
        )
      yield* logins(options.warmupLogins)
      const before = yield* accepted(slapd)
      yield* logins(options.logins)
      const run: ChurnRun = {
        maxIdle,
        maxSize,
        concurrency: options.concurrency,
        logins: options.logins,
        opened: (yield* accepted(slapd)) - before,
        failures
      }
      return run
    }))))

/**
 * For each setting with `maxIdle` = `maxSize`: no connection opened under the steady load. A count, not a ratio,
 * and like every goal of the benchmark lower is better.
 */
export const churnGoals = (runs: ReadonlyArray<ChurnRun>): ReadonlyArray<Goal> =>
  runs.filter((run) => run.maxIdle === run.maxSize).map((run) =>
    atMost(
      `steady ${run.concurrency} at once, maxIdle = maxSize = ${run.maxSize}: connections opened by ` +
        `${run.logins.toLocaleString("en")} logins after the warm-up (a count)`,
      0,
      run.opened
    )
  )
