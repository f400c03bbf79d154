/**
 * The promise side's equivalent of `Effect.yieldNow`: Effect's default scheduler batches yielded fibers and resumes
 * them all from one `setImmediate`, so the promise competitors yield the same way, else "a yield while holding" would
 * cost a macrotask on one side and a microtask on the other.
 */
let pending: Array<() => void> = []

const flush = (): void => {
  const batch = pending
  pending = []
  for (let i = 0; i < batch.length; i++) batch[i]!()
}

export const yieldMacrotask = (): Promise<void> =>
  new Promise<void>((resolve) => {
    if (pending.push(resolve) === 1) setImmediate(flush)
  })
