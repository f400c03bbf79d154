/**
 * The command line: `serve` runs the auth server from the environment, `check <user>` checks one password
 * (read from standard input, never from argv, where `ps` would show it) and exits 0 / 1 / 2 for ok / invalid /
 * temporary. The entry point adds `demo` from the harness, which the server code never imports.
 */
import { Console, Data, Effect, Layer, Ref, References, Runtime } from "effect"
import { Argument, Command } from "effect/cli"
import * as AppConfig from "./AppConfig.ts"
import type { AuthError } from "./AuthError.ts"
import * as AuthApp from "./internal/AuthApp.ts"
import * as LdapProbe from "./internal/ldapProbe.ts"
import * as Logging from "./internal/logging.ts"
import { readPassword } from "./internal/readPassword.ts"
import * as LdapAuth from "./LdapAuth.ts"

/** A failure already explained to the user on stderr, with the exit code it should cause. */
export class CliExit extends Data.TaggedError("CliExit")<{ readonly code: number; readonly message: string }> {
  override get [Runtime.errorExitCode]() {
    return this.code
  }
  override get [Runtime.errorReported]() {
    return false
  }
}

/** Prints each line on stderr and exits 1: how every configuration problem ends. */
const configurationError = (problems: ReadonlyArray<string>) =>
  Effect.forEach(problems, (problem) => Console.error(`Configuration error: ${problem}`), { discard: true }).pipe(
    Effect.andThen(Effect.fail(new CliExit({ code: 1, message: problems.join("\n") })))
  )

const loadConfig = Effect.suspend(() => AppConfig.read(AppConfig.fromEnv())).pipe(
  Effect.catchTag("AppConfigError", (error) => configurationError(error.problems))
)

const serveDescription = `Run the nginx auth_http server, configured from these environment variables:

${AppConfig.help("  ")}

  Every problem with them is reported at once, one line each on stderr, and the exit code is 1.`

const isLoopback = (host: string) => /^(127\.|::ffff:127\.)/i.test(host) || host === "::1"

/**
 * Without `AUTH_SHARED_SECRET` anyone who reaches the port can check passwords there and pick the `Client-IP`
 * the limits count: a warning on loopback, a refusal elsewhere unless `AUTH_ALLOW_NO_SECRET=true`.
 */
const checkSecret = (config: AppConfig.AppConfig) => {
  if (config.sharedSecret !== undefined) return Effect.void
  // On a unix socket, who may connect is the socket's mode; AUTH_HTTP_HOST then carries only the metrics.
  if (config.http.socket === undefined && !isLoopback(config.http.host) && !config.security.allowNoSecret) {
    return configurationError([
      `AUTH_SHARED_SECRET is not set and AUTH_HTTP_HOST=${config.http.host} is not loopback; set a secret, or AUTH_ALLOW_NO_SECRET=true`
    ])
  }
  return Effect.logWarning(
    "AUTH_SHARED_SECRET is not set: any process that can reach the auth port can check passwords there and choose the Client-IP the rate limits count"
  )
}

/**
 * Binds the service account once on every server: refused credentials stop `serve` (every login would fail),
 * a directory that does not answer is one warning and `serve` starts anyway (logins answer temporary until it
 * does, and the pools connect by themselves once it is back).
 */
const checkDirectory = (config: AppConfig.AppConfig) =>
  Effect.gen(function*() {
    const results = yield* Effect.forEach(
      config.ldap.urls,
      (url) => Effect.map(Effect.result(LdapProbe.bindOnce(config.ldap, url)), (result) => ({ url, result })),
      { concurrency: "unbounded" }
    )
    const failed = results.flatMap(({ result, url }) => (result._tag === "Failure" ? [{ url, error: result.failure }] : []))
    const refused = failed.find(({ error }) => error.reason === "Misconfigured")
    if (refused !== undefined) {
      return yield* configurationError([
        `${AppConfig.variables.bindDn.name}=${config.ldap.bindDn}: ${refused.url} refuses this service account's credentials (invalid credentials); check ${AppConfig.variables.bindDn.name} and ${AppConfig.variables.bindPassword.name}`
      ])
    }
    if (failed.length === 0) return
    yield* Effect.logWarning(
      `${failed.length === results.length ? "no LDAP server" : `${failed.length} of ${results.length} LDAP servers`} answered the start-up check, serving anyway (logins answer temporary until one does): ${
        failed.map(({ error }) => error.message.split("\n")[0]).join("; ")
      }`
    )
  })

