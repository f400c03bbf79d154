/**
 * The package as a user gets it: `npm pack` (which builds through `prepare`), the tarball installed into a
 * fresh consumer project with strict TypeScript settings, a program typechecked and run against it.
 * Offline: the consumer reuses this repository's `effect`, `@types/node` and `tsc`.
 */
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { promisify } from "node:util"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"

const root = Path.join(import.meta.dirname, "..")
const execFile = promisify(ChildProcess.execFile)
const bin = Path.join(root, "node_modules", ".bin")

/** Runs a command to completion with this repository's Node first on PATH; fails with its output. */
const run = (command: string, args: ReadonlyArray<string>, cwd: string) =>
  Effect.promise(() =>
    execFile(command, args, {
      cwd,
      timeout: 120_000,
      env: { ...process.env, PATH: `${bin}${Path.delimiter}${process.env.PATH ?? ""}`, npm_config_offline: "true" }
    }).catch((error: { stdout?: string; stderr?: string; message: string }) => {
      throw new Error(`${command} ${args.join(" ")} failed: ${error.message}\n${error.stdout ?? ""}${error.stderr ?? ""}`)
    })
  )

const tempDir = Effect.acquireRelease(
  Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "ecp-consumer-"))),
  (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
)

// What a user writes, with nothing from this repository but the package name.
const program = `import { Effect } from "effect"
import { ConnectionPool } from "effect-connection-pool"

let opened = 0
const main = Effect.gen(function*() {
  const pool = yield* ConnectionPool.make({
    acquire: Effect.acquireRelease(Effect.sync(() => ++opened), () => Effect.void),
    maxIdle: 2,
    maxSize: 2
  })
  const seen = yield* Effect.all(
    Array.from({ length: 6 }, () => ConnectionPool.use(pool, (id) => Effect.as(Effect.sleep("10 millis"), id))),
    { concurrency: 6 }
  )
  const stats = yield* ConnectionPool.stats(pool)
  console.log(JSON.stringify({ opened, seen: seen.length, idle: stats.idle, total: stats.total }))
})

Effect.runPromise(Effect.scoped(main))
`

const tsconfig = {
  compilerOptions: {
    target: "es2022",
    lib: ["es2022"],
    module: "nodenext",
    moduleResolution: "nodenext",
    types: ["node"],
    strict: true,
    exactOptionalPropertyTypes: true,
    noUnusedLocals: true,
    noUnusedParameters: true,
    verbatimModuleSyntax: true,
    // effect's own .d.ts need `lib: ["dom"]` or this; the README says so.
    skipLibCheck: true,
    noEmit: true
  },
  include: ["main.ts"]
}

describe("the packed package", () => {
  it.live("packs, installs into a strict consumer project, typechecks and runs", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const { stdout: packed } = yield* run("npm", ["pack", "--json", "--pack-destination", dir], root)
      const [pack] = JSON.parse(packed.slice(packed.indexOf("["))) as Array<
        { filename: string; files: Array<{ path: string }> }
      >
      const files = pack!.files.map((file) => file.path)
      for (const required of ["package.json", "README.md", "LICENSE", "dist/index.js", "dist/index.d.ts"]) {
        assert.include(files, required)
      }
      assert.isFalse(files.some((file) => file.startsWith("src/") || file.startsWith("test/")), files.join(", "))
      // Every relative link or image in the shipped README points at a file the package ships.
      const readme = Fs.readFileSync(Path.join(root, "README.md"), "utf8")
      for (const [, target] of readme.matchAll(/\]\(([^)#\s]+)[^)]*\)/g)) {
        if (!/^[a-z]+:/.test(target!)) assert.include(files, target!, `README links ${target}`)
      }

      const consumer = Path.join(dir, "consumer")
      Fs.mkdirSync(consumer)
      // Local directories install as symlinks: no registry needed for the peer dependency and the types.
      const local = (name: string) => `file:${Path.join(root, "node_modules", name)}`
      Fs.writeFileSync(
        Path.join(consumer, "package.json"),
        JSON.stringify({
          name: "consumer",
          private: true,
          type: "module",
          dependencies: { "effect": local("effect"), "@types/node": local("@types/node") }
        })
      )
      Fs.writeFileSync(Path.join(consumer, "tsconfig.json"), JSON.stringify(tsconfig))
      Fs.writeFileSync(Path.join(consumer, "main.ts"), program)
      yield* run("npm", ["install", "--offline", "--no-audit", "--no-fund", Path.join(dir, pack!.filename)], consumer)
      assert.isTrue(Fs.existsSync(Path.join(consumer, "node_modules", "effect-connection-pool", "dist", "index.js")))

      yield* run(Path.join(bin, "tsc"), ["-p", "tsconfig.json"], consumer)
      const { stdout } = yield* run(process.execPath, ["main.ts"], consumer)
      assert.deepStrictEqual(JSON.parse(stdout), { opened: 2, seen: 6, idle: 2, total: 2 })
    }), { timeout: 180_000 })
})
