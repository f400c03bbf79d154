/**
 * The HTTP side of the auth server: `GET /auth` for nginx on one port, Prometheus metrics on another, both on
 * `@effect/platform-node` (`GET /auth` answered straight from Node's request while no tracer is installed).
 * Closing the layer stops accepting, lets the requests in flight finish, then the layers below (the LDAP pools)
 * close.
 */
import * as Http from "node:http"
import type * as Net from "node:net"
import { NodeHttpServer } from "@effect/platform-node"
import { Context, Duration, Effect, Exit, Fiber, Layer } from "effect"
import { HttpMiddleware, HttpRouter, HttpServer, HttpServerResponse } from "effect/http"
import type { HttpServerError } from "effect/http"
import { PrometheusMetrics } from "effect/observability"
import * as Tracer from "effect/Tracer"
import * as AuthHttpHandler from "./AuthHttpHandler.ts"
import * as DescriptorWatch from "./internal/descriptorWatch.ts"
import * as LogThrottle from "./internal/logThrottle.ts"
import * as UnixSocket from "./internal/unixSocket.ts"
import * as Health from "./Health.ts"

export interface ListenOptions {
  /** 127.0.0.1 unless you mean it: the endpoint answers who may read mail. */
  readonly host: string
  /** 0 picks a free port (tests); read it back with `port`. */
  readonly port: number
  /**
   * Listen on this unix socket instead of `host` and `port`, with this file mode (nginx's user must be able to
   * write to it). A stale socket file is replaced, a live server's or a file that is not a socket is refused, and
   * the file is removed when the layer closes.
   */
  readonly socket?: { readonly path: string; readonly mode: number } | undefined
}

export interface LimitOptions {
  /** A request must arrive whole this soon after the connection opens, or the socket is closed. Default 5 s. */
  readonly requestTimeout?: Duration.Input | undefined
  /** Connections open at once; the rest are closed as they arrive. Default 1024. */
  readonly maxConnections?: number | undefined
  /** Interval of the throttled warnings (connections refused, out of file descriptors). Default 1 minute. */
  readonly logInterval?: Duration.Input | undefined
}

const listen = (options: ListenOptions) =>
  NodeHttpServer.layer(() => Http.createServer(), { host: options.host, port: options.port })

/**
 * A Node server hardened for hostile clients: a request must arrive whole within `requestTimeout` (Node's own
 * `headersTimeout` only covers a request that has begun, never an idle socket); at most `maxConnections` at
 * once; one request per connection, as nginx sends it (a request pipelined behind the first closes the socket
 * before it runs); refused connections, accept errors and running out of file descriptors (which Node does not
 * report: `DescriptorWatch` looks every second) are logged once per interval with a count.
 */
const hardened = (
  options: LimitOptions,
  report: (kind: "refused" | "accept", detail: string) => void,
  answer: (request: Http.IncomingMessage, response: Http.ServerResponse) => boolean
) => {
  const timeoutMillis = Duration.toMillis(Duration.fromInputUnsafe(options.requestTimeout ?? Duration.seconds(5)))
  const server = Http.createServer({ headersTimeout: timeoutMillis, requestTimeout: timeoutMillis })
  server.maxConnections = options.maxConnections ?? 1024
  const timers = new WeakMap<Net.Socket, ReturnType<typeof setTimeout>>()
  const served = new WeakSet<Net.Socket>()
  server.on("connection", (socket: Net.Socket) => {
    const timer = setTimeout(() => socket.destroy(), timeoutMillis)
    timers.set(socket, timer)
    socket.once("close", () => clearTimeout(timer))
  })
  server.on("drop", () => report("refused", "connection limit reached"))
  // After listening, an accept error is an `error` event; without a listener it would end the process.
  // A listen error (port in use) is NodeHttpServer's to report.
  server.on("error", (error: NodeJS.ErrnoException) => {
    if (server.listening) report("accept", error.code ?? error.message)
  })
  DescriptorWatch.watch(server, 1000, (code, connections) =>
    report("accept", `${code}: ${connections} connections open on the auth port`))
  const emit = server.emit.bind(server) as (event: string, ...args: Array<unknown>) => boolean
  // The request handlers are attached by NodeHttpServer; this is the one place that sees a request before them
  // (and where `answer` takes the requests it serves itself).
  server.emit = ((event: string, ...args: Array<unknown>) => {
    if (event === "request") {
      const socket = (args[0] as Http.IncomingMessage).socket
      clearTimeout(timers.get(socket))
      if (served.has(socket)) {
        socket.destroy()
        return true
      }
      served.add(socket)
      if (answer(args[0] as Http.IncomingMessage, args[1] as Http.ServerResponse)) return true
    }
    return emit(event, ...args)
  }) as typeof server.emit
  return server
}

/** A Node server on `options`' address: for a unix socket, the stale file is cleared first and the mode set after. */
const listenOn = (
  options: ListenOptions,
  create: () => Http.Server
): Layer.Layer<
  Layer.Success<ReturnType<typeof NodeHttpServer.layer>>,
  HttpServerError.ServeError | UnixSocket.SocketPathError
