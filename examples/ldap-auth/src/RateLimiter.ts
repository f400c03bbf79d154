/**
 * Failed-login limits per client (IPv4 address or IPv6 /64) and per user, checked before any LDAP traffic so that a password-guessing
 * run costs the directory nothing once it trips. Only failures count: a busy webmail host that logs in many
 * users from one address is never limited by its successes.
 *
 * Users are counted by their canonical form (Unicode-compatibility normalised, case-folded, runs of spaces
 * collapsed, trimmed), the way LDAP's caseIgnoreMatch compares `uid`, so `Alice`, ` alice ` and `ALICE` share
 * one budget. Fixed windows on the Effect `Clock`, so `TestClock` drives them; memory is bounded by `maxKeys`.
 */
import * as Net from "node:net"
import { Clock, Context, Duration, Effect, Layer } from "effect"

export interface Limit {
  /** Failures allowed within `window`; the next attempt is refused until the window ends. */
  readonly failures: number
  readonly window: Duration.Input
}

export interface Options {
  readonly perIp: Limit
  readonly perUser: Limit
  /** Keys remembered at most; the oldest window is forgotten first. */
  readonly maxKeys?: number | undefined
}

export const defaultOptions: Options = {
  perIp: { failures: 50, window: "1 minute" },
  perUser: { failures: 10, window: "5 minutes" },
  maxKeys: 100_000
}

export interface Attempt {
  readonly clientIp: string
  readonly user: string
}

export class RateLimiter extends Context.Service<RateLimiter, {
  /** Whether this attempt may go to LDAP at all. */
  readonly allows: (attempt: Attempt) => Effect.Effect<boolean>
  /** Counts a refused login against the address and the user. */
  readonly recordFailure: (attempt: Attempt) => Effect.Effect<void>
  /** Clears the user's failures (not the address's: one right password must not reset a scan). */
  readonly recordSuccess: (attempt: Attempt) => Effect.Effect<void>
}>()("effect-connection-pool/examples/RateLimiter") {}

/**
 * What one client controls: an IPv4 address, or an IPv6 /64 (a single host is commonly handed a whole /64, so
 * counting single IPv6 addresses would give it 2^64 budgets). IPv4-mapped IPv6 counts as the IPv4 address.
 */
export const clientKey = (ip: string): string => {
  if (Net.isIPv6(ip)) {
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip)
    if (mapped) return mapped[1]!
    const [head = "", tail = ""] = ip.toLowerCase().split("::")
    const groups = (part: string) => (part === "" ? [] : part.split(":"))
    const known = [...groups(head), ...groups(tail)].length
    const full = ip.includes("::")
      ? [...groups(head), ...Array<string>(8 - known).fill("0"), ...groups(tail)]
      : groups(head)
    return `${full.slice(0, 4).map((group) => group.replace(/^0+(?=.)/, "")).join(":")}::/64`
  }
  return ip
}

/** The form LDAP compares a `uid` in: `canonicalUser(" ALICE ") === canonicalUser("alice")`. */
export const canonicalUser = (user: string): string => user.normalize("NFKC").toLowerCase().trim().replace(/\s+/gu, " ")

interface Window {
  readonly start: number
  failures: number
}

const validate = (name: string, limit: Limit) => {
  if (!Number.isSafeInteger(limit.failures) || limit.failures < 1) {
    throw new RangeError(`RateLimiter: ${name}.failures must be a positive integer, got ${limit.failures}`)
  }
  return Duration.toMillis(limit.window)
}

export const make = (options: Options = defaultOptions): Effect.Effect<Context.Service.Shape<typeof RateLimiter>> =>
  Effect.sync(() => {
    const ipWindow = validate("perIp", options.perIp)
    const userWindow = validate("perUser", options.perUser)
    const maxKeys = options.maxKeys ?? 100_000
    const windows = new Map<string, Window>()

    const keys = (attempt: Attempt) =>
      [
        { key: `ip ${clientKey(attempt.clientIp)}`, limit: options.perIp.failures, length: ipWindow },
        { key: `user ${canonicalUser(attempt.user)}`, limit: options.perUser.failures, length: userWindow }
      ] as const

    const current = (key: string, length: number, now: number) => {
      const window = windows.get(key)
      if (window === undefined) return undefined
      if (now - window.start < length) return window
      windows.delete(key)
      return undefined
    }

    const remember = (key: string, now: number) => {
      if (windows.size >= maxKeys) {
        const oldest = windows.keys().next()
        if (!oldest.done) windows.delete(oldest.value)
      }
      const window = { start: now, failures: 0 }
      windows.set(key, window)
      return window
    }

    return RateLimiter.of({
      allows: (attempt) =>
        Effect.map(Clock.currentTimeMillis, (now) =>
          keys(attempt).every(({ key, limit, length }) => (current(key, length, now)?.failures ?? 0) < limit)),
      recordFailure: (attempt) =>
        Effect.map(Clock.currentTimeMillis, (now) => {
          for (const { key, length } of keys(attempt)) {
            const window = current(key, length, now) ?? remember(key, now)
            window.failures++
          }
        }),
      recordSuccess: (attempt) => Effect.sync(() => void windows.delete(keys(attempt)[1].key))
    })
  })

export const layer = (options: Options = defaultOptions): Layer.Layer<RateLimiter> =>
  Layer.effect(RateLimiter, make(options))
