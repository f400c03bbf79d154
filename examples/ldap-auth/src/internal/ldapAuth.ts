/**
 * The body of `LdapAuth`: options with their defaults, one pool pair per server, failover, and the login itself.
 */
import { Cause, Context, Duration, Effect, Redacted, Scope } from "effect"
import { ConnectionPool } from "effect-connection-pool"
import { AuthError } from "../AuthError.ts"
import type { AuthenticatedUser, LdapAuth, LdapAuthOptions } from "../LdapAuth.ts"
import * as LdapClient from "../LdapClient.ts"
import { LdapError } from "../LdapError.ts"
import * as Deadline from "./deadline.ts"
import * as Failover from "./ldapFailover.ts"
import * as Filter from "./ldapFilter.ts"
import * as Dn from "./ldapDn.ts"
import * as Input from "./ldapInput.ts"
import * as LogText from "./logText.ts"
import * as LogThrottle from "./logThrottle.ts"
import * as Server from "./ldapServer.ts"
import * as Tracing from "./tracing.ts"
import * as LdapUrl from "./ldapUrl.ts"

export const defaultUserFilter = "(&(objectClass=inetOrgPerson)(uid={user}))"

const invalidCredentials = () => new AuthError({ reason: "InvalidCredentials", message: "invalid user name or password" })

/** The innermost message of a fault, one line: `bind: connect ECONNREFUSED 127.0.0.1:389`. */
const explainFault = (error: AuthError): string => {
  let cause: unknown = error
  while (typeof cause === "object" && cause !== null && "cause" in cause && cause.cause instanceof Error) cause = cause.cause
  const message = cause instanceof Error ? cause.message : String(cause)
  return message.split("\n")[0]!.slice(0, 200)
}

const temporary = (cause: unknown) =>
  new AuthError({ reason: "Temporary", message: "the directory did not answer; try again later", cause })

/** The service account refused: the server answered, and no login can succeed until the setting is fixed. */
const misconfigured = (cause: LdapError) =>
  new AuthError({ reason: "Misconfigured", message: `the directory refused the service account: ${cause.message}`, cause })

/** Pool errors mean no connection could be had: the directory is down or saturated. */
const fromPoolError = (error: ConnectionPool.PoolError): AuthError => temporary(error)

/** On the user's own bind, 49 and 53 refuse the login; anything else is the directory's fault. */
const fromBindError = (error: LdapError | ConnectionPool.PoolError): AuthError => {
  if (error._tag !== "LdapError") return fromPoolError(error)
  switch (error.reason) {
    case "InvalidCredentials":
    case "UnwillingToPerform":
      return invalidCredentials()
    case "UnsafeRequest":
      return new AuthError({ reason: "RejectedInput", message: error.message })
    default:
      return temporary(error)
  }
}

const isPassword = (name: string) => name.toLowerCase() === "userpassword"

const count = (option: string, value: number | undefined, min: number): string | undefined =>
  value === undefined || (Number.isInteger(value) && value >= min)
    ? undefined
    : `${option} must be an integer >= ${min}, got ${value}`

/** The options' rules, each value read by the same parser the configuration uses; the first problem found. */
export const check = (options: LdapAuthOptions): string | undefined => {
  if (options.urls.length === 0) return "urls must list at least one server"
  for (const url of options.urls) {
    const parsed = LdapUrl.parse(url)
    if (typeof parsed === "string") return `urls has ${JSON.stringify(url)}, which ${parsed}`
  }
  const baseDn = Dn.check(options.baseDn)
  if (baseDn !== undefined) return `baseDn ${baseDn}`
  const bindDn = Dn.check(options.bindDn)
  if (bindDn !== undefined) return `bindDn ${bindDn}`
  if (Redacted.value(options.bindPassword) === "") return `bindPassword ${emptyPassword}`
  const filter = Filter.check(options.userFilter ?? defaultUserFilter)
  if (filter !== undefined) return `userFilter ${filter}`
  const sizes = count("maxIdle", options.maxIdle, 0) ?? count("maxSize", options.maxSize, 1)
  if (sizes !== undefined) return sizes
  const maxSize = options.maxSize ?? defaultMaxSize
  const maxIdle = options.maxIdle ?? maxSize
  return maxIdle > maxSize ? `maxIdle (${maxIdle}) must not be above maxSize (${maxSize})` : undefined
}

