/**
 * Reads one password from standard input for `check`: the first line of a pipe, or typed at a terminal without
 * echo (backspace edits, Ctrl-C interrupts). Never from argv, where `ps` would show it.
 */
import { Effect, Redacted } from "effect"

const maxBytes = 4096

export const readPassword: Effect.Effect<Redacted.Redacted<string>> = Effect.callback((resume) => {
  const stdin = process.stdin
  const tty = stdin.isTTY === true
  const piped: Array<Buffer> = []
  let typed = ""
  let size = 0

  const cleanup = () => {
    stdin.off("data", onData).off("end", onEnd).pause()
    if (tty) {
      stdin.setRawMode(false)
      process.stderr.write("\n")
    }
  }
  const done = (password: string | undefined) => {
    cleanup()
    resume(password === undefined ? Effect.interrupt : Effect.succeed(Redacted.make(password)))
  }
  const onTyped = (chunk: Buffer) => {
    for (const char of chunk.toString("utf8")) {
      if (char === "\r" || char === "\n") return done(typed)
      if (char === "\u0003") return done(undefined)
      typed = char === "\u007f" || char === "\b" ? typed.slice(0, -1) : typed + char
    }
    if (typed.length > maxBytes) done(typed)
  }
  const onPiped = (chunk: Buffer) => {
    piped.push(chunk)
    size += chunk.length
    if (chunk.includes(0x0a) || size > maxBytes) onEnd()
  }
  const onData = tty ? onTyped : onPiped
  const onEnd = () => {
    const text = tty ? typed : Buffer.concat(piped).toString("utf8")
    const end = text.search(/\r?\n/)
    done(end >= 0 ? text.slice(0, end) : text)
  }

  if (tty) {
    process.stderr.write("Password: ")
    stdin.setRawMode(true)
  }
  stdin.on("data", onData).on("end", onEnd).resume()
  return Effect.sync(cleanup)
})
