/**
 * What one timed run of the borrow benchmark does: a pool of `connections` no-op connections, all created and idle
 * before the clock starts, then `borrowers` concurrent loops of `borrowsPerBorrower` borrows each.
 */
export interface Scenario {
  readonly id: string
  readonly title: string
  readonly connections: number
  readonly borrowers: number
  readonly borrowsPerBorrower: number
  /** Whether a borrower yields to the scheduler while it holds the connection, so that others must wait. */
  readonly yieldWhileHolding: boolean
}

export const totalBorrows = (scenario: Scenario): number => scenario.borrowers * scenario.borrowsPerBorrower

/** A no-op connection: only the pool is measured. */
export interface Connection {
  readonly id: number
}

/**
 * The four scenarios of part 1, scaled by `borrows` (the total borrows in one timed run), `big` (10,000) and
 * `borrowsPerWaiter`: each of the `big` borrowers borrows several times, so that the queue stays `big` deep for
 * most of the run rather than draining after one pass.
 */
export const scenarios = (
  sizes: { readonly borrows: number; readonly big: number; readonly borrowsPerWaiter: number }
): ReadonlyArray<Scenario> => {
  const { big, borrows, borrowsPerWaiter } = sizes
  return [
    { id: "one", title: "1 borrower, 10 idle", connections: 10, borrowers: 1, borrowsPerBorrower: borrows, yieldWhileHolding: false },
    {
      id: "hundred",
      title: "100 borrowers on 10",
      connections: 10,
      borrowers: 100,
      borrowsPerBorrower: Math.max(1, Math.round(borrows / 100)),
      yieldWhileHolding: true
    },
    {
      id: "idle",
      title: `1 borrower, ${big.toLocaleString("en")} idle`,
      connections: big,
      borrowers: 1,
      borrowsPerBorrower: borrows,
      yieldWhileHolding: false
    },
    {
      id: "waiting",
      title: `${big.toLocaleString("en")} borrowers on 10`,
      connections: 10,
      borrowers: big,
      borrowsPerBorrower: borrowsPerWaiter,
      yieldWhileHolding: true
    }
  ]
}
