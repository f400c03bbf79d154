/**
 * Checks pool options once, at construction, and turns durations into
 * milliseconds so the hot path compares plain numbers.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type { Options, ValidateInfo } from "../ConnectionPool.ts"

/** @internal */
export interface Resolved<A, E, R> {
  readonly acquire: Effect.Effect<A, E, R>
  readonly maxIdle: number
  readonly maxSize: number
  readonly lifo: boolean
  readonly acquireTimeout: Duration.Duration | undefined
  readonly maxWaiting: number
  readonly validate: ((connection: A, info: ValidateInfo) => Effect.Effect<boolean, unknown, R>) | undefined
  readonly validateAfterMillis: number
  readonly validateTimeout: Duration.Duration
  readonly idleTimeoutMillis: number
  readonly maxLifetimeMillis: number
  readonly minIdle: number
  readonly maxOpening: number
  readonly closeTimeout: Duration.Duration
  /** `undefined` when leak warnings are off. */
  readonly leakWarningAfter: Duration.Duration | undefined
  readonly housekeepingInterval: Duration.Duration
  readonly recycle: (exit: Exit.Exit<unknown, unknown>) => boolean
  readonly name: string
}

/** Reuse after success and after a typed failure; a defect or an interruption leaves the protocol state unknown. */
const recycleDefault = (exit: Exit.Exit<unknown, unknown>): boolean =>
  Exit.isSuccess(exit) || !(Cause.hasDies(exit.cause) || Cause.hasInterrupts(exit.cause))

/** @internal */
export const show = (value: unknown): string =>
  typeof value === "string" ? JSON.stringify(value) : Effect.isEffect(value) ? "an Effect" : String(value)

/**
 * An option out of range: names the option, what it must be and what it got.
 *
 * @internal
 */
export class InvalidOption extends Cause.IllegalArgumentError {
  readonly option: string
  readonly expected: string
  readonly value: unknown
  constructor(option: string, expected: string, value: unknown) {
    super(`ConnectionPool: option "${option}" must be ${expected}, got ${show(value)}`)
    this.option = option
    this.expected = expected
    this.value = value
  }
}

const invalid = (option: string, expected: string, value: unknown): never => {
  throw new InvalidOption(option, expected, value)
}

const integer = (option: string, value: unknown, min: number): number => {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min) {
    return invalid(option, `an integer >= ${min}`, value)
  }
  return value
}

const duration = (option: string, value: Duration.Input | undefined): Duration.Duration | undefined => {
  if (value === undefined) return undefined
  let parsed: Duration.Duration | undefined
  try {
    parsed = Duration.fromInputUnsafe(value)
  } catch {
    parsed = undefined
  }
  if (parsed === undefined || Duration.isNegative(parsed) || Number.isNaN(Duration.toMillis(parsed))) {
    return invalid(option, "a duration >= 0", value)
  }
  return parsed
}

const millisOrInfinity = (option: string, value: Duration.Input | undefined): number => {
  const parsed = duration(option, value)
  return parsed === undefined ? Infinity : Duration.toMillis(parsed)
}

/**
 * Validates `options`, throwing `IllegalArgumentError` with a message that
 * names the option and the value it got.
 *
 * @internal
 */
export const resolve = <A, E, R, RV>(options: Options<A, E, R, RV>): Resolved<A, E, R | RV> => {
  if (!Effect.isEffect(options.acquire)) invalid("acquire", "an Effect that opens a connection", options.acquire)
  for (const option of ["validate", "recycle"] as const) {
    if (options[option] !== undefined && typeof options[option] !== "function") {
      invalid(option, "a function", options[option])
    }
  }
  const maxIdle = integer("maxIdle", options.maxIdle, 0)
  const maxSize = options.maxSize === undefined ? Infinity : integer("maxSize", options.maxSize, 1)
  if (maxIdle > maxSize) invalid("maxIdle", `<= maxSize (${maxSize})`, maxIdle)
  const minIdle = options.minIdle === undefined ? 0 : integer("minIdle", options.minIdle, 0)
  if (minIdle > maxIdle) invalid("minIdle", `<= maxIdle (${maxIdle})`, minIdle)
  const order = options.order ?? "fifo"
  if (order !== "fifo" && order !== "lifo") invalid("order", `"fifo" or "lifo"`, order)
  const maxWaiting = options.maxWaiting === undefined ? Infinity : integer("maxWaiting", options.maxWaiting, 0)
  const housekeepingInterval = duration("housekeepingInterval", options.housekeepingInterval) ?? Duration.seconds(1)
  if (Duration.isZero(housekeepingInterval)) invalid("housekeepingInterval", "a duration > 0", options.housekeepingInterval)
  const maxOpening = options.maxOpening === undefined ? Infinity : integer("maxOpening", options.maxOpening, 1)
  const leakWarningAfter = duration("leakWarningAfter", options.leakWarningAfter)
  if (leakWarningAfter !== undefined && Duration.isZero(leakWarningAfter)) {
    invalid("leakWarningAfter", "a duration > 0", options.leakWarningAfter)
  }
  return {
    acquire: options.acquire,
    maxIdle,
    maxSize,
    lifo: order === "lifo",
    acquireTimeout: duration("acquireTimeout", options.acquireTimeout),
    maxWaiting,
    validate: options.validate,
    validateAfterMillis: Duration.toMillis(duration("validateAfter", options.validateAfter) ?? Duration.zero),
    validateTimeout: duration("validateTimeout", options.validateTimeout) ?? Duration.seconds(5),
    idleTimeoutMillis: millisOrInfinity("idleTimeout", options.idleTimeout),
    maxLifetimeMillis: millisOrInfinity("maxLifetime", options.maxLifetime),
    minIdle,
    maxOpening,
    closeTimeout: duration("closeTimeout", options.closeTimeout) ?? Duration.seconds(30),
    leakWarningAfter,
    housekeepingInterval,
    recycle: options.recycle ?? recycleDefault,
    name: options.name ?? "default"
  }
}
