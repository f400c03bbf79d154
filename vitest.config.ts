import { defineConfig } from "vitest/config"

// The example imports the pool by its package name; this condition resolves it to `src/` (see package.json).
const sourceCondition = "effect-connection-pool:source"

export default defineConfig({
  resolve: { conditions: [sourceCondition] },
  ssr: { resolve: { conditions: [sourceCondition] } },
  test: {
    include: ["test/**/*.test.ts", "examples/**/test/**/*.test.ts", "bench/test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Application logs only for the tests that fail.
    silent: "passed-only"
  }
})
