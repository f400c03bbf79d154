/**
 * nginx's mail `auth_http` protocol (nginx 1.22): decoding the request nginx sends for every login attempt and
 * encoding the answer. Pure functions, no I/O, so the rules that decide who gets in can be tested byte by byte.
 *
 * The rules that matter: nginx ignores the HTTP status and body and reads only the headers; a response with
 * `Auth-Server` and `Auth-Port` but no `Auth-Status` counts as success, so `encodeResponse` never emits one
 * without the other; `Auth-User`/`Auth-Pass` arrive with only space, `%` and bytes 0x00–0x1F percent-escaped,
 * so decoding is `%XX` only (a `+` stays a `+`) followed by strict UTF-8.
 */
import * as Net from "node:net"
import { Data, Redacted, Result } from "effect"

/** The mail protocols nginx proxies. */
export type MailProtocol = "imap" | "pop3" | "smtp"

export const mailProtocols: ReadonlyArray<MailProtocol> = ["imap", "pop3", "smtp"]

/** One login attempt, as nginx describes it. */
export interface AuthRequest {
  /** `plain`, `apop`, `cram-md5`, `external` or `none`; only `plain` carries a password we can check. */
  readonly method: string
  readonly user: string
  readonly password: Redacted.Redacted<string>
  readonly protocol: MailProtocol
  /** 1 for the first attempt on a connection, then 2, 3, … while nginx lets the client retry. */
  readonly attempt: number
  readonly clientIp: string
}

/** Why a request could not be decoded; every one of them is answered like a wrong password. */
export class AuthHttpProtocolError extends Data.TaggedError("AuthHttpProtocolError")<{
  readonly reason: "MissingHeader" | "BadEncoding" | "BadValue"
  readonly header: string
}> {
  override get message() {
    return `${this.reason}: ${this.header}`
  }
}

/** Where nginx should proxy an accepted login: an IP literal (nginx does not resolve names here) and a port. */
export interface Backend {
  readonly host: string
  readonly port: number
}

/** The answer to one attempt. */
export type AuthResponse =
  | {
    readonly _tag: "Accept"
    readonly backend: Backend
    /** The directory's own name for the user, sent as `Auth-User` so the backend sees it, not what was typed. */
    readonly user?: string | undefined
  }
  | {
    readonly _tag: "Reject"
    /** Shown to the mail client as is. */
    readonly status: string
    /** Seconds nginx waits before it lets the client retry; without it nginx closes the connection. */
    readonly waitSeconds?: number | undefined
    /** SMTP reply code and enhanced status, e.g. `535 5.7.8`; only SMTP uses it. */
    readonly errorCode?: string | undefined
  }

/** nginx reads at most this many bytes of response headers. */
export const maxResponseHeaderBytes = 1024

const utf8 = new TextDecoder("utf-8", { fatal: true })

const hex = (code: number) =>
  code >= 0x30 && code <= 0x39 ? code - 0x30 : code >= 0x41 && code <= 0x46 ? code - 0x37 : code >= 0x61 && code <= 0x66
  ? code - 0x57
  : -1

/**
 * Decodes an `Auth-User`/`Auth-Pass` value: `%XX` escapes to bytes, every other character is the byte it came
 * as (Node hands header bytes over as latin1), then strict UTF-8. `undefined` for a malformed escape, a
 * character above 0xFF, or bytes that are not UTF-8.
 */
export const decodeValue = (raw: string): string | undefined => {
  let plain = true
  for (let i = 0; i < raw.length && plain; i++) {
    const code = raw.charCodeAt(i)
    plain = code !== 0x25 && code < 0x80
  }
  // ASCII without escapes (most names and passwords) is already its own UTF-8 decoding.
  if (plain) return raw
  const bytes = new Uint8Array(raw.length)
  let length = 0
  for (let i = 0; i < raw.length; i++) {
    const code = raw.charCodeAt(i)
    if (code === 0x25) {
      const high = hex(raw.charCodeAt(i + 1))
      const low = hex(raw.charCodeAt(i + 2))
      if (high < 0 || low < 0) return undefined
      bytes[length++] = high * 16 + low
      i += 2
    } else if (code > 0xff) {
      return undefined
    } else {
      bytes[length++] = code
    }
  }
  try {
    return utf8.decode(bytes.subarray(0, length))
  } catch {
    return undefined
  }
}

const isMailProtocol = (value: string): value is MailProtocol => (mailProtocols as ReadonlyArray<string>).includes(value)

const failure = (reason: AuthHttpProtocolError["reason"], header: string) =>
  Result.fail(new AuthHttpProtocolError({ reason, header }))

