/**
 * A growable ring buffer: O(1) push and shift at any length, so the floors built on it never scan.
 * Used by the two floor competitors (plain JS and Effect-native) for their idle stacks and waiter queues.
 */
export class Deque<A> {
  private items: Array<A | undefined> = new Array(16)
  private head = 0
  length = 0

  push(item: A): void {
    if (this.length === this.items.length) this.grow()
    this.items[(this.head + this.length) & (this.items.length - 1)] = item
    this.length++
  }

  /** Removes from the back (LIFO end). */
  pop(): A | undefined {
    if (this.length === 0) return undefined
    this.length--
    const index = (this.head + this.length) & (this.items.length - 1)
    const item = this.items[index]
    this.items[index] = undefined
    return item
  }

  /** Removes from the front (FIFO end). */
  shift(): A | undefined {
    if (this.length === 0) return undefined
    const item = this.items[this.head]
    this.items[this.head] = undefined
    this.head = (this.head + 1) & (this.items.length - 1)
    this.length--
    return item
  }

  // Capacity stays a power of two so that the index wrap is a mask.
  private grow(): void {
    const next: Array<A | undefined> = new Array(this.items.length * 2)
    for (let i = 0; i < this.length; i++) next[i] = this.items[(this.head + i) & (this.items.length - 1)]
    this.items = next
    this.head = 0
  }
}
