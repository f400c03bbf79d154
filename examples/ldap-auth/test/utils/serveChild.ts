/**
 * `serve` as an operator runs it, a child process with only the environment given (and PATH), for the tests of
 * what happens around the process: start-up checks, signals, the socket file a SIGKILL leaves behind.
 */
import * as ChildProcess from "node:child_process"
import * as Net from "node:net"
import * as Path from "node:path"
import { Duration, Effect, Schedule, Scope } from "effect"

const main = Path.join(import.meta.dirname, "..", "..", "main.ts")

export interface ServeChild {
  readonly child: ChildProcess.ChildProcess
  /** Everything written to stdout so far (`check`'s answer). */
  readonly stdout: () => string
  /** Everything written to stderr so far (the logs). */
  readonly stderr: () => string
  /** The exit code, once it has exited (`null` when a signal ended it). */
  readonly exited: Effect.Effect<number | null>
}

export interface SpawnOptions {
  /** The command line after `main.ts`; `serve` by default. */
  readonly args?: ReadonlyArray<string> | undefined
  /** Written to standard input, which is then closed (`check` reads the password there). */
  readonly stdin?: string | undefined
}

/** Starts `serve` (or `args`); the scope's close SIGKILLs it if it still runs. */
export const spawn = (env: Record<string, string>, options: SpawnOptions = {}): Effect.Effect<ServeChild, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      // As `npm run ldap-auth` runs it: the pool resolved from `src/` through the package's own export condition.
      const args = ["--conditions=effect-connection-pool:source", main, ...(options.args ?? ["serve"])]
      const child = ChildProcess.spawn(process.execPath, args, {
        env: { PATH: process.env.PATH ?? "", ...env },
        stdio: [options.stdin === undefined ? "ignore" : "pipe", "pipe", "pipe"]
      })
      child.stdin?.end(options.stdin)
      let stdout = ""
      let stderr = ""
      child.stdout!.on("data", (chunk) => (stdout += String(chunk)))
      child.stderr!.on("data", (chunk) => (stderr += String(chunk)))
      const exited = Effect.callback<number | null>((resume) => {
        if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.succeed(child.exitCode))
        child.once("exit", (code) => resume(Effect.succeed(code)))
      })
      return { child, stdout: () => stdout, stderr: () => stderr, exited }
    }),
    ({ child }) => Effect.sync(() => child.kill("SIGKILL"))
  )

/** Runs `serve` (or `args`) until it exits by itself (a start-up refusal, `check`), at most 30 s. */
export const runToExit = (env: Record<string, string>, options: SpawnOptions = {}) =>
  Effect.scoped(Effect.gen(function*() {
    const serve = yield* spawn(env, options)
    const code = yield* serve.exited.pipe(
      Effect.timeoutOrElse({ duration: Duration.seconds(30), orElse: () => Effect.die(`serve did not exit: ${serve.stderr()}`) })
    )
    return options.args === undefined ? { code, stderr: serve.stderr() } : { code, stdout: serve.stdout(), stderr: serve.stderr() }
  }))

/** Polls until `predicate` holds on serve's stderr (a start-up line), or fails with what it wrote, after 20 s. */
export const waitForLog = (serve: ServeChild, predicate: (stderr: string) => boolean) =>
  Effect.suspend(() => predicate(serve.stderr()) ? Effect.void : Effect.fail(serve.stderr())).pipe(
    Effect.retry({ schedule: Schedule.spaced(Duration.millis(25)), times: 800 }),
    Effect.mapError((stderr) => new Error(`serve did not log what was awaited; its stderr:\n${stderr}`)),
    Effect.orDie
  )

/** Whether something accepts connections on the unix socket at `path`. */
export const socketAnswers = (path: string): Effect.Effect<boolean> =>
  Effect.callback((resume) => {
    const socket = Net.connect({ path })
    socket.once("connect", () => {
      socket.destroy()
      resume(Effect.succeed(true))
    })
    socket.once("error", () => resume(Effect.succeed(false)))
  })
