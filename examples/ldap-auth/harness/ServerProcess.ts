/**
 * What every throwaway server (nginx, dovecot) needs: a temporary directory, free loopback ports, a foreground
 * child process that is polled until its port answers, and a release that kills it and removes the directory
 * whatever state the caller left it in. Used by the test fixtures and by `demo`.
 */
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs/promises"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import { readFileSync } from "node:fs"
import { Data, Duration, Effect, Exit, Schedule, Scope } from "effect"

export class ServerProcessError extends Data.TaggedError("ServerProcessError")<{
  readonly message: string
  readonly cause?: unknown
}> {}

const fail = (message: string) => (cause: unknown) => new ServerProcessError({ message, cause })

/**
 * A temporary directory removed when the scope closes. Mode 0755 so that the unprivileged helpers of a server
 * started as root (dovecot's login processes) can reach their sockets inside it.
 */
export const tempDir = (prefix: string): Effect.Effect<string, ServerProcessError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: async () => {
        const dir = await Fs.mkdtemp(Path.join(Os.tmpdir(), prefix))
        await Fs.chmod(dir, 0o755)
        return dir
      },
      catch: fail("mkdtemp failed")
    }),
    (dir) => Effect.promise(() => Fs.rm(dir, { recursive: true, force: true }))
  )

export const writeFile = (path: string, text: string): Effect.Effect<void, ServerProcessError> =>
  Effect.tryPromise({ try: () => Fs.writeFile(path, text), catch: fail(`writing ${path} failed`) })

/** `mkdir` then `chmod`, since the umask trims the mode `mkdir` is given. */
export const makeDir = (path: string, mode: number): Effect.Effect<void, ServerProcessError> =>
  Effect.tryPromise({
    try: async () => {
      await Fs.mkdir(path)
      await Fs.chmod(path, mode)
    },
    catch: fail(`mkdir ${path} failed`)
  })

export const readFile = (path: string): Effect.Effect<string, ServerProcessError> =>
  Effect.tryPromise({ try: () => Fs.readFile(path, "utf8"), catch: fail(`reading ${path} failed`) }).pipe(
    Effect.catch(() => Effect.succeed(""))
  )

/**
 * The environment for the servers' commands: Debian installs slapd, slappasswd, nginx and dovecot in
 * `/usr/sbin`, which an ordinary user's PATH lacks.
 */
export const commandEnv: NodeJS.ProcessEnv = {
  ...process.env,
  PATH: [process.env.PATH ?? "/usr/bin:/bin", "/usr/sbin", "/sbin"].join(":")
}

/** Runs a command to its end (10 s at most) and returns its standard output; fails with its standard error. */
export const execute = (command: string, args: ReadonlyArray<string>): Effect.Effect<string, ServerProcessError> =>
  Effect.callback((resume) => {
    ChildProcess.execFile(command, args, { timeout: 10_000, env: commandEnv }, (error, stdout, stderr) =>
      resume(
        error === null
          ? Effect.succeed(stdout)
          : Effect.fail(new ServerProcessError({ message: `${command} failed: ${stderr}`, cause: error }))
      ))
  })

/** A port that was free on 127.0.0.1 a moment ago (the kernel picked it for a listener on port 0). */
export const freePort: Effect.Effect<number, ServerProcessError> = Effect.callback((resume) => {
  const server = Net.createServer()
  server.once("error", (cause) => resume(Effect.fail(new ServerProcessError({ message: "no free port", cause }))))
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    server.close(() => resume(Effect.succeed(port)))
  })
})

const connects = (port: number) =>
  Effect.callback<void, ServerProcessError>((resume) => {
    const socket = Net.connect({ host: "127.0.0.1", port })
    socket.once("connect", () => {
      socket.destroy()
      resume(Effect.void)
    })
    socket.once("error", (cause) => resume(Effect.fail(new ServerProcessError({ message: "not listening", cause }))))
  })

/** Polls until something accepts connections on every port, for about five seconds. */
export const waitForPorts = (name: string, ports: ReadonlyArray<number>): Effect.Effect<void, ServerProcessError> =>
  Effect.forEach(ports, connects, { discard: true }).pipe(
    Effect.retry({ schedule: Schedule.spaced(Duration.millis(20)), times: 250 }),
    Effect.mapError((cause) => new ServerProcessError({ message: `${name} did not listen on ${ports.join(", ")}`, cause }))
  )

const exited = (child: ChildProcess.ChildProcess) =>
  Effect.callback<void>((resume) => {
    if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.void)
    child.once("exit", () => resume(Effect.void))
  })

