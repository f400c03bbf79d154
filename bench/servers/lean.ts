/**
 * The floor of part 3: the leanest auth server of the same design, as a child process. Node `http` and plain
 * `ldapts`, no Effect and no pool: `PAIRS` long-lived pairs of LDAP clients (one bound as the service that searches,
 * one that binds users), each carrying one login at a time, handed out from an array. `GET /auth` does the same
 * search and bind as the auth server and answers in nginx's headers; no limits, no metrics, no logs.
 *
 * Configured from the environment: LDAP_URL, LDAP_TLS_CA_FILE, LDAP_BASE_DN, LDAP_BIND_DN, LDAP_BIND_PASSWORD,
 * AUTH_HTTP_PORT, PAIRS.
 */
import { readFileSync } from "node:fs"
import * as Http from "node:http"
import * as Ldapts from "ldapts"

const env = (name: string): string => {
  const value = process.env[name]
  if (value === undefined) throw new Error(`${name} is not set`)
  return value
}

const url = env("LDAP_URL")
const tlsOptions = { ca: readFileSync(env("LDAP_TLS_CA_FILE"), "utf8"), host: "127.0.0.1", minVersion: "TLSv1.2" as const }
const baseDn = env("LDAP_BASE_DN")

interface Pair {
  readonly searcher: Ldapts.Client
  readonly binder: Ldapts.Client
}

const open = () => new Ldapts.Client({ url, ...(url.startsWith("ldaps:") ? { tlsOptions } : {}) })

const pairs: Array<Pair> = await Promise.all(Array.from({ length: Number(env("PAIRS")) }, async () => {
  const pair = { searcher: open(), binder: open() }
  await Promise.all([pair.searcher.bind(env("LDAP_BIND_DN"), env("LDAP_BIND_PASSWORD")), pair.binder.exop("1.3.6.1.4.1.4203.1.11.3")])
  return pair
}))
const waiting: Array<(pair: Pair) => void> = []

const escape = (value: string) => value.replace(/[\\*()\0]/g, (c) => `\\${c.charCodeAt(0).toString(16).padStart(2, "0")}`)

const login = async (user: string, password: string): Promise<boolean> => {
  const pair = pairs.pop() ?? await new Promise<Pair>((resolve) => waiting.push(resolve))
  try {
    const { searchEntries } = await pair.searcher.search(baseDn, {
      filter: `(&(objectClass=inetOrgPerson)(uid=${escape(user)}))`,
      attributes: ["uid", "mail", "cn"],
      sizeLimit: 2
    })
    if (searchEntries.length !== 1) return false
    await pair.binder.bind(searchEntries[0]!.dn, password)
    return true
  } catch {
    return false
  } finally {
    const next = waiting.shift()
    if (next === undefined) pairs.push(pair)
    else next(pair)
  }
}

const server = Http.createServer((request, response) => {
  const user = decodeURIComponent(String(request.headers["auth-user"] ?? ""))
  const password = decodeURIComponent(String(request.headers["auth-pass"] ?? ""))
  void login(user, password).then((ok) => {
    response.writeHead(200, ok
      ? { "Auth-Status": "OK", "Auth-Server": "127.0.0.1", "Auth-Port": "143", Connection: "close" }
      : { "Auth-Status": "Invalid login or password", "Auth-Wait": "1", Connection: "close" })
    response.end()
  })
})
server.listen(Number(env("AUTH_HTTP_PORT")), "127.0.0.1")
process.on("SIGTERM", () => {
  server.close()
  void Promise.all(pairs.flatMap((pair) => [pair.searcher.unbind(), pair.binder.unbind()])).then(() => process.exit(0))
})
