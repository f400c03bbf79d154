/**
 * `npm start`: the whole chain on throwaway servers (slapd with sample users, the auth server, an nginx mail
 * proxy, Dovecot), a few hundred IMAP and POP3 logins through nginx with right and wrong passwords, and a
 * report of what the pool saved. The same logins then run through a second, identical chain whose auth server
 * reuses no LDAP connection (one search and one bind connection per login, each leaving a TIME_WAIT socket
 * behind), so both passes pay for nginx and Dovecot alike. Everything stops afterwards unless `keep` is set.
 */
import * as ChildProcess from "node:child_process"
import { Cause, Clock, Console, Effect, Metric, Redacted, References, Schedule } from "effect"
import { Command, Flag } from "effect/cli"
import * as Cli from "../src/Cli.ts"
import * as DebianPackages from "./DebianPackages.ts"
import * as DemoServers from "./DemoServers.ts"
import * as MailClient from "./MailClient.ts"

const logins = 300
const concurrency = 12

/** Every attempt comes from 127.0.0.1, so the per-address limit would soon refuse the demo's own wrong passwords. */
interface Attempt {
  readonly protocol: "imap" | "pop3"
  readonly user: string
  readonly password: string
}

const attempts = (servers: DemoServers.Servers): ReadonlyArray<Attempt> => {
  const users = Object.values(servers.slapd.users)
  return Array.from({ length: logins }, (_, i) => {
    const user = users[i % users.length]!
    const protocol = i % 2 === 0 ? "imap" : "pop3"
    if (i % 50 === 7) return { protocol, user: "nobody", password: "guess" }
    return { protocol, user: user.uid, password: i % 5 === 4 ? "wrong-password" : Redacted.value(user.password) }
  })
}

const outcome = (result: MailClient.LoginResult) =>
  result.accepted ? "accepted" : /Temporary/.test(result.reply) ? "temporary" : /Invalid/.test(result.reply) ? "refused" : "other"

/** Connections slapd accepted so far, from its own `stats` log. */
const accepted = (servers: DemoServers.Servers) =>
  Effect.map(servers.slapd.log, (log) => (log.match(/ ACCEPT from /g) ?? []).length)

/** Sockets to or from slapd's port in TIME_WAIT, as `ss` sees them. */
const timeWait = (port: number) =>
  Effect.sync(() => {
    try {
      const out = ChildProcess.execFileSync("ss", ["-tanH", "state", "time-wait", `( sport = :${port} or dport = :${port} )`])
      return out.toString().split("\n").filter((line) => line.trim() !== "").length
    } catch {
      return Number.NaN
    }
  })

interface Pass {
  readonly results: ReadonlyArray<string>
  readonly loginsPerSecond: number
  readonly p50: number
  readonly p99: number
}

