/**
 * The pools compared in part 1, each behind one function: build a pool of `scenario.connections` connections, fill
 * it, then time the borrows. Building, filling and closing happen off the clock. The Effect competitors run a whole
 * timed run inside one `Effect.runPromise`; the promise competitors inside one `Promise.all`.
 */
import { Duration, Effect, Fiber, Latch, Pool } from "effect"
import type { Scope } from "effect"
import { createPool } from "generic-pool"
import { Pool as TarnPool } from "tarn"
import * as ConnectionPool from "../src/ConnectionPool.ts"
// The pool's own ring buffer: the floors then differ from the pool only in what it does around it.
import { Deque } from "../src/internal/deque.ts"
import { collectGarbage } from "./gc.ts"
import { type Connection, type Scenario } from "./scenario.ts"
import { yieldMacrotask } from "./yield.ts"

export interface Competitor {
  readonly id: string
  readonly name: string
  /** Milliseconds spent in the borrows of one run of `scenario`. */
  readonly run: (scenario: Scenario) => Promise<number>
}

const connectionFactory = () => {
  let next = 0
  return (): Connection => ({ id: next++ })
}

const range = (n: number): ReadonlyArray<number> => Array.from({ length: n }, (_, i) => i)

// ---------------------------------------------------------------------------------------------------------------
// Effect competitors
// ---------------------------------------------------------------------------------------------------------------

/** An Effect pool reduced to what the benchmark needs: build one, and borrow from it around `hold`. */
export interface EffectPoolAdapter<P> {
  readonly make: (size: number, acquire: Effect.Effect<Connection>) => Effect.Effect<P, never, Scope.Scope>
  readonly borrow: (pool: P, hold: Effect.Effect<void>) => Effect.Effect<void, unknown>
}

export const effectCompetitor = <P>(id: string, name: string, adapter: EffectPoolAdapter<P>): Competitor => ({
  id,
  name,
  run: (scenario) =>
    Effect.runPromise(Effect.scoped(Effect.gen(function*() {
      const pool = yield* adapter.make(scenario.connections, Effect.sync(connectionFactory()))
      // Fill: every connection borrowed at the same time, then all returned.
      const filled = yield* Latch.make()
      let holding = 0
      const holdUntilFilled = Effect.suspend(() =>
        ++holding === scenario.connections ? Effect.asVoid(filled.open) : filled.await
      )
      yield* Effect.forEach(range(scenario.connections), () => adapter.borrow(pool, holdUntilFilled), {
        concurrency: "unbounded",
        discard: true
      })

      const hold = scenario.yieldWhileHolding ? Effect.yieldNow : Effect.void
      const loop = Effect.gen(function*() {
        for (let i = 0; i < scenario.borrowsPerBorrower; i++) yield* adapter.borrow(pool, hold)
      })
      // Every borrower is forked and parked before the clock starts, so the clock sees borrows, not fiber starts.
      const ready = yield* Latch.make()
      const go = yield* Latch.make()
      let arrived = 0
      const park = Effect.suspend(() =>
        ++arrived === scenario.borrowers ? Effect.andThen(ready.open, go.await) : go.await
      )
      const fibers = yield* Effect.forEach(range(scenario.borrowers), () => Effect.forkChild(Effect.andThen(park, loop)))
      yield* ready.await

      collectGarbage()
      const start = performance.now()
      yield* go.open
      yield* Fiber.joinAll(fibers)
      return performance.now() - start
    })))
})

export const ours = effectCompetitor("ours", "ConnectionPool (ours)", {
  make: (size, acquire) => ConnectionPool.make({ acquire, maxIdle: size, maxSize: size }),
  borrow: (pool, hold) => ConnectionPool.use(pool, () => hold)
})

export const effectPool = effectCompetitor("effect-pool", "effect/Pool.make", {
  make: (size, acquire) => Pool.make({ acquire, size }),
  borrow: (pool, hold) => Pool.use(pool, () => hold)
})

export const effectPoolTTL = effectCompetitor("effect-pool-ttl", "effect/Pool.makeWithTTL", {
  make: (size, acquire) => Pool.makeWithTTL({ acquire, min: 1, max: size, timeToLive: Duration.minutes(10) }),
  borrow: (pool, hold) => Pool.use(pool, () => hold)
})

/**
 * The Effect-native floor: a plain stack of idle connections and a queue of callbacks for waiters. No interruption
 * safety, no limits, no metrics: what the bare idea costs in Effect.
 */
interface FloorPool {
  readonly take: Effect.Effect<Connection>
  readonly give: (connection: Connection) => Effect.Effect<void>
}

