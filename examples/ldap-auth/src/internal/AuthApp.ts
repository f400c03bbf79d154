/**
 * The whole auth server as one layer, from an `AppConfig`: LDAP pools, rate limiter, handler, the nginx
 * endpoint and the metrics endpoint. `serve` launches it; `demo` and the end-to-end tests build it on port 0
 * and read the ports back from `AuthApp`.
 */
import { Context, Effect, Layer } from "effect"
import type { HttpServer, HttpServerError } from "effect/http"
import type { AppConfig } from "../AppConfig.ts"
import * as AuthHttpHandler from "../AuthHttpHandler.ts"
import * as AuthHttpServer from "../AuthHttpServer.ts"
import * as LdapAuth from "../LdapAuth.ts"
import * as RateLimiter from "../RateLimiter.ts"
import * as RateLimiterStore from "../RateLimiterStore.ts"

export class AuthApp extends Context.Service<AuthApp, {
  readonly authPort: number
  readonly metricsPort: number
}>()("effect-connection-pool/examples/AuthApp") {}

export interface Overrides {
  /** Options of the LDAP layer the environment does not carry (timeouts, cooldowns). */
  readonly ldap?: Partial<LdapAuth.LdapAuthOptions> | undefined
  readonly rateLimits?: RateLimiter.Options | undefined
  /** Where the limiter keeps its counters; this process's memory by default. */
  readonly rateLimiterStore?: Layer.Layer<RateLimiterStore.RateLimiterStore> | undefined
  readonly handler?: Partial<AuthHttpHandler.Options> | undefined
}

const bound = <E, R>(server: Layer.Layer<HttpServer.HttpServer, E, R>) =>
  Layer.build(server).pipe(Effect.flatMap((context) => Effect.provideContext(AuthHttpServer.port, context)))

export const layer = (
  config: AppConfig,
  overrides: Overrides = {}
): Layer.Layer<AuthApp, HttpServerError.ServeError> =>
  Layer.effect(
    AuthApp,
    Effect.gen(function*() {
      const authPort = yield* bound(AuthHttpServer.layer(config.http, {
        requestTimeout: config.security.requestTimeout,
        maxConnections: config.security.maxConnections
      }))
      const metricsPort = yield* bound(AuthHttpServer.layerMetrics({ host: config.http.host, port: config.metricsPort }))
      return { authPort, metricsPort }
    })
  ).pipe(
    Layer.provide(
      AuthHttpHandler.layer({ backends: config.backends, sharedSecret: config.sharedSecret, ...overrides.handler })
    ),
    Layer.provide(
      Layer.mergeAll(
        LdapAuth.layer({ ...config.ldap, ...overrides.ldap }),
        RateLimiter.layer({
          ...RateLimiter.defaultOptions,
          exempt: config.security.rateLimitExempt,
          ...overrides.rateLimits
        }).pipe(
          Layer.provide(overrides.rateLimiterStore ?? RateLimiterStore.layerMemory())
        )
      )
    )
  )