/** Reads the request headers (names lower-cased, as Node gives them); the first problem found is the failure. */
export const decodeRequest = (
  headers: Readonly<Record<string, string | undefined>>
): Result.Result<AuthRequest, AuthHttpProtocolError> => {
  const method = headers["auth-method"]
  if (method === undefined) return failure("MissingHeader", "auth-method")
  const protocol = headers["auth-protocol"]?.toLowerCase()
  if (protocol === undefined) return failure("MissingHeader", "auth-protocol")
  if (!isMailProtocol(protocol)) return failure("BadValue", "auth-protocol")
  const rawUser = headers["auth-user"]
  if (rawUser === undefined) return failure("MissingHeader", "auth-user")
  const user = decodeValue(rawUser)
  if (user === undefined) return failure("BadEncoding", "auth-user")
  const rawPassword = headers["auth-pass"]
  if (rawPassword === undefined) return failure("MissingHeader", "auth-pass")
  const password = decodeValue(rawPassword)
  if (password === undefined) return failure("BadEncoding", "auth-pass")
  const attempt = Number(headers["auth-login-attempt"] ?? "1")
  const clientIp = headers["client-ip"]?.trim()
  if (clientIp === undefined) return failure("MissingHeader", "client-ip")
  if (Net.isIP(clientIp) === 0) return failure("BadValue", "client-ip")
  return Result.succeed({
    method: method.toLowerCase(),
    user,
    password: Redacted.make(password),
    protocol,
    attempt: Number.isSafeInteger(attempt) && attempt > 0 ? attempt : 1,
    clientIp
  })
}

/** What a client sees for every refusal, whatever the reason: the reasons are for the log, not for guessers. */
export const invalidStatus = "Invalid login or password"

/** What a client sees when the directory is down or slow. */
export const temporaryStatus = "Temporary server problem, try again later"

const smtpCodes = { invalid: "535 5.7.8", temporary: "451 4.3.0" } as const

/**
 * How long nginx should hold the client before its next try: grows with the attempt number up to `maxWait`
 * seconds, and is dropped after `maxAttempts` so that nginx closes the connection instead.
 */
export const retryWait = (
  attempt: number,
  options: { readonly maxAttempts: number; readonly maxWaitSeconds: number }
): number | undefined => (attempt >= options.maxAttempts ? undefined : Math.min(attempt, options.maxWaitSeconds))

/** A refusal with the right text and, for SMTP, the right reply code. */
export const reject = (
  kind: "invalid" | "temporary",
  request: { readonly protocol: MailProtocol; readonly attempt: number },
  options: { readonly maxAttempts: number; readonly maxWaitSeconds: number }
): AuthResponse => ({
  _tag: "Reject",
  status: kind === "invalid" ? invalidStatus : temporaryStatus,
  waitSeconds: retryWait(request.attempt, options),
  errorCode: request.protocol === "smtp" ? smtpCodes[kind] : undefined
})

const safe = (value: string) => /^[\x20-\x7e]*$/.test(value)

/**
 * Whether a login name can go back to nginx in `Auth-User`: printable ASCII without spaces. nginx copies the
 * value to the backend's LOGIN / USER / XCLIENT as is, with no unescaping.
 */
export const isHeaderSafe = (value: string): boolean => /^[\x21-\x7e]{1,256}$/.test(value)

/**
 * The response headers for an answer. A backend that is not an IP literal, a user name that is not `isHeaderSafe`, a status with bytes nginx would
 * choke on, or headers over 1024 bytes turn into a temporary refusal: the function never lets a malformed
 * answer through, and never emits `Auth-Server` without `Auth-Status: OK`.
 */
export const encodeResponse = (response: AuthResponse): Record<string, string> => {
  const headers: Record<string, string> = response._tag === "Accept"
    ? Net.isIP(response.backend.host) !== 0 && Number.isInteger(response.backend.port) && response.backend.port > 0 &&
        response.backend.port < 65536
        && (response.user === undefined || isHeaderSafe(response.user))
      ? {
        "Auth-Status": "OK",
        "Auth-Server": response.backend.host,
        "Auth-Port": String(response.backend.port),
        ...(response.user === undefined ? {} : { "Auth-User": response.user })
      }
      : { "Auth-Status": temporaryStatus }
    : {
      "Auth-Status": safe(response.status) && response.status !== "OK" ? response.status : temporaryStatus,
      ...(response.waitSeconds !== undefined && response.waitSeconds >= 1
        ? { "Auth-Wait": String(Math.floor(response.waitSeconds)) }
        : {}),
      ...(response.errorCode !== undefined && safe(response.errorCode) ? { "Auth-Error-Code": response.errorCode } : {})
    }
  const size = Object.entries(headers).reduce((total, [name, value]) => total + name.length + value.length + 4, 0)
  // Half the budget: the status line and the headers Node adds (Date, Connection, Content-Length) need the rest.
  return size <= maxResponseHeaderBytes / 2 ? headers : { "Auth-Status": temporaryStatus }
}
