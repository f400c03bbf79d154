/**
 * In-memory connections for the pool's own tests: each one is a number, its
 * open and close are counted, and closing twice is recorded as a bug.
 */
import { Effect, type Scope } from "effect"

export interface Connections {
  readonly acquire: Effect.Effect<number, string, Scope.Scope>
  /** Ids of connections opened and not yet closed. */
  readonly live: Set<number>
  readonly closes: Map<number, number>
  opened: number
  maxLive: number
  /** Errors the next opens fail with, one each. */
  readonly failures: Array<string>
  /** When set, closing a connection dies with this defect. */
  closeDefect: string | undefined
  /**
   * When set, what a close does once it is counted: hang, fail, die or throw
   * synchronously (it is called outside any Effect).
   */
  closeWith: ((id: number) => Effect.Effect<void>) | undefined
}

export const make = (): Connections => {
  const self: Connections = {
    live: new Set(),
    closes: new Map(),
    opened: 0,
    maxLive: 0,
    failures: [],
    closeDefect: undefined,
    closeWith: undefined,
    acquire: Effect.acquireRelease(
      Effect.suspend(() => {
        const failure = self.failures.shift()
        if (failure !== undefined) return Effect.fail(failure)
        const id = ++self.opened
        self.live.add(id)
        self.maxLive = Math.max(self.maxLive, self.live.size)
        return Effect.succeed(id)
      }),
      (id) => {
        self.live.delete(id)
        self.closes.set(id, (self.closes.get(id) ?? 0) + 1)
        if (self.closeWith !== undefined) return self.closeWith(id)
        return self.closeDefect === undefined ? Effect.void : Effect.die(self.closeDefect)
      }
    )
  }
  return self
}

/** True when every connection ever opened was closed exactly once. */
export const allClosedOnce = (self: Connections): boolean =>
  self.live.size === 0 && self.closes.size === self.opened && [...self.closes.values()].every((n) => n === 1)
