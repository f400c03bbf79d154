/**
 * A thin Effect wrapper over one `ldapts` client, made for pooling: connect, bind, search, WhoAmI and unbind as
 * Effects that fail with `LdapError`, each bounded by a timeout.
 *
 * A connection never reconnects on its own. `ldapts` would silently open a new, anonymous socket after the server
 * dropped the old one (and `autoRebind` would replay the last bind, perhaps a user's); here the socket is opened
 * once, handed to `ldapts` through a one-shot `createConnection`, and any later reconnect attempt fails, so a dead
 * connection surfaces as an `Unavailable` error and the pool discards it.
 *
 * TLS: an `ldaps://` URL speaks TLS from the first byte; `tls.startTls` upgrades an `ldap://` connection with
 * StartTLS before any other operation. The certificate and the server's name are always verified (TLS 1.2 at
 * least); a connection that cannot be secured fails as `Insecure` and nothing is ever sent on it in clear.
 */
import { Clock, Duration, Effect, Redacted, Scope } from "effect"
import * as Ldapts from "ldapts"
import * as Net from "node:net"
import * as Tls from "node:tls"
import * as LdapUrl from "./internal/ldapUrl.ts"
import { fromCause, LdapError } from "./LdapError.ts"

export interface LdapClientOptions {
  /** `ldap://host:port/`. */
  readonly url: string
  /** Bounds the TCP connect. */
  readonly connectTimeout: Duration.Input
  /** Bounds every LDAP operation; when it fires the socket is destroyed. */
  readonly operationTimeout: Duration.Input
  /** How the connection is secured. Without it only `ldaps://` URLs use TLS, with the system's CAs. */
  readonly tls?: TlsOptions | undefined
}

export interface TlsOptions {
  /** Upgrade `ldap://` connections with StartTLS before any bind. `ldaps://` needs no upgrade. Default: false. */
  readonly startTls?: boolean | undefined
  /** PEM of the CAs the server's certificate must chain to. Default: the system's CAs. */
  readonly ca?: string | undefined
  /** The name the certificate must carry. Default: the URL's host. */
  readonly serverName?: string | undefined
}

/** One open LDAP connection. Only the functions of this module touch its client. */
export interface LdapConnection {
  readonly url: string
  readonly client: Ldapts.Client
  /** The socket LDAP is spoken on: after StartTLS, the TLS socket over the TCP one. */
  socket: Net.Socket
  /** The TCP socket under it. */
  readonly tcp: Net.Socket
  readonly operationTimeout: Duration.Duration
  /** When the last operation finished (or the socket connected), by `Clock`: see `idleMillis`. */
  readonly activity: { lastMillis: number }
  /** The `Clock` of the fiber that connected, which stamps `activity`. */
  readonly clock: Clock.Clock
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

/** Node's TLS options for `url`: certificate and name always checked, TLS 1.2 at least. A fresh object each time. */
const tlsOptions = (url: LdapUrl.LdapUrl, tls: TlsOptions | undefined): Tls.ConnectionOptions => {
  const name = tls?.serverName ?? url.host
  return {
    // `host` is what the certificate is checked against when no `servername` is given (it defaults to localhost).
    host: name,
    ...(Net.isIP(name) === 0 ? { servername: name } : {}),
    ...(tls?.ca === undefined ? {} : { ca: tls.ca }),
    minVersion: "TLSv1.2",
    rejectUnauthorized: true
  }
}

const untrusted = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "CERT_SIGNATURE_FAILURE"
])

const isTlsFailure = (cause: unknown): boolean => {
  const code = (cause as { readonly code?: unknown } | undefined)?.code
  return typeof code === "string" &&
    (untrusted.has(code) || code.startsWith("ERR_TLS") || code.startsWith("ERR_SSL") || code.startsWith("CERT_"))
}

/** Why TLS could not be set up, in a few words an operator can act on. */
const insecure = (what: string, cause: unknown): LdapError => {
  const code = (cause as { readonly code?: unknown } | undefined)?.code
  const detail = cause instanceof Error ? cause.message : String(cause)
  const why = code === "ERR_TLS_CERT_ALTNAME_INVALID"
    ? `the certificate is not for this server name (${detail})`
    : typeof code === "string" && untrusted.has(code)
    ? `the certificate is not signed by a trusted CA (${code})`
    : code === "CERT_HAS_EXPIRED" || code === "CERT_NOT_YET_VALID"
    ? `the certificate is not valid now (${code})`
    : detail
  return new LdapError({ reason: "Insecure", message: `${what}: ${why}`, cause })
}

