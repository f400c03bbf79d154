/**
 * Raw IMAP, POP3 and SMTP clients over `node:net`, just enough to log in through nginx with SASL PLAIN and see
 * what came back: the backend's own reply on success, the auth server's `Auth-Status` text on failure. PLAIN
 * carries any bytes (NUL, invalid UTF-8), which the hostile-input tests need. Used by tests and by `demo`.
 */
import * as Net from "node:net"
import { Data, Duration, Effect } from "effect"

export class MailClientError extends Data.TaggedError("MailClientError")<{
  readonly message: string
  readonly cause?: unknown
}> {}

export type Protocol = "imap" | "pop3" | "smtp"

export interface LoginResult {
  /** The server said yes to the credentials. */
  readonly accepted: boolean
  /** The line that answered the credentials. */
  readonly reply: string
  /** On success, the backend's answer to one more command (IMAP `NOOP`, POP3 `STAT`, SMTP `NOOP`). */
  readonly backend?: string
}

export interface LoginOptions {
  readonly port: number
  readonly user: string | Uint8Array
  readonly password: string | Uint8Array
}

/** Reads CRLF-terminated lines; `undefined` once the server has closed the connection. */
class Lines {
  private buffered = ""
  private readonly queue: Array<string | undefined> = []
  private waiting: ((line: string | undefined) => void) | undefined
  private closed = false
  readonly socket: Net.Socket
  constructor(socket: Net.Socket) {
    this.socket = socket
    socket.on("data", (chunk) => {
      this.buffered += chunk.toString("utf8")
      let end: number
      while ((end = this.buffered.indexOf("\r\n")) >= 0) {
        this.push(this.buffered.slice(0, end))
        this.buffered = this.buffered.slice(end + 2)
      }
    })
    socket.on("close", () => {
      this.closed = true
      this.push(undefined)
    })
    socket.on("error", () => {})
  }
  private push(line: string | undefined) {
    const waiting = this.waiting
    this.waiting = undefined
    if (waiting) waiting(line)
    else this.queue.push(line)
  }
  next(): Promise<string | undefined> {
    if (this.queue.length > 0) return Promise.resolve(this.queue.shift())
    if (this.closed) return Promise.resolve(undefined)
    return new Promise((resolve) => (this.waiting = resolve))
  }
  /** The first line that `done` accepts; intermediate lines (IMAP untagged, SMTP continuations) are skipped. */
  async until(done: (line: string) => boolean): Promise<string> {
    for (;;) {
      const line = await this.next()
      if (line === undefined) return "(connection closed)"
      if (done(line)) return line
    }
  }
  send(line: string) {
    this.socket.write(line + "\r\n")
  }
}

const bytes = (value: string | Uint8Array) => (typeof value === "string" ? Buffer.from(value, "utf8") : value)

/** SASL PLAIN: authzid empty, then authcid and password, NUL-separated, base64. */
export const plain = (user: string | Uint8Array, password: string | Uint8Array): string =>
  Buffer.concat([Buffer.of(0), bytes(user), Buffer.of(0), bytes(password)]).toString("base64")

const imap = async (lines: Lines, token: string): Promise<LoginResult> => {
  await lines.until((line) => line.startsWith("* "))
  lines.send("A1 AUTHENTICATE PLAIN")
  const challenge = await lines.until((line) => line.startsWith("+") || line.startsWith("A1 "))
  if (!challenge.startsWith("+")) return { accepted: false, reply: challenge }
  lines.send(token)
  const reply = await lines.until((line) => line.startsWith("A1 ") || line.startsWith("* BYE"))
  if (!reply.startsWith("A1 OK")) return { accepted: false, reply }
  lines.send("A2 NOOP")
  const backend = await lines.until((line) => line.startsWith("A2 "))
  lines.send("A3 LOGOUT")
  return { accepted: true, reply, backend }
}