const makeFloor = (size: number, acquire: Effect.Effect<Connection>): Effect.Effect<FloorPool> =>
  Effect.gen(function*() {
    const idle = new Deque<Connection>()
    const waiters = new Deque<(effect: Effect.Effect<Connection>) => void>()
    for (let i = 0; i < size; i++) idle.pushBack(yield* acquire)
    return {
      take: Effect.suspend(() =>
        idle.length > 0 ?
          Effect.succeed(idle.popBack()!) :
          Effect.callback<Connection>((resume) => {
            waiters.pushBack(resume)
          })
      ),
      give: (connection) =>
        Effect.sync(() => {
          const waiter = waiters.popFront()
          if (waiter === undefined) idle.pushBack(connection)
          else waiter(Effect.succeed(connection))
        })
    }
  })

/** The Effect-native floor: `Effect.acquireRelease` in a scope per borrow, the shape of `get` + `scoped`. */
export const effectFloor = effectCompetitor("effect-floor", "Effect floor (acquireRelease + array)", {
  make: makeFloor,
  borrow: (pool, hold) => Effect.scoped(Effect.flatMap(Effect.acquireRelease(pool.take, pool.give), () => hold))
})

/** The same floor without a `Scope` (`Effect.acquireUseRelease`), the shape of effect/Pool's `use`. */
export const effectFloorNoScope = effectCompetitor("effect-floor-use", "Effect floor (acquireUseRelease + array)", {
  make: makeFloor,
  borrow: (pool, hold) => Effect.acquireUseRelease(pool.take, () => hold, pool.give)
})

// ---------------------------------------------------------------------------------------------------------------
// Promise competitors
// ---------------------------------------------------------------------------------------------------------------

/** A promise pool reduced to what the benchmark needs. `release` is not awaited, as users of these pools write it. */
export interface PromisePool {
  readonly acquire: () => Promise<Connection>
  readonly release: (connection: Connection) => unknown
  readonly close: () => Promise<unknown>
}

export const promiseCompetitor = (
  id: string,
  name: string,
  make: (size: number, create: () => Connection) => PromisePool
): Competitor => ({
  id,
  name,
  run: async (scenario) => {
    const pool = make(scenario.connections, connectionFactory())
    const filled = await Promise.all(range(scenario.connections).map(() => pool.acquire()))
    for (const connection of filled) pool.release(connection)

    const loop = async () => {
      for (let i = 0; i < scenario.borrowsPerBorrower; i++) {
        const connection = await pool.acquire()
        try {
          if (scenario.yieldWhileHolding) await yieldMacrotask()
        } finally {
          pool.release(connection)
        }
      }
    }

    // Every borrower is started and parked before the clock starts, as on the Effect side.
    let go!: () => void
    const started = new Promise<void>((resolve) => (go = resolve))
    const borrowers = Promise.all(range(scenario.borrowers).map(() => started.then(loop)))

    collectGarbage()
    const start = performance.now()
    go()
    await borrowers
    const elapsed = performance.now() - start
    await pool.close()
    return elapsed
  }
})

export const genericPool = promiseCompetitor("generic-pool", "generic-pool", (size, create) => {
  const pool = createPool<Connection>(
    { create: async () => create(), destroy: async () => {} },
    { max: size, min: 0 }
  )
  return {
    acquire: () => pool.acquire(),
    release: (connection) => pool.release(connection),
    close: () => pool.drain().then(() => pool.clear())
  }
})

export const tarn = promiseCompetitor("tarn", "tarn", (size, create) => {
  const pool = new TarnPool<Connection>({
    create: async () => create(),
    destroy: () => {},
    min: 0,
    max: size,
    acquireTimeoutMillis: 600_000
  })
  return {
    acquire: () => pool.acquire().promise,
    release: (connection) => pool.release(connection),
    close: () => pool.destroy()
  }
})

/** The floor outside Effect: a stack of idle connections and a queue of resolvers. */
export const promiseFloor = promiseCompetitor("js-floor", "JS floor (array + promises)", (size, create) => {
  const idle = new Deque<Connection>()
  const waiters = new Deque<(connection: Connection) => void>()
  for (let i = 0; i < size; i++) idle.pushBack(create())
  return {
    acquire: () =>
      idle.length > 0 ?
        Promise.resolve(idle.popBack()!) :
        new Promise<Connection>((resolve) => waiters.pushBack(resolve)),
    release: (connection) => {
      const waiter = waiters.popFront()
      if (waiter === undefined) idle.pushBack(connection)
      else waiter(connection)
    },
    close: async () => {}
  }
})

export const competitors: ReadonlyArray<Competitor> = [
  ours,
  effectPool,
  effectPoolTTL,
  genericPool,
  tarn,
  effectFloor,
  effectFloorNoScope,
  promiseFloor
]