/**
 * Spawns `command` in the foreground with its output appended to `logPath`, waits until it listens on `ports`,
 * and on release sends SIGTERM (SIGKILL after five seconds) and waits for the exit. If the process dies before
 * it listens, the error carries the tail of its log.
 */
export const spawn = (options: {
  readonly name: string
  readonly command: string
  readonly args: ReadonlyArray<string>
  readonly logPath: string
  readonly ports: ReadonlyArray<number>
}): Effect.Effect<ChildProcess.ChildProcess, ServerProcessError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.gen(function*() {
      const log = yield* Effect.tryPromise({ try: () => Fs.open(options.logPath, "a"), catch: fail("open log failed") })
      const child = yield* Effect.try({
        try: () => ChildProcess.spawn(options.command, options.args, { stdio: ["ignore", log.fd, log.fd], env: commandEnv }),
        catch: fail(`${options.name} did not start`)
      }).pipe(Effect.ensuring(Effect.promise(() => log.close())))
      child.once("error", () => {})
      return child
    }),
    (child) =>
      Effect.suspend(() => {
        child.kill("SIGTERM")
        return exited(child).pipe(
          Effect.timeoutOrElse({
            duration: Duration.seconds(5),
            orElse: () => Effect.sync(() => child.kill("SIGKILL")).pipe(Effect.andThen(exited(child)))
          })
        )
      })
  ).pipe(
    Effect.tap((child) =>
      waitForPorts(options.name, options.ports).pipe(
        Effect.catch((error) =>
          readFile(options.logPath).pipe(
            Effect.flatMap((log) =>
              Effect.fail(
                new ServerProcessError({
                  message: `${error.message} (exit ${child.exitCode ?? child.signalCode ?? "none"}): ${log.slice(-2000)}`,
                  cause: error
                })
              )
            )
          )
        )
      )
    )
  )

/** A server that tests stop, start, freeze and thaw at will, each run in a scope of its own. */
export interface Restartable {
  /** SIGTERM and wait for the exit; the port and the data stay for `start`. Nothing when not running. */
  readonly stop: Effect.Effect<void>
  /** Start again with the same options and wait until it listens. Nothing when running. */
  readonly start: Effect.Effect<void, ServerProcessError>
  /** SIGSTOP: the kernel still accepts connections, but nothing answers. */
  readonly freeze: Effect.Effect<void, ServerProcessError>
  /** SIGCONT. */
  readonly thaw: Effect.Effect<void, ServerProcessError>
}

// A signal is delivered asynchronously: wait until the kernel reports the process stopped (or running again),
// so that nothing the server answers after `freeze` returns.
const processState = (pid: number) =>
  Effect.sync(() => {
    try {
      return readFileSync(`/proc/${pid}/stat`, "utf8").replace(/^.*\) /s, "").charAt(0)
    } catch {
      return "?"
    }
  })

/**
 * `spawn` as a server that can be stopped and started again on the same port: started now, and stopped (thawed
 * first, since a frozen process would not act on SIGTERM) when the scope closes, whatever state a test left it in.
 */
export const restartable = (
  options: Parameters<typeof spawn>[0]
): Effect.Effect<Restartable, ServerProcessError, Scope.Scope> => {
  let current: { readonly scope: Scope.Closeable; readonly child: ChildProcess.ChildProcess } | undefined

  const start = Effect.suspend(() => {
    if (current !== undefined) return Effect.void
    return Effect.gen(function*() {
      const scope = yield* Scope.make()
      const child = yield* spawn(options).pipe(Scope.provide(scope), Effect.onError(() => Scope.close(scope, Exit.void)))
      current = { scope, child }
    })
  })

  const stop = Effect.suspend(() => {
    const run = current
    if (run === undefined) return Effect.void
    current = undefined
    run.child.kill("SIGCONT")
    return Scope.close(run.scope, Exit.void)
  })

  const signal = (name: NodeJS.Signals, stopped: boolean) =>
    Effect.suspend(() => {
      const child = current?.child
      if (child?.pid === undefined || !child.kill(name)) {
        return Effect.fail(new ServerProcessError({ message: `kill -${name}: ${options.name} is not running` }))
      }
      return processState(child.pid).pipe(
        Effect.filterOrFail(
          (state) => (state === "T") === stopped,
          (state) => new ServerProcessError({ message: `kill -${name}: ${options.name} is in state ${state}` })
        ),
        Effect.retry({ schedule: Schedule.spaced(Duration.millis(5)), times: 200 }),
        Effect.asVoid
      )
    })

  return Effect.acquireRelease(start, () => stop).pipe(
    Effect.as<Restartable>({ stop, start, freeze: signal("SIGSTOP", true), thaw: signal("SIGCONT", false) })
  )
}
