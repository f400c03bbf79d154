/**
 * Failed-login limits, the way "smart lockout" does it: one call per attempt, made before LDAP is asked, checks
 * and counts it in one atomic step on the `RateLimiterStore`, so a guess is counted before its answer is known
 * and given back if the password was right or the directory did not answer.
 *
 * What is limited (each a fixed window on the store, see `defaultOptions`):
 * - per client address (an IPv4 address or an IPv6 /64), unless the address is `exempt` (a webmail host);
 * - per user and address, by the checked name before the directory answers and by the entry's DN once it has;
 * - per user in total, from addresses that are not familiar: an address is familiar to a user for `familiarFor`
 *   after a right password from it, and failures from elsewhere never refuse that user there.
 *
 * An attempt refused by any limit counts nothing, so an address over its limit cannot create keys or count
 * against users. Keys are built from checked input only and hashed to a fixed size.
 */
import * as Crypto from "node:crypto"
import * as Net from "node:net"
import { Context, Duration, Effect, Layer } from "effect"
import * as RateLimiterStore from "./RateLimiterStore.ts"

export interface Limit {
  /** Failures allowed within `window`; the next attempt is refused until the window ends. */
  readonly failures: number
  readonly window: Duration.Input
}

export interface Options {
  readonly perAddress: Limit
  /** Per user and client address: bounds guessing from one place, even a familiar one. */
  readonly perUserAndAddress: Limit
  /** Per user, over every address the user is not familiar from: bounds guessing in total. */
  readonly perUser: Limit
  /** How long a right password makes its address familiar to the user. */
  readonly familiarFor: Duration.Input
  /** CIDRs (`192.0.2.0/24`, `2001:db8::/48`, a bare address) limited per user only, never per address. */
  readonly exempt?: ReadonlyArray<string> | undefined
}

export const defaultOptions: Options = {
  perAddress: { failures: 50, window: "1 minute" },
  perUserAndAddress: { failures: 10, window: "5 minutes" },
  perUser: { failures: 50, window: "15 minutes" },
  familiarFor: "30 days"
}

export interface Attempt {
  readonly clientIp: string
  /** The name as given, once it passed the input rules; `undefined` counts the attempt against the address only. */
  readonly user?: string | undefined
}

/** An attempt the limits let through, already counted as a failure until it is settled. */
export interface Ticket {
  /**
   * Once the directory has named the entry, before the password is tried: checks and counts the entry's
   * budgets. `false` (nothing more counted) means the password must not be tried.
   */
  readonly entry: (dn: string) => Effect.Effect<boolean>
  /** The right password: gives the hits back, clears the user's failures from this address, marks it familiar. */
  readonly succeeded: Effect.Effect<void>
  /** No answer from the directory: the attempt is taken back as if it never happened. */
  readonly abandoned: Effect.Effect<void>
}

export class RateLimiter extends Context.Service<RateLimiter, {
  /** Checks and counts one attempt before LDAP; `undefined` means refused, with nothing counted. */
  readonly attempt: (attempt: Attempt) => Effect.Effect<Ticket | undefined>
}>()("effect-connection-pool/examples/RateLimiter") {}

/**
 * What one client controls: an IPv4 address, or an IPv6 /64 (a single host is commonly handed a whole /64, so
 * counting single IPv6 addresses would give it 2^64 budgets). IPv4-mapped IPv6 counts as the IPv4 address;
 * anything that is not an IP address shares one key.
 */
export const clientKey = (ip: string): string => {
  const address = ip.replace(/%.*$/s, "")
  if (Net.isIPv4(address)) return address
  if (!Net.isIPv6(address)) return "?"
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)
  if (mapped) return mapped[1]!
  const [head = "", tail = ""] = address.toLowerCase().split("::")
  const groups = (part: string) => (part === "" ? [] : part.split(":"))
  const known = [...groups(head), ...groups(tail)].length
  const full = address.includes("::")
    ? [...groups(head), ...Array<string>(8 - known).fill("0"), ...groups(tail)]
    : groups(head)
  return `${full.slice(0, 4).map((group) => group.replace(/^0+(?=.)/, "")).join(":")}::/64`
}

/** The form LDAP compares a `uid` in, near enough: `canonicalUser(" ALICE ") === canonicalUser("alice")`. */
export const canonicalUser = (user: string): string => user.normalize("NFKC").toLowerCase().trim().replace(/\s+/gu, " ")

const digestOptions = { outputEncoding: "base64url", outputLength: 16 } as const

/**
 * A fixed-size stand-in for attacker-influenced parts of a key: 128 bits of SHAKE256 in 22 characters, a flat
 * string of its own (a slice of a longer digest would keep the whole digest alive in the store).
 */
const digest = (...parts: ReadonlyArray<string>) => Crypto.hash("shake256", parts.join("\n"), digestOptions)

/** The keys of an entry seen from a client, with two digests: the per-address key and the marker share one. */
const entryKeys = (dn: string, client: string) => {
  const lower = dn.toLowerCase()
  const withClient = digest(lower, client)
  return { entryAndAddress: `e ${withClient}`, entry: `u ${digest(lower)}`, familiar: `f ${withClient}` }
}

