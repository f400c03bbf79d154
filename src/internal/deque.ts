/**
 * A growable ring buffer: O(1) push at the back and pop at either end, so the
 * idle set serves FIFO and LIFO without shifting arrays.
 *
 * @internal
 */
export class Deque<A> {
  private buffer: Array<A | undefined>
  private head = 0
  length = 0

  constructor(capacity = 16) {
    this.buffer = new Array(capacity)
  }

  pushBack(value: A): void {
    if (this.length === this.buffer.length) this.grow()
    this.buffer[(this.head + this.length) & (this.buffer.length - 1)] = value
    this.length++
  }

  popFront(): A | undefined {
    if (this.length === 0) return undefined
    const value = this.buffer[this.head]
    this.buffer[this.head] = undefined
    this.head = (this.head + 1) & (this.buffer.length - 1)
    this.length--
    return value
  }

  popBack(): A | undefined {
    if (this.length === 0) return undefined
    const index = (this.head + this.length - 1) & (this.buffer.length - 1)
    const value = this.buffer[index]
    this.buffer[index] = undefined
    this.length--
    return value
  }

  peekFront(): A | undefined {
    return this.length === 0 ? undefined : this.buffer[this.head]
  }

  peekBack(): A | undefined {
    return this.length === 0 ? undefined : this.buffer[(this.head + this.length - 1) & (this.buffer.length - 1)]
  }

  /** Removes and returns every element that fails `keep`, preserving the order of the rest. O(n). */
  removeWhere(remove: (value: A) => boolean): Array<A> {
    const removed: Array<A> = []
    const kept: Array<A> = []
    for (let i = 0; i < this.length; i++) {
      const value = this.buffer[(this.head + i) & (this.buffer.length - 1)] as A
      if (remove(value)) removed.push(value)
      else kept.push(value)
    }
    if (removed.length > 0) {
      this.buffer.fill(undefined)
      this.head = 0
      this.length = 0
      for (const value of kept) this.pushBack(value)
    }
    return removed
  }

  private grow(): void {
    const next: Array<A | undefined> = new Array(this.buffer.length * 2)
    for (let i = 0; i < this.length; i++) {
      next[i] = this.buffer[(this.head + i) & (this.buffer.length - 1)]
    }
    this.buffer = next
    this.head = 0
  }
}
