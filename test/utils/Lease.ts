/**
 * Leases whose end the test decides: the connection stays borrowed until
 * `end` closes the lease's scope with the given exit, or until the test's own
 * scope closes (so a failing test still returns its leases and shuts down).
 */
import { Effect, Exit, Option, Scope } from "effect"
import * as ConnectionPool from "../../src/ConnectionPool.ts"

export interface Lease<A> {
  readonly connection: A
  readonly end: (exit?: Exit.Exit<unknown, unknown>) => Effect.Effect<void>
}

export const hold = <A, E>(
  pool: ConnectionPool.ConnectionPool<A, E>
): Effect.Effect<Lease<A>, E | ConnectionPool.PoolError> =>
  Effect.gen(function*() {
    const parent = yield* Effect.serviceOption(Scope.Scope)
    const scope = Option.isSome(parent) ? yield* Scope.fork(parent.value) : yield* Scope.make()
    const connection = yield* ConnectionPool.get(pool).pipe(
      Scope.provide(scope),
      Effect.onError(() => Scope.close(scope, Exit.void))
    )
    return { connection, end: (exit = Exit.void) => Scope.close(scope, exit) }
  })

/** Lets forked fibers run until they block. */
export const settle: Effect.Effect<void> = Effect.forEach(Array.from({ length: 20 }), () => Effect.yieldNow, {
  discard: true
})
