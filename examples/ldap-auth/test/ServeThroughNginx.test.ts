/**
 * `main.ts serve` as a child process with its default limits, behind a real nginx mail proxy, Dovecot and an
 * SMTP backend, against slapd: what a name typed in another spelling does, seen from the mail client's side of
 * nginx and from the backends'.
 */
import { assert, layer } from "@effect/vitest"
import { Context, Effect, Layer, Redacted, Schedule } from "effect"
import * as DovecotServer from "../harness/DovecotServer.ts"
import * as MailClient from "../harness/MailClient.ts"
import * as NginxServer from "../harness/NginxServer.ts"
import * as ServeProcess from "../harness/ServeProcess.ts"
import * as Slapd from "../harness/Slapd.ts"
import * as SmtpBackend from "../harness/SmtpBackend.ts"

const invalid = "Invalid login or password"

class Chain extends Context.Service<Chain, {
  readonly slapd: Slapd.SlapdInstance
  readonly nginx: NginxServer.NginxInstance
  readonly dovecot: DovecotServer.DovecotInstance
}>()("effect-connection-pool/examples/test/ServeThroughNginx") {}

const chain = Layer.effect(
  Chain,
  Effect.gen(function*() {
    const [slapd, dovecot, smtp] = yield* Effect.all([Slapd.make(), DovecotServer.make, SmtpBackend.make], {
      concurrency: "unbounded"
    })
    const secret = crypto.randomUUID()
    const serve = yield* ServeProcess.make(slapd, {
      env: {
        AUTH_SHARED_SECRET: secret,
        MAIL_BACKEND_IMAP: `127.0.0.1:${dovecot.imapPort}`,
        MAIL_BACKEND_POP3: `127.0.0.1:${dovecot.pop3Port}`,
        MAIL_BACKEND_SMTP: `127.0.0.1:${smtp.port}`
      }
    })
    const nginx = yield* NginxServer.make({ authHttp: `127.0.0.1:${serve.authPort}/auth`, sharedSecret: Redacted.make(secret) })
    return { slapd, nginx, dovecot }
  })
)

const login = (protocol: MailClient.Protocol, user: string, password: string) =>
  Effect.flatMap(Chain, ({ nginx }) =>
    MailClient.login(protocol, {
      port: protocol === "imap" ? nginx.imapPort : protocol === "pop3" ? nginx.pop3Port : nginx.smtpPort,
      user,
      password
    }))

const binds = Effect.flatMap(Chain, ({ slapd }) =>
  Effect.map(slapd.log, (log) =>
    Slapd.operations(log).filter((op) => op.kind === "BIND" && op.dn === slapd.users.alice.dn).length))

layer(chain, { timeout: 60_000, excludeTestServices: true })("serve behind nginx", (it) => {
  it.effect("ALICE, ａｌｉｃｅ and alİce reach the backends as alice, the directory's own uid", () =>
    Effect.gen(function*() {
      const { slapd, dovecot } = yield* Chain
      const password = Redacted.value(slapd.users.alice.password)
      const imap = yield* login("imap", "ALICE", password)
      assert.isTrue(imap.accepted, imap.reply)
      const log = yield* dovecot.log.pipe(
        Effect.filterOrFail((log) => log.includes("imap-login: Info: Login: user=<alice>")),
        Effect.retry({ schedule: Schedule.spaced("20 millis"), times: 100 }),
        Effect.orElseSucceed(() => "")
      )
      assert.include(log, "imap-login: Info: Login: user=<alice>")
      assert.notInclude(log, "user=<ALICE>")
      for (const typed of ["ALICE", "al\u0130ce", "\uff41\uff4c\uff49\uff43\uff45"]) {
        const smtp = yield* login("smtp", typed, password)
        assert.deepStrictEqual([smtp.accepted, smtp.backend], [true, "250 2.0.0 backend serves alice"], typed)
      }
    }))

  it.effect("alİce and ALICE share alice's budget: once it is spent, their right password costs no bind", () =>
    Effect.gen(function*() {
      const { slapd } = yield* Chain
      // The default: 10 failures per user and address in 5 minutes; nginx sends every login as 127.0.0.1.
      // (At once: each refusal waits out nginx's Auth-Wait.)
      const wrong = yield* Effect.forEach(Array.from({ length: 10 }, (_, i) => `wrong-${i}`), (password) =>
        login("imap", "alice", password), { concurrency: "unbounded" })
      assert.deepStrictEqual(wrong.map((result) => result.accepted), Array(10).fill(false))
      const before = yield* binds
      const typed = ["al\u0130ce", "ALICE", "alice"]
      const results = yield* Effect.forEach(typed, (user) =>
        login("imap", user, Redacted.value(slapd.users.alice.password)), { concurrency: "unbounded" })
      assert.deepStrictEqual(results.map((result) => result.reply), typed.map(() => `A1 NO ${invalid}`))
      assert.strictEqual(yield* binds, before)
      // Another entry from the same address keeps its own budget.
      assert.isTrue((yield* login("pop3", "bob", Redacted.value(slapd.users.bob.password))).accepted)
    }))
})