/** Why an empty service password is refused, for the option check and the configuration alike. */
export const emptyPassword = "is empty: an empty password is an unauthenticated bind, which proves nothing"

export const defaultMaxSize = 16

/** The service and, for tests and diagnostics, the pool pair of each server. */
export interface Instance {
  readonly service: Context.Service.Shape<typeof LdapAuth>
  readonly servers: ReadonlyArray<Server.LdapServer>
}

export const make = (options: LdapAuthOptions): Effect.Effect<Instance, never, Scope.Scope> =>
  Effect.gen(function*() {
    const problem = check(options)
    if (problem !== undefined) return yield* Effect.die(new Cause.IllegalArgumentError(`LdapAuth: ${problem}`))
    const template = options.userFilter ?? defaultUserFilter
    const maxSize = options.maxSize ?? defaultMaxSize
    const loginAttribute = options.loginAttribute ?? "uid"
    const attributes = [...new Set([...(options.attributes ?? ["uid", "mail", "cn"]), loginAttribute])].filter((name) =>
      !isPassword(name)
    )
    const operationTimeout = options.operationTimeout ?? Duration.seconds(2)
    const timeout = Duration.fromInputUnsafe(options.timeout ?? Duration.seconds(10))
    // For an unknown or ambiguous user: a bind to an entry that does not exist, which the server refuses with 49,
    // so such a login makes the same round trips, and takes about as long, as a wrong password.
    const dummyDn = `cn=no-such-user,${options.baseDn}`
    const dummyPassword = Redacted.make("no-such-password")

    const servers = yield* Effect.forEach(options.urls, (url) =>
      Server.make({
        url,
        serviceDn: options.bindDn,
        servicePassword: options.bindPassword,
        connectTimeout: options.connectTimeout ?? Duration.seconds(2),
        operationTimeout,
        tls: options.tls,
        pingAfter: Duration.fromInputUnsafe(options.validateAfter ?? Duration.seconds(30)),
        // maxIdle below what a steady load keeps busy would close and reopen connections as returns outpace
        // borrows for a moment: by default every connection a load opened stays until idleTimeout.
        maxIdle: options.maxIdle ?? options.maxSize ?? defaultMaxSize,
        maxSize,
        reuse: options.reuse ?? true,
        acquireTimeout: options.acquireTimeout ?? Duration.seconds(5),
        idleTimeout: options.idleTimeout ?? Duration.minutes(5),
        name: options.name ?? "ldap"
      }))
    const failover = Failover.make(servers, options.serverCooldown ?? Duration.seconds(10))
    // Every login fails the same way while the service account is refused: one line per interval says so.
    const throttle = LogThrottle.make(options.logInterval ?? Duration.minutes(1))
    const deadline = yield* Deadline.make(timeout)

    const findUser = (server: Server.LdapServer, user: string) =>
      Server.withConnection(server.searchPool, (connection) =>
        LdapClient.search(connection, options.baseDn, {
          filter: Filter.render(template, user),
          attributes,
          // Two are enough to tell "exactly one" from "ambiguous".
          sizeLimit: 2
        }), maxSize).pipe(
          Effect.mapError((error) =>
            error._tag !== "LdapError"
              ? fromPoolError(error)
              : error.reason === "Misconfigured"
              ? misconfigured(error)
              : temporary(error)
          )
        )

    const bindAs = (server: Server.LdapServer, dn: string, password: Redacted.Redacted<string>) =>
      Server.withConnection(server.bindPool, (connection) => LdapClient.bind(connection, dn, password), maxSize).pipe(
        Effect.mapError(fromBindError)
      )

    const loginAttributeLower = loginAttribute.toLowerCase()
    /** The entry as the caller gets it: the login attribute picked out, never a password. */
    const authenticated = (entry: LdapClient.LdapEntry): AuthenticatedUser => {
      let login: string | undefined
      const kept: Record<string, ReadonlyArray<string>> = {}
      for (const name of Object.keys(entry.attributes)) {
        const values = entry.attributes[name]!
        if (login === undefined && name.toLowerCase() === loginAttributeLower) login = values[0]
        if (!isPassword(name)) kept[name] = values
      }
      return { dn: entry.dn, login, attributes: kept }
    }

    const rateLimited = () => new AuthError({ reason: "RateLimited", message: "too many failures for this entry" })

    const loginOn = (
      user: string,
      password: Redacted.Redacted<string>,
      admit: (dn: string) => Effect.Effect<boolean>
    ) =>
    (server: Server.LdapServer): Effect.Effect<AuthenticatedUser, AuthError> =>
      Effect.flatMap(findUser(server, user), (entries) => {
        const entry = entries.length === 1 ? entries[0]! : undefined
        if (entry === undefined) {
          return Effect.flatMap(
            Effect.catchIf(bindAs(server, dummyDn, dummyPassword), (error) => error.reason === "InvalidCredentials", () =>
              Effect.void),
            () => Effect.fail(invalidCredentials())
          )
        }
        return Effect.flatMap(admit(entry.dn), (admitted) =>
          admitted
            ? Effect.as(bindAs(server, entry.dn, password), authenticated(entry))
            : Effect.fail(rateLimited()))
      })

    const loginTimedOut = () =>
      temporary(new LdapError({ reason: "Timeout", message: `login: no answer within ${Duration.format(timeout)}` }))

    // Annotated here alone, where a line is written: on every login it would cost more than the search.
    const logFailure = (user: string) => (error: AuthError) =>
      Effect.annotateLogs(
        error.reason === "Misconfigured"
          ? throttle.log(
            "Error",
            "misconfigured",
            "misconfiguration: the directory refuses the service account's credentials; logins answer temporary until its DN or password is fixed",
            { bindDn: options.bindDn, detail: error.message }
          )
          : Effect.logDebug("login failed", error.reason, error.message),
        "user",
        LogText.preview(user)
      )

    const login = (user: string, password: Redacted.Redacted<string>, admit?: (dn: string) => Effect.Effect<boolean>) => {
      const rejected = Input.rejection(user, password)
      if (rejected !== undefined) return Effect.fail(rejected)
      // Asked once per login, whichever server answers: failover must not count an attempt twice.
      let admitted: Map<string, boolean> | undefined
      const admitOnce = (dn: string): Effect.Effect<boolean> => {
        const known = admitted?.get(dn)
        if (known !== undefined || admit === undefined) return Effect.succeed(known ?? true)
        return Effect.map(admit(dn), (result) => {
          admitted ??= new Map()
          admitted.set(dn, result)
          return result
        })
      }
      // Only a user name that passed the input rules reaches the logs; the failover's lines are about servers.
      return Effect.tapError(
        deadline.bound(
          Failover.run(
            failover,
            loginOn(user, password, admitOnce),
            (error) => error.reason === "Temporary",
            (server) => server.url,
            explainFault
          ),
          loginTimedOut
        ),
        logFailure(user)
      )
    }

    const authenticate = (user: string, password: Redacted.Redacted<string>, admit?: (dn: string) => Effect.Effect<boolean>) =>
      Tracing.withSpan("LdapAuth.authenticate")(Effect.suspend(() => login(user, password, admit)))

    return { service: { authenticate }, servers }
  })
