/**
 * The Redis connection behind the shared rate-limit store: `@effect/platform-node`'s `NodeRedis` with each of its
 * behaviours decided for a limiter that must never hold up a login.
 *
 * - Start-up does not need Redis: the client connects in the background, and until it has, every call fails at
 *   once (the store then limits locally). NodeRedis would otherwise fail the whole layer when Redis is down.
 * - It reconnects for ever, also after a socket timeout (NodeRedis's default strategy stops for good then), every
 *   `reconnectDelay` at most.
 * - A call fails at once while disconnected (no offline queue), and waits at most `timeout` otherwise, script
 *   loading and the retry after a Redis restart (`NOSCRIPT`) included. node-redis also drops a command after
 *   `timeout`, so that a frozen Redis does not grow its queue.
 * - NodeRedis logs a warning for every failed reconnect; those go to a logger of its own that writes nothing.
 *   The store says once that Redis failed, with `describe`, and once that it answers again.
 * - Closing waits `timeout` for commands in flight, then drops them: a frozen Redis never holds up shutdown.
 */
import { NodeRedis } from "@effect/platform-node"
import { Cause, Context, Duration, Effect, Exit, Fiber, Layer, Logger, Scope } from "effect"
import { Redis } from "effect/persistence"
import { ClientClosedError, ClientOfflineError } from "redis"

/** Where the shared store lives: `redis://host:port/db`. */
export interface RedisUrl {
  readonly host: string
  readonly port: number
  readonly db: number
}

export interface Options {
  readonly url: RedisUrl
  /** The longest a call waits for Redis. */
  readonly timeout: Duration.Input
  /** The longest wait between two connection attempts; 1 s by default. */
  readonly reconnectDelay?: Duration.Input | undefined
}

export interface RedisConnection {
  /** `host:port/db`, for log lines. */
  readonly address: string
  /** Runs a script (loaded once, then by its hash), within the timeout. */
  readonly eval: Redis.Redis["Service"]["eval"]
  /** One `PING`, within the timeout. */
  readonly ping: Effect.Effect<void, Redis.RedisError>
  /** One line on why a call failed: the connection's own error when it was offline. */
  readonly describe: (error: Redis.RedisError) => string
}

const oneLine = (cause: unknown): string => {
  const text = cause instanceof Error ? cause.message || cause.name : String(cause)
  return text.replace(/\s+/g, " ").slice(0, 200)
}

export const make = Effect.fnUntraced(function*(options: Options) {
  const timeout = Duration.fromInputUnsafe(options.timeout)
  const timeoutMillis = Math.max(1, Math.ceil(Duration.toMillis(timeout)))
  const reconnectMillis = Duration.toMillis(Duration.fromInputUnsafe(options.reconnectDelay ?? "1 second"))
  const address = `${options.url.host}:${options.url.port}/${options.url.db}`

  let connected: { readonly redis: Redis.Redis["Service"]; readonly client: NodeRedis.NodeRedis["Service"]["client"] } | undefined
  let connectionError: unknown = "not connected yet"

  const scope = yield* Effect.scope
  const clientScope = yield* Scope.fork(scope)
  yield* Effect.addFinalizer(() =>
    Effect.gen(function*() {
      const drop = yield* Effect.forkDetach(
        Effect.sleep(timeout).pipe(Effect.andThen(Effect.sync(() => connected?.client.destroy())))
      )
      yield* Scope.close(clientScope, Exit.void)
      yield* Fiber.interrupt(drop)
    })
  )

  const client = NodeRedis.layer({
    socket: {
      host: options.url.host,
      port: options.url.port,
      connectTimeout: Math.max(timeoutMillis, 1000),
      reconnectStrategy: (retries, cause) => {
        connectionError = cause
        return Math.min(50 * 2 ** Math.min(retries, 10), reconnectMillis) + Math.floor(Math.random() * 50)
      }
    },
    database: options.url.db,
    disableOfflineQueue: true,
    commandOptions: { timeout: timeoutMillis }
  }).pipe(Layer.provide(Logger.layer([])))

  yield* Layer.buildWithScope(client, clientScope).pipe(
    Effect.flatMap((context) =>
      Effect.sync(() => {
        connected = { redis: Context.get(context, Redis.Redis), client: Context.get(context, NodeRedis.NodeRedis).client }
      })
    ),
    Effect.ignore,
    Effect.forkIn(scope)
  )

  const notConnected = Effect.suspend(() =>
    Effect.fail(new Redis.RedisError({ cause: new Error(`not connected (${oneLine(connectionError)})`) }))
  )

  const bounded = <A>(effect: Effect.Effect<A, Redis.RedisError>) =>
    effect.pipe(
      Effect.timeoutOrElse({
        duration: timeout,
        orElse: () =>
          Effect.fail(new Redis.RedisError({ cause: new Cause.TimeoutError(`no answer within ${Duration.format(timeout)}`) }))
      })
    )

  const connection: RedisConnection = {
    address,
    eval: (script) => (...params) =>
      Effect.suspend(() => (connected === undefined ? notConnected : bounded(connected.redis.eval(script)(...params)))),
    ping: Effect.suspend(() => (connected === undefined ? notConnected : bounded(connected.redis.send("PING")))).pipe(
      Effect.asVoid
    ),
    describe: (error) => {
      const offline = error.cause instanceof ClientOfflineError || error.cause instanceof ClientClosedError
      return offline ? `offline (${oneLine(connectionError)})` : oneLine(error.cause)
    }
  }
  return connection
})

/** The connection as a service, for the store and its tests. */
export class Connection extends Context.Service<Connection, RedisConnection>()(
  "effect-connection-pool/examples/RedisConnection"
) {}

export const layer = (options: Options): Layer.Layer<Connection> => Layer.effect(Connection, make(options))
