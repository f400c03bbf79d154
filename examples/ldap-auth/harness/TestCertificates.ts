/**
 * Throwaway certificates for TLS tests, made with `openssl` in a directory of the caller's: a CA, a server
 * certificate it signs (RSA-2048, valid for `127.0.0.1` and `ldap.test`), and a second CA that signed nothing, for
 * a client that must not trust the server.
 */
import * as ChildProcess from "node:child_process"
import * as Path from "node:path"
import { Effect } from "effect"
import * as ServerProcess from "./ServerProcess.ts"

export interface TestCertificates {
  /** PEM of the CA that signed the server's certificate. */
  readonly caFile: string
  /** PEM of a CA that signed nothing the server shows. */
  readonly otherCaFile: string
  readonly certFile: string
  readonly keyFile: string
  /** The DNS name in the server's certificate (besides the IP address 127.0.0.1). */
  readonly serverName: string
}

const serverName = "ldap.test"

const openssl = (args: ReadonlyArray<string>) =>
  Effect.callback<void, ServerProcess.ServerProcessError>((resume) => {
    ChildProcess.execFile("openssl", args, { timeout: 30_000 }, (error, _stdout, stderr) =>
      resume(
        error === null
          ? Effect.void
          : Effect.fail(new ServerProcess.ServerProcessError({ message: `openssl ${args[0]} failed: ${stderr}`, cause: error }))
      )
    )
  })

const makeCa = (dir: string, name: string) =>
  openssl([
    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", `/CN=${name}`,
    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    "-keyout", Path.join(dir, `${name}.key`), "-out", Path.join(dir, `${name}.pem`)
  ])

/** Writes the files into `dir` (which must exist and be private to the test). */
export const make = (dir: string): Effect.Effect<TestCertificates, ServerProcess.ServerProcessError> =>
  Effect.gen(function*() {
    const path = (name: string) => Path.join(dir, name)
    yield* Effect.all([makeCa(dir, "test-ca"), makeCa(dir, "other-ca")], { concurrency: "unbounded" })
    yield* openssl([
      "req", "-newkey", "rsa:2048", "-nodes", "-subj", `/CN=${serverName}`,
      "-keyout", path("server.key"), "-out", path("server.csr")
    ])
    yield* ServerProcess.writeFile(
      path("server.ext"),
      `subjectAltName=DNS:${serverName},IP:127.0.0.1\nextendedKeyUsage=serverAuth\n`
    )
    yield* openssl([
      "x509", "-req", "-in", path("server.csr"), "-days", "2", "-CA", path("test-ca.pem"), "-CAkey",
      path("test-ca.key"), "-CAcreateserial", "-extfile", path("server.ext"), "-out", path("server.pem")
    ])
    return {
      caFile: path("test-ca.pem"),
      otherCaFile: path("other-ca.pem"),
      certFile: path("server.pem"),
      keyFile: path("server.key"),
      serverName
    }
  })
