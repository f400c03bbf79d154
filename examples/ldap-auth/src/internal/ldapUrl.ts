/**
 * The one reader of an LDAP server URL, used by the configuration, by `LdapAuth`'s option check and by the client
 * that opens the socket, so a URL means the same thing everywhere: `ldap://host[:port][/]` (port 389 by default)
 * or `ldaps://host[:port][/]` (TLS from the first byte, port 636 by default).
 * No user name or password (they belong in `bindDn`/`bindPassword`, not in a URL that ends up in logs), no base
 * DN path, query or fragment (they would be ignored silently).
 */
import * as Net from "node:net"

export interface LdapUrl {
  /** As written, trimmed: what logs and pool names show. */
  readonly url: string
  /** Without the brackets of an IPv6 literal, as `net.connect` wants it. */
  readonly host: string
  readonly port: number
  /** `ldaps://`: TLS from the first byte. */
  readonly secure: boolean
  /** `host:port`, IPv6 in brackets: the name of the server's pools in metrics. */
  readonly authority: string
}

const defaultPorts = { ldap: 389, ldaps: 636 } as const
const hostName = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*\.?$/i
const structure = /^([a-z][a-z0-9+.-]*):\/\/([^/?#]*)(.*)$/is

/** The URL, or why it is not one this program accepts (a few words, starting lowercase). */
export const parse = (raw: string): LdapUrl | string => {
  const url = raw.trim()
  const parts = structure.exec(url)
  if (parts === null) return "is not a URL such as ldap://host:389 or ldaps://host:636"
  const [, scheme, authority, rest] = parts as unknown as [string, string, string, string]
  const kind = scheme.toLowerCase()
  if (kind !== "ldap" && kind !== "ldaps") return `has scheme ${scheme}://, expected ldap:// or ldaps://`
  if (authority.includes("@")) return "carries a user name or password; use LDAP_BIND_DN and LDAP_BIND_PASSWORD"
  if (rest !== "" && rest !== "/") return `has ${JSON.stringify(rest)} after the host; only ldap[s]://host:port is read`
  const hostPort = /^(?:\[([^\]]*)\]|([^:[\]]*))(?::([^:]*))?$/.exec(authority)
  if (hostPort === null) return "has no valid host[:port]"
  const bracketed = hostPort[1] !== undefined
  const host = hostPort[1] ?? hostPort[2] ?? ""
  if (bracketed ? !Net.isIPv6(host) : !(Net.isIPv4(host) || hostName.test(host))) {
    return host === "" ? "has no host" : `has host ${JSON.stringify(host)}, which is not a host name or IP address`
  }
  const portText = hostPort[3]
  const port = portText === undefined ? defaultPorts[kind] : /^\d{1,5}$/.test(portText) ? Number(portText) : NaN
  if (!(port >= 1 && port <= 65535)) return `has port ${JSON.stringify(portText)}, expected 1-65535`
  return { url, host, port, secure: kind === "ldaps", authority: `${bracketed ? `[${host}]` : host}:${port}` }
}

/** For a URL already checked by `parse` (the options were checked at construction). */
export const parseUnsafe = (raw: string): LdapUrl => {
  const result = parse(raw)
  if (typeof result === "string") throw new Error(`LDAP URL ${JSON.stringify(raw)} ${result}`)
  return result
}
