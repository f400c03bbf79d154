import { assert, describe, it } from "@effect/vitest"
import * as fc from "fast-check"
import { type Node, WaitList } from "../../src/internal/waitList.ts"

interface Item extends Node<Item> {
  readonly id: number
}

const item = (id: number): Item => ({ id, prev: undefined, next: undefined, linked: false })

describe("WaitList", () => {
  it("keeps arrival order while any node leaves from anywhere and a node may go back to the head", () =>
    fc.assert(fc.property(fc.array(fc.tuple(fc.nat(2), fc.nat(50)), { maxLength: 200 }), (steps) => {
      const list = new WaitList<Item>()
      const model: Array<Item> = []
      let nextId = 0
      for (const [op, pick] of steps) {
        if (op === 0 || model.length === 0) {
          const node = item(nextId++)
          list.push(node)
          model.push(node)
        } else if (op === 1) {
          const node = list.shift()!
          assert.strictEqual(node, model.shift())
          list.unshift(node)
          model.unshift(node)
        } else {
          const node = model[pick % model.length]!
          assert.isTrue(list.remove(node))
          assert.isFalse(list.remove(node), "a node leaves once")
          model.splice(model.indexOf(node), 1)
        }
        assert.strictEqual(list.size, model.length)
      }
      for (const expected of model) assert.strictEqual(list.shift(), expected)
      assert.isUndefined(list.shift())
    })))
})
