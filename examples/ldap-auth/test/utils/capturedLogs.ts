/** The log lines a test asserts on, as an operator reads them (logfmt), and the logger layer that keeps them. */
import { Logger } from "effect"

export const capture = () => {
  const lines: Array<string> = []
  return { lines, layer: Logger.layer([Logger.map(Logger.formatLogFmt, (line) => void lines.push(line))]) }
}
