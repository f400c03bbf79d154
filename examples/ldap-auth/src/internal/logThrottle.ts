/**
 * Warnings an attacker can cause at will (a wrong shared secret, undecodable requests, a full limiter) are
 * written at most once per kind per interval; the next line of that kind says how many were suppressed, so a
 * flood costs a handful of lines and the operator still sees its size.
 */
import { Clock, Duration, Effect, LogLevel } from "effect"

export interface LogThrottle {
  /** Logs `message` unless a line of `kind` was written within the interval; then only counts it. */
  readonly log: (
    level: LogLevel.Severity,
    kind: string,
    message: string,
    annotations?: Readonly<Record<string, unknown>>
  ) => Effect.Effect<void>
}

export const make = (interval: Duration.Input): LogThrottle => {
  const intervalMillis = Duration.toMillis(Duration.fromInputUnsafe(interval))
  // Kinds are constants in the code, so this map stays as small as the code.
  const kinds = new Map<string, { lastMillis: number; suppressed: number }>()
  return {
    log: (level, kind, message, annotations = {}) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const state = kinds.get(kind)
        if (state !== undefined && now - state.lastMillis < intervalMillis) {
          state.suppressed++
          return Effect.void
        }
        const suppressed = state?.suppressed ?? 0
        kinds.set(kind, { lastMillis: now, suppressed: 0 })
        return Effect.logWithLevel(level)(message).pipe(
          Effect.annotateLogs(suppressed > 0 ? { ...annotations, suppressed } : annotations)
        )
      })
  }
}