const percentile = (sorted: ReadonlyArray<number>, p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? Number.NaN

/** Every attempt through nginx, timed one by one, with a progress line every fifth of the way. */
const loginThroughNginx = (servers: DemoServers.Servers) =>
  Effect.gen(function*() {
    let done = 0
    const millis: Array<number> = []
    const start = yield* Clock.currentTimeMillis
    const results = yield* Effect.forEach(attempts(servers), (attempt) =>
      Effect.gen(function*() {
        const begin = yield* Clock.currentTimeNanos
        const result = yield* MailClient.login(attempt.protocol, {
          port: attempt.protocol === "imap" ? servers.nginx.imapPort : servers.nginx.pop3Port,
          user: attempt.user,
          password: attempt.password
        }).pipe(
          Effect.map((result) => `${attempt.protocol} ${outcome(result)}`),
          Effect.catch(() => Effect.succeed(`${attempt.protocol} error`))
        )
        // Refusals wait nginx's Auth-Wait (1 s) on purpose; latency is what an accepted user waits.
        if (result.endsWith(" accepted")) millis.push(Number((yield* Clock.currentTimeNanos) - begin) / 1e6)
        done++
        if (done % (logins / 5) === 0) yield* Console.log(`  ${done}/${logins} logins answered`)
        return result
      }), { concurrency })
    const seconds = ((yield* Clock.currentTimeMillis) - start) / 1000
    millis.sort((a, b) => a - b)
    return { results, loginsPerSecond: logins / seconds, p50: percentile(millis, 0.5), p99: percentile(millis, 0.99) }
  })

/** One pass: the logins through this chain, and what they cost its slapd (its own log, `ss` on its port). */
const measure = (servers: DemoServers.Servers) =>
  Effect.gen(function*() {
    const before = yield* accepted(servers)
    const pass = yield* loginThroughNginx(servers)
    return { pass, connections: (yield* accepted(servers)) - before, timeWait: yield* timeWait(servers.slapd.port) }
  })

const passLine = (label: string, pass: Pass, connections: number, timeWait: number) =>
  `  ${label.padEnd(17)} ${pass.loginsPerSecond.toFixed(0).padStart(5)} logins/s  ` +
  `p50 ${pass.p50.toFixed(1).padStart(5)} ms  p99 ${pass.p99.toFixed(1).padStart(6)} ms  ` +
  `${String(connections).padStart(4)} LDAP connections  ${String(timeWait).padStart(4)} in TIME_WAIT`

/** Per pool: connections created (from the create-time histogram) and open now, by state. */
const poolStats = Effect.map(Metric.snapshot, (snapshots) => {
  const pools = new Map<string, { created: number; idle: number; used: number }>()
  for (const snapshot of snapshots) {
    const name = snapshot.attributes?.["db.client.connection.pool.name"]
    if (typeof name !== "string" || !name.startsWith("ldap/")) continue
    const pool = pools.get(name) ?? { created: 0, idle: 0, used: 0 }
    pools.set(name, pool)
    if (snapshot.id === "db.client.connection.create_time_seconds") pool.created = (snapshot.state as Metric.HistogramState).count
    if (snapshot.id === "db.client.connection.count") {
      const state = snapshot.attributes?.["db.client.connection.state"]
      if (state === "idle" || state === "used") pool[state] = Number((snapshot.state as Metric.GaugeState<number>).value)
    }
  }
  return pools
})

const tally = (results: ReadonlyArray<string>) => {
  const counts = new Map<string, number>()
  for (const result of results) counts.set(result, (counts.get(result) ?? 0) + 1)
  return [...counts.entries()].sort(([a], [b]) => a.localeCompare(b))
}

const howToLogIn = (servers: DemoServers.Servers) => {
  const alice = servers.slapd.users.alice
  const slapd = servers.slapd
  return [
    "",
    "Everything keeps running; Ctrl-C stops it all. The demo's users (uid / password):",
    ...Object.values(slapd.users).map((user) => `  ${user.uid.padEnd(8)} ${Redacted.value(user.password)}`),
    "",
    "Log in by hand through nginx, e.g.:",
    `  curl -v --url imap://127.0.0.1:${servers.nginx.imapPort}/ --user '${alice.uid}:${Redacted.value(alice.password)}'`,
    `  curl -v --url pop3://127.0.0.1:${servers.nginx.pop3Port}/ --user '${alice.uid}:${Redacted.value(alice.password)}'`,
    `  (SMTP AUTH on 127.0.0.1:${servers.nginx.smtpPort})`,
    `  metrics: curl http://127.0.0.1:${servers.metricsPort}/metrics`,
    "",
    "Or run your own server or a check against this directory, in another shell:",
    `  export LDAP_URLS=${slapd.url}`,
    `  export LDAP_BASE_DN='${slapd.baseDn}'`,
    `  export LDAP_BIND_DN='${slapd.serviceDn}'`,
    `  export LDAP_BIND_PASSWORD='${Redacted.value(slapd.servicePassword)}'`,
    `  export AUTH_HTTP_PORT=0 METRICS_PORT=0`,
    `  printf '%s\\n' '${Redacted.value(alice.password)}' | npm run --silent ldap-auth -- check ${alice.uid}`,
    `  npm run ldap-auth -- serve`
  ].join("\n")
}

const chain = "The chain: mail client -> nginx (IMAP/POP3 proxy) -> auth server (auth_http, this example) -> " +
  "LDAP (slapd); nginx then hands each accepted login to the mail backend (Dovecot)."

export const run = Effect.fn("Demo.run")(function*(options: { readonly keep: boolean }) {
  yield* DebianPackages.ensure
  yield* Console.log(chain)
  yield* Console.log("Starting slapd, the auth server, nginx and Dovecot on loopback ports ...")
  yield* Effect.scoped(Effect.gen(function*() {
    const servers = yield* DemoServers.make({ rateLimits: DemoServers.generousRateLimits(100_000) })
    yield* Console.log(
      `nginx IMAP 127.0.0.1:${servers.nginx.imapPort}, POP3 :${servers.nginx.pop3Port}, SMTP :${servers.nginx.smtpPort}; ` +
        `auth_http :${servers.authPort}; slapd :${servers.slapd.port}`
    )
    yield* Console.log(
      `Logging in ${logins} times through nginx, ${concurrency} at once (IMAP and POP3, about 1 in 5 with a wrong password) ...`
    )
    const pooled = yield* measure(servers)
    const pools = yield* poolStats
    // Dovecot's log process may write the last lines a moment after the clients had their answers.
    const admitted = pooled.pass.results.filter((result) => result.endsWith(" accepted")).length
    const backendLogins = yield* Effect.map(servers.dovecot.log, (log) => (log.match(/-login: Info: Login: /g) ?? []).length)
      .pipe(Effect.repeat({ until: (count) => count >= admitted, schedule: Schedule.spaced("20 millis"), times: 100 }))

    yield* Console.log(
      `The same ${logins} logins through a second chain whose auth server reuses no LDAP connection ...`
    )
    const unpooled = yield* Effect.scoped(Effect.gen(function*() {
      const bare = yield* DemoServers.make({ rateLimits: DemoServers.generousRateLimits(100_000), reuse: false })
      return yield* measure(bare)
    }))

    const refused = pooled.pass.results.filter((result) => result.endsWith(" refused")).length
    const lines = [
      "",
      `Logins through nginx (${logins}):`,
      ...tally(pooled.pass.results).map(([result, count]) => `  ${result.padEnd(20)} ${count}`),
      `  sessions Dovecot served: ${backendLogins}`,
      `  The ${refused} refused were refused on purpose: every 5th attempt sends a wrong password and every 50th`,
      "  an unknown user; all get nginx's same \"Invalid login or password\".",
      "",
      "Both passes through nginx (p50/p99: accepted logins; a refusal waits nginx's 1 s Auth-Wait, which also",
      "bounds logins/s; TIME_WAIT: sockets on that chain's slapd port, each held for 60 s):",
      passLine("with the pool", pooled.pass, pooled.connections, pooled.timeWait),
      passLine("without the pool", unpooled.pass, unpooled.connections, unpooled.timeWait),
      "",
      "Pools (connections created / idle now / in use now):",
      ...[...pools.entries()].map(([name, pool]) =>
        `  ${name.padEnd(34)} ${pool.created} / ${pool.idle} / ${pool.used}`
      ),
      "  Two pools per LDAP server: `search` connections stay bound as the service account to find the user's DN;",
      "  `bind` connections check the user's password, which changes who the connection is bound as.",
      `  Up to ${concurrency} logins at once opened that many; with maxIdle = maxSize (${servers.config.ldap.maxIdle}, the`,
      "  default) they stay idle until idleTimeout, so the next burst opens none (see the README's tuning guide)."
    ]
    yield* Console.log(lines.join("\n"))
    if (options.keep) {
      yield* Console.log(howToLogIn(servers))
      return yield* Effect.never.pipe(Effect.onInterrupt(() => Console.log("\nStopping everything ...")))
    }
    yield* Console.log("\nStopping everything ...")
  })).pipe(
    // The auth servers' periodic login summaries would repeat the tally the demo prints; warnings still show.
    Effect.provideService(References.MinimumLogLevel, "Warn"),
    // Ctrl-C ends like the normal path, once everything has stopped.
    Effect.onExit((exit) =>
      exit._tag === "Success" || Cause.hasInterruptsOnly(exit.cause) ? Console.log("Done.") : Effect.void
    )
  )
})

/** `ldap-auth demo`: added by the entry point, so the server's own CLI never imports the harness. */
export const command = Command.make("demo", {
  keep: Flag.Boolean("keep").pipe(
    Flag.withDefault(false),
    Flag.withDescription("Leave the servers running after the report and print how to log in by hand")
  )
}, ({ keep }) =>
  run({ keep }).pipe(
    Effect.catchTag("MissingPackages", (error) =>
      Console.error(error.message).pipe(
        Effect.andThen(Effect.fail(new Cli.CliExit({ code: 1, message: error.message })))
      ))
  )).pipe(
  Command.withDescription(
    "Start throwaway slapd, auth server, nginx and Dovecot on loopback ports, log in a few hundred times, report"
  )
)
