/**
 * TLS to the directory against a real slapd that serves `ldaps://` and StartTLS with certificates made for the run:
 * the right password over both, and every way a connection cannot be secured refused before anything is sent in
 * clear, read back from slapd's own log.
 */
import { readFileSync } from "node:fs"
import { assert, describe, layer } from "@effect/vitest"
import { Effect, Exit, Schedule } from "effect"
import * as Slapd from "../harness/Slapd.ts"
import * as LdapAuth from "../src/LdapAuth.ts"
import * as LdapClient from "../src/LdapClient.ts"

const ca = (slapd: Slapd.SlapdInstance) => readFileSync(slapd.tls!.certificates.caFile, "utf8")
const otherCa = (slapd: Slapd.SlapdInstance) => readFileSync(slapd.tls!.certificates.otherCaFile, "utf8")

/** slapd's connection numbers that completed a TLS handshake, and those that saw a BIND. */
const tlsAndBinds = (log: string) => {
  const secured = new Set<string>()
  const bound: Array<string> = []
  for (const line of log.split("\n")) {
    const tls = /conn=(\d+) fd=\d+ TLS established/.exec(line)
    if (tls !== null) secured.add(tls[1]!)
    const bind = /conn=(\d+) op=\d+ BIND dn=/.exec(line)
    if (bind !== null) bound.push(bind[1]!)
  }
  return { secured, bound }
}

/** Logs in once with `options` and returns the outcome and what slapd logged meanwhile. */
const loginWith = (slapd: Slapd.SlapdInstance, options: Partial<LdapAuth.LdapAuthOptions>) =>
  Effect.gen(function*() {
    const before = (yield* slapd.log).length
    const exit = yield* Effect.scoped(
      Effect.flatMap(
        LdapAuth.make({ ...slapd.authOptions, ...options }),
        (auth) => auth.authenticate("alice", slapd.users.alice.password)
      )
    ).pipe(Effect.exit)
    return { exit, log: (yield* slapd.log).slice(before) }
  })

const refusedAsTemporary = (exit: Exit.Exit<unknown, { readonly reason: string }>) => {
  assert.isTrue(Exit.isFailure(exit))
  if (Exit.isFailure(exit)) {
    const error = exit.cause.reasons.find((reason) => reason._tag === "Fail")
    assert.strictEqual((error as { error: { reason: string } } | undefined)?.error.reason, "Temporary")
  }
}

