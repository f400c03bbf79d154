import { assert, describe, it } from "@effect/vitest"
import * as fc from "fast-check"
import { Deque } from "../../src/internal/deque.ts"

type Op = { op: "push"; value: number } | { op: "popFront" } | { op: "popBack" } | { op: "removeEven" }

const ops = fc.array(
  fc.oneof(
    fc.record({ op: fc.constant("push" as const), value: fc.integer() }),
    fc.constant({ op: "popFront" as const }),
    fc.constant({ op: "popBack" as const }),
    fc.constant({ op: "removeEven" as const })
  ),
  { maxLength: 300 }
)

describe("Deque", () => {
  it("behaves like an array used as a double-ended queue, across growth and wrap-around", () =>
    fc.assert(fc.property(ops, (program: Array<Op>) => {
      const deque = new Deque<number>(2)
      const model: Array<number> = []
      for (const step of program) {
        switch (step.op) {
          case "push":
            deque.pushBack(step.value)
            model.push(step.value)
            break
          case "popFront":
            assert.strictEqual(deque.popFront(), model.shift())
            break
          case "popBack":
            assert.strictEqual(deque.popBack(), model.pop())
            break
          case "removeEven": {
            const removed = deque.removeWhere((n) => n % 2 === 0)
            assert.deepStrictEqual(removed, model.filter((n) => n % 2 === 0))
            model.splice(0, model.length, ...model.filter((n) => n % 2 !== 0))
            break
          }
        }
        assert.strictEqual(deque.length, model.length)
        assert.strictEqual(deque.peekFront(), model[0])
        assert.strictEqual(deque.peekBack(), model[model.length - 1])
      }
    })))
})
