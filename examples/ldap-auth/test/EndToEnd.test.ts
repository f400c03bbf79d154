/**
 * The whole chain, all real: mail client → nginx mail proxy → auth server → slapd, then nginx → Dovecot or the
 * SMTP backend. What a mail operator would see, checked from the client's side of nginx.
 */
import { assert, layer } from "@effect/vitest"
import { Effect, Redacted, Schedule } from "effect"
import * as RateLimiter from "../src/RateLimiter.ts"
import * as DemoServers from "../harness/DemoServers.ts"
import * as MailClient from "../harness/MailClient.ts"

const invalid = "Invalid login or password"
const temporary = "Temporary server problem, try again later"

const generous = DemoServers.generousRateLimits(10_000)

const portOf = (servers: DemoServers.Servers, protocol: MailClient.Protocol) =>
  protocol === "imap" ? servers.nginx.imapPort : protocol === "pop3" ? servers.nginx.pop3Port : servers.nginx.smtpPort

const login = (protocol: MailClient.Protocol, user: string | Uint8Array, password: string | Uint8Array) =>
  Effect.flatMap(DemoServers.DemoServers, (servers) =>
    MailClient.login(protocol, { port: portOf(servers, protocol), user, password }))

const alicePassword = Effect.map(DemoServers.DemoServers, (servers) => Redacted.value(servers.slapd.users.alice.password))

