import { assert, describe, it } from "@effect/vitest"
import { Redacted, Result } from "effect"
import * as fc from "fast-check"
import * as AuthHttpProtocol from "../src/AuthHttpProtocol.ts"

/** What nginx 1.22 does to `Auth-User`/`Auth-Pass` (ngx_escape_uri, NGX_ESCAPE_MAIL_AUTH): space, `%` and
 * bytes 0x00–0x1F become `%XX`; every other byte goes out raw, which Node reads back as one latin1 char. */
const nginxEscape = (bytes: Uint8Array) =>
  Array.from(bytes, (byte) =>
    byte <= 0x20 || byte === 0x25 ? "%" + byte.toString(16).toUpperCase().padStart(2, "0") : String.fromCharCode(byte)
  ).join("")

const utf8 = (text: string) => new TextEncoder().encode(text)

const headers = (overrides: Record<string, string | undefined> = {}) => ({
  "auth-method": "plain",
  "auth-user": "alice",
  "auth-pass": "secret",
  "auth-protocol": "imap",
  "auth-login-attempt": "1",
  "client-ip": "192.0.2.7",
  ...overrides
})

const limits = { maxAttempts: 10, maxWaitSeconds: 5 }

describe("AuthHttpProtocol.decodeValue", () => {
  it("undoes nginx's escaping for any string", () => {
    fc.assert(fc.property(fc.string({ unit: "binary" }), (text) => {
      assert.strictEqual(AuthHttpProtocol.decodeValue(nginxEscape(utf8(text))), text)
    }))
  })

  it("decodes %XX only: a plus stays a plus", () => {
    assert.strictEqual(AuthHttpProtocol.decodeValue("a+b%20c%25d"), "a+b c%d")
  })

  it("decodes raw UTF-8 bytes as nginx passes them", () => {
    assert.strictEqual(AuthHttpProtocol.decodeValue(nginxEscape(utf8("dävé ✓"))), "dävé ✓")
  })

  it("refuses bytes that are not UTF-8, raw or escaped", () => {
    assert.isUndefined(AuthHttpProtocol.decodeValue("\xff\xfe"))
    assert.isUndefined(AuthHttpProtocol.decodeValue("%C3%28"))
    assert.isUndefined(AuthHttpProtocol.decodeValue("%ED%A0%80"))
  })

  it("refuses malformed escapes and characters no header byte can be", () => {
    assert.isUndefined(AuthHttpProtocol.decodeValue("%"))
    assert.isUndefined(AuthHttpProtocol.decodeValue("%4"))
    assert.isUndefined(AuthHttpProtocol.decodeValue("%zz"))
    assert.isUndefined(AuthHttpProtocol.decodeValue("\u0100"))
  })

  it("keeps an escaped NUL, for the LDAP layer to refuse", () => {
    assert.strictEqual(AuthHttpProtocol.decodeValue("alice%00"), "alice\u0000")
  })
})

describe("AuthHttpProtocol.decodeRequest", () => {
  it("reads a login attempt", () => {
    const request = Result.getOrThrow(AuthHttpProtocol.decodeRequest(headers({ "auth-login-attempt": "3" })))
    assert.strictEqual(request.user, "alice")
    assert.strictEqual(Redacted.value(request.password), "secret")
    assert.strictEqual(request.protocol, "imap")
    assert.strictEqual(request.attempt, 3)
    assert.strictEqual(request.clientIp, "192.0.2.7")
  })

  it("keeps the password out of its string form", () => {
    const request = Result.getOrThrow(AuthHttpProtocol.decodeRequest(headers({ "auth-pass": "marker-123" })))
    assert.notInclude(JSON.stringify(request), "marker-123")
    assert.notInclude(String(request.password), "marker-123")
  })

  it("refuses a request without user, password, protocol or client address", () => {
    for (const header of ["auth-user", "auth-pass", "auth-protocol", "auth-method", "client-ip"]) {
      const result = AuthHttpProtocol.decodeRequest(headers({ [header]: undefined }))
      assert.isTrue(Result.isFailure(result), header)
    }
  })

  it("refuses an unknown protocol, a client address that is not an IP and a password that is not UTF-8", () => {
    assert.isTrue(Result.isFailure(AuthHttpProtocol.decodeRequest(headers({ "auth-protocol": "nntp" }))))
    assert.isTrue(Result.isFailure(AuthHttpProtocol.decodeRequest(headers({ "client-ip": "example.org" }))))
    assert.isTrue(Result.isFailure(AuthHttpProtocol.decodeRequest(headers({ "auth-pass": "%FF" }))))
  })

  it("treats a missing or odd attempt number as the first attempt", () => {
    for (const attempt of [undefined, "0", "-2", "x", "1.5"]) {
      const request = Result.getOrThrow(AuthHttpProtocol.decodeRequest(headers({ "auth-login-attempt": attempt })))
      assert.strictEqual(request.attempt, 1)
    }
  })
})