/** The start-up line: where it listens, which directory (no secrets), the pool sizes and where the limits live. */
const startedLine = (config: AppConfig.AppConfig, app: AuthApp.AuthApp["Service"]) => {
  const { host, socket } = config.http
  const auth = socket === undefined ? `http://${host}:${app.authPort}/auth` : `unix:${socket.path}:/auth`
  const tls = config.ldap.tls?.startTls === true ? " with StartTLS" : ""
  const limits = config.redis === undefined
    ? "this process's memory"
    : `redis://${config.redis.url.host}:${config.redis.url.port}/${config.redis.url.db}`
  return `auth server started: auth_http on ${auth}, metrics and health on http://${host}:${app.metricsPort} (/metrics, /healthz); ` +
    `LDAP ${config.ldap.urls.join(" ")}${tls} as ${config.ldap.bindDn}; ` +
    `pools of ${config.ldap.maxSize} connections (${config.ldap.maxIdle} idle), a search and a bind pool per server; ` +
    `rate limits in ${limits}`
}

export const serve = Command.make("serve", {}, Effect.fn("Cli.serve")(function*() {
  const config = yield* loadConfig
  const started = yield* Ref.make(false)
  yield* Effect.gen(function*() {
    yield* checkSecret(config)
    yield* Layer.launch(
      Layer.effectDiscard(
        Effect.gen(function*() {
          // After the listeners are bound, so that a port in use is reported first and alone.
          yield* checkDirectory(config)
          yield* Effect.logInfo(startedLine(config, yield* AuthApp.AuthApp))
          yield* Ref.set(started, true)
        })
      ).pipe(Layer.provideMerge(AuthApp.layer(config)))
    ).pipe(
      Effect.onExit(() =>
        Effect.flatMap(Ref.get(started), (was) => was ? Effect.logInfo("auth server stopped") : Effect.void)
      ),
      Effect.catchTag("ListenError", (error) => configurationError([error.message]))
    )
  }).pipe(Effect.provide(Logging.layer(config.log)))
})).pipe(
  Command.withShortDescription("Run the nginx auth_http server, configured from the environment"),
  Command.withDescription(serveDescription)
)

/** What went wrong in a few words: the directory's own error, not the generic "try again later". */
const temporaryReason = (error: AuthError): string => {
  const cause = error.cause as { readonly message?: unknown } | undefined
  const message = typeof cause?.message === "string" && cause.message !== "" ? cause.message : error.message
  return message.split("\n")[0]!
}

export const check = Command.make("check", {
  user: Argument.String("user").pipe(Argument.withDescription("The user name, as a mail client would send it"))
}, Effect.fn("Cli.check")(function*({ user }) {
  const config = yield* loadConfig
  const password = yield* readPassword
  const result = yield* Effect.gen(function*() {
    const ldap = yield* LdapAuth.LdapAuth
    return yield* ldap.authenticate(user, password)
  }).pipe(
    Effect.provide(LdapAuth.layer(config.ldap)),
    // One line on any outcome: the failover's warnings (and their cooldowns) mean nothing to a one-shot process.
    Effect.provideService(References.MinimumLogLevel, "None"),
    Effect.result
  )
  if (result._tag === "Success") {
    yield* Console.log(`ok ${result.success.dn}`)
    return
  }
  const error = result.failure
  const temporary = error.reason === "Temporary" || error.reason === "Misconfigured"
  yield* Console.log(temporary ? `temporary: ${temporaryReason(error)}` : "invalid")
  return yield* new CliExit({ code: temporary ? 2 : 1, message: error.message })
})).pipe(
  Command.withShortDescription("Check one user's password against LDAP (password from standard input)"),
  Command.withDescription(
    `Check one user's password against LDAP, the password read from standard input. Prints one line, ok <dn> / invalid / temporary: <reason>, and exits 0 / 1 / 2.

  It reads the same LDAP_* and POOL_* variables as serve (see ldap-auth serve --help), and stops with the same one-line errors when they are wrong.`
  )
)

/** The root command over `subcommands`: the server's own (`serve`, `check`) plus whatever the entry point adds. */
export const command = <const Subcommands extends ReadonlyArray<Command.Command<any, any, any, any>>>(
  subcommands: Subcommands
) =>
  Command.make("ldap-auth").pipe(
    Command.withDescription("nginx mail auth_http server that checks passwords against LDAP through a connection pool"),
    Command.withSubcommands(subcommands)
  )

export const run = <const Subcommands extends ReadonlyArray<Command.Command<any, any, any, any>>>(
  subcommands: Subcommands
) => Command.run(command(subcommands), { version: "0.1.0" })
