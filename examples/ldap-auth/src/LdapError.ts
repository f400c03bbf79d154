/**
 * The one error of the LDAP client wrapper. Every failure of `ldapts` (a result code, a socket error, a timeout) is
 * mapped here once, with a `reason` that says what a caller may do about it.
 */
import { Data } from "effect"
import * as Ldapts from "ldapts"

export type LdapErrorReason =
  /** Result 49: wrong DN or password. The connection stays usable. */
  | "InvalidCredentials"
  /** Result 53, e.g. an unauthenticated bind. The connection stays usable. */
  | "UnwillingToPerform"
  /** No answer could be had: connection refused, reset or closed, or result 51/52 (busy, unavailable). */
  | "Unavailable"
  /** The operation did not finish within its timeout; the connection was destroyed. */
  | "Timeout"
  /** Any other result code, or a response that could not be parsed. */
  | "Protocol"
  /** The wrapper refused to send the request at all (an unauthenticated or SASL bind). */
  | "UnsafeRequest"
  /**
   * The connection could not be secured (certificate not trusted, wrong server name, StartTLS refused): it was
   * closed and nothing was sent on it in clear.
   */
  | "Insecure"
  /**
   * The directory refused the service account's own bind (result 49): a setting to fix (its DN or password), not
   * a fault that passes by itself. The server did answer.
   */
  | "Misconfigured"

export class LdapError extends Data.TaggedError("LdapError")<{
  readonly reason: LdapErrorReason
  readonly message: string
  /** The LDAP result code when the server answered. */
  readonly code?: number
  readonly cause?: unknown
}> {
  /** Another try, on another connection or later, may succeed. */
  get isRetryable(): boolean {
    return this.reason === "Unavailable" || this.reason === "Timeout"
  }

  /**
   * The connection is in an unknown state and must not be lent again: no LDAP result came back. A result code,
   * even a failing one such as 49 or 53, proves the connection still speaks LDAP.
   */
  get breaksConnection(): boolean {
    return (this.code === undefined && this.reason !== "UnsafeRequest") || this.reason === "Insecure"
  }
}

const reasonOfCode = (code: number): LdapErrorReason => {
  switch (code) {
    case 49:
      return "InvalidCredentials"
    case 53:
      return "UnwillingToPerform"
    case 51:
    case 52:
      return "Unavailable"
    default:
      return "Protocol"
  }
}

/** Maps whatever an `ldapts` promise rejected with. `operation` names the call for the message. */
export const fromCause = (operation: string) => (cause: unknown): LdapError => {
  if (cause instanceof Ldapts.ResultCodeError) {
    return new LdapError({ reason: reasonOfCode(cause.code), code: cause.code, message: `${operation}: ${cause.message}`, cause })
  }
  if (cause instanceof Ldapts.MessageParserError) {
    return new LdapError({ reason: "Protocol", message: `${operation}: malformed response`, cause })
  }
  const message = cause instanceof Error ? cause.message : String(cause)
  return new LdapError({ reason: "Unavailable", message: `${operation}: ${message}`, cause })
}
