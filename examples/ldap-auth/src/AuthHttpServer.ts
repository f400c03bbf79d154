/**
 * The HTTP side of the auth server: `GET /auth` for nginx on one port, Prometheus metrics on another, both on
 * `@effect/platform-node`. Closing the layer stops accepting, lets the requests in flight finish, then the
 * layers below (the LDAP pools) close.
 */
import * as Http from "node:http"
import { NodeHttpServer } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import { HttpRouter, HttpServer } from "effect/http"
import type { HttpServerError } from "effect/http"
import { PrometheusMetrics } from "effect/observability"
import * as AuthHttpHandler from "./AuthHttpHandler.ts"

export interface ListenOptions {
  /** 127.0.0.1 unless you mean it: the endpoint answers who may read mail. */
  readonly host: string
  /** 0 picks a free port (tests); read it back with `port`. */
  readonly port: number
}

const listen = (options: ListenOptions) =>
  NodeHttpServer.layer(() => Http.createServer(), { host: options.host, port: options.port })

/** nginx's endpoint. The request log is off: nginx's headers carry passwords. */
export const layer = (
  options: ListenOptions
): Layer.Layer<HttpServer.HttpServer, HttpServerError.ServeError, AuthHttpHandler.AuthHttpHandler> =>
  HttpRouter.serve(HttpRouter.add("GET", "/auth", AuthHttpHandler.route), {
    disableLogger: true,
    disableListenLog: true
  }).pipe(Layer.provideMerge(listen(options)))

/** `GET /metrics` in Prometheus text format: the pool's `db.client.connection.*` and the login metrics. */
export const layerMetrics = (options: ListenOptions): Layer.Layer<HttpServer.HttpServer, HttpServerError.ServeError> =>
  HttpRouter.serve(PrometheusMetrics.layerHttp(), { disableLogger: true, disableListenLog: true }).pipe(
    Layer.provideMerge(listen(options))
  )

/** The port a server layer is bound to, e.g. after listening on port 0. */
export const port: Effect.Effect<number, never, HttpServer.HttpServer> = Effect.map(
  HttpServer.HttpServer,
  (server) => (server.address._tag === "UnixPathAddress" ? 0 : server.address.port)
)
