import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { TestClock } from "effect/testing"
import * as RateLimiter from "../src/RateLimiter.ts"
import * as RateLimiterStore from "../src/RateLimiterStore.ts"

const limits = (overrides: Partial<RateLimiter.Options> = {}): RateLimiter.Options => ({
  perAddress: { failures: 5, window: "1 minute" },
  perUserAndAddress: { failures: 3, window: "5 minutes" },
  perUser: { failures: 10, window: "15 minutes" },
  familiarFor: "30 days",
  ...overrides
})

const make = (options: RateLimiter.Options, store: RateLimiterStore.MemoryOptions = {}) =>
  Effect.provideServiceEffect(RateLimiter.make(options), RateLimiterStore.RateLimiterStore, RateLimiterStore.makeMemory(store))

const aliceDn = "uid=alice,ou=people,dc=example,dc=org"

/** One wrong password: admitted or not, and whether the entry's budget let the password be tried. */
const fail = (limiter: RateLimiter.RateLimiter["Service"], clientIp: string, user = "alice", dn = aliceDn) =>
  Effect.gen(function*() {
    const ticket = yield* limiter.attempt({ clientIp, user })
    if (ticket === undefined) return "refused" as const
    return (yield* ticket.entry(dn)) ? "tried" as const : "entry refused" as const
  })

const succeed = (limiter: RateLimiter.RateLimiter["Service"], clientIp: string, user = "alice", dn = aliceDn) =>
  Effect.gen(function*() {
    const ticket = yield* limiter.attempt({ clientIp, user })
    if (ticket === undefined || !(yield* ticket.entry(dn))) return false
    yield* ticket.succeeded
    return true
  })

const times = <A>(n: number, effect: (i: number) => Effect.Effect<A>) =>
  Effect.forEach(Array.from({ length: n }, (_, i) => i), effect)

