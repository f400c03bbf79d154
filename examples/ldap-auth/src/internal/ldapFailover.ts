/**
 * Several LDAP servers: each login tries them in the configured order, skipping a server that failed within the
 * last `cooldown`, so logins go on while one server is up and a failed server is tried again later. When every
 * server is cooling down they are all tried anyway: a login is never refused without asking a server.
 *
 * The log says when a server starts failing and when it answers again, one line each, without a stack: while a
 * directory is down, logins keep failing on it, and a line per login would bury everything else.
 */
import { Clock, Duration, Effect } from "effect"

interface Entry<S> {
  readonly server: S
  downUntilMillis: number
  /** A fault was logged and no answer has come since. */
  failing: boolean
}

export interface Failover<S> {
  readonly entries: ReadonlyArray<Entry<S>>
  readonly cooldownMillis: number
}

export const make = <S>(servers: ReadonlyArray<S>, cooldown: Duration.Input): Failover<S> => ({
  entries: servers.map((server) => ({ server, downUntilMillis: 0, failing: false })),
  cooldownMillis: Duration.toMillis(Duration.fromInputUnsafe(cooldown))
})

/**
 * Runs `f` on the first server that succeeds or fails for a reason of the caller's own (`isServerFault` false);
 * a server fault puts that server in cooldown and moves on. Fails with the last fault when every server faulted.
 * `describe` names a server and `explain` a fault in the log, in one short line each.
 */
export const run = <S, A, E>(
  self: Failover<S>,
  f: (server: S) => Effect.Effect<A, E>,
  isServerFault: (error: E) => boolean,
  describe: (server: S) => string,
  explain: (fault: E) => string
): Effect.Effect<A, E> =>
  Clock.clockWith((clock) => {
    const now = clock.currentTimeMillisUnsafe()
    const healthy = self.entries.length === 1 ? self.entries : self.entries.filter((entry) => entry.downUntilMillis <= now)
    const candidates = healthy.length > 0 ? healthy : self.entries
    const attempt = (index: number): Effect.Effect<A, E> => {
      const entry = candidates[index]!
      // Any answer that is not a server fault, a success or a refused login, proves the server is back: marks it
      // so, and gives the line to write when it had been failing.
      const recover = (): Effect.Effect<void> | undefined => {
        entry.downUntilMillis = 0
        if (!entry.failing) return undefined
        entry.failing = false
        return Effect.logInfo("LDAP server answers again").pipe(Effect.annotateLogs({ server: describe(entry.server) }))
      }
      return Effect.matchEffect(f(entry.server), {
        onSuccess: (value) => {
          const line = recover()
          return line === undefined ? Effect.succeed(value) : Effect.as(line, value)
        },
        onFailure: (error) => {
          if (!isServerFault(error)) {
            const line = recover()
            return line === undefined ? Effect.fail(error) : Effect.andThen(line, Effect.fail(error))
          }
          return Effect.gen(function*() {
            entry.downUntilMillis = clock.currentTimeMillisUnsafe() + self.cooldownMillis
            if (!entry.failing) {
              entry.failing = true
              yield* Effect.logWarning("LDAP server failed; skipping it for the cooldown").pipe(
                Effect.annotateLogs({
                  server: describe(entry.server),
                  fault: explain(error),
                  cooldownMillis: self.cooldownMillis
                })
              )
            }
            return yield* index + 1 < candidates.length ? attempt(index + 1) : Effect.fail(error)
          })
        }
      })
    }
    return attempt(0)
  })