describe("LDAP over TLS", () => {
  layer(Slapd.layer({ tls: true }), { excludeTestServices: true })((it) => {
    it.effect("ldaps:// with the directory's CA: alice logs in, and every bind ran on a TLS connection", () =>
      Effect.gen(function*() {
        const slapd = yield* Slapd.Slapd
        const { exit, log } = yield* loginWith(slapd, { urls: [slapd.tls!.ldapsUrl], tls: { ca: ca(slapd) } })
        assert.isTrue(Exit.isSuccess(exit))
        const { bound, secured } = tlsAndBinds(log)
        assert.isAtLeast(bound.length, 2) // the service account and alice
        for (const connection of bound) assert.isTrue(secured.has(connection), `conn=${connection} bound in clear`)
      }))

    it.effect("StartTLS on ldap://: alice logs in, and no bind is sent before the upgrade", () =>
      Effect.gen(function*() {
        const slapd = yield* Slapd.Slapd
        const { exit, log } = yield* loginWith(slapd, { tls: { startTls: true, ca: ca(slapd) } })
        assert.isTrue(Exit.isSuccess(exit))
        assert.match(log, /EXT oid=1\.3\.6\.1\.4\.1\.1466\.20037/)
        const { bound, secured } = tlsAndBinds(log)
        assert.isAtLeast(bound.length, 2)
        for (const connection of bound) assert.isTrue(secured.has(connection), `conn=${connection} bound in clear`)
      }))

    it.effect("the server name the certificate is checked against can be set, and a wrong one is refused", () =>
      Effect.gen(function*() {
        const slapd = yield* Slapd.Slapd
        const named = yield* loginWith(slapd, {
          urls: [slapd.tls!.ldapsUrl],
          tls: { ca: ca(slapd), serverName: slapd.tls!.certificates.serverName }
        })
        assert.isTrue(Exit.isSuccess(named.exit))
        for (const tls of [{ startTls: true }, {}]) {
          const wrong = yield* loginWith(slapd, {
            urls: [tls.startTls === true ? slapd.url : slapd.tls!.ldapsUrl],
            tls: { ...tls, ca: ca(slapd), serverName: "wrong.test" }
          })
          refusedAsTemporary(wrong.exit)
          assert.deepStrictEqual(tlsAndBinds(wrong.log).bound, [])
        }
      }))

    it.effect("a certificate from an unknown CA is refused over ldaps:// and StartTLS, with no bind sent", () =>
      Effect.gen(function*() {
        const slapd = yield* Slapd.Slapd
        for (const options of [
          { urls: [slapd.tls!.ldapsUrl], tls: { ca: otherCa(slapd) } },
          { urls: [slapd.tls!.ldapsUrl] }, // the system's CAs do not know the test CA either
          { tls: { startTls: true, ca: otherCa(slapd) } }
        ]) {
          const { exit, log } = yield* loginWith(slapd, options)
          refusedAsTemporary(exit)
          assert.deepStrictEqual(tlsAndBinds(log).bound, [])
        }
      }))

    it.effect("the client names why a connection could not be secured", () =>
      Effect.gen(function*() {
        const slapd = yield* Slapd.Slapd
        const connect = (url: string, tls: LdapClient.TlsOptions) =>
          Effect.scoped(LdapClient.connect({ url, connectTimeout: "1 second", operationTimeout: "1 second", tls })).pipe(
            Effect.flip
          )
        const unknownCa = yield* connect(slapd.tls!.ldapsUrl, { ca: otherCa(slapd) })
        assert.strictEqual(unknownCa.reason, "Insecure")
        assert.match(unknownCa.message, /not signed by a trusted CA/)
        const wrongName = yield* connect(slapd.url, { startTls: true, ca: ca(slapd), serverName: "wrong.test" })
        assert.strictEqual(wrongName.reason, "Insecure")
        assert.match(wrongName.message, /not for this server name/)
        assert.isTrue(wrongName.breaksConnection)
      }))

    it.effect("a TLS connection the server drops is seen as closed, like a plain one", () =>
      Effect.gen(function*() {
        const slapd = yield* Slapd.Slapd
        for (const [url, tls] of [[slapd.url, { startTls: true, ca: ca(slapd) }], [slapd.tls!.ldapsUrl, { ca: ca(slapd) }]] as const) {
          yield* Effect.scoped(Effect.gen(function*() {
            const connection = yield* LdapClient.connect({ url, connectTimeout: "1 second", operationTimeout: "1 second", tls })
            yield* LdapClient.bind(connection, slapd.serviceDn, slapd.servicePassword)
            assert.isTrue(LdapClient.isOpen(connection))
            yield* slapd.stop
            yield* Effect.sync(() => LdapClient.isOpen(connection)).pipe(
              Effect.repeat({ until: (open) => !open, schedule: Schedule.spaced("20 millis"), times: 100 })
            )
            assert.isFalse(LdapClient.isOpen(connection))
            yield* slapd.start
          }))
        }
      }))
  })

  layer(Slapd.layer(), { excludeTestServices: true })((it) => {
    it.effect("a server without StartTLS is refused, and nothing is sent in clear after the refusal", () =>
      Effect.gen(function*() {
        const slapd = yield* Slapd.Slapd
        const { exit, log } = yield* loginWith(slapd, { tls: { startTls: true } })
        refusedAsTemporary(exit)
        assert.match(log, /EXT oid=1\.3\.6\.1\.4\.1\.1466\.20037/)
        assert.deepStrictEqual(tlsAndBinds(log).bound, [])
        const error = yield* Effect.scoped(
          LdapClient.connect({ url: slapd.url, connectTimeout: "1 second", operationTimeout: "1 second", tls: { startTls: true } })
        ).pipe(Effect.flip)
        assert.strictEqual(error.reason, "Insecure")
        assert.match(error.message, /StartTLS refused/)
      }))
  })
})
