/**
 * Reading a pool's sizes and durations with `Config`. Each option is read on
 * its own, through a provider that notes the key its value came from, and
 * then checked by `resolve` like any other options: an option out of range
 * fails as a `ConfigError` that names the key, the option and the value read.
 *
 * @internal
 */
import * as Config from "effect/Config"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as SchemaIssue from "effect/SchemaIssue"
import type { ConfigOptions, Options } from "../ConnectionPool.ts"
import { InvalidOption, type Resolved, resolve, show } from "./options.ts"

/** Where an option's value was read: the path of the key and the text found there. */
interface Source {
  readonly path: ConfigProvider.Path
  readonly text: string | undefined
}

/** Parses `config`, noting the last key that held a value (none when a default or a constant answered). */
const parseNoting = <T>(
  config: Config.Config<T>,
  provider: ConfigProvider.ConfigProvider
): Effect.Effect<readonly [T, Source | undefined], Config.ConfigError> => {
  let source: Source | undefined
  const noting = ConfigProvider.make((path) =>
    Effect.map(provider.load(path), (node) => {
      if (node !== undefined) source = { path, text: node._tag === "Value" ? node.value : undefined }
      return node
    })
  )
  return Effect.map(config.parse(noting), (value) => [value, source] as const)
}

/** Reads every option, noting each one's source; a whole `Config` is read as one, without sources. */
const readAll = (
  config: Config.Wrap<ConfigOptions>,
  provider: ConfigProvider.ConfigProvider
): Effect.Effect<readonly [ConfigOptions, Map<string, Source>], Config.ConfigError> => {
  const sources = new Map<string, Source>()
  if (Config.isConfig(config)) return Effect.map(config.parse(provider), (options) => [options, sources] as const)
  const options: Record<string, unknown> = {}
  return Effect.as(
    Effect.forEach(
      Object.entries(config as Record<string, Config.Wrap<unknown> | undefined>),
      ([option, wrapped]) =>
        wrapped === undefined ? Effect.void : Effect.map(parseNoting(Config.unwrap(wrapped), provider), ([value, source]) => {
          options[option] = value
          if (source !== undefined) sources.set(option, source)
        }),
      { discard: true }
    ),
    [options as ConfigOptions, sources] as const
  )
}

/** The `ConfigError` for an option out of range, at the key it was read from when known. */
const configError = (invalid: InvalidOption, source: Source | undefined): Config.ConfigError => {
  if (source === undefined) return new Config.ConfigError(new Schema.SchemaError(new SchemaIssue.InvalidValue({ message: invalid.message })))
  const key = source.path.join(".")
  const value = source.text === undefined ? show(invalid.value) : JSON.stringify(source.text)
  const message = `ConnectionPool: ${key} (option "${invalid.option}") must be ${invalid.expected}, got ${value}`
  return new Config.ConfigError(
    new Schema.SchemaError(new SchemaIssue.Pointer(source.path, new SchemaIssue.InvalidValue({ message })))
  )
}

/**
 * Reads `config` with the current `ConfigProvider`, completes it into options
 * with `complete` (the code: `acquire`, `validate`, `recycle`), and checks
 * them. A problem with an option read from `config` is a `ConfigError`; a
 * problem with the code stays a defect.
 *
 * @internal
 */
export const read = <A, E, R, RV>(
  config: Config.Wrap<ConfigOptions>,
  complete: (options: ConfigOptions) => Options<A, E, R, RV>
): Effect.Effect<Resolved<A, E, R | RV>, Config.ConfigError> =>
  Effect.flatMap(
    ConfigProvider.ConfigProvider,
    (provider) =>
      Effect.flatMap(readAll(config, provider), ([options, sources]) =>
        Effect.try({ try: () => resolve(complete(options)), catch: (error) => error }).pipe(
          Effect.catch((error) =>
            error instanceof InvalidOption && Object.hasOwn(options, error.option)
              ? Effect.fail(configError(error, sources.get(error.option)))
              : Effect.die(error)
          )
        ))
  )