describe("RateLimiter", () => {
  it.effect("refuses an address after its failures until the window ends; other addresses go on", () =>
    Effect.gen(function*() {
      const limiter = yield* make(limits())
      const results = yield* times(6, (i) => fail(limiter, "198.51.100.9", `user${i}`, `uid=user${i}`))
      assert.deepStrictEqual(results, ["tried", "tried", "tried", "tried", "tried", "refused"])
      assert.strictEqual(yield* fail(limiter, "198.51.100.10", "x", "uid=x"), "tried")
      yield* TestClock.adjust("1 minute")
      assert.strictEqual(yield* fail(limiter, "198.51.100.9", "x", "uid=x"), "tried")
    }))

  it.effect("an address over its limit costs nothing: no key, no count against any user", () =>
    Effect.gen(function*() {
      const limiter = yield* make(limits({ perUser: { failures: 3, window: "15 minutes" } }))
      yield* times(5, (i) => fail(limiter, "198.51.100.9", `user${i}`, `uid=user${i}`))
      const flood = yield* times(1000, () => fail(limiter, "198.51.100.9"))
      assert.isTrue(flood.every((result) => result === "refused"))
      // alice's whole budget is still there.
      assert.deepStrictEqual(yield* times(4, (i) => fail(limiter, `203.0.113.${i}`)), [
        "tried",
        "tried",
        "tried",
        "entry refused"
      ])
    }))

  it.effect("counts a user per address by name before the directory answers and by DN once it has", () =>
    Effect.gen(function*() {
      const limiter = yield* make(limits({ perAddress: { failures: 100, window: "1 minute" } }))
      // Three spellings the directory maps to one entry share the entry's budget from this address...
      assert.deepStrictEqual(yield* Effect.forEach(["alice", "ALICE", "al\u0130ce"], (user) => fail(limiter, "198.51.100.9", user)), [
        "tried",
        "tried",
        "tried"
      ])
      assert.strictEqual(yield* fail(limiter, "198.51.100.9", "Alice"), "entry refused")
      // ...and a spelling that was refused by name never reaches the directory.
      assert.strictEqual(yield* fail(limiter, "198.51.100.9", "alice"), "refused")
      assert.strictEqual(yield* fail(limiter, "198.51.100.10", "alice"), "tried")
    }))

  it.effect("failures from elsewhere never refuse a user at an address she logged in from", () =>
    Effect.gen(function*() {
      const limiter = yield* make(limits())
      assert.isTrue(yield* succeed(limiter, "198.51.100.7"))
      // An attack from 20 addresses spends alice's total budget...
      const attack = yield* times(20, (i) => times(3, () => fail(limiter, `203.0.113.${i}`)))
      assert.strictEqual(attack.flat().filter((result) => result === "tried").length, 10)
      assert.strictEqual(yield* fail(limiter, "192.0.2.1"), "entry refused")
      // ...but not at her familiar address, where she still gets in, again and again.
      assert.isTrue(yield* succeed(limiter, "198.51.100.7"))
      assert.isTrue(yield* succeed(limiter, "198.51.100.7"))
      // Familiarity ends after familiarFor without a new success (and the attack's window ended long before).
      yield* TestClock.adjust("31 days")
      yield* times(10, (i) => fail(limiter, `203.0.113.${i}`))
      assert.isFalse(yield* succeed(limiter, "198.51.100.7"))
    }))

  it.effect("guessing from a familiar address is still bounded per user and address", () =>
    Effect.gen(function*() {
      const limiter = yield* make(limits())
      assert.isTrue(yield* succeed(limiter, "198.51.100.7"))
      assert.deepStrictEqual(yield* times(4, () => fail(limiter, "198.51.100.7")), ["tried", "tried", "tried", "refused"])
    }))

  it.effect("a right password clears the user's failures at that address and gives the address its hit back", () =>
    Effect.gen(function*() {
      const limiter = yield* make(limits())
      yield* times(2, () => fail(limiter, "198.51.100.9"))
      assert.isTrue(yield* succeed(limiter, "198.51.100.9"))
      // alice has her three again; the address has 5 - 2 left (the right one was given back, the failures not).
      assert.deepStrictEqual(yield* times(3, () => fail(limiter, "198.51.100.9")), ["tried", "tried", "tried"])
      assert.strictEqual(yield* fail(limiter, "198.51.100.9", "bob", "uid=bob"), "refused")
    }))

  it.effect("an abandoned attempt (no answer from the directory) counts nothing", () =>
    Effect.gen(function*() {
      const limiter = yield* make(limits({ perAddress: { failures: 1, window: "1 minute" } }))
      for (let i = 0; i < 10; i++) {
        const ticket = yield* limiter.attempt({ clientIp: "198.51.100.9", user: "alice" })
        assert.isDefined(ticket)
        assert.isTrue(yield* ticket!.entry(aliceDn))
        yield* ticket!.abandoned
      }
      assert.strictEqual(yield* fail(limiter, "198.51.100.9"), "tried")
      assert.strictEqual(yield* fail(limiter, "198.51.100.9"), "refused")
    }))

  it.effect("input that failed the rules counts against the address only", () =>
    Effect.gen(function*() {
      const limiter = yield* make(limits())
      const tickets = yield* times(6, () => limiter.attempt({ clientIp: "198.51.100.9" }))
      assert.deepStrictEqual(tickets.map((ticket) => ticket !== undefined), [true, true, true, true, true, false])
      assert.strictEqual(yield* fail(limiter, "198.51.100.10"), "tried")
    }))

  it.effect("an exempt address (a webmail host) is limited per user only", () =>
    Effect.gen(function*() {
      const limiter = yield* make(limits({ exempt: ["192.0.2.0/24", "2001:db8::/32"] }))
      const many = yield* times(200, (i) => fail(limiter, "192.0.2.80", `user${i}`, `uid=user${i}`))
      assert.isTrue(many.every((result) => result === "tried"))
      assert.deepStrictEqual(yield* times(4, () => fail(limiter, "2001:db8:5::1")), ["tried", "tried", "tried", "refused"])
      yield* times(5, (i) => fail(limiter, "192.0.3.1", `user${i}`, `uid=user${i}`))
      assert.strictEqual(yield* fail(limiter, "192.0.3.1", "x", "uid=x"), "refused")
    }))

  it.effect("counts an IPv6 client by its /64 and an IPv4-mapped address as the IPv4 address", () =>
    Effect.gen(function*() {
      assert.strictEqual(RateLimiter.clientKey("2001:db8:0:1::7"), "2001:db8:0:1::/64")
      assert.strictEqual(RateLimiter.clientKey("2001:0db8:0000:0001:ffff:0:0:1"), "2001:db8:0:1::/64")
      assert.strictEqual(RateLimiter.clientKey("::1"), "0:0:0:0::/64")
      assert.strictEqual(RateLimiter.clientKey("::ffff:192.0.2.1"), "192.0.2.1")
      assert.strictEqual(RateLimiter.clientKey("192.0.2.1"), "192.0.2.1")
      assert.strictEqual(RateLimiter.clientKey("fe80::1%" + "x".repeat(4000)), "fe80:0:0:0::/64")
      assert.strictEqual(RateLimiter.clientKey("not an address"), "?")
      const limiter = yield* make(limits({ perAddress: { failures: 2, window: "1 minute" } }))
      yield* fail(limiter, "2001:db8:0:1::a", "a", "uid=a")
      yield* fail(limiter, "2001:db8:0:1:ffff::b", "b", "uid=b")
      assert.strictEqual(yield* fail(limiter, "2001:db8:0:1::c", "c", "uid=c"), "refused")
      assert.strictEqual(yield* fail(limiter, "2001:db8:0:2::c", "c", "uid=c"), "tried")
    }))

  it.effect("builds keys of a bounded size whatever the input", () =>
    Effect.sync(() => {
      const huge = "\u00bc".repeat(4096)
      const all = [
        RateLimiter.keys.address(RateLimiter.clientKey("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")),
        RateLimiter.keys.nameAndAddress(huge, "ffff:ffff:ffff:ffff::/64"),
        RateLimiter.keys.entryAndAddress(huge, "192.0.2.1"),
        RateLimiter.keys.entry(huge),
        RateLimiter.keys.familiar(huge, "192.0.2.1")
      ]
      for (const key of all) assert.isAtMost(key.length, RateLimiterStore.maxKeyLength, key)
    }))

  it.effect("a flooded store still refuses a limited address and a limited (user, address)", () =>
    Effect.gen(function*() {
      const limiter = yield* make(limits(), { maxCounters: 1000 })
      yield* times(5, (i) => fail(limiter, "198.51.100.1", `u${i}`, `uid=u${i}`))
      yield* times(3, () => fail(limiter, "198.51.100.2"))
      // 20,000 failures from 4,000 addresses under fresh names: far more keys than the store holds.
      yield* times(4000, (i) =>
        times(5, (j) => fail(limiter, `10.${i >> 8}.${i & 255}.1`, `flood${i}.${j}`, `uid=flood${i}.${j}`)))
      assert.strictEqual(yield* fail(limiter, "198.51.100.1", "x", "uid=x"), "refused")
      assert.strictEqual(yield* fail(limiter, "198.51.100.2"), "refused")
      assert.strictEqual(yield* fail(limiter, "198.51.100.3", "x", "uid=x"), "tried")
    }))

  it("refuses invalid options naming them", () => {
    const run = (options: RateLimiter.Options) => () => Effect.runSync(make(options))
    assert.throws(run(limits({ exempt: ["192.0.2.0/33"] })), /exempt .* "192\.0\.2\.0\/33"/)
    assert.throws(run(limits({ exempt: ["webmail"] })), /exempt/)
    assert.throws(run(limits({ perUser: { failures: 0, window: "1 minute" } })), /perUser\.failures .* got 0/)
  })
})
