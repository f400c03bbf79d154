/**
 * Input rules applied before any LDAP traffic. They keep what reaches the directory small and printable, and they
 * refuse the empty password, which RFC 4513 makes an unauthenticated bind that some servers accept as a success.
 * A user name with outer spaces is refused too: LDAP matching ignores them, so `"alice "` would log in as alice
 * under a name that is not hers.
 */
import { Effect, Redacted } from "effect"
import { AuthError } from "../AuthError.ts"

export const maxUserBytes = 256
export const maxPasswordBytes = 1024

// C0 controls (NUL included), DEL and C1 controls.
const controlCharacter = /[\u0000-\u001f\u007f-\u009f]/
// A lone surrogate (a string that is not valid UTF-16, so has no UTF-8 form) or U+FFFD, the mark a decoder leaves
// where the bytes were not UTF-8.
const notUtf8 = /[\p{Cs}\uFFFD]/u

const problem = (value: string, maxBytes: number): string | undefined => {
  if (value === "") return "is empty"
  if (Buffer.byteLength(value, "utf8") > maxBytes) return `is longer than ${maxBytes} bytes`
  if (controlCharacter.test(value)) return "contains a control character"
  if (notUtf8.test(value)) return "is not valid UTF-8"
  return undefined
}

const rejected = (what: string, reason: string) =>
  new AuthError({ reason: "RejectedInput", message: `${what} ${reason}` })

/** The `RejectedInput` error naming the first rule broken (never the value), or undefined. */
export const rejection = (user: string, password: Redacted.Redacted<string>): AuthError | undefined => {
  const userProblem = problem(user, maxUserBytes) ?? (user.trim() !== user ? "has leading or trailing spaces" : undefined)
  if (userProblem !== undefined) return rejected("user", userProblem)
  const passwordProblem = problem(Redacted.value(password), maxPasswordBytes)
  if (passwordProblem !== undefined) return rejected("password", passwordProblem)
  return undefined
}

/** Fails with `RejectedInput` naming the rule, never the value. */
export const check = (user: string, password: Redacted.Redacted<string>): Effect.Effect<void, AuthError> => {
  const error = rejection(user, password)
  return error === undefined ? Effect.void : Effect.fail(error)
}