layer(DemoServers.layer({ rateLimits: generous }), { timeout: 60_000, excludeTestServices: true })("through nginx", (it) => {
  it.effect("IMAP: the right password reaches Dovecot as that user", () =>
    Effect.gen(function*() {
      const result = yield* login("imap", "alice", yield* alicePassword)
      assert.isTrue(result.accepted, result.reply)
      assert.match(result.reply, /^A1 OK .*Logged in/)
      assert.match(result.backend ?? "", /^A2 OK NOOP completed/)
      // Dovecot's log process writes the line a moment after the client has its answer.
      const log = yield* Effect.flatMap(DemoServers.DemoServers, (servers) => servers.dovecot.log).pipe(
        Effect.filterOrFail((log) => log.includes("imap-login: Info: Login: user=<alice>")),
        Effect.retry({ schedule: Schedule.spaced("20 millis"), times: 100 }),
        Effect.orElseSucceed(() => "")
      )
      assert.include(log, "imap-login: Info: Login: user=<alice>")
    }))

  it.effect("POP3: the right password reaches Dovecot", () =>
    Effect.gen(function*() {
      const result = yield* login("pop3", "alice", yield* alicePassword)
      assert.deepStrictEqual([result.accepted, result.reply, result.backend], [true, "+OK Logged in.", "+OK 0 0"])
    }))

  it.effect("SMTP AUTH: the right password reaches the SMTP backend as that user", () =>
    Effect.gen(function*() {
      const result = yield* login("smtp", "alice", yield* alicePassword)
      assert.deepStrictEqual([result.accepted, result.backend], [true, "250 2.0.0 backend serves alice"])
    }))

  it.effect("a UTF-8 password arrives intact through nginx's escaping", () =>
    Effect.gen(function*() {
      const servers = yield* DemoServers.DemoServers
      const result = yield* login("imap", "dave", Redacted.value(servers.slapd.users.dave.password))
      assert.isTrue(result.accepted, result.reply)
    }))

  it.effect("a wrong password and an unknown user get the same refusal in every protocol", () =>
    Effect.gen(function*() {
      const replies = yield* Effect.all([
        login("imap", "alice", "wrong"),
        login("imap", "nobody", "wrong"),
        login("pop3", "alice", "wrong"),
        login("smtp", "alice", "wrong"),
        login("smtp", "nobody", "wrong")
      ], { concurrency: "unbounded" })
      assert.deepStrictEqual(replies.map((result) => result.reply), [
        `A1 NO ${invalid}`,
        `A1 NO ${invalid}`,
        `-ERR ${invalid}`,
        `535 5.7.8 ${invalid}`,
        `535 5.7.8 ${invalid}`
      ])
    }))

  it.effect("hostile user names with alice's right password are refused in every protocol", () =>
    Effect.gen(function*() {
      const password = yield* alicePassword
      const users: ReadonlyArray<string | Uint8Array> = [
        "*",
        "alic*",
        "*)(uid=alice",
        "admin)(|(uid=*",
        "alice\u0000",
        "alice,ou=services",
        "uid=alice,ou=people,dc=example,dc=org",
        "EXTERNAL",
        " alice",
        "alice\r\n",
        Uint8Array.of(0x61, 0x6c, 0x69, 0x63, 0x65, 0xff),
        "a".repeat(300)
      ]
      const refusal = { imap: `A1 NO ${invalid}`, pop3: `-ERR ${invalid}`, smtp: `535 5.7.8 ${invalid}` } as const
      for (const protocol of ["imap", "pop3", "smtp"] as const) {
        const results = yield* Effect.forEach(users, (user) => login(protocol, user, password), { concurrency: 4 })
        for (const [i, result] of results.entries()) {
          assert.isFalse(result.accepted, `${protocol}: user #${i} got in`)
          // nginx refuses a line too long for its POP3 buffer itself, before asking the auth server.
          const refusedByNginx = protocol === "pop3" && result.reply === "-ERR invalid command"
          if (!refusedByNginx) assert.strictEqual(result.reply, refusal[protocol], `${protocol}: user #${i}`)
        }
      }
    }))

  it.effect("an empty password, a NUL in the password and bytes that are not UTF-8 are refused", () =>
    Effect.gen(function*() {
      const password = yield* alicePassword
      const results = yield* Effect.all([
        login("pop3", "alice", ""),
        login("pop3", "alice", password + "\u0000"),
        login("pop3", "alice", Buffer.concat([Buffer.from(password), Buffer.of(0xc3)]))
      ], { concurrency: "unbounded" })
      for (const result of results) assert.isFalse(result.accepted, result.reply)
    }))

  it.effect("reuses LDAP connections: twenty logins open a handful", () =>
    Effect.gen(function*() {
      const servers = yield* DemoServers.DemoServers
      const accepted = Effect.map(servers.slapd.log, (log) => (log.match(/ ACCEPT from /g) ?? []).length)
      const before = yield* accepted
      for (let i = 0; i < 20; i++) {
        const result = yield* login(i % 2 === 0 ? "imap" : "pop3", "alice", yield* alicePassword)
        assert.isTrue(result.accepted)
      }
      assert.isAtMost((yield* accepted) - before, 2)
    }))

  it.effect("refuses requests without nginx's shared secret", () =>
    Effect.gen(function*() {
      const servers = yield* DemoServers.DemoServers
      const response = yield* Effect.promise(() =>
        fetch(`http://127.0.0.1:${servers.authPort}/auth`, {
          headers: {
            "Auth-Method": "plain",
            "Auth-User": "alice",
            "Auth-Pass": Redacted.value(servers.slapd.users.alice.password),
            "Auth-Protocol": "imap",
            "Client-IP": "127.0.0.1"
          }
        })
      )
      assert.strictEqual(response.headers.get("auth-status"), invalid)
      assert.isNull(response.headers.get("auth-server"))
    }))

  it.effect("serves Prometheus metrics: logins by protocol and result, LDAP latency, the pools", () =>
    Effect.gen(function*() {
      const servers = yield* DemoServers.DemoServers
      yield* login("imap", "alice", yield* alicePassword)
      const text = yield* Effect.promise(() =>
        fetch(`http://127.0.0.1:${servers.metricsPort}/metrics`).then((response) => response.text())
      )
      assert.match(text, /mail_auth_logins_total\{[^}]*protocol="imap"[^}]*result="ok"[^}]*\} [1-9]/)
      assert.match(text, /^# HELP mail_auth_ldap_duration_seconds .*in seconds$/m)
      assert.match(text, /^mail_auth_ldap_duration_seconds_count(\{[^}]*\})? [1-9]/m)
      assert.notMatch(text, /unit=/)
      assert.include(text, "db_client_connection_count")
      // Every duration, the server's and the pools', is in seconds and says so in its name and its HELP text.
      const histograms = [...text.matchAll(/^# TYPE (\S+) histogram$/gm)].map(([, name]) => name!)
      assert.sameMembers(histograms, [
        "mail_auth_ldap_duration_seconds",
        "db_client_connection_wait_time_seconds",
        "db_client_connection_create_time_seconds",
        "db_client_connection_use_time_seconds"
      ])
      for (const name of histograms) assert.match(text, new RegExp(`^# HELP ${name} .*, in seconds$`, "m"), name)
      assert.match(text, /^db_client_connection_use_time_seconds_count\{[^}]*db_client_connection_pool_name="ldap\/bind\/[^}]*\} [1-9]/m)
    }))
})

