/**
 * A full garbage collection between timed runs, so that one competitor's garbage is not collected on the next one's
 * clock. `npm run bench` runs plain `node`, so the flag is switched on here rather than on the command line.
 */
import { setFlagsFromString } from "node:v8"
import { runInNewContext } from "node:vm"

setFlagsFromString("--expose-gc")
const gcFunction = runInNewContext("gc") as () => void

export const collectGarbage = (): void => gcFunction()
