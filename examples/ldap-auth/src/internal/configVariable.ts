/**
 * One environment variable of the auth server: its name, what `serve --help` says about it, and how its text is
 * read. Reading never fails on a bad value: it yields the value or the operator's line for it, so every bad
 * variable of a run is reported together.
 */
import { Config, Option, Redacted, Result } from "effect"

export interface Variable<A> {
  readonly name: string
  /** What `serve --help` shows as the default: a value, `required`, or what happens when it is unset. */
  readonly fallback: string
  readonly meaning: string
  /** The value, or one line naming the variable and the value (never a secret's value). */
  readonly read: Config.Config<Result.Result<A, string>>
}

/** How one kind of value is read from a variable that is set: the value, or why it is wrong (`is not …`, `has …`). */
export type Kind<A> = (name: string, raw: string) => Config.Config<Result.Result<A, string>>

/** A kind read by a pure parser that returns the value or why it is wrong. */
export const parsed = <A>(parse: (raw: string) => Result.Result<A, string>): Kind<A> => (_, raw) =>
  Config.succeed(parse(raw))

/** A kind read by one of Effect's own configs (`Config.Port`, `Config.Int`), whose failure reads `expected`. */
export const effectConfig = <A>(config: (name: string) => Config.Config<A>, expected: string): Kind<A> => (name) =>
  config(name).pipe(
    Config.map(Result.succeed),
    Config.orElse(() => Config.succeed(Result.fail(expected)))
  )

/** A kind narrowed by a rule on the value it read. */
export const refine = <A>(kind: Kind<A>, rule: (value: A) => string | undefined): Kind<A> => (name, raw) =>
  kind(name, raw).pipe(Config.map(Result.flatMap((value) => {
    const problem = rule(value)
    return problem === undefined ? Result.succeed(value) : Result.fail(problem)
  })))

/** A string check (`undefined` when fine) as a kind that keeps the string. */
export const checked = (check: (raw: string) => string | undefined): Kind<string> =>
  parsed((raw) => {
    const problem = check(raw)
    return problem === undefined ? Result.succeed(raw) : Result.fail(problem)
  })

/** A secret: its value is never printed, and an empty one is refused with `empty`. */
export const secret = (empty: string): Kind<Redacted.Redacted<string>> =>
  parsed((raw) => (raw === "" ? Result.fail(empty) : Result.succeed(Redacted.make(raw))))

const longest = 120

/** `NAME="value" why`: quoted so that an empty value or stray spaces show, cut short so a line stays a line. */
const line = (name: string, raw: string, why: string, isSecret: boolean) => {
  if (isSecret) return `${name} ${why}`
  const shown = raw.length > longest ? `${raw.slice(0, longest)}…` : raw
  return `${name}=${JSON.stringify(shown)} ${why}`
}

const make = <A>(
  name: string,
  fallback: string,
  meaning: string,
  kind: Kind<A>,
  absent: Result.Result<A, string>,
  isSecret: boolean
): Variable<A> => ({
  name,
  fallback,
  meaning,
  read: Config.option(Config.String(name)).pipe(
    Config.flatMap((raw) =>
      Option.isNone(raw)
        ? Config.succeed(absent)
        : kind(name, raw.value).pipe(Config.map(Result.mapError((why) => line(name, raw.value, why, isSecret))))
    )
  )
})

export interface Options {
  /** Hide the value in problem lines. */
  readonly secret?: boolean | undefined
}

export const required = <A>(name: string, meaning: string, kind: Kind<A>, options: Options = {}): Variable<A> =>
  make(name, "required", meaning, kind, Result.fail(`${name} is not set`), options.secret ?? false)

/** `shown` is the default as an operator would write it. */
export const withDefault = <A>(name: string, fallback: A, shown: string, meaning: string, kind: Kind<A>): Variable<A> =>
  make(name, `default: ${shown}`, meaning, kind, Result.succeed(fallback), false)

/** `unset` says what happens without it (`no X-Auth-Key check`). */
export const optional = <A>(
  name: string,
  unset: string,
  meaning: string,
  kind: Kind<A>,
  options: Options = {}
): Variable<A | undefined> =>
  make<A | undefined>(name, `unset: ${unset}`, meaning, kind, Result.succeed(undefined), options.secret ?? false)