describe("AuthHttpProtocol.encodeResponse", () => {
  it("accepts with status, server and port", () => {
    assert.deepStrictEqual(
      AuthHttpProtocol.encodeResponse({ _tag: "Accept", backend: { host: "127.0.0.1", port: 143 } }),
      { "Auth-Status": "OK", "Auth-Server": "127.0.0.1", "Auth-Port": "143" }
    )
  })

  it("refuses SMTP with the reply code nginx passes on", () => {
    assert.deepStrictEqual(
      AuthHttpProtocol.encodeResponse(AuthHttpProtocol.reject("invalid", { protocol: "smtp", attempt: 2 }, limits)),
      { "Auth-Status": "Invalid login or password", "Auth-Wait": "2", "Auth-Error-Code": "535 5.7.8" }
    )
    assert.deepStrictEqual(
      AuthHttpProtocol.encodeResponse(AuthHttpProtocol.reject("temporary", { protocol: "smtp", attempt: 1 }, limits)),
      { "Auth-Status": "Temporary server problem, try again later", "Auth-Wait": "1", "Auth-Error-Code": "451 4.3.0" }
    )
  })

  it("lets the wait grow with the attempt and drops it after the last attempt so nginx closes", () => {
    const waits = [1, 2, 3, 5, 6, 9, 10, 11].map((attempt) =>
      AuthHttpProtocol.encodeResponse(AuthHttpProtocol.reject("invalid", { protocol: "imap", attempt }, limits))["Auth-Wait"]
    )
    assert.deepStrictEqual(waits, ["1", "2", "3", "5", "5", "5", undefined, undefined])
  })

  it("never sends a server without Auth-Status OK, and never more than nginx reads", () => {
    const backend = fc.record({ host: fc.oneof(fc.ipV4(), fc.ipV6(), fc.string()), port: fc.integer({ min: -1, max: 70000 }) })
    const response = fc.oneof(
      backend.map((backend) => ({ _tag: "Accept" as const, backend })),
      fc.record({
        _tag: fc.constant("Reject" as const),
        status: fc.string({ maxLength: 2000 }),
        waitSeconds: fc.option(fc.double(), { nil: undefined }),
        errorCode: fc.option(fc.string(), { nil: undefined })
      })
    )
    fc.assert(fc.property(response, (response) => {
      const encoded = AuthHttpProtocol.encodeResponse(response)
      const status = encoded["Auth-Status"]
      assert.isDefined(status)
      if (encoded["Auth-Server"] !== undefined || encoded["Auth-Port"] !== undefined) assert.strictEqual(status, "OK")
      if (response._tag === "Reject") assert.notStrictEqual(status, "OK")
      const size = Object.entries(encoded).reduce((total, [name, value]) => total + name.length + value.length + 4, 0)
      assert.isAtMost(size, AuthHttpProtocol.maxResponseHeaderBytes / 2)
      for (const value of Object.values(encoded)) assert.match(value, /^[\x20-\x7e]*$/)
    }))
  })
})
