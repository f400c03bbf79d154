/**
 * `bin/mail-auth`, the command a shell or a service unit runs: only `/bin/sh` and the system's tools on the PATH
 * (no npm, no Node 24 there), from another directory and through a symlink, as `/usr/local/bin/mail-auth` would be.
 */
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs/promises"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as ServerProcess from "../../harness/ServerProcess.ts"

const shim = Path.join(import.meta.dirname, "..", "..", "bin", "mail-auth")
const repository = Path.join(import.meta.dirname, "..", "..", "..", "..")
// What a systemd unit or a login shell has: whatever Node is installed is on it, not the one in node_modules.
const systemPath = "/usr/local/bin:/usr/bin:/bin"

interface Finished {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

const run = (command: string, args: ReadonlyArray<string>, cwd: string, env: Record<string, string> = {}) =>
  Effect.callback<Finished>((resume) => {
    ChildProcess.execFile(command, args, { cwd, env: { PATH: systemPath, ...env }, timeout: 30_000 }, (error, stdout, stderr) =>
      resume(Effect.succeed({ code: error === null ? 0 : typeof error.code === "number" ? error.code : null, stdout, stderr })))
  })

/** The shim linked from a directory of its own, as an operator would install it. */
const linked = Effect.gen(function*() {
  const dir = yield* ServerProcess.tempDir("mail-auth-bin-")
  const link = Path.join(dir, "mail-auth")
  yield* Effect.promise(() => Fs.symlink(shim, link))
  return { dir, link }
})

describe("bin/mail-auth", () => {
  it.live("runs the CLI on the Node in node_modules from any directory and through a symlink", () =>
    Effect.gen(function*() {
      const { dir, link } = yield* linked
      const help = yield* run(link, ["--help"], dir)
      assert.strictEqual(help.code, 0, help.stderr)
      for (const command of ["serve", "check", "demo"]) assert.match(help.stdout, new RegExp(`^  ${command} `, "m"))
      const serve = yield* run(link, ["serve"], dir)
      assert.strictEqual(serve.code, 1)
      assert.strictEqual(serve.stdout, "")
      assert.include(serve.stderr, "Configuration error: LDAP_URLS is not set\n")
      assert.notInclude(serve.stderr, "ERR_UNKNOWN_FILE_EXTENSION")
    }))

  it.live("becomes the server process (exec), so a service manager's SIGTERM stops it cleanly, exit 0", () =>
    Effect.gen(function*() {
      const { dir, link } = yield* linked
      const [authPort, metricsPort] = [yield* ServerProcess.freePort, yield* ServerProcess.freePort]
      const child = ChildProcess.spawn(link, ["serve"], {
        cwd: dir,
        stdio: "ignore",
        env: {
          PATH: systemPath,
          LDAP_URLS: "ldap://127.0.0.1:1",
          LDAP_BASE_DN: "dc=example,dc=org",
          LDAP_BIND_DN: "cn=auth,dc=example,dc=org",
          LDAP_BIND_PASSWORD: "x",
          AUTH_SHARED_SECRET: "s",
          AUTH_HTTP_PORT: String(authPort),
          METRICS_PORT: String(metricsPort)
        }
      })
      yield* Effect.addFinalizer(() => Effect.sync(() => child.kill("SIGKILL")))
      const exited = Effect.callback<number | null>((resume) => {
        if (child.exitCode !== null) return resume(Effect.succeed(child.exitCode))
        child.once("exit", (code) => resume(Effect.succeed(code)))
      })
      yield* ServerProcess.waitForPorts("mail-auth serve", [authPort, metricsPort])
      const executable = yield* Effect.promise(() => Fs.realpath(`/proc/${child.pid}/exe`))
      assert.strictEqual(executable, yield* Effect.promise(() => Fs.realpath(Path.join(repository, "node_modules", ".bin", "node"))))
      child.kill("SIGTERM")
      assert.strictEqual(yield* exited, 0)
    }))

  it.live("in a checkout without npm install: one line on stderr saying what to run, exit 1", () =>
    Effect.gen(function*() {
      const root = yield* ServerProcess.tempDir("mail-auth-checkout-")
      const bin = Path.join(root, "examples", "ldap-auth", "bin")
      yield* Effect.promise(() => Fs.mkdir(bin, { recursive: true }))
      yield* Effect.promise(() => Fs.copyFile(shim, Path.join(bin, "mail-auth")))
      yield* Effect.promise(() => Fs.chmod(Path.join(bin, "mail-auth"), 0o755))
      const result = yield* run(Path.join(bin, "mail-auth"), ["serve"], root)
      assert.strictEqual(result.code, 1)
      assert.strictEqual(result.stdout, "")
      assert.strictEqual(result.stderr, `mail-auth: ${root}/node_modules/.bin/node is missing: run npm install in ${root}\n`)
    }))
})
