/**
 * One LDAP server as two pools, as Dovecot advises: a search pool whose connections bind once as the service
 * account when they open and then only search, and a bind pool whose connections only carry user binds. A search
 * therefore never runs anonymously or under a user's identity, and a user bind never disturbs a search connection.
 */
import { Duration, Effect, Redacted, Scope } from "effect"
import { ConnectionPool } from "effect-connection-pool"
import * as LdapClient from "../LdapClient.ts"
import { LdapError } from "../LdapError.ts"
import * as LdapUrl from "./ldapUrl.ts"

export interface ServerOptions {
  readonly url: string
  readonly serviceDn: string
  readonly servicePassword: Redacted.Redacted<string>
  readonly connectTimeout: Duration.Input
  readonly operationTimeout: Duration.Input
  readonly tls: LdapClient.TlsOptions | undefined
  /** A connection idle longer than this is checked with a WhoAmI round trip before it is lent. */
  readonly pingAfter: Duration.Duration
  readonly maxIdle: number
  readonly maxSize: number | undefined
  /** false: a connection is closed when its lease ends, never lent twice. */
  readonly reuse: boolean
  readonly acquireTimeout: Duration.Input
  readonly idleTimeout: Duration.Input | undefined
  /** Prefix of the pools' names in metrics: `<name>/search/<host:port>` and `<name>/bind/<host:port>`. */
  readonly name: string
}

export type Pool = ConnectionPool.ConnectionPool<LdapClient.LdapConnection, LdapError>

export interface LdapServer {
  readonly url: string
  readonly searchPool: Pool
  readonly bindPool: Pool
}

/**
 * Pings a connection idle past `pingAfter` before it is lent (the pool asks only then): FIFO reuse hands out the
 * oldest idle connection, the one a server `idletimeout` or a firewall most likely dropped. `expected` checks the
 * identity WhoAmI reports (the search pool must still be the service account). A connection whose socket has
 * already closed is caught without traffic, on every lend, by `withConnection`.
 */
const validate = (expected: (identity: string) => boolean) =>
(connection: LdapClient.LdapConnection): Effect.Effect<boolean, LdapError> =>
  LdapClient.isOpen(connection) ? Effect.map(LdapClient.whoAmI(connection), expected) : Effect.succeed(false)

/**
 * Binds as the service account. Its credentials refused (49) is `Misconfigured`: every search would fail the same
 * way until the setting is fixed, which an operator must hear as such, not as a directory that did not answer.
 */
export const bindService = (
  connection: LdapClient.LdapConnection,
  dn: string,
  password: Redacted.Redacted<string>
): Effect.Effect<void, LdapError> =>
  LdapClient.bind(connection, dn, password).pipe(
    Effect.mapError((error) =>
      error.reason === "InvalidCredentials"
        ? new LdapError({
          reason: "Misconfigured",
          code: error.code!,
          message: `${connection.url} refused the service account ${dn}: invalid credentials (result 49)`
        })
        : error
    )
  )

export const make = (options: ServerOptions): Effect.Effect<LdapServer, never, Scope.Scope> =>
  Effect.gen(function*() {
    const { authority } = LdapUrl.parseUnsafe(options.url)
    const client: LdapClient.LdapClientOptions = {
      url: options.url,
      connectTimeout: options.connectTimeout,
      operationTimeout: options.operationTimeout,
      tls: options.tls
    }
    const poolOptions = {
      maxIdle: options.maxIdle,
      maxSize: options.maxSize,
      acquireTimeout: options.acquireTimeout,
      idleTimeout: options.idleTimeout,
      // Not on every lend: the pool runs `validate` in a fiber of its own, a cost on every operation of every login.
      validateAfter: options.pingAfter,
      validateTimeout: options.operationTimeout,
      ...(options.reuse ? {} : { recycle: () => false })
    }
    const searchPool = yield* ConnectionPool.make({
      ...poolOptions,
      name: `${options.name}/search/${authority}`,
      // Connect and bind before the connection is lent: ldapts can hang when two operations race on a client
      // that is not connected yet, and a search connection must never be lent anonymous.
      acquire: Effect.tap(
        LdapClient.connect(client),
        (connection) => bindService(connection, options.serviceDn, options.servicePassword)
      ),
      // Only the service account ever binds on these connections, so any identity but anonymous is it (the server
      // may spell the DN in its normalized form).
      validate: validate((identity) => identity !== "")
    })
    const bindPool = yield* ConnectionPool.make({
      ...poolOptions,
      name: `${options.name}/bind/${authority}`,
      acquire: Effect.tap(LdapClient.connect(client), LdapClient.whoAmI),
      validate: validate(() => true)
    })
    return { url: options.url, searchPool, bindPool }
  })

/** A lent connection found closed before use: never an error a caller sees. */
const closed: unique symbol = Symbol("closed")

/**
 * Runs `f` on a lent connection. One whose socket has already closed (the server restarted or dropped it while it
 * sat idle) is invalidated before any traffic and the borrow repeated, at most `maxSize` + 1 times in all, so a
 * restart that left every idle connection dead costs no login. An error that leaves the connection in an unknown
 * state (no LDAP result came back: network error, timeout) invalidates it, so the pool closes it instead of lending
 * it again; results such as 49 and 53 keep it. A login that met a stale connection anyway (`Unavailable`) is retried
 * once on another one; when the server is down, that retry is one more refused connect, which costs next to nothing.
 */
export const withConnection = <A>(
  pool: Pool,
  f: (connection: LdapClient.LdapConnection) => Effect.Effect<A, LdapError>,
  maxSize: number
): Effect.Effect<A, LdapError | ConnectionPool.PoolError> => {
  const once = ConnectionPool.use(pool, (connection): Effect.Effect<A | typeof closed, LdapError> =>
    LdapClient.isOpen(connection)
      ? Effect.tapError(
        f(connection),
        (error) => error.breaksConnection ? ConnectionPool.invalidate(pool, connection) : Effect.void
      )
      : Effect.as(ConnectionPool.invalidate(pool, connection), closed))
  const attempt = (skipped: number, retried: boolean): Effect.Effect<A, LdapError | ConnectionPool.PoolError> =>
    Effect.matchEffect(once, {
      onSuccess: (result) =>
        result !== closed
          ? Effect.succeed(result)
          : skipped < maxSize
          ? attempt(skipped + 1, retried)
          : Effect.fail(new LdapError({ reason: "Unavailable", message: "every pooled connection had closed" })),
      onFailure: (error) =>
        !retried && error._tag === "LdapError" && error.reason === "Unavailable"
          ? attempt(skipped, true)
          : Effect.fail(error)
    })
  return attempt(0, false)
}
