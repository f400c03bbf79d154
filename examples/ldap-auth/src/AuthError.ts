/**
 * The one error of `LdapAuth.authenticate`, classified for the caller that answers the mail server: refuse the
 * login, ask the client to retry later, or refuse input that never reached the directory.
 */
import { Data } from "effect"

export type AuthErrorReason =
  /** Unknown user, ambiguous user or wrong password: deliberately indistinguishable. */
  | "InvalidCredentials"
  /** The directory is down, slow or refused to work: the login may succeed later. */
  | "Temporary"
  /** The user name or password broke an input rule (empty, too long, control characters, malformed Unicode). */
  | "RejectedInput"
  /** The rate limiter spent the entry's budget: the password was not tried. */
  | "RateLimited"
  /**
   * The directory refused the service account: no login can succeed until its DN or password is fixed. Answer
   * it like `Temporary` (a right password must not read as wrong), but log it as the setting it is.
   */
  | "Misconfigured"

export class AuthError extends Data.TaggedError("AuthError")<{
  readonly reason: AuthErrorReason
  readonly message: string
  readonly cause?: unknown
}> {
  /** The same login may succeed later. */
  get isRetryable(): boolean {
    return this.reason === "Temporary"
  }
}
