/**
 * A real `redis-server` (Debian's package) for the tests of the shared rate-limit store: a temporary directory, a
 * free loopback port, no persistence, and the server in the foreground with its log captured. Built with
 * `acquireRelease`, so a failed test still stops the server and removes the directory; tests stop, start,
 * freeze and thaw it mid-run.
 */
import * as Path from "node:path"
import { Context, Effect, Layer } from "effect"
import * as ServerProcess from "./ServerProcess.ts"

export interface RedisServerInstance extends ServerProcess.Restartable {
  /** `redis://127.0.0.1:<port>/<db>`, as `REDIS_URL` takes it. */
  readonly url: (db?: number) => string
  readonly port: number
  /** Runs one command with `redis-cli` against the server (a client of its own), and returns its raw output. */
  readonly cli: (...args: ReadonlyArray<string>) => Effect.Effect<string, ServerProcess.ServerProcessError>
  /** The server's log of every run so far. */
  readonly log: Effect.Effect<string, ServerProcess.ServerProcessError>
}

/** One redis-server, as a service for `layer(RedisServer.layer)`. Use `make` directly for a second instance. */
export class RedisServer extends Context.Service<RedisServer, RedisServerInstance>()(
  "effect-connection-pool/examples/test/RedisServer"
) {}

const redisConf = (dir: string, port: number) => `
bind 127.0.0.1
port ${port}
protected-mode yes
daemonize no
dir ${dir}
save ""
appendonly no
databases 16
loglevel notice
`

/** Starts a redis-server on a free loopback port, stopped and removed when the scope closes. */
export const make = Effect.fn("RedisServer.make")(function*() {
  const dir = yield* ServerProcess.tempDir("redis-test-")
  const port = yield* ServerProcess.freePort
  const confPath = Path.join(dir, "redis.conf")
  const logPath = Path.join(dir, "redis.log")
  yield* ServerProcess.writeFile(confPath, redisConf(dir, port))
  const server = yield* ServerProcess.restartable({
    name: "redis-server",
    command: "redis-server",
    args: [confPath],
    logPath,
    ports: [port]
  })

  const cli = (...args: ReadonlyArray<string>) =>
    ServerProcess.execute("redis-cli", ["-h", "127.0.0.1", "-p", String(port), ...args])

  const instance: RedisServerInstance = {
    ...server,
    url: (db = 0) => `redis://127.0.0.1:${port}/${db}`,
    port,
    cli,
    log: ServerProcess.readFile(logPath)
  }
  return instance
})

/** A redis-server for a `layer(...)` block of tests. */
export const layer: Layer.Layer<RedisServer, ServerProcess.ServerProcessError> = Layer.effect(RedisServer, make())
