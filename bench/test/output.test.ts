import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { assert, describe, it } from "@effect/vitest"
import { outputDir } from "../output.ts"

const relative = (url: URL) => Path.relative(Path.join(import.meta.dirname, "..", ".."), fileURLToPath(url))

describe("bench output", () => {
  it("only a full run writes the committed results; --quick and --only write to the ignored scratch dir", () => {
    assert.strictEqual(relative(outputDir({ quick: false, only: undefined })), Path.join("bench", "results"))
    for (const run of [{ quick: true, only: undefined }, { quick: false, only: "ldap" }, { quick: true, only: "borrow" }]) {
      assert.strictEqual(relative(outputDir(run)), Path.join("bench", "results", "scratch"))
    }
  })
})
