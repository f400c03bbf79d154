/**
 * `main.ts serve` as a child process against a slapd, as an operator runs it: the tests that need the real
 * process (its resident memory, its stderr, its signals, its file descriptor limit) start it here, and ask it
 * over raw sockets the way nginx does (one request per connection, the client's bytes as they came).
 */
import * as ChildProcess from "node:child_process"
import * as Net from "node:net"
import * as Path from "node:path"
import { Duration, Effect, Redacted, Schedule } from "effect"
import type { Scope } from "effect"
import * as ServerProcess from "./ServerProcess.ts"
import type * as Slapd from "./Slapd.ts"

const main = Path.join(import.meta.dirname, "..", "main.ts")

export interface Options {
  /** Variables on top of the directory's, the two ports and PATH. */
  readonly env?: Readonly<Record<string, string>> | undefined
  /** Node's own flags, such as `--max-old-space-size=160`. */
  readonly nodeFlags?: ReadonlyArray<string> | undefined
  /** `ulimit -n` for the process (soft and hard, so Node cannot raise it). */
  readonly maxOpenFiles?: number | undefined
}

export interface ServeProcess {
  readonly child: ChildProcess.ChildProcess
  readonly authPort: number
  readonly metricsPort: number
  /** What the process wrote on stderr so far (its log), kept to the last 1 MB. */
  readonly stderr: () => string
  /** Its exit code once it has exited (`null` when killed by a signal). */
  readonly exited: Effect.Effect<number | null>
}

const maxStderr = 1024 * 1024

/** The variables that point a `serve` at `slapd`. */
export const ldapEnv = (slapd: Slapd.SlapdInstance): Record<string, string> => ({
  LDAP_URLS: slapd.url,
  LDAP_BASE_DN: slapd.baseDn,
  LDAP_BIND_DN: slapd.serviceDn,
  LDAP_BIND_PASSWORD: Redacted.value(slapd.servicePassword)
})

/** One start on two ports that were free a moment ago. */
const start = (slapd: Slapd.SlapdInstance, options: Options) =>
  Effect.gen(function*() {
    const [authPort, metricsPort] = [yield* ServerProcess.freePort, yield* ServerProcess.freePort]
    // As `npm run ldap-auth` runs it: the pool resolved from `src/` through the package's own export condition.
    const args = [...(options.nodeFlags ?? []), "--conditions=effect-connection-pool:source", main, "serve"]
    const [command, argv] = options.maxOpenFiles === undefined
      ? [process.execPath, args]
      : ["bash", ["-c", `ulimit -n ${options.maxOpenFiles} && exec "$0" "$@"`, process.execPath, ...args]]
    const child = yield* Effect.acquireRelease(
      Effect.sync(() =>
        ChildProcess.spawn(command, argv, {
          env: {
            PATH: process.env.PATH ?? "",
            ...ldapEnv(slapd),
            AUTH_HTTP_PORT: String(authPort),
            METRICS_PORT: String(metricsPort),
            ...options.env
          },
          stdio: ["ignore", "ignore", "pipe"]
        })
      ),
      (child) => Effect.sync(() => child.kill("SIGKILL"))
    )
    // A spawn that fails (no bash) shows as a process that never listens, named with its stderr below.
    child.once("error", () => {})
    let stderr = ""
    child.stderr!.on("data", (chunk: Buffer) => {
      stderr = (stderr + chunk.toString("utf8")).slice(-maxStderr)
    })
    const exited = Effect.callback<number | null>((resume) => {
      if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.succeed(child.exitCode))
      child.once("exit", (code) => resume(Effect.succeed(code)))
    })
    // Its start-up line names the auth port once both listeners are bound; a port that answers could be another
    // process's, which took it between `freePort` and the listen.
    yield* Effect.suspend(() => {
      if (stderr.includes(`127.0.0.1:${authPort}/auth`)) return Effect.void
      const message = child.exitCode !== null || child.signalCode !== null
        ? `serve exited (${child.exitCode ?? child.signalCode}): ${stderr}`
        : "serve has not started"
      return Effect.fail(new ServerProcess.ServerProcessError({ message }))
    }).pipe(
      Effect.retry({
        while: (error) => error.message === "serve has not started",
        schedule: Schedule.spaced(Duration.millis(20)),
        times: 500
      })
    )
    return { child, authPort, metricsPort, stderr: () => stderr, exited }
  })

/**
 * Starts `serve` on two free loopback ports and waits until it says it listens on both; SIGKILL when the scope
 * closes. A port taken by another process in the meantime means another try on other ports (three at most).
 */
export const make = (
  slapd: Slapd.SlapdInstance,
  options: Options = {}
): Effect.Effect<ServeProcess, ServerProcess.ServerProcessError, Scope.Scope> =>
  start(slapd, options).pipe(
    Effect.retry({ while: (error) => error.message.includes("is already in use"), times: 2 })
  )

/** What one request got: the response (empty when nothing came), or the socket's error. */
export interface Answer {
  /** `HTTP/1.1 200 OK`. */
  readonly statusLine: string
  /** Lower-cased names. */
  readonly headers: Readonly<Record<string, string>>
  readonly error?: string | undefined
}

/**
 * One `GET /auth` on its own connection, the header values written as latin1 (each character the byte it stands
 * for, as nginx passes the client's bytes on). Resolves when the server closes the connection.
 */
export const ask = (port: number, headers: Readonly<Record<string, string>>): Promise<Answer> =>
  new Promise((resolve) => {
    const socket = Net.connect({ host: "127.0.0.1", port })
    let received = ""
    let error: string | undefined
    socket.on("data", (chunk) => (received += chunk.toString("latin1")))
    socket.on("error", (cause: NodeJS.ErrnoException) => (error = cause.code ?? cause.message))
    socket.on("close", () => {
      const [statusLine = "", ...head] = received.split("\r\n\r\n")[0]!.split("\r\n")
      const parsed = Object.fromEntries(head.filter((line) => line !== "").map((line) => {
        const colon = line.indexOf(":")
        return [line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim()]
      }))
      resolve({ statusLine, headers: parsed, error })
    })
    const lines = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join("")
    socket.write(`GET /auth HTTP/1.0\r\nHost: localhost\r\n${lines}\r\n`, "latin1")
  })

/** nginx's headers for one IMAP login. */
export const login = (user: string, password: string, clientIp: string): Record<string, string> => ({
  "Auth-Method": "plain",
  "Auth-User": user,
  "Auth-Pass": password,
  "Auth-Protocol": "imap",
  "Auth-Login-Attempt": "1",
  "Client-IP": clientIp
})

/** `Auth-Status` of one login, `(no answer)` when none came. */
export const status = (port: number, user: string, password: string, clientIp: string): Effect.Effect<string> =>
  Effect.promise(() => ask(port, login(user, password, clientIp))).pipe(
    Effect.map((answer) => answer.headers["auth-status"] ?? "(no answer)")
  )