> => {
  const socket = options.socket
  if (socket === undefined) return NodeHttpServer.layer(create, { host: options.host, port: options.port })
  return Layer.unwrap(
    Effect.as(UnixSocket.claim(socket.path), NodeHttpServer.layer(create, { path: socket.path }))
  ).pipe(Layer.tap(() => UnixSocket.settle(socket.path, socket.mode)))
}

/**
 * `GET /auth` answered straight from Node's request, one fiber per request running `decide`, without the router,
 * the request and response wrappers and the HTTP middleware, which cost every login more than the decision's own
 * Effect code. Only without a tracer: with one installed, the router serves it, so that each request gets its
 * server span. Everything else (other paths and methods, `Expect: 100-continue`) goes to the router too.
 * A fiber still running when the layer closes (after the server stopped waiting for its connections) is
 * interrupted; one whose client went away first is interrupted at once, as NodeHttpServer does.
 */
const answerAuth = Effect.gen(function*() {
  const context = yield* Effect.context<AuthHttpHandler.AuthHttpHandler>()
  const handler = Context.get(context, AuthHttpHandler.AuthHttpHandler)
  const direct = (yield* Effect.tracer) === Tracer.nativeTracer
  const scope = yield* Effect.scope
  const run = Effect.runForkWith(context)
  return (request: Http.IncomingMessage, response: Http.ServerResponse): boolean => {
    if (!direct || request.method !== "GET" || request.url?.split("?", 1)[0] !== "/auth") return false
    const fiber = Fiber.runIn(run(handler.decide(AuthHttpHandler.headersOf(request.headers))), scope)
    fiber.addObserver((exit) => {
      if (response.destroyed || response.headersSent) return
      if (Exit.isSuccess(exit)) response.writeHead(200, AuthHttpHandler.responseHeaders(exit.value))
      else response.writeHead(500, { Connection: "close" })
      response.end()
    })
    response.once("close", () => {
      if (!response.writableEnded) fiber.interruptUnsafe()
    })
    return true
  }
})

const listenHardened = (listenOptions: ListenOptions, limits: LimitOptions) =>
  Layer.unwrap(Effect.gen(function*() {
    const throttle = LogThrottle.make(limits.logInterval ?? Duration.minutes(1))
    const context = yield* Effect.context<never>()
    const report = (kind: "refused" | "accept", detail: string) =>
      Effect.runForkWith(context)(
        kind === "refused"
          ? throttle.log("Warn", kind, "connection refused: AUTH_HTTP_MAX_CONNECTIONS reached", { detail })
          : throttle.log("Error", kind, "cannot accept connections (out of file descriptors?)", { detail })
      )
    const answer = yield* answerAuth
    return listenOn(listenOptions, () => hardened(limits, report, answer))
  }))

/**
 * The per-request server span only when a tracer is installed: with Effect's built-in one it goes nowhere and costs
 * every request a span and a parse of the trace headers.
 */
const serverSpans = Layer.effect(
  HttpMiddleware.TracerDisabledWhen,
  Effect.map(Effect.tracer, (tracer) => (): boolean => tracer === Tracer.nativeTracer)
)

/** nginx's endpoint. The request log is off: nginx's headers carry passwords. */
export const layer = (
  options: ListenOptions,
  limits: LimitOptions = {}
): Layer.Layer<
  HttpServer.HttpServer,
  HttpServerError.ServeError | UnixSocket.SocketPathError,
  AuthHttpHandler.AuthHttpHandler
> =>
  HttpRouter.serve(HttpRouter.add("GET", "/auth", AuthHttpHandler.route), {
    disableLogger: true,
    disableListenLog: true
  }).pipe(Layer.provideMerge(listenHardened(options, limits)), Layer.provide(serverSpans))

/** `GET /healthz`: 200 or 503, one line of JSON saying why (`{"status":"ok","ldap":…}`). */
const healthz = Effect.gen(function*() {
  const report = yield* (yield* Health.Health).check
  return HttpServerResponse.text(JSON.stringify(report.body) + "\n", {
    status: report.healthy ? 200 : 503,
    contentType: "application/json",
    headers: { "Cache-Control": "no-store" }
  })
})

/**
 * The operators' listener: `GET /metrics` in Prometheus text format (the pool's `db.client.connection.*` and the
 * login metrics) and `GET /healthz` for a balancer or a probe.
 */
export const layerMetrics = (
  options: Omit<ListenOptions, "socket">
): Layer.Layer<HttpServer.HttpServer, HttpServerError.ServeError, Health.Health> =>
  HttpRouter.serve(Layer.mergeAll(PrometheusMetrics.layerHttp(), HttpRouter.add("GET", "/healthz", healthz)), {
    disableLogger: true,
    disableListenLog: true
  }).pipe(
    // Never on a socket: a balancer or a probe reaches it over TCP.
    Layer.provideMerge(listen(options))
  )

/** The port a server layer is bound to, e.g. after listening on port 0. */
export const port: Effect.Effect<number, never, HttpServer.HttpServer> = Effect.map(
  HttpServer.HttpServer,
  (server) => (server.address._tag === "UnixPathAddress" ? 0 : server.address.port)
)
