/**
 * `LdapAuth.layerConfig` reads its options from `Config`, and invalid options stop construction with a message
 * that names the option.
 */
import { assert, describe, it } from "@effect/vitest"
import { Cause, Config, ConfigProvider, Effect, Exit, Layer, Redacted, References, Schema } from "effect"
import * as LdapAuth from "../src/LdapAuth.ts"
import * as Slapd from "../harness/Slapd.ts"

const config = {
  urls: Config.Array(Schema.String, "LDAP_URLS"),
  baseDn: Config.String("LDAP_BASE_DN"),
  bindDn: Config.String("LDAP_BIND_DN"),
  bindPassword: Config.Redacted("LDAP_BIND_PASSWORD"),
  operationTimeout: Config.Duration("LDAP_OPERATION_TIMEOUT"),
  maxIdle: Config.Int("LDAP_MAX_IDLE")
}

describe("LdapAuth options", () => {
  it.live("layerConfig reads the options from Config", () =>
    Effect.gen(function*() {
      const slapd = yield* Slapd.make()
      const provider = ConfigProvider.fromUnknown({
        LDAP_URLS: `ldap://127.0.0.1:1/,${slapd.url}`,
        LDAP_BASE_DN: slapd.baseDn,
        LDAP_BIND_DN: slapd.serviceDn,
        LDAP_BIND_PASSWORD: Redacted.value(slapd.servicePassword),
        LDAP_OPERATION_TIMEOUT: "1 second",
        LDAP_MAX_IDLE: 2
      })
      const user = yield* Effect.flatMap(LdapAuth.LdapAuth, (auth) => auth.authenticate("bob", slapd.users.bob.password))
        .pipe(
          Effect.provide(LdapAuth.layerConfig(config).pipe(Layer.provide(ConfigProvider.layer(provider)))),
          // The first URL is down on purpose; its failover warning is expected.
          Effect.provideService(References.MinimumLogLevel, "Error")
        )
      assert.strictEqual(user.dn, slapd.users.bob.dn)
    }))

  it.effect("a missing setting is a ConfigError", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(
        Layer.build(LdapAuth.layerConfig(config).pipe(Layer.provide(ConfigProvider.layer(ConfigProvider.fromUnknown({})))))
      )
      assert.isTrue(Exit.isFailure(exit))
    }))

  const base: LdapAuth.LdapAuthOptions = {
    urls: ["ldap://127.0.0.1:389/"],
    baseDn: "dc=example,dc=org",
    bindDn: "cn=auth,dc=example,dc=org",
    bindPassword: Redacted.make("secret")
  }
  const invalid: ReadonlyArray<readonly [Partial<LdapAuth.LdapAuthOptions>, string]> = [
    [{ urls: [] }, "urls"],
    [{ urls: ["ldapi://127.0.0.1/"] }, "urls"],
    [{ urls: ["not a url"] }, "urls"],
    [{ baseDn: "" }, "baseDn"],
    [{ bindDn: "" }, "bindDn"],
    [{ bindPassword: Redacted.make("") }, "bindPassword"],
    [{ userFilter: "(uid=alice)" }, "userFilter"],
    [{ userFilter: "(uid={user}" }, "userFilter"],
    [{ maxIdle: -1 }, "maxIdle"]
  ]
  for (const [override, option] of invalid) {
    it.effect(`refuses ${JSON.stringify(override)} naming ${option}`, () =>
      Effect.gen(function*() {
        const exit = yield* Effect.exit(Effect.scoped(LdapAuth.make({ ...base, ...override })))
        assert.isTrue(Exit.isFailure(exit) && Cause.hasDies(exit.cause))
        assert.include(Cause.pretty(Exit.isFailure(exit) ? exit.cause : Cause.empty), option)
      }))
  }
})