const pop3 = async (lines: Lines, token: string): Promise<LoginResult> => {
  await lines.next()
  lines.send("AUTH PLAIN")
  const challenge = await lines.until(() => true)
  if (!challenge.startsWith("+ ") && challenge !== "+") return { accepted: false, reply: challenge }
  lines.send(token)
  const reply = await lines.until(() => true)
  if (!reply.startsWith("+OK")) return { accepted: false, reply }
  lines.send("STAT")
  const backend = await lines.until(() => true)
  lines.send("QUIT")
  return { accepted: true, reply, backend }
}

const final = (line: string) => !/^\d{3}-/.test(line)

const smtp = async (lines: Lines, token: string): Promise<LoginResult> => {
  await lines.until(final)
  lines.send("EHLO client.test")
  await lines.until(final)
  lines.send("AUTH PLAIN")
  const challenge = await lines.until(final)
  if (!challenge.startsWith("334")) return { accepted: false, reply: challenge }
  lines.send(token)
  const reply = await lines.until(final)
  if (!reply.startsWith("235")) return { accepted: false, reply }
  lines.send("NOOP")
  const backend = await lines.until(final)
  lines.send("QUIT")
  return { accepted: true, reply, backend }
}

const dialogs = { imap, pop3, smtp } as const

/** Several IMAP AUTHENTICATE attempts on one connection, as a client retrying after a refusal does. */
const imapRetries = async (lines: Lines, tokens: ReadonlyArray<string>): Promise<ReadonlyArray<string>> => {
  await lines.until((line) => line.startsWith("* "))
  const replies: Array<string> = []
  for (const [i, token] of tokens.entries()) {
    const tag = `R${i + 1}`
    lines.send(`${tag} AUTHENTICATE PLAIN`)
    const challenge = await lines.until((line) => line.startsWith("+") || line.startsWith(`${tag} `))
    if (!challenge.startsWith("+")) {
      replies.push(challenge)
      continue
    }
    lines.send(token)
    replies.push(await lines.until((line) => line.startsWith(`${tag} `)))
  }
  return replies
}

const connect = (port: number) =>
  Effect.callback<Lines, MailClientError>((resume) => {
    const socket = Net.connect({ host: "127.0.0.1", port })
    const lines = new Lines(socket)
    socket.once("connect", () => resume(Effect.succeed(lines)))
    socket.once("error", (cause) => resume(Effect.fail(new MailClientError({ message: `cannot connect to ${port}`, cause }))))
  })

const converse = <A>(port: number, name: string, timeout: Duration.Input | undefined, talk: (lines: Lines) => Promise<A>) =>
  Effect.acquireUseRelease(
    connect(port),
    (lines) =>
      Effect.tryPromise({
        try: () => talk(lines),
        catch: (cause) => new MailClientError({ message: `${name} failed`, cause })
      }).pipe(
        Effect.timeoutOrElse({
          duration: timeout ?? Duration.seconds(30),
          orElse: () => Effect.fail(new MailClientError({ message: `${name} got no answer` }))
        })
      ),
    (lines) => Effect.sync(() => lines.socket.destroy())
  )

/**
 * Connects to `port` on 127.0.0.1 and logs in with `protocol`. A login that gets no final answer within
 * `timeout` (30 s by default, a guard against a hung test rather than an assertion) fails.
 */
export const login = (
  protocol: Protocol,
  options: LoginOptions & { readonly timeout?: Duration.Input }
): Effect.Effect<LoginResult, MailClientError> =>
  converse(options.port, `${protocol} login`, options.timeout, (lines) =>
    dialogs[protocol](lines, plain(options.user, options.password)))

/**
 * Tries IMAP logins with each password in turn on one connection and returns each answer; once nginx has
 * closed the connection the answer is `(connection closed)`.
 */
export const imapAttempts = (
  options: Omit<LoginOptions, "password"> & { readonly passwords: ReadonlyArray<string>; readonly timeout?: Duration.Input }
): Effect.Effect<ReadonlyArray<string>, MailClientError> =>
  converse(options.port, "imap attempts", options.timeout, (lines) =>
    imapRetries(lines, options.passwords.map((password) => plain(options.user, password))))
