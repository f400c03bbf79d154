/**
 * Notices a server whose process has run out of file descriptors. Node never says so: when `accept` fails with
 * EMFILE, libuv frees a descriptor it keeps in reserve, accepts and closes every pending connection with it and
 * takes the reserve back, without a callback (so no `error` event on the server). Clients see their connection
 * closed at once and the log stays empty. So the watch asks the kernel itself, every `intervalMillis` while the
 * server listens: can one more descriptor be opened?
 */
import * as Fs from "node:fs"
import type * as Net from "node:net"

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

/**
 * From `listening` to `close`, calls `onExhausted` with the error code and the server's open connections at every
 * look that finds no descriptor free. The timer never keeps the process alive.
 */
export const watch = (
  server: Net.Server,
  intervalMillis: number,
  onExhausted: (code: string, connections: number) => void
): void => {
  server.once("listening", () => {
    const timer = setInterval(() => {
      const code = exhausted()
      if (code !== undefined) server.getConnections((_, count) => onExhausted(code, count))
    }, intervalMillis).unref()
    server.once("close", () => clearInterval(timer))
  })
}
