import { assert, describe, it } from "@effect/vitest"
import { Cause, Config, ConfigProvider, Context, Effect, Exit, Layer } from "effect"
import * as ConnectionPool from "../src/ConnectionPool.ts"
import * as Connections from "./utils/Connections.ts"

class Pool extends Context.Service<Pool, ConnectionPool.ConnectionPool<number, string>>()("test/ConfigPool") {}

const options = {
  maxIdle: Config.Int("POOL_MAX_IDLE"),
  maxSize: Config.Int("POOL_MAX_SIZE").pipe(Config.withDefault(10)),
  minIdle: Config.Int("POOL_MIN_IDLE").pipe(Config.withDefault(0)),
  acquireTimeout: Config.Duration("POOL_ACQUIRE_TIMEOUT").pipe(Config.withDefault("1 second")),
  closeTimeout: Config.Duration("POOL_CLOSE_TIMEOUT").pipe(Config.withDefault("30 seconds"))
}

/** Builds the layer with `env` as the configuration and returns how it ended. */
const build = (env: Record<string, string>, config: Config.Wrap<ConnectionPool.ConfigOptions> = options) =>
  Effect.exit(
    Effect.scoped(Layer.build(
      ConnectionPool.layerConfig(Pool, Connections.make().acquire, config).pipe(
        Layer.provide(ConfigProvider.layer(ConfigProvider.fromUnknown(env)))
      )
    ))
  )

/** The `ConfigError` a build failed with; a defect or a success fails the test. */
const configError = (exit: Exit.Exit<unknown, Config.ConfigError>): Config.ConfigError => {
  assert.isTrue(Exit.isFailure(exit), "expected a failure")
  const cause = (exit as Exit.Failure<unknown, Config.ConfigError>).cause
  assert.isFalse(Cause.hasDies(cause), `expected a ConfigError, got a defect: ${Cause.pretty(cause)}`)
  const error = Cause.findErrorOption(cause)
  assert.isTrue(error._tag === "Some" && error.value._tag === "ConfigError")
  return (error as { value: Config.ConfigError }).value
}

describe("ConnectionPool.layerConfig", () => {
  const cases: Array<[string, Record<string, string>, string, string]> = [
    ["maxIdle above maxSize", { POOL_MAX_IDLE: "5", POOL_MAX_SIZE: "2" }, "POOL_MAX_IDLE", `must be <= maxSize (2), got "5"`],
    ["a negative size", { POOL_MAX_IDLE: "-1" }, "POOL_MAX_IDLE", `must be an integer >= 0, got "-1"`],
    ["maxSize 0", { POOL_MAX_IDLE: "0", POOL_MAX_SIZE: "0" }, "POOL_MAX_SIZE", `must be an integer >= 1, got "0"`],
    ["minIdle above maxIdle", { POOL_MAX_IDLE: "1", POOL_MIN_IDLE: "3" }, "POOL_MIN_IDLE", `must be <= maxIdle (1), got "3"`],
    [
      "a negative duration",
      { POOL_MAX_IDLE: "1", POOL_ACQUIRE_TIMEOUT: "-5 seconds" },
      "POOL_ACQUIRE_TIMEOUT",
      `must be a duration >= 0, got "-5 seconds"`
    ],
    [
      "a negative closeTimeout",
      { POOL_MAX_IDLE: "1", POOL_CLOSE_TIMEOUT: "-1 millis" },
      "POOL_CLOSE_TIMEOUT",
      `must be a duration >= 0, got "-1 millis"`
    ]
  ]
  for (const [name, env, key, problem] of cases) {
    it.effect(`rejects ${name} with a ConfigError naming ${key} and the value`, () =>
      Effect.gen(function*() {
        const error = configError(yield* build(env))
        const firstLine = error.message.split("\n")[0]
        assert.include(firstLine, key)
        assert.include(firstLine, problem)
        // The issue points at the key, as Effect's own config errors do.
        assert.include(error.message, `at ["${key}"]`)
      }))
  }

  it.effect("a value that is not a number stays Effect's own ConfigError", () =>
    Effect.gen(function*() {
      const error = configError(yield* build({ POOL_MAX_IDLE: "many" }))
      assert.include(error.message, `at ["POOL_MAX_IDLE"]`)
    }))

  it.effect("a value out of range from a default, with no key to name, names the option", () =>
    Effect.gen(function*() {
      const error = configError(yield* build({}, { maxIdle: Config.succeed(3), maxSize: Config.succeed(1) }))
      assert.include(error.message, `option "maxIdle" must be <= maxSize (1), got 3`)
    }))

  it.effect("options read as one Config are checked the same way, naming the option", () =>
    Effect.gen(function*() {
      const whole = Config.all({ maxIdle: Config.Int("POOL_MAX_IDLE"), maxSize: Config.Int("POOL_MAX_SIZE") })
      const error = configError(yield* build({ POOL_MAX_IDLE: "4", POOL_MAX_SIZE: "2" }, whole))
      assert.include(error.message, `option "maxIdle" must be <= maxSize (2), got 4`)
    }))

  it.effect("valid values build the pool", () =>
    Effect.gen(function*() {
      const exit = yield* build({ POOL_MAX_IDLE: "2", POOL_MAX_SIZE: "4", POOL_ACQUIRE_TIMEOUT: "2 seconds" })
      assert.isTrue(Exit.isSuccess(exit))
    }))
})
