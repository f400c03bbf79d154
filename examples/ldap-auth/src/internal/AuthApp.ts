/**
 * The whole auth server as one layer, from an `AppConfig`: LDAP pools, rate limiter, handler (with the login
 * summary), the nginx endpoint (TCP or a unix socket) and the metrics and health endpoint. `serve` launches it; `demo` and the end-to-end tests build it on port 0
 * and read the ports back from `AuthApp`.
 */
import { Context, Data, Duration, Effect, Layer } from "effect"
import type { HttpServer, HttpServerError } from "effect/http"
import * as AppConfig from "../AppConfig.ts"
import * as AuthHttpHandler from "../AuthHttpHandler.ts"
import * as AuthHttpServer from "../AuthHttpServer.ts"
import * as Health from "../Health.ts"
import * as LdapAuth from "../LdapAuth.ts"
import * as RateLimiter from "../RateLimiter.ts"
import * as RateLimiterStore from "../RateLimiterStore.ts"
import * as RateLimiterStoreRedis from "../RateLimiterStoreRedis.ts"
import * as LoginSummary from "./loginSummary.ts"
import type * as UnixSocket from "./unixSocket.ts"

export class AuthApp extends Context.Service<AuthApp, {
  /** 0 when listening on a unix socket. */
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
  /** How often the `info` line with the logins by result is written. Default 1 minute. */
  readonly summaryInterval?: Duration.Input | undefined
  /** A directory answer this recent makes `/healthz` healthy without a probe. Default 30 seconds. */
  readonly healthInterval?: Duration.Input | undefined
}

/** A listener could not start; the message names the variable that chose the address, and the address. */
export class ListenError extends Data.TaggedError("ListenError")<{
  readonly message: string
  readonly cause: unknown
}> {}

const why = (cause: unknown): string => {
  const code = (cause as { readonly code?: unknown } | undefined)?.code
  switch (code) {
    case "EADDRINUSE":
      return "is already in use"
    case "EACCES":
      return "needs privileges this process does not have"
    case "EADDRNOTAVAIL":
      return "is not an address of this host"
    default:
      return `cannot be listened on (${cause instanceof Error ? cause.message : String(cause)})`
  }
}

const bound = <R>(
  server: Layer.Layer<HttpServer.HttpServer, HttpServerError.ServeError | UnixSocket.SocketPathError, R>,
  variable: { readonly name: string; readonly value: string },
  /** `host:port`, left out for a socket, whose variable already names it. */
  address: string | undefined
) =>
  Layer.build(server).pipe(
    Effect.flatMap((context) => Effect.provideContext(AuthHttpServer.port, context)),
    Effect.mapError((error) =>
      new ListenError({
        message: `${variable.name}=${variable.value}: ${address === undefined ? "" : `${address} `}${
          error._tag === "SocketPathError" ? error.message : why(error.cause)
        }`,
        cause: error.cause
      })
    )
  )

/**
 * The handler, with every answer counted for the periodic summary line; a right or wrong password is an answer
 * of the directory, which keeps `/healthz` healthy without probing.
 */
const handlerLayer = (config: AppConfig.AppConfig, overrides: Overrides) =>
  Layer.effect(
    AuthHttpHandler.AuthHttpHandler,
    Effect.gen(function*() {
      const handler = yield* AuthHttpHandler.make({
        backends: config.backends,
        sharedSecret: config.sharedSecret,
        ...overrides.handler
      })
      const summary = yield* LoginSummary.make(overrides.summaryInterval ?? Duration.minutes(1))
      const health = yield* Health.Health
      return AuthHttpHandler.AuthHttpHandler.of({
        decide: (headers) =>
          Effect.tap(handler.decide(headers), (decision) =>
            decision.outcome === "ok" || decision.outcome === "invalid"
              ? Effect.andThen(health.answered, summary.count(decision.outcome))
              : summary.count(decision.outcome))
      })
    })
  )

export const layer = (
  config: AppConfig.AppConfig,
  overrides: Overrides = {}
): Layer.Layer<AuthApp, ListenError> =>
  Layer.effect(
    AuthApp,
    Effect.gen(function*() {
      const { host, socket } = config.http
      const authPort = yield* bound(
        AuthHttpServer.layer(config.http, {
          requestTimeout: config.security.requestTimeout,
          maxConnections: config.security.maxConnections
        }),
        socket === undefined
          ? { name: AppConfig.variables.httpPort.name, value: String(config.http.port) }
          : { name: AppConfig.variables.httpSocket.name, value: socket.path },
        socket === undefined ? `${host}:${config.http.port}` : undefined
      )
      const metricsPort = yield* bound(
        AuthHttpServer.layerMetrics({ host, port: config.metricsPort }),
        { name: AppConfig.variables.metricsPort.name, value: String(config.metricsPort) },
        `${host}:${config.metricsPort}`
      )
      return { authPort, metricsPort }
    })
  ).pipe(
    Layer.provide(handlerLayer(config, overrides)),
    Layer.provide(
      Layer.mergeAll(
        LdapAuth.layer({ ...config.ldap, ...overrides.ldap }),
        RateLimiter.layer({
          ...RateLimiter.defaultOptions,
          exempt: config.security.rateLimitExempt,
          ...overrides.rateLimits
        }).pipe(
          Layer.provide(
            overrides.rateLimiterStore ??
              (config.redis === undefined
                ? RateLimiterStore.layerMemory(config.security.limiterMemory)
                : RateLimiterStoreRedis.layer({ ...config.redis, local: config.security.limiterMemory }))
          )
        )
      )
    ),
    // One instance for both: the handler records the directory's answers, `/healthz` reads them.
    Layer.provide(Health.layer({ ...config.ldap, ...overrides.ldap, interval: overrides.healthInterval }))
  )
