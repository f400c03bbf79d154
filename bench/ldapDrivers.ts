/**
 * The three LDAP clients of part 2, each set up once against one slapd and then called once per login:
 *
 * - pooled: the example's `LdapAuth` (a search pool and a bind pool, `maxIdle` = `maxSize`);
 * - per-login: what an auth server without pooling does, with the example's `LdapClient`: a search connection
 *   (connect, bind as the service, search) and then a bind connection (connect, bind as the user), both closed
 *   after the login;
 * - ldapts floor: plain `ldapts`, no Effect and no pool: `min(concurrency, poolSize)` long-lived pairs of clients
 *   (one bound as the service that searches, one that binds users), each pair carrying one login at a time (a bind
 *   changes the identity of its whole connection), handed out from a plain array.
 *
 * Every client reaches slapd the same way: plain `ldap://`, `ldaps://`, or `ldap://` upgraded with StartTLS, always
 * verifying the certificate against the run's own CA.
 */
import { readFileSync } from "node:fs"
import { Duration, Effect, Redacted, type Scope } from "effect"
import * as Ldapts from "ldapts"
import * as LdapAuth from "../examples/ldap-auth/src/LdapAuth.ts"
import * as LdapClient from "../examples/ldap-auth/src/LdapClient.ts"
import { defaultUserFilter } from "../examples/ldap-auth/src/internal/ldapAuth.ts"
import * as Filter from "../examples/ldap-auth/src/internal/ldapFilter.ts"
import type * as Slapd from "../examples/ldap-auth/harness/Slapd.ts"

export type Client = "pooled" | "per-login" | "ldapts-floor"

export const clients: ReadonlyArray<Client> = ["pooled", "per-login", "ldapts-floor"]

/** How every client reaches slapd. */
export type Transport = "ldap" | "ldaps" | "starttls"

export const transports: ReadonlyArray<Transport> = ["ldap", "ldaps", "starttls"]

export interface Login {
  readonly user: string
  readonly password: Redacted.Redacted<string>
}

export type LoginFunction = (login: Login) => Effect.Effect<unknown, unknown>

/** One client, set up in the current scope (closed when the scope closes). */
export type Driver = (
  target: Target,
  sizes: { readonly poolSize: number; readonly concurrency: number }
) => Effect.Effect<LoginFunction, unknown, Scope.Scope>

/** Where and how a client connects: the URL and the TLS options of `LdapClient`. */
export interface Target {
  readonly slapd: Slapd.SlapdInstance
  readonly url: string
  readonly tls: LdapClient.TlsOptions | undefined
}

/** `slapd` must have been started with `tls: true` for any transport but `ldap`. */
export const target = (slapd: Slapd.SlapdInstance, transport: Transport): Target => {
  if (transport === "ldap") return { slapd, url: slapd.url, tls: undefined }
  const ca = readFileSync(slapd.tls!.certificates.caFile, "utf8")
  return transport === "ldaps"
    ? { slapd, url: slapd.tls!.ldapsUrl, tls: { ca } }
    : { slapd, url: slapd.url, tls: { startTls: true, ca } }
}

// Generous bounds: on a loaded two-core machine a login may queue, and a timeout would be counted as a failure.
const timeouts = {
  connectTimeout: Duration.seconds(5),
  operationTimeout: Duration.seconds(10),
  acquireTimeout: Duration.seconds(30),
  timeout: Duration.seconds(60)
} as const

const attributes = ["uid", "mail", "cn"]

const pooled: Driver = ({ slapd, tls, url }, { poolSize }) =>
  Effect.map(
    LdapAuth.make({ ...slapd.authOptions, urls: [url], tls, ...timeouts, maxIdle: poolSize, maxSize: poolSize }),
    (auth): LoginFunction => ({ password, user }) => auth.authenticate(user, password)
  )

const perLogin: Driver = ({ slapd, tls, url }) =>
  Effect.succeed(({ password, user }) =>
    Effect.gen(function*() {
      const options = { url, tls, ...timeouts }
      const entries = yield* Effect.scoped(Effect.gen(function*() {
        const connection = yield* LdapClient.connect(options)
        yield* LdapClient.bind(connection, slapd.serviceDn, slapd.servicePassword)
        return yield* LdapClient.search(connection, slapd.baseDn, {
          filter: Filter.render(defaultUserFilter, user),
          attributes,
          sizeLimit: 2
        })
      }))
      if (entries.length !== 1) return yield* Effect.fail(new Error(`${user}: ${entries.length} entries`))
      yield* Effect.scoped(Effect.flatMap(LdapClient.connect(options), (connection) =>
        LdapClient.bind(connection, entries[0]!.dn, password)))
    })
  )

/** Node's TLS options for ldapts, checking the certificate as `LdapClient` does. */
const nodeTls = (target: Target) => ({ ca: target.tls?.ca, host: "127.0.0.1", minVersion: "TLSv1.2" as const })

const openLdapts = async (target: Target): Promise<Ldapts.Client> => {
  const client = new Ldapts.Client({
    url: target.url,
    ...(target.url.startsWith("ldaps:") ? { tlsOptions: nodeTls(target) } : {})
  })
  if (target.tls?.startTls === true) await client.startTLS(nodeTls(target))
  return client
}

interface Pair {
  readonly searcher: Ldapts.Client
  readonly binder: Ldapts.Client
}

const ldaptsFloor: Driver = (target, { concurrency, poolSize }) =>
  Effect.map(
    Effect.acquireRelease(
      Effect.promise(() =>
        Promise.all(Array.from({ length: Math.min(concurrency, poolSize) }, async (): Promise<Pair> => {
          const [searcher, binder] = await Promise.all([openLdapts(target), openLdapts(target)])
          // A first operation on each, so that no connect is left for the measured logins.
          await Promise.all([
            searcher.bind(target.slapd.serviceDn, Redacted.value(target.slapd.servicePassword)),
            binder.exop("1.3.6.1.4.1.4203.1.11.3")
          ])
          return { searcher, binder }
        }))
      ),
      (pairs) => Effect.promise(() => Promise.all(pairs.flatMap((pair) => [pair.searcher.unbind(), pair.binder.unbind()])))
    ),
    (pairs): LoginFunction => {
      const free = [...pairs]
      const waiting: Array<(pair: Pair) => void> = []
      const login = async ({ password, user }: Login) => {
        const pair = free.pop() ?? await new Promise<Pair>((resolve) => waiting.push(resolve))
        try {
          const { searchEntries } = await pair.searcher.search(target.slapd.baseDn, {
            filter: Filter.render(defaultUserFilter, user),
            attributes,
            sizeLimit: 2
          })
          if (searchEntries.length !== 1) throw new Error(`${user}: ${searchEntries.length} entries`)
          await pair.binder.bind(searchEntries[0]!.dn, Redacted.value(password))
        } finally {
          const next = waiting.shift()
          if (next === undefined) free.push(pair)
          else next(pair)
        }
      }
      return (credentials) => Effect.tryPromise(() => login(credentials))
    }
  )

export const drivers: Record<Client, Driver> = { pooled, "per-login": perLogin, "ldapts-floor": ldaptsFloor }
