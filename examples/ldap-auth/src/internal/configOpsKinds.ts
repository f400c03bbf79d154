/**
 * The kinds of value of the operators' variables (`AUTH_HTTP_SOCKET`, `AUTH_HTTP_SOCKET_MODE`, `LOG_LEVEL`,
 * `LOG_FORMAT`), each read by one parser that returns the value or why it is wrong.
 */
import { type LogLevel, Result } from "effect"
import type { LogFormat } from "../AppConfig.ts"
import * as Var from "./configVariable.ts"

// The unix socket: an absolute path that fits a sockaddr_un (108 bytes with its NUL), and its mode in octal.
export const socketPath = Var.checked((raw) =>
  !raw.startsWith("/")
    ? "is not an absolute path such as /run/mail-auth/auth.sock"
    : Buffer.byteLength(raw) > 107
    ? "is longer than a unix socket path may be (107 bytes)"
    : raw.endsWith("/")
    ? "names a directory, not a socket file"
    : undefined
)

export const octalMode = Var.parsed((raw) =>
  /^0?[0-7]{3}$/.test(raw) ? Result.succeed(parseInt(raw, 8)) : Result.fail("is not an octal file mode such as 0660")
)

const logLevels: ReadonlyArray<LogLevel.LogLevel> = ["All", "Fatal", "Error", "Warn", "Info", "Debug", "Trace", "None"]

/** Effect spells the levels `Info`, `Warn`; operators write `info`, `WARN`, `warning`. */
export const logLevel = Var.parsed((raw) => {
  const lower = raw.toLowerCase() === "warning" ? "warn" : raw.toLowerCase()
  const level = logLevels.find((name) => name.toLowerCase() === lower)
  return level === undefined
    ? Result.fail(`is not a log level (${logLevels.map((name) => name.toLowerCase()).join(", ")})`)
    : Result.succeed(level)
})

const logFormats: ReadonlyArray<LogFormat> = ["pretty", "json", "logfmt"]

export const logFormat = Var.parsed((raw) => {
  const format = logFormats.find((name) => name === raw.toLowerCase())
  return format === undefined ? Result.fail("is not pretty, json or logfmt") : Result.succeed(format)
})
