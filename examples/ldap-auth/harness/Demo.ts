/**
 * `npm start`: the whole chain on throwaway servers (slapd with sample users, the auth server, an nginx mail
 * proxy, Dovecot), a few hundred IMAP and POP3 logins through nginx with right and wrong passwords, and a
 * report of what the pool saved: LDAP connections opened against logins served, and what the same logins cost
 * with a pool that keeps nothing idle (one connection per LDAP use, each leaving a TIME_WAIT socket behind).
 * Everything stops afterwards unless `keep` is set.
 */
import * as ChildProcess from "node:child_process"
import { Console, Effect, Metric, Redacted, Schedule } from "effect"
import { Command, Flag } from "effect/cli"
import * as Cli from "../src/Cli.ts"
import * as DebianPackages from "./DebianPackages.ts"
import * as DemoServers from "./DemoServers.ts"
import * as MailClient from "./MailClient.ts"
import * as LdapAuth from "../src/LdapAuth.ts"

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

const loginThroughNginx = (servers: DemoServers.Servers) =>
  Effect.forEach(attempts(servers), (attempt) =>
    MailClient.login(attempt.protocol, {
      port: attempt.protocol === "imap" ? servers.nginx.imapPort : servers.nginx.pop3Port,
      user: attempt.user,
      password: attempt.password
    }).pipe(
      Effect.map((result) => `${attempt.protocol} ${outcome(result)}`),
      Effect.catch(() => Effect.succeed(`${attempt.protocol} error`))
    ), { concurrency })

/** The same checks with a pool that keeps no idle connection: what a pool-less auth server does. */
const loginWithoutPool = (servers: DemoServers.Servers) =>
  Effect.scoped(Effect.gen(function*() {
    const ldap = yield* LdapAuth.make({ ...servers.config.ldap, maxIdle: 0, name: "unpooled" })
    yield* Effect.forEach(
      attempts(servers),
      (attempt) => Effect.ignore(ldap.authenticate(attempt.user, Redacted.make(attempt.password))),
      { concurrency, discard: true }
    )
  }))

/** Per pool: connections created (from the create-time histogram) and open now, by state. */
const poolStats = Effect.map(Metric.snapshot, (snapshots) => {
  const pools = new Map<string, { created: number; idle: number; used: number }>()
  for (const snapshot of snapshots) {
    const name = snapshot.attributes?.["db.client.connection.pool.name"]
    if (typeof name !== "string" || !name.startsWith("ldap/")) continue
    const pool = pools.get(name) ?? { created: 0, idle: 0, used: 0 }
    pools.set(name, pool)
    if (snapshot.id === "db.client.connection.create_time") pool.created = (snapshot.state as Metric.HistogramState).count
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
  return [
    "",
    "Everything keeps running; Ctrl-C stops it all. Log in by hand, e.g.:",
    `  curl -v --url imap://127.0.0.1:${servers.nginx.imapPort}/ --user '${alice.uid}:${Redacted.value(alice.password)}'`,
    `  curl -v --url pop3://127.0.0.1:${servers.nginx.pop3Port}/ --user '${alice.uid}:${Redacted.value(alice.password)}'`,
    `  (SMTP AUTH on 127.0.0.1:${servers.nginx.smtpPort}; users: ${Object.values(servers.slapd.users).map((user) => user.uid).join(", ")})`,
    `  metrics: curl http://127.0.0.1:${servers.metricsPort}/metrics`
  ].join("\n")
}

export const run = Effect.fn("Demo.run")(function*(options: { readonly keep: boolean }) {
  yield* DebianPackages.ensure
  yield* Console.log("Starting slapd, the auth server, nginx and Dovecot on loopback ports ...")
  yield* Effect.scoped(Effect.gen(function*() {
    const servers = yield* DemoServers.make({ rateLimits: DemoServers.generousRateLimits(100_000) })
    yield* Console.log(
      `nginx IMAP 127.0.0.1:${servers.nginx.imapPort}, POP3 :${servers.nginx.pop3Port}, SMTP :${servers.nginx.smtpPort}; ` +
        `auth_http :${servers.authPort}; slapd :${servers.slapd.port}`
    )
    yield* Console.log(`Logging in ${logins} times through nginx (IMAP and POP3, about 1 in 5 with a wrong password) ...`)
    const before = yield* accepted(servers)
    const results = yield* loginThroughNginx(servers)
    const pooledConnections = (yield* accepted(servers)) - before
    const pooledTimeWait = yield* timeWait(servers.slapd.port)
    const pools = yield* poolStats
    // Dovecot's log process may write the last lines a moment after the clients had their answers.
    const admitted = results.filter((result) => result.endsWith(" accepted")).length
    const backendLogins = yield* Effect.map(servers.dovecot.log, (log) => (log.match(/-login: Info: Login: /g) ?? []).length)
      .pipe(Effect.repeat({ until: (count) => count >= admitted, schedule: Schedule.spaced("20 millis"), times: 100 }))

    yield* Console.log(`Checking the same ${logins} logins with a pool that keeps no connection idle ...`)
    const beforeUnpooled = yield* accepted(servers)
    yield* loginWithoutPool(servers)
    const unpooledConnections = (yield* accepted(servers)) - beforeUnpooled
    const unpooledTimeWait = (yield* timeWait(servers.slapd.port)) - pooledTimeWait

    const lines = [
      "",
      `Logins through nginx (${logins}):`,
      ...tally(results).map(([result, count]) => `  ${result.padEnd(20)} ${count}`),
      `  sessions Dovecot served: ${backendLogins}`,
      "",
      "LDAP connections slapd accepted:",
      `  with the pool:    ${String(pooledConnections).padStart(4)} for ${logins} logins` +
        `  (${pooledTimeWait} sockets in TIME_WAIT)`,
      `  without the pool: ${String(unpooledConnections).padStart(4)} for the same ${logins}` +
        `  (${unpooledTimeWait} more sockets in TIME_WAIT, each held for 60 s)`,
      "",
      "Pools (connections created / idle now / in use now):",
      ...[...pools.entries()].map(([name, pool]) =>
        `  ${name.padEnd(34)} ${pool.created} / ${pool.idle} / ${pool.used}`
      )
    ]
    yield* Console.log(lines.join("\n"))
    if (options.keep) {
      yield* Console.log(howToLogIn(servers))
      return yield* Effect.never.pipe(Effect.onInterrupt(() => Console.log("\nStopping everything ...")))
    }
    yield* Console.log("\nStopping everything ...")
  }))
  yield* Console.log("Done.")
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
