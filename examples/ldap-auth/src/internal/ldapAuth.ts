/**
 * The body of `LdapAuth`: options with their defaults, one pool pair per server, failover, and the login itself.
 */
import { Context, Duration, Effect, Redacted, Scope } from "effect"
import { ConnectionPool } from "effect-connection-pool"
import { AuthError } from "../AuthError.ts"
import type { AuthenticatedUser, LdapAuth, LdapAuthOptions } from "../LdapAuth.ts"
import * as LdapClient from "../LdapClient.ts"
import { LdapError } from "../LdapError.ts"
import * as Failover from "./ldapFailover.ts"
import * as Filter from "./ldapFilter.ts"
import * as Input from "./ldapInput.ts"
import * as Server from "./ldapServer.ts"

export const defaultUserFilter = "(&(objectClass=inetOrgPerson)(uid={user}))"

const invalidCredentials = () => new AuthError({ reason: "InvalidCredentials", message: "invalid user name or password" })

const temporary = (cause: unknown) =>
  new AuthError({ reason: "Temporary", message: "the directory did not answer; try again later", cause })

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

const validate = (options: LdapAuthOptions): void => {
  const fail = (option: string, value: unknown, rule: string) => {
    throw new Error(`LdapAuth: ${option} ${rule}, got ${JSON.stringify(value)}`)
  }
  if (options.urls.length === 0) fail("urls", options.urls, "must list at least one server")
  for (const url of options.urls) {
    if (!URL.canParse(url) || new URL(url).protocol !== "ldap:") fail("urls", url, "must be ldap:// URLs")
  }
  if (options.baseDn === "") fail("baseDn", options.baseDn, "must not be empty")
  if (options.bindDn === "") fail("bindDn", options.bindDn, "must not be empty")
  if (Redacted.value(options.bindPassword) === "") fail("bindPassword", "", "must not be empty")
  Filter.validateTemplate(options.userFilter ?? defaultUserFilter)
}

/** The service and, for tests and diagnostics, the pool pair of each server. */
export interface Instance {
  readonly service: Context.Service.Shape<typeof LdapAuth>
  readonly servers: ReadonlyArray<Server.LdapServer>
}

export const make = (options: LdapAuthOptions): Effect.Effect<Instance, never, Scope.Scope> =>
  Effect.gen(function*() {
    yield* Effect.sync(() => validate(options))
    const template = options.userFilter ?? defaultUserFilter
    const attributes = (options.attributes ?? ["uid", "mail", "cn"]).filter((name) => !isPassword(name))
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
        pingAfter: Duration.fromInputUnsafe(options.validateAfter ?? Duration.seconds(30)),
        maxIdle: options.maxIdle ?? 4,
        maxSize: options.maxSize ?? 16,
        acquireTimeout: options.acquireTimeout ?? Duration.seconds(5),
        idleTimeout: options.idleTimeout ?? Duration.minutes(5),
        name: options.name ?? "ldap"
      }))
    const failover = Failover.make(servers, options.serverCooldown ?? Duration.seconds(10))

    const findUser = (server: Server.LdapServer, user: string) =>
      Server.withConnection(server.searchPool, (connection) =>
        LdapClient.search(connection, options.baseDn, {
          filter: Filter.render(template, user),
          attributes,
          // Two are enough to tell "exactly one" from "ambiguous".
          sizeLimit: 2
        })).pipe(Effect.mapError((error) => error._tag === "LdapError" ? temporary(error) : fromPoolError(error)))

    const bindAs = (server: Server.LdapServer, dn: string, password: Redacted.Redacted<string>) =>
      Server.withConnection(server.bindPool, (connection) => LdapClient.bind(connection, dn, password)).pipe(
        Effect.mapError(fromBindError)
      )

    const loginOn = (user: string, password: Redacted.Redacted<string>) => (server: Server.LdapServer) =>
      Effect.gen(function*() {
        const entries = yield* findUser(server, user)
        const entry = entries.length === 1 ? entries[0] : undefined
        if (entry === undefined) {
          yield* bindAs(server, dummyDn, dummyPassword).pipe(
            Effect.catchIf((error) => error.reason === "InvalidCredentials", () => Effect.void)
          )
          return yield* invalidCredentials()
        }
        yield* bindAs(server, entry.dn, password)
        const found: AuthenticatedUser = {
          dn: entry.dn,
          attributes: Object.fromEntries(Object.entries(entry.attributes).filter(([name]) => !isPassword(name)))
        }
        return found
      })

    const loginTimedOut = () =>
      temporary(new LdapError({ reason: "Timeout", message: `login: no answer within ${Duration.format(timeout)}` }))

    const authenticate = Effect.fn("LdapAuth.authenticate")(
      function*(user: string, password: Redacted.Redacted<string>) {
        yield* Input.check(user, password)
        // Only a user name that passed the input rules reaches the logs.
        return yield* Failover.run(failover, loginOn(user, password), (error) => error.reason === "Temporary", (server) =>
          server.url).pipe(
            Effect.timeoutOrElse({ duration: timeout, orElse: () => Effect.fail(loginTimedOut()) }),
            Effect.tapError((error) => Effect.logDebug("login failed", error.reason, error.message)),
            Effect.annotateLogs({ user })
          )
      }
    )

    return { service: { authenticate }, servers }
  })