/** The store keys of one attempt, each at most `RateLimiterStore.maxKeyLength` characters. */
export const keys = {
  address: (client: string) => `a ${client}`,
  nameAndAddress: (user: string, client: string) => `n ${digest(canonicalUser(user), client)}`,
  entryAndAddress: (dn: string, client: string) => entryKeys(dn, client).entryAndAddress,
  entry: (dn: string) => `u ${digest(dn.toLowerCase())}`,
  familiar: (dn: string, client: string) => entryKeys(dn, client).familiar
}

const counter = (name: string, limit: Limit): Omit<RateLimiterStore.Counter, "key"> => {
  if (!Number.isSafeInteger(limit.failures) || limit.failures < 1) {
    throw new RangeError(`RateLimiter: ${name}.failures must be a positive integer, got ${limit.failures}`)
  }
  const window = Duration.fromInputUnsafe(limit.window)
  if (Duration.toMillis(window) <= 0) {
    throw new RangeError(`RateLimiter: ${name}.window must be positive, got ${Duration.format(window)}`)
  }
  return { limit: limit.failures, window }
}

/** Parses CIDRs into a `BlockList`; a malformed one is a `RangeError` naming it. */
export const exemptList = (cidrs: ReadonlyArray<string>): Net.BlockList => {
  const list = new Net.BlockList()
  for (const cidr of cidrs) {
    const [address = "", prefix, ...rest] = cidr.split("/")
    const family = Net.isIPv4(address) ? "ipv4" : Net.isIPv6(address) ? "ipv6" : undefined
    const bits = prefix === undefined ? (family === "ipv4" ? 32 : 128) : Number(prefix)
    if (
      family === undefined || rest.length > 0 || (prefix !== undefined && !/^\d+$/.test(prefix)) ||
      bits > (family === "ipv4" ? 32 : 128)
    ) {
      throw new RangeError(`RateLimiter: exempt must be CIDRs such as 192.0.2.0/24, got ${JSON.stringify(cidr)}`)
    }
    list.addSubnet(address, bits, family)
  }
  return list
}

const isExempt = (list: Net.BlockList, ip: string) => {
  const address = ip.replace(/%.*$/s, "")
  const family = Net.isIPv4(address) ? "ipv4" : Net.isIPv6(address) ? "ipv6" : undefined
  return family !== undefined && list.check(address, family)
}

/** The policy over the `RateLimiterStore` in context. Invalid options are a defect naming the option. */
export const make = (options: Options = defaultOptions): Effect.Effect<
  Context.Service.Shape<typeof RateLimiter>,
  never,
  RateLimiterStore.RateLimiterStore
> =>
  Effect.gen(function*() {
    const store = yield* RateLimiterStore.RateLimiterStore
    const { perAddress, perUserAndAddress, perUser, exempt, familiarFor } = yield* Effect.sync(() => ({
      perAddress: counter("perAddress", options.perAddress),
      perUserAndAddress: counter("perUserAndAddress", options.perUserAndAddress),
      perUser: counter("perUser", options.perUser),
      exempt: exemptList(options.exempt ?? []),
      familiarFor: Duration.fromInputUnsafe(options.familiarFor)
    }))

    const ticketFor = (client: string, counted: Array<string>): Ticket => {
      // The entry's familiar marker, once `entry` counted it: the key `succeeded` marks.
      let familiarKey: string | undefined
      return {
        entry: (entryDn) =>
          Effect.suspend(() => {
            const { entry, entryAndAddress, familiar } = entryKeys(entryDn, client)
            return Effect.map(store.consume([
              { key: entryAndAddress, ...perUserAndAddress },
              { key: entry, ...perUser, waivedBy: familiar }
            ]), (result) => {
              if (result._tag === "Refused") return false
              familiarKey = familiar
              counted.push(entryAndAddress, entry)
              return true
            })
          }),
        succeeded: Effect.suspend(() =>
          store.settle({
            refund: counted.filter((key) => key.startsWith("a ") || key.startsWith("u ")),
            reset: counted.filter((key) => key.startsWith("n ") || key.startsWith("e ")),
            mark: familiarKey === undefined ? undefined : { key: familiarKey, ttl: familiarFor }
          })
        ),
        abandoned: Effect.suspend(() => store.settle({ refund: counted }))
      }
    }

    const attempt = (attempt: Attempt): Effect.Effect<Ticket | undefined> =>
      Effect.suspend(() => {
        const client = clientKey(attempt.clientIp)
        const first: Array<RateLimiterStore.Counter> = []
        if (!isExempt(exempt, attempt.clientIp)) first.push({ key: keys.address(client), ...perAddress })
        if (attempt.user !== undefined) {
          first.push({ key: keys.nameAndAddress(attempt.user, client), ...perUserAndAddress })
        }
        return Effect.map(store.consume(first), (result) =>
          result._tag === "Refused" ? undefined : ticketFor(client, first.map((each) => each.key)))
      })

    return RateLimiter.of({ attempt })
  })

/** The policy as a layer over a `RateLimiterStore` (`RateLimiterStore.layerMemory`, or a shared one). */
export const layer = (
  options: Options = defaultOptions
): Layer.Layer<RateLimiter, never, RateLimiterStore.RateLimiterStore> => Layer.effect(RateLimiter, make(options))

/** The policy over its own in-memory store: one auth server. */
export const layerMemory = (
  options: Options = defaultOptions,
  store: RateLimiterStore.MemoryOptions = {}
): Layer.Layer<RateLimiter> => layer(options).pipe(Layer.provide(RateLimiterStore.layerMemory(store)))
