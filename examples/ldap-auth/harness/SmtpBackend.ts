/**
 * A minimal SMTP backend on a free loopback port, for nginx's SMTP proxy (Debian has no Dovecot submission
 * server in the packages the example installs). It takes nginx's `XCLIENT LOGIN=…` and answers `NOOP` with the
 * login it was given, so a test can see which user the backend believes it serves.
 */
import * as Net from "node:net"
import { Context, Effect, Layer, Scope } from "effect"
import * as ServerProcess from "./ServerProcess.ts"

export interface SmtpBackendInstance {
  readonly port: number
}

export class SmtpBackend extends Context.Service<SmtpBackend, SmtpBackendInstance>()(
  "effect-connection-pool/examples/SmtpBackend"
) {}

const reply = (line: string, state: { login: string }): string | undefined => {
  const verb = line.split(" ", 1)[0]!.toUpperCase()
  switch (verb) {
    case "XCLIENT": {
      state.login = /(?:^| )LOGIN=(\S+)/.exec(line)?.[1] ?? ""
      return "220 backend ESMTP"
    }
    case "NOOP":
      return `250 2.0.0 backend serves ${state.login === "" ? "nobody" : state.login}`
    case "QUIT":
      return undefined
    default:
      return "250 backend"
  }
}

const serve = (socket: Net.Socket) => {
  const state = { login: "" }
  let buffered = ""
  socket.on("error", () => socket.destroy())
  socket.write("220 backend ESMTP\r\n")
  socket.on("data", (chunk) => {
    buffered += chunk.toString("latin1")
    let end: number
    while ((end = buffered.indexOf("\r\n")) >= 0) {
      const answer = reply(buffered.slice(0, end), state)
      buffered = buffered.slice(end + 2)
      if (answer === undefined) {
        socket.end("221 2.0.0 bye\r\n")
        return
      }
      socket.write(answer + "\r\n")
    }
  })
}

/** Listens for the life of the scope; the release drops open sessions so that closing does not wait for them. */
export const make: Effect.Effect<SmtpBackendInstance, ServerProcess.ServerProcessError, Scope.Scope> =
  Effect.acquireRelease(
    Effect.callback<{ server: Net.Server; sockets: Set<Net.Socket> }, ServerProcess.ServerProcessError>(
      (resume) => {
        const sockets = new Set<Net.Socket>()
        const server = Net.createServer((socket) => {
          sockets.add(socket)
          socket.once("close", () => sockets.delete(socket))
          serve(socket)
        })
        server.once("error", (cause) =>
          resume(Effect.fail(new ServerProcess.ServerProcessError({ message: "SMTP backend did not listen", cause }))))
        server.listen(0, "127.0.0.1", () => resume(Effect.succeed({ server, sockets })))
      }
    ),
    ({ server, sockets }) =>
      Effect.callback<void>((resume) => {
        server.close(() => resume(Effect.void))
        sockets.forEach((socket) => socket.destroy())
      })
  ).pipe(Effect.map(({ server }) => ({ port: (server.address() as Net.AddressInfo).port })))

export const layer: Layer.Layer<SmtpBackend, ServerProcess.ServerProcessError> = Layer.effect(SmtpBackend, make)
