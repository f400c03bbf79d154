/**
 * An intrusive doubly linked list: waiters are queued in arrival order and a
 * waiter that gives up (timeout, interruption) unlinks itself in O(1).
 *
 * @internal
 */
export interface Node<N extends Node<N>> {
  prev: N | undefined
  next: N | undefined
  linked: boolean
}

/** @internal */
export class WaitList<N extends Node<N>> {
  private head: N | undefined = undefined
  private tail: N | undefined = undefined
  size = 0

  push(node: N): void {
    node.prev = this.tail
    node.next = undefined
    node.linked = true
    if (this.tail === undefined) this.head = node
    else this.tail.next = node
    this.tail = node
    this.size++
  }

  /** The longest waiting node. */
  get first(): N | undefined {
    return this.head
  }

  /** Puts `node` back at the head: a borrower that keeps its place in the queue. */
  unshift(node: N): void {
    node.prev = undefined
    node.next = this.head
    node.linked = true
    if (this.head === undefined) this.tail = node
    else this.head.prev = node
    this.head = node
    this.size++
  }

  shift(): N | undefined {
    const node = this.head
    if (node !== undefined) this.remove(node)
    return node
  }

  remove(node: N): boolean {
    if (!node.linked) return false
    if (node.prev === undefined) this.head = node.next
    else node.prev.next = node.next
    if (node.next === undefined) this.tail = node.prev
    else node.next.prev = node.prev
    node.prev = undefined
    node.next = undefined
    node.linked = false
    this.size--
    return true
  }
}