const openSocket = (url: LdapUrl.LdapUrl, tls: TlsOptions | undefined, timeout: Duration.Duration) =>
  Effect.callback<Net.Socket, LdapError>((resume) => {
    const socket = url.secure
      ? Tls.connect({ ...tlsOptions(url, tls), host: url.host, port: url.port })
      : Net.connect({ host: url.host, port: url.port })
    const onError = (cause: unknown) =>
      resume(Effect.fail(
        url.secure && isTlsFailure(cause)
          ? insecure(`TLS to ${url.url}`, cause)
          : fromCause(`connect ${url.url}`)(cause)
      ))
    socket.once("error", onError)
    socket.once(url.secure ? "secureConnect" : "connect", () => {
      socket.off("error", onError)
      // Until ldapts installs its own handlers on the first operation, an error must not crash the process.
      socket.on("error", () => {})
      resume(Effect.succeed(socket))
    })
    return Effect.sync(() => socket.destroy())
  }).pipe(
    Effect.timeoutOrElse({
      duration: timeout,
      orElse: () => Effect.fail(timeoutError(`connect ${url.url}`, timeout))
    })
  )

const close = (connection: LdapConnection) =>
  Effect.tryPromise(() => connection.client.unbind()).pipe(
    Effect.timeoutOption(connection.operationTimeout),
    Effect.ignore,
    Effect.ensuring(Effect.sync(() => {
      connection.socket.destroy()
      connection.tcp.destroy()
    }))
  )

/**
 * Opens a connection whose lifetime is the current `Scope`: closing the scope unbinds (bounded by the operation
 * timeout) and destroys the socket. No LDAP operation runs yet: the first one (usually a bind) uses the socket.
 */
export const connect = (options: LdapClientOptions): Effect.Effect<LdapConnection, LdapError, Scope.Scope> => {
  const operationTimeout = Duration.fromInputUnsafe(options.operationTimeout)
  const url = LdapUrl.parseUnsafe(options.url)
  const startTls = !url.secure && options.tls?.startTls === true
  const opened = Clock.clockWith((clock) =>
    Effect.map(openSocket(url, options.tls, Duration.fromInputUnsafe(options.connectTimeout)), (socket): LdapConnection => {
      let handedOut = false
      const oneShot = (): Net.Socket => {
        if (handedOut) throw new Error("connection closed (a pooled LDAP connection never reconnects)")
        handedOut = true
        return socket
      }
      const connection: LdapConnection = {
        url: options.url,
        client: new Ldapts.Client({
          url: options.url,
          timeout: ldaptsTimeout(operationTimeout),
          // ldapts opens `ldaps://` through `createSecureConnection`, `ldap://` through `createConnection`; StartTLS
          // wraps the TCP socket through `createSecureConnection` too, and the TLS socket is then the one to watch.
          createConnection: oneShot as never,
          createSecureConnection: (url.secure
            ? oneShot
            : (tlsConnect: Tls.ConnectionOptions) => (connection.socket = Tls.connect(tlsConnect))) as never
        }),
        socket,
        tcp: socket,
        operationTimeout,
        activity: { lastMillis: clock.currentTimeMillisUnsafe() },
        clock
      }
      return connection
    })
  )
  return Effect.acquireRelease(
    startTls
      ? Effect.flatMap(opened, (connection) =>
        run(connection, "StartTLS", (client) => client.startTLS(tlsOptions(url, options.tls)), ignoreResult).pipe(
          // ldapts' timer covers the StartTLS request, not the handshake after it.
          Effect.timeoutOrElse({
            duration: operationTimeout,
            orElse: () =>
              Effect.sync(() => connection.socket.destroy()).pipe(
                Effect.andThen(Effect.fail(timeoutError("StartTLS", operationTimeout)))
              )
          }),
          Effect.mapError((error) =>
            error.reason === "Timeout"
              ? error
              : error.code !== undefined
              ? new LdapError({ reason: "Insecure", message: `StartTLS refused by ${options.url}: ${error.message}`, cause: error })
              : insecure(`StartTLS with ${options.url}`, error.cause)
          ),
          Effect.onError(() => close(connection)),
          Effect.as(connection)
        ))
      : opened,
    close
  )
}

