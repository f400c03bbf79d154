/**
 * A thin Effect wrapper over one `ldapts` client, made for pooling: connect, bind, search, WhoAmI and unbind as
 * Effects that fail with `LdapError`, each bounded by a timeout.
 *
 * A connection never reconnects on its own. `ldapts` would silently open a new, anonymous socket after the server
 * dropped the old one (and `autoRebind` would replay the last bind, perhaps a user's); here the socket is opened
 * once, handed to `ldapts` through a one-shot `createConnection`, and any later reconnect attempt fails, so a dead
 * connection surfaces as an `Unavailable` error and the pool discards it.
 */
import { Clock, Duration, Effect, Redacted, Scope } from "effect"
import * as Ldapts from "ldapts"
import * as Net from "node:net"
import * as LdapUrl from "./internal/ldapUrl.ts"
import { fromCause, LdapError } from "./LdapError.ts"

export interface LdapClientOptions {
  /** `ldap://host:port/`. */
  readonly url: string
  /** Bounds the TCP connect. */
  readonly connectTimeout: Duration.Input
  /** Bounds every LDAP operation; when it fires the socket is destroyed. */
  readonly operationTimeout: Duration.Input
}

/** One open LDAP connection. Only the functions of this module touch its client. */
export interface LdapConnection {
  readonly url: string
  readonly client: Ldapts.Client
  readonly socket: Net.Socket
  readonly operationTimeout: Duration.Duration
  /** When the last operation finished (or the socket connected), by `Clock`: see `idleMillis`. */
  readonly activity: { lastMillis: number }
}

export interface LdapEntry {
  readonly dn: string
  readonly attributes: Readonly<Record<string, ReadonlyArray<string>>>
}

export interface SearchOptions {
  readonly filter: string
  readonly scope?: "base" | "one" | "sub"
  readonly attributes?: ReadonlyArray<string>
  /** Ask the server for at most this many entries (0: its own limit). */
  readonly sizeLimit?: number
}

const whoAmIOid = "1.3.6.1.4.1.4203.1.11.3"

const timeoutError = (operation: string, duration: Duration.Duration) =>
  new LdapError({ reason: "Timeout", message: `${operation}: no answer within ${Duration.format(duration)}` })

const openSocket = (url: string, timeout: Duration.Duration) =>
  Effect.callback<Net.Socket, LdapError>((resume) => {
    let socket: Net.Socket
    try {
      const { host, port } = LdapUrl.parseUnsafe(url)
      socket = Net.connect({ host, port })
    } catch (cause) {
      return resume(Effect.fail(new LdapError({ reason: "Protocol", message: `connect: bad URL ${url}`, cause })))
    }
    const onError = (cause: unknown) => resume(Effect.fail(fromCause(`connect ${url}`)(cause)))
    socket.once("error", onError)
    socket.once("connect", () => {
      socket.off("error", onError)
      // Until ldapts installs its own handlers on the first operation, an error must not crash the process.
      socket.on("error", () => {})
      resume(Effect.succeed(socket))
    })
    return Effect.sync(() => socket.destroy())
  }).pipe(
    Effect.timeoutOrElse({ duration: timeout, orElse: () => Effect.fail(timeoutError(`connect ${url}`, timeout)) })
  )

const close = (connection: LdapConnection) =>
  Effect.tryPromise(() => connection.client.unbind()).pipe(
    Effect.timeoutOption(connection.operationTimeout),
    Effect.ignore,
    Effect.ensuring(Effect.sync(() => connection.socket.destroy()))
  )

/**
 * Opens a connection whose lifetime is the current `Scope`: closing the scope unbinds (bounded by the operation
 * timeout) and destroys the socket. No LDAP operation runs yet: the first one (usually a bind) uses the socket.
 */
