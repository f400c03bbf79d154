/**
 * The README's TypeScript compiles and runs as written. A block opened with "```ts fragment" is a piece of a
 * program and is left out; every other `ts` block is a complete program: it is typechecked with the project's
 * strict settings and run against a real slapd, importing the pool by its package name as a user would.
 */
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { promisify } from "node:util"
import { assert, describe, layer } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import * as Slapd from "../examples/ldap-auth/harness/Slapd.ts"

const root = Path.join(import.meta.dirname, "..")
const execFile = promisify(ChildProcess.execFile)

/** The `ts` blocks of a Markdown text, with whether each is marked as a fragment. */
const tsBlocks = (markdown: string) =>
  Array.from(markdown.matchAll(/^```(ts|typescript)([^\n]*)\n([\s\S]*?)^```$/gm), (match) => ({
    fragment: match[2]!.trim() === "fragment",
    code: match[3]!
  }))

const run = (command: string, args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  Effect.promise(() =>
    execFile(command, args, { cwd: root, timeout: 60_000, env: { ...process.env, ...env } }).catch(
      (error: { stdout?: string; stderr?: string; message: string }) => {
        throw new Error(`${command} ${args.join(" ")} failed: ${error.message}\n${error.stdout ?? ""}${error.stderr ?? ""}`)
      }
    )
  )

// Inside the repository, so `effect-connection-pool` resolves to this package itself (git-ignored).
const blockDir = Effect.acquireRelease(
  Effect.sync(() => Fs.mkdtempSync(Path.join(root, ".readme-"))),
  (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
)

describe("README", () => {
  const programs = tsBlocks(Fs.readFileSync(Path.join(root, "README.md"), "utf8")).filter((block) => !block.fragment)

  layer(Slapd.layer(), { excludeTestServices: true })("against slapd", (it) => {
    it.effect("has a complete program in Use", () =>
      Effect.sync(() => {
        assert.isAtLeast(programs.length, 1)
        assert.include(programs[0]!.code, "Effect.runPromise")
      }))

    it.effect("every complete TypeScript block typechecks under the project's strict settings and runs", () =>
      Effect.gen(function*() {
        const slapd = yield* Slapd.Slapd
        const dir = yield* blockDir
        const files = programs.map((block, index) => {
          const file = Path.join(dir, `block${index}.ts`)
          Fs.writeFileSync(file, block.code)
          return file
        })
        Fs.writeFileSync(
          Path.join(dir, "tsconfig.json"),
          JSON.stringify({ extends: "../tsconfig.json", include: ["*.ts"] })
        )
        yield* run(Path.join(root, "node_modules", ".bin", "tsc"), ["-p", Path.join(dir, "tsconfig.json")])

        const { stdout } = yield* run(process.execPath, ["--conditions=effect-connection-pool:source", files[0]!], {
          LDAP_URL: slapd.url,
          LDAP_BASE_DN: slapd.baseDn,
          LDAP_BIND_DN: slapd.serviceDn,
          LDAP_BIND_PASSWORD: Redacted.value(slapd.servicePassword)
        })
        const result = JSON.parse(stdout) as { dns: Array<Array<string>>; created: number }
        assert.deepStrictEqual(result.dns, [[slapd.users.alice.dn], [slapd.users.bob.dn], [slapd.users.alice.dn]])
        assert.isAtMost(result.created, 2)
      }))
  })
})
