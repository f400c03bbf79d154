/**
 * Notices a process that has run out of file descriptors. Node never says so for a listening socket: when
 * `accept` fails with EMFILE, libuv frees a descriptor it keeps in reserve, accepts and closes every pending
 * connection with it and takes the reserve back, without a callback (so no `error` event on the server). Clients
 * see their connection closed at once and the log stays empty. So the watch asks the kernel itself, once per
 * `interval`: can one more descriptor be opened?
 */
import * as Fs from "node:fs"
import { Duration, Effect, Schedule } from "effect"
import type { Scope } from "effect"

/** `EMFILE` (this process) or `ENFILE` (the whole system) when no descriptor can be opened now; else `undefined`. */
export const exhausted = (): string | undefined => {
  try {
    Fs.closeSync(Fs.openSync("/dev/null", "r"))
    return undefined
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code
    return code === "EMFILE" || code === "ENFILE" ? code : undefined
  }
}

/** Runs `onExhausted` with the error code at every `interval` that finds no descriptor free, until the scope closes. */
export const watch = (
  interval: Duration.Input,
  onExhausted: (code: string) => Effect.Effect<void>
): Effect.Effect<void, never, Scope.Scope> =>
  Effect.suspend(() => {
    const code = exhausted()
    return code === undefined ? Effect.void : onExhausted(code)
  }).pipe(Effect.repeat(Schedule.spaced(interval)), Effect.forkScoped, Effect.asVoid)