export const connect = (options: LdapClientOptions): Effect.Effect<LdapConnection, LdapError, Scope.Scope> => {
  const operationTimeout = Duration.fromInputUnsafe(options.operationTimeout)
  return Effect.acquireRelease(
    Effect.zip(openSocket(options.url, Duration.fromInputUnsafe(options.connectTimeout)), Clock.currentTimeMillis).pipe(
      Effect.map(([socket, now]): LdapConnection => {
        let handedOut = false
        const createConnection = (): Net.Socket => {
          if (handedOut) throw new Error("connection closed (a pooled LDAP connection never reconnects)")
          handedOut = true
          return socket
        }
        return {
          url: options.url,
          client: new Ldapts.Client({ url: options.url, createConnection }),
          socket,
          operationTimeout,
          activity: { lastMillis: now }
        }
      })
    ),
    close
  )
}

/** Runs one `ldapts` call with the connection's timeout; a timeout destroys the socket, which is then unusable. */
const run = <A>(connection: LdapConnection, operation: string, f: (client: Ldapts.Client) => Promise<A>) =>
  Effect.tryPromise({ try: () => f(connection.client), catch: fromCause(operation) }).pipe(
    Effect.timeoutOrElse({
      duration: connection.operationTimeout,
      orElse: () =>
        Effect.sync(() => connection.socket.destroy()).pipe(
          Effect.andThen(Effect.fail(timeoutError(operation, connection.operationTimeout)))
        )
    }),
    Effect.ensuring(Effect.map(Clock.currentTimeMillis, (now) => {
      connection.activity.lastMillis = now
    }))
  )

/**
 * False once the socket has closed, e.g. the server dropped the connection while it sat idle. A local check, no
 * traffic: the next operation on a closed connection would fail as `Unavailable`.
 */
export const isOpen = (connection: LdapConnection): boolean => connection.client.isConnected

/** How long the connection has gone without an operation. */
export const idleMillis = (connection: LdapConnection): Effect.Effect<number> =>
  Effect.map(Clock.currentTimeMillis, (now) => now - connection.activity.lastMillis)

const saslMechanisms: ReadonlyArray<string> = Ldapts.SASL_MECHANISMS

/**
 * A simple bind. Refuses, before any traffic, an empty password (RFC 4513: an unauthenticated bind that some
 * servers accept) and a name that `ldapts` would take for a SASL mechanism such as `EXTERNAL`.
 */
export const bind = (
  connection: LdapConnection,
  dn: string,
  password: Redacted.Redacted<string>
): Effect.Effect<void, LdapError> => {
  if (Redacted.value(password) === "") {
    return Effect.fail(new LdapError({ reason: "UnsafeRequest", message: "bind: refusing an empty password" }))
  }
  if (saslMechanisms.includes(dn.toUpperCase())) {
    return Effect.fail(new LdapError({ reason: "UnsafeRequest", message: "bind: refusing a SASL mechanism as a DN" }))
  }
  return run(connection, "bind", (client) => client.bind(dn, Redacted.value(password)))
}

const toStrings = (value: Buffer | ReadonlyArray<Buffer> | ReadonlyArray<string> | string): ReadonlyArray<string> =>
  (Array.isArray(value) ? value : [value]).map(String)

/** A search; entries come back with every value as a string. */
export const search = (
  connection: LdapConnection,
  base: string,
  options: SearchOptions
): Effect.Effect<ReadonlyArray<LdapEntry>, LdapError> =>
  run(connection, "search", (client) =>
    client.search(base, {
      filter: options.filter,
      scope: options.scope ?? "sub",
      ...(options.attributes === undefined ? {} : { attributes: [...options.attributes] }),
      sizeLimit: options.sizeLimit ?? 0
    })).pipe(
      Effect.map(({ searchEntries }) =>
        searchEntries.map(({ dn, ...attributes }): LdapEntry => ({
          dn,
          attributes: Object.fromEntries(Object.entries(attributes).map(([name, value]) => [name, toStrings(value)]))
        }))
      )
    )

/**
 * The WhoAmI extended operation (RFC 4532): the identity the server associates with this connection, `dn:…` or
 * `""` for anonymous. A cheap round trip that proves the connection is alive and bound as expected.
 */
export const whoAmI = (connection: LdapConnection): Effect.Effect<string, LdapError> =>
  run(connection, "whoAmI", (client) => client.exop(whoAmIOid)).pipe(Effect.map((result) => result.value ?? ""))
