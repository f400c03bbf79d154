/**
 * Spans only where someone reads them. With Effect's built-in tracer (no exporter installed) a span is pure cost on
 * every login: an `Error` for the call site, ids, clock reads and a fiber-local frame, about 5–40 µs, against a
 * pooled login of ~150 µs of CPU. Installing a tracer (OpenTelemetry) brings the spans back, names unchanged.
 */
import { Effect } from "effect"
import * as Tracer from "effect/Tracer"

/** `Effect.withSpan(name)` when a tracer other than the built-in one is installed; `effect` as it is otherwise. */
export const withSpan = (name: string) => <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.flatMap(Effect.tracer, (tracer) => tracer === Tracer.nativeTracer ? effect : Effect.withSpan(effect, name))
