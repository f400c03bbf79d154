/**
 * The whole chain on loopback ports, for `demo` and the end-to-end tests: a throwaway slapd with sample users,
 * the auth server configured for it, Dovecot (IMAP, POP3) and a small SMTP backend behind an nginx mail proxy
 * that asks the auth server about every login. Everything stops when the scope closes.
 */
import { readFileSync } from "node:fs"
import { Context, Duration, Effect, Layer, Redacted, Scope } from "effect"
import * as Slapd from "./Slapd.ts"
import * as AppConfig from "../src/AppConfig.ts"
import * as AuthApp from "../src/internal/AuthApp.ts"
import * as RateLimiter from "../src/RateLimiter.ts"
import * as DovecotServer from "./DovecotServer.ts"
import * as NginxServer from "./NginxServer.ts"
import type { ServerProcessError } from "./ServerProcess.ts"
import * as SmtpBackend from "./SmtpBackend.ts"

export interface Options extends AuthApp.Overrides {
  /** nginx's `auth_http_timeout`; nginx's 60 s by default. */
  readonly nginxAuthTimeout?: Duration.Input | undefined
  readonly maxIdle?: number | undefined
  readonly maxSize?: number | undefined
  /** `false`: a new search and bind connection for every login (`LdapAuthOptions.reuse`). Default: true. */
  readonly reuse?: boolean | undefined
  /** The auth server reaches slapd over `ldaps://`, trusting the run's own CA. Default: plain `ldap://`. */
  readonly tls?: boolean | undefined
}

/** Rate limits out of the way, for a demo or a benchmark where every login comes from 127.0.0.1. */
export const generousRateLimits = (failures: number): RateLimiter.Options => ({
  ...RateLimiter.defaultOptions,
  perAddress: { failures, window: "1 minute" },
  perUserAndAddress: { failures, window: "1 minute" },
  perUser: { failures, window: "1 minute" }
})

export interface Servers {
  readonly slapd: Slapd.SlapdInstance
  readonly config: AppConfig.AppConfig
  readonly authPort: number
  readonly metricsPort: number
  readonly nginx: NginxServer.NginxInstance
  readonly dovecot: DovecotServer.DovecotInstance
}

export class DemoServers extends Context.Service<DemoServers, Servers>()(
  "effect-connection-pool/examples/DemoServers"
) {}

export type DemoServersError = Slapd.SlapdError | ServerProcessError | AuthApp.ListenError

/** The shared secret between nginx and the auth server: random per run. */
const randomSecret = () => Redacted.make(crypto.randomUUID())

export const make = (options: Options = {}): Effect.Effect<Servers, DemoServersError, Scope.Scope> =>
  Effect.gen(function*() {
    const [slapd, dovecot, smtp] = yield* Effect.all(
      [Slapd.make({ tls: options.tls === true }), DovecotServer.make, SmtpBackend.make],
      { concurrency: "unbounded" }
    )
    const tls = slapd.tls
    const config: AppConfig.AppConfig = {
      ldap: {
        urls: [tls === undefined ? slapd.url : tls.ldapsUrl],
        ...(tls === undefined ? {} : { tls: { ca: readFileSync(tls.certificates.caFile, "utf8") } }),
        baseDn: slapd.baseDn,
        bindDn: slapd.serviceDn,
        bindPassword: slapd.servicePassword,
        userFilter: undefined,
        maxIdle: options.maxIdle ?? options.maxSize ?? 16,
        maxSize: options.maxSize ?? 16,
        loginAttribute: "uid"
      },
      http: { host: "127.0.0.1", port: 0 },
      sharedSecret: randomSecret(),
      backends: {
        imap: { host: "127.0.0.1", port: dovecot.imapPort },
        pop3: { host: "127.0.0.1", port: dovecot.pop3Port },
        smtp: { host: "127.0.0.1", port: smtp.port }
      },
      metricsPort: 0,
      security: AppConfig.defaultSecurity
    }
    const overrides = options.reuse === false ? { ...options, ldap: { ...options.ldap, reuse: false } } : options
    const app = yield* Layer.build(AuthApp.layer(config, overrides)).pipe(
      Effect.map((context) => Context.get(context, AuthApp.AuthApp))
    )
    const nginx = yield* NginxServer.make({
      authHttp: `127.0.0.1:${app.authPort}/auth`,
      sharedSecret: config.sharedSecret,
      authTimeout: options.nginxAuthTimeout
    })
    return { slapd, config, authPort: app.authPort, metricsPort: app.metricsPort, nginx, dovecot }
  })

export const layer = (options: Options = {}): Layer.Layer<DemoServers, DemoServersError> =>
  Layer.effect(DemoServers, make(options))
