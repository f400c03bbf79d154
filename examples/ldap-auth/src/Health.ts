/**
 * Whether the auth server can answer logins, for a load balancer, systemd or a Kubernetes probe: healthy when
 * an LDAP server answered a login (right or wrong password) within the last `interval`, or, when none did,
 * answers a service-account bind now. A probe runs at most once at a time; callers that arrive meanwhile share
 * its answer, so a flood of health requests costs one LDAP connection at a time.
 */
import { Clock, Context, Deferred, Duration, Effect, Layer } from "effect"
import * as LdapProbe from "./internal/ldapProbe.ts"

/** The service account and the servers to probe, as `LdapAuthOptions` has them (timeouts 2 s by default). */
export interface HealthOptions extends LdapProbe.ProbeOptions {
  /** Tried in order until one answers. */
  readonly urls: ReadonlyArray<string>
  /** An answer this recent needs no probe. Default: 30 seconds. */
  readonly interval?: Duration.Input | undefined
}

/** The answer to `GET /healthz`; `body` is one line of JSON. */
export interface Report {
  readonly healthy: boolean
  readonly body: {
    readonly status: "ok" | "unavailable" | "misconfigured"
    /** The server that answered the probe, when one ran and succeeded. */
    readonly ldap?: string
    /** Seconds since a login was last answered by the directory, when that is what made it healthy. */
    readonly answeredSecondsAgo?: number
    /** Why not healthy, one line per server, joined with `; `. */
    readonly reason?: string
  }
}

export class Health extends Context.Service<Health, {
  /** Records that the directory answered a login; the next `check` within the interval needs no probe. */
  readonly answered: Effect.Effect<void>
  /** Healthy from a recent answer, or from a probe run now; never fails. */
  readonly check: Effect.Effect<Report>
}>()("effect-connection-pool/examples/Health") {}

export const make = (options: HealthOptions): Effect.Effect<Context.Service.Shape<typeof Health>> =>
  Effect.gen(function*() {
    const intervalMillis = Duration.toMillis(Duration.fromInputUnsafe(options.interval ?? Duration.seconds(30)))
    let lastAnswerMillis: number | undefined
    let probing: Deferred.Deferred<Report> | undefined

    const recent = Effect.map(Clock.currentTimeMillis, (now): Report | undefined =>
      lastAnswerMillis !== undefined && now - lastAnswerMillis < intervalMillis
        ? { healthy: true, body: { status: "ok", answeredSecondsAgo: Math.floor((now - lastAnswerMillis) / 1000) } }
        : undefined
    )

    const answered = Effect.map(Clock.currentTimeMillis, (now) => {
      lastAnswerMillis = now
    })

    const probe = Effect.gen(function*() {
      const faults: Array<string> = []
      let misconfigured = false
      for (const url of options.urls) {
        const result = yield* Effect.result(LdapProbe.bindOnce(options, url))
        if (result._tag === "Success") {
          yield* answered
          return { healthy: true, body: { status: "ok", ldap: url } } satisfies Report
        }
        misconfigured ||= result.failure.reason === "Misconfigured"
        faults.push(result.failure.message.split("\n")[0]!.slice(0, 200))
      }
      return {
        healthy: false,
        body: { status: misconfigured ? "misconfigured" : "unavailable", reason: faults.join("; ") }
      } satisfies Report
    })

    // One probe at a time, shared by every caller that arrives while it runs. Uninterruptible, so that a caller
    // that goes away does not take the shared answer with it; the LDAP timeouts bound it.
    const shared = Effect.suspend(() => {
      if (probing !== undefined) return Deferred.await(probing)
      const running = Deferred.makeUnsafe<Report>()
      probing = running
      return Effect.uninterruptible(Effect.tap(probe, (report) =>
        Effect.sync(() => {
          probing = undefined
          Deferred.doneUnsafe(running, Effect.succeed(report))
        })))
    })

    const check = Effect.flatMap(recent, (report) => report !== undefined ? Effect.succeed(report) : shared)

    return Health.of({ answered, check })
  })

export const layer = (options: HealthOptions): Layer.Layer<Health> => Layer.effect(Health, make(options))
