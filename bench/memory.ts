/**
 * Part 4: memory. Bytes of heap per idle connection and per waiting borrower, ours against effect/Pool.make, read
 * from the heap's own figures (`process.memoryUsage().heapUsed`) after a full garbage collection while the pool
 * holds `large` idle connections (or `large` borrowers wait), minus the same with `small`, divided by the
 * difference: what the pool's fixed cost and the runtime's own state cancel out of. Each figure includes what both
 * pools pay alike: the connection object (`{ id }`) for an idle connection, the borrower's fiber for a waiter.
 * Rounds alternate the pools; the median is reported.
 */
import { Effect, Fiber, Pool } from "effect"
import type { Scope } from "effect"
import * as ConnectionPool from "../src/ConnectionPool.ts"
import { collectGarbage } from "./gc.ts"
import type { Connection } from "./scenario.ts"
import { median } from "./stats.ts"

/** A pool reduced to what this part needs: build one of `size`, fill it, borrow from it. */
interface MemoryAdapter {
  readonly id: string
  readonly name: string
  readonly make: (size: number, acquire: Effect.Effect<Connection>) => Effect.Effect<unknown, never, Scope.Scope>
  readonly use: (pool: unknown, body: Effect.Effect<void>) => Effect.Effect<void, unknown>
}

const oursAdapter: MemoryAdapter = {
  id: "ours",
  name: "ConnectionPool (ours)",
  make: (size, acquire) => ConnectionPool.make({ acquire, maxIdle: size, maxSize: size }),
  use: (pool, body) => ConnectionPool.use(pool as ConnectionPool.ConnectionPool<Connection>, () => body)
}

const effectPoolAdapter: MemoryAdapter = {
  id: "effect-pool",
  name: "effect/Pool.make",
  make: (size, acquire) => Pool.make({ acquire, size }),
  use: (pool, body) => Pool.use(pool as Pool.Pool<Connection>, () => body)
}

export const memoryCompetitors: ReadonlyArray<MemoryAdapter> = [oursAdapter, effectPoolAdapter]

export type MemoryKind = "idle" | "waiting"

export interface MemoryOptions {
  readonly small: number
  readonly large: number
  readonly rounds: number
}

export interface MemoryCell {
  readonly kind: MemoryKind
  readonly competitor: string
  /** Bytes per idle connection (or waiting borrower), one sample per round. */
  readonly bytes: ReadonlyArray<number>
  readonly medianBytes: number
}

export interface MemoryResult extends MemoryOptions {
  readonly competitors: ReadonlyArray<{ readonly id: string; readonly name: string }>
  readonly cells: ReadonlyArray<MemoryCell>
}

const heapUsed = (): number => {
  collectGarbage()
  collectGarbage()
  return process.memoryUsage().heapUsed
}

/** Lets forked fibers run until they block. */
const settle = Effect.forEach(Array.from({ length: 20 }), () => Effect.yieldNow, { discard: true })

/** Heap used while `count` connections sit idle in a pool of that size. */
const idleHeap = (adapter: MemoryAdapter, count: number): Promise<number> =>
  Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    let next = 0
    const pool = yield* adapter.make(count, Effect.sync((): Connection => ({ id: next++ })))
    // Every connection opened at once (effect/Pool.make opens them on its own), then all returned.
    let holding = 0
    const all = Array.from({ length: count })
    yield* Effect.forEach(all, () =>
      adapter.use(pool, Effect.suspend(() => (++holding === count ? Effect.void : settle))), {
      concurrency: "unbounded",
      discard: true
    })
    yield* settle
    return heapUsed()
  })))

/** Heap used while `count` borrowers wait on a pool of one connection that is lent. */
const waitingHeap = (adapter: MemoryAdapter, count: number): Promise<number> =>
  Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    let next = 0
    const pool = yield* adapter.make(1, Effect.sync((): Connection => ({ id: next++ })))
    const holder = yield* Effect.forkChild(adapter.use(pool, Effect.never))
    yield* settle
    const waiters = yield* Effect.forEach(
      Array.from({ length: count }),
      () => Effect.forkChild(adapter.use(pool, Effect.void))
    )
    yield* settle
    const used = heapUsed()
    yield* Fiber.interruptAll([...waiters, holder])
    return used
  })))

const measure = { idle: idleHeap, waiting: waitingHeap }

export const runMemoryBench = async (options: MemoryOptions): Promise<MemoryResult> => {
  const kinds: ReadonlyArray<MemoryKind> = ["idle", "waiting"]
  const samples = new Map<string, Array<number>>()
  const key = (kind: MemoryKind, id: string) => `${kind}/${id}`
  for (let round = 0; round < options.rounds; round++) {
    for (const kind of kinds) {
      for (let k = 0; k < memoryCompetitors.length; k++) {
        const adapter = memoryCompetitors[(k + round) % memoryCompetitors.length]!
        const small = await measure[kind](adapter, options.small)
        const large = await measure[kind](adapter, options.large)
        const list = samples.get(key(kind, adapter.id)) ?? []
        list.push((large - small) / (options.large - options.small))
        samples.set(key(kind, adapter.id), list)
      }
    }
  }
  return {
    ...options,
    competitors: memoryCompetitors.map(({ id, name }) => ({ id, name })),
    cells: kinds.flatMap((kind) =>
      memoryCompetitors.map((adapter): MemoryCell => {
        const bytes = samples.get(key(kind, adapter.id))!
        return { kind, competitor: adapter.id, bytes, medianBytes: median(bytes) }
      })
    )
  }
}

export const memoryCell = (result: MemoryResult, kind: MemoryKind, competitor: string): MemoryCell => {
  const found = result.cells.find((c) => c.kind === kind && c.competitor === competitor)
  if (found === undefined) throw new Error(`no memory result for ${competitor} (${kind})`)
  return found
}

/** The printed (markdown) table of part 4: bytes per idle connection and per waiting borrower. */
export const memoryTable = (result: MemoryResult): string => {
  const row = (cells: ReadonlyArray<string>): string => `| ${cells.join(" | ")} |`
  return [
    row(["pool", "bytes per idle connection", "bytes per waiting borrower"]),
    row(["---", "---:", "---:"]),
    ...result.competitors.map((competitor) =>
      row([
        competitor.name,
        ...(["idle", "waiting"] as const).map((kind) =>
          Math.round(memoryCell(result, kind, competitor.id).medianBytes).toLocaleString("en")
        )
      ])
    )
  ].join("\n")
}