layer(DemoServers.layer({
  rateLimits: generous,
  // The auth server must answer well before nginx gives up on it.
  nginxAuthTimeout: "10 seconds",
  ldap: { timeout: "2 seconds", operationTimeout: "1 second", acquireTimeout: "1 second", serverCooldown: "100 millis" },
  handler: { deadline: "4 seconds", maxAttempts: 2 }
}), { timeout: 60_000, excludeTestServices: true })("through nginx, with short timeouts and two attempts per connection", (it) => {
  it.effect("a refused client may retry after Auth-Wait until the last attempt, then nginx closes", () =>
    Effect.gen(function*() {
      const servers = yield* DemoServers.DemoServers
      const replies = yield* MailClient.imapAttempts({
        port: servers.nginx.imapPort,
        user: "alice",
        passwords: ["wrong", "wrong", Redacted.value(servers.slapd.users.alice.password)]
      })
      assert.deepStrictEqual(replies, [`R1 NO ${invalid}`, `R2 NO ${invalid}`, "(connection closed)"])
    }))

  it.effect("the directory stopped: the temporary text in every protocol, then logins again once it is back", () =>
    Effect.gen(function*() {
      const servers = yield* DemoServers.DemoServers
      const password = Redacted.value(servers.slapd.users.alice.password)
      yield* servers.slapd.stop
      const replies = yield* Effect.all([
        login("imap", "alice", password),
        login("pop3", "alice", password),
        login("smtp", "alice", password)
      ], { concurrency: "unbounded" })
      assert.deepStrictEqual(replies.map((result) => result.reply), [
        `A1 NO ${temporary}`,
        `-ERR ${temporary}`,
        `451 4.3.0 ${temporary}`
      ])
      yield* servers.slapd.start
      const again = yield* login("imap", "alice", password).pipe(
        Effect.filterOrFail((result) => result.accepted),
        Effect.retry({ schedule: Schedule.spaced("100 millis"), times: 30 })
      )
      assert.isTrue(again.accepted)
    }))

  it.effect("the directory frozen: the temporary text, and nginx's own auth_http_timeout never fires", () =>
    Effect.gen(function*() {
      const servers = yield* DemoServers.DemoServers
      const password = Redacted.value(servers.slapd.users.alice.password)
      yield* servers.slapd.freeze
      const result = yield* login("imap", "alice", password).pipe(Effect.ensuring(Effect.ignore(servers.slapd.thaw)))
      assert.strictEqual(result.reply, `A1 NO ${temporary}`)
      const errorLog = yield* servers.nginx.errorLog
      assert.notMatch(errorLog, /auth http server .* timed out/)
      const again = yield* login("imap", "alice", password).pipe(
        Effect.filterOrFail((result) => result.accepted),
        Effect.retry({ schedule: Schedule.spaced("100 millis"), times: 30 })
      )
      assert.isTrue(again.accepted)
    }))
})

layer(DemoServers.layer({
  rateLimits: {
    ...RateLimiter.defaultOptions,
    perAddress: { failures: 6, window: "1 minute" },
    perUserAndAddress: { failures: 3, window: "1 minute" }
  }
}), { timeout: 60_000, excludeTestServices: true })("through nginx, with tight rate limits", (it) => {
  it.effect("a user over its limit is refused like a wrong password without an LDAP bind; then the whole address", () =>
    Effect.gen(function*() {
      const servers = yield* DemoServers.DemoServers
      const binds = (dn: string) =>
        Effect.map(servers.slapd.log, (log) => log.split(`BIND dn="${dn}" method=128`).length - 1)
      const bob = servers.slapd.users.bob
      for (let i = 0; i < 3; i++) assert.isFalse((yield* login("imap", "bob", "wrong")).accepted)
      const bindsBefore = yield* binds(bob.dn)
      assert.isAtLeast(bindsBefore, 3)
      const limited = yield* login("imap", "bob", Redacted.value(bob.password))
      assert.strictEqual(limited.reply, `A1 NO ${invalid}`)
      assert.strictEqual(yield* binds(bob.dn), bindsBefore)
      // Another user from the same address is not affected by bob's limit...
      assert.isTrue((yield* login("pop3", "alice", Redacted.value(servers.slapd.users.alice.password))).accepted)
      // ...until the address itself has failed too often.
      for (let i = 0; i < 3; i++) assert.isFalse((yield* login("imap", "dave", "wrong")).accepted)
      const address = yield* login("smtp", "alice", Redacted.value(servers.slapd.users.alice.password))
      assert.strictEqual(address.reply, `535 5.7.8 ${invalid}`)
    }))
})
