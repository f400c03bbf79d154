/**
 * Counting TCP connections to one port, from both ends. The client side: every socket this process connects
 * (Node publishes each new client socket on the `net.client.socket` diagnostics channel). The server side: `ss`,
 * polled during a run, remembers every client port it saw in any state, so a connection that lived for a
 * millisecond is still caught as the TIME_WAIT it left behind.
 */
import { execFile } from "node:child_process"
import { subscribe, unsubscribe } from "node:diagnostics_channel"
import type { Socket } from "node:net"

/** Counts the sockets this process connects to `port` until `stop` is called. */
export const countClientConnections = (port: number) => {
  let count = 0
  const onSocket = (message: unknown) => {
    const socket = (message as { readonly socket: Socket }).socket
    socket.once("connect", () => {
      if (socket.remotePort === port) count++
    })
  }
  subscribe("net.client.socket", onSocket)
  return {
    stop: (): number => {
      unsubscribe("net.client.socket", onSocket)
      return count
    }
  }
}

export interface SocketLine {
  readonly state: string
  /** Whether this is the server's end (its local port is `port`). */
  readonly serverEnd: boolean
  /** The port of the end that is not `port`: the client's ephemeral port. */
  readonly peerPort: number
}

/** Every TCP socket on this host with `port` at one end, as `ss` lists it. */
export const listSockets = (port: number): Promise<ReadonlyArray<SocketLine>> =>
  new Promise((resolve, reject) =>
    execFile(
      "ss",
      ["-tanH", `( sport = :${port} or dport = :${port} )`],
      { maxBuffer: 64 * 1024 * 1024 },
      (error, stdout) => {
        if (error !== null) return reject(error)
        const lines = stdout.split("\n").filter((line) => line.trim() !== "")
        resolve(lines.map((line) => {
          const [state = "", , , local = "", peer = ""] = line.trim().split(/\s+/)
          const localPort = Number(local.slice(local.lastIndexOf(":") + 1))
          const peerPort = Number(peer.slice(peer.lastIndexOf(":") + 1))
          return { state, serverEnd: localPort === port, peerPort: localPort === port ? peerPort : localPort }
        }))
      }
    )
  )

/**
 * Polls `ss` every `intervalMillis` and remembers the client ports seen; `stop` returns how many. Sockets already
 * there when the watch starts (the fixture's readiness probe) are left out, of the count and of `timeWait`.
 */
export const watchServerConnections = async (port: number, intervalMillis: number) => {
  const before = new Set((await listSockets(port)).map((socket) => socket.peerPort))
  const seen = new Set<number>()
  let maxEstablished = 0
  const poll = async () => {
    const sockets = await listSockets(port)
    let established = 0
    for (const socket of sockets) {
      if (socket.state === "LISTEN" || before.has(socket.peerPort)) continue
      seen.add(socket.peerPort)
      if (socket.state === "ESTAB" && socket.serverEnd) established++
    }
    maxEstablished = Math.max(maxEstablished, established)
  }
  let running = poll()
  const timer = setInterval(() => {
    running = running.then(poll)
  }, intervalMillis)
  return {
    stop: async (): Promise<{ readonly opened: number; readonly maxEstablished: number }> => {
      clearInterval(timer)
      await running.then(poll)
      return { opened: seen.size, maxEstablished }
    },
    /** TIME_WAIT sockets with `port` at one end, from connections made since the watch started. */
    timeWait: async (): Promise<number> =>
      (await listSockets(port)).filter((socket) => socket.state === "TIME-WAIT" && !before.has(socket.peerPort))
        .length
  }
}
