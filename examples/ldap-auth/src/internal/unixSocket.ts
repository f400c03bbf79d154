/**
 * The file of a listening unix socket. A process killed with SIGKILL (or by the OOM killer) leaves it behind, and
 * the next `listen` would fail with EADDRINUSE; `claim` removes such a stale file, but never one a live server
 * still answers on, and never a file that is not a socket. After `listen`, `settle` sets the mode nginx needs and
 * removes the file when the scope closes.
 */
import * as Fs from "node:fs/promises"
import * as Net from "node:net"
import { Data, Duration, Effect, Scope } from "effect"

/** Why the socket path cannot be listened on; `message` is the operator's line without the variable name. */
export class SocketPathError extends Data.TaggedError("SocketPathError")<{
  readonly reason: "InUse" | "NotASocket" | "Unusable"
  readonly message: string
  readonly cause?: unknown
}> {}

const code = (cause: unknown) => (cause as { readonly code?: unknown } | undefined)?.code

/**
 * Whether something listens on the socket. A stale one refuses at once (ECONNREFUSED); a connect that neither
 * succeeds nor fails within a second is a live server with a full backlog, never a file to remove.
 */
const answers = (path: string): Effect.Effect<boolean> =>
  Effect.callback<boolean>((resume) => {
    const socket = Net.connect({ path })
    socket.once("connect", () => {
      socket.destroy()
      resume(Effect.succeed(true))
    })
    socket.once("error", () => resume(Effect.succeed(false)))
    return Effect.sync(() => socket.destroy())
  }).pipe(
    // The kernel accepts into the backlog for the server, so even a frozen (SIGSTOP) server answers here.
    Effect.timeoutOrElse({ duration: Duration.seconds(1), orElse: () => Effect.succeed(true) })
  )

/** Makes `path` free for `listen`: nothing there, or a stale socket, which is removed. */
export const claim = (path: string): Effect.Effect<void, SocketPathError> =>
  Effect.gen(function*() {
    const stat = yield* Effect.tryPromise({ try: () => Fs.lstat(path), catch: (cause) => cause }).pipe(
      Effect.catch((cause) =>
        code(cause) === "ENOENT"
          ? Effect.succeed(undefined)
          : Effect.fail(new SocketPathError({ reason: "Unusable", message: `cannot be checked (${code(cause) ?? String(cause)})`, cause }))
      )
    )
    if (stat === undefined) return
    if (!stat.isSocket()) {
      return yield* new SocketPathError({ reason: "NotASocket", message: "exists and is not a socket; refusing to replace it" })
    }
    if (yield* answers(path)) {
      return yield* new SocketPathError({ reason: "InUse", message: "a running server answers on it; stop it first" })
    }
    yield* Effect.tryPromise({ try: () => Fs.unlink(path), catch: (cause) => cause }).pipe(
      Effect.catch((cause) =>
        code(cause) === "ENOENT"
          ? Effect.void
          : Effect.fail(
            new SocketPathError({ reason: "Unusable", message: `is a stale socket that cannot be removed (${String(code(cause))})`, cause })
          )
      ),
      Effect.andThen(Effect.logInfo("removed a stale socket left by a server that did not stop").pipe(Effect.annotateLogs({ path })))
    )
  })

/**
 * Once listening: the socket gets `mode` (the kernel made it with the umask's), and it is removed when the scope
 * closes, if Node has not removed it already.
 */
export const settle = (path: string, mode: number): Effect.Effect<void, SocketPathError, Scope.Scope> =>
  Effect.tryPromise({ try: () => Fs.chmod(path, mode), catch: (cause) => cause }).pipe(
    Effect.mapError((cause) =>
      new SocketPathError({ reason: "Unusable", message: `cannot be given mode ${mode.toString(8).padStart(4, "0")} (${String(code(cause))})`, cause })
    ),
    Effect.andThen(Effect.addFinalizer(() => Effect.promise(() => Fs.rm(path, { force: true }))))
  )