/** How ldapts rejects an operation its own `timeout` ended (after destroying the socket). */
const isOperationTimeout = (cause: unknown): boolean =>
  cause instanceof Error && !(cause instanceof Ldapts.ResultCodeError) && cause.message.endsWith(": Operation timed out")

/**
 * ldapts' `timeout` in milliseconds: one timer per request inside ldapts, where an Effect timeout would race two
 * fibers on every operation of every login. 0 is ldapts' "none", and it cannot wait longer than a timer can.
 */
const ldaptsTimeout = (duration: Duration.Duration): number => {
  const millis = Duration.toMillis(duration)
  return Number.isFinite(millis) ? Math.min(Math.max(1, Math.ceil(millis)), 2 ** 31 - 1) : 0
}

/** What a failed `ldapts` call means; a timeout destroys the socket, which is then unusable. */
const failure = (connection: LdapConnection, operation: string, cause: unknown): LdapError => {
  if (!isOperationTimeout(cause)) return fromCause(operation)(cause)
  connection.socket.destroy()
  return timeoutError(operation, connection.operationTimeout)
}

/**
 * Runs one `ldapts` call, bounded by the connection's operation timeout (ldapts' own timer), and shapes its result
 * with `shape` in the same step: one callback per operation, resumed once the call settles, which is also when
 * `activity` is stamped (an interrupted caller does not stop the request in flight).
 */
const run = <A, B>(
  connection: LdapConnection,
  operation: string,
  f: (client: Ldapts.Client) => Promise<A>,
  shape: (result: A) => B
): Effect.Effect<B, LdapError> =>
  Effect.callback<B, LdapError>((resume) => {
    const settled = () => {
      connection.activity.lastMillis = connection.clock.currentTimeMillisUnsafe()
    }
    const failed = (cause: unknown) => {
      settled()
      resume(Effect.fail(failure(connection, operation, cause)))
    }
    try {
      f(connection.client).then((result) => {
        settled()
        let shaped: B
        try {
          shaped = shape(result)
        } catch (defect) {
          return resume(Effect.die(defect))
        }
        resume(Effect.succeed(shaped))
      }, failed)
    } catch (cause) {
      failed(cause)
    }
  })

const ignoreResult = (): void => {}

/**
 * False once the socket has closed, e.g. the server dropped the connection while it sat idle. A local check, no
 * traffic: the next operation on a closed connection would fail as `Unavailable`.
 */
export const isOpen = (connection: LdapConnection): boolean =>
  // After StartTLS ldapts keeps reporting a connection the server dropped as connected: the socket knows better.
  connection.client.isConnected && !connection.socket.destroyed && !connection.tcp.destroyed

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
  return run(connection, "bind", (client) => client.bind(dn, Redacted.value(password)), ignoreResult)
}

const toStrings = (value: Buffer | ReadonlyArray<Buffer> | ReadonlyArray<string> | string): ReadonlyArray<string> => {
  if (!Array.isArray(value)) return [String(value)]
  const strings: Array<string> = []
  for (const each of value) strings.push(String(each))
  return strings
}

/** ldapts' entries with every value as a string. */
const toEntries = ({ searchEntries }: Ldapts.SearchResult): ReadonlyArray<LdapEntry> => {
  const entries: Array<LdapEntry> = []
  for (const found of searchEntries) {
    const attributes: Record<string, ReadonlyArray<string>> = {}
    for (const name of Object.keys(found)) {
      if (name !== "dn") attributes[name] = toStrings(found[name]!)
    }
    entries.push({ dn: found.dn, attributes })
  }
  return entries
}

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
    }), toEntries)

/**
 * The WhoAmI extended operation (RFC 4532): the identity the server associates with this connection, `dn:…` or
 * `""` for anonymous. A cheap round trip that proves the connection is alive and bound as expected.
 */
export const whoAmI = (connection: LdapConnection): Effect.Effect<string, LdapError> =>
  run(connection, "whoAmI", (client) => client.exop(whoAmIOid), (result) => result.value ?? "")
