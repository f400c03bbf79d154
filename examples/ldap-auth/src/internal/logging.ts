/**
 * `serve`'s logs through Effect's own loggers: `LOG_LEVEL` as the minimum level, `LOG_FORMAT` as one of the
 * console loggers. Without a format, pretty on a terminal and logfmt otherwise: journald stores each line as it
 * comes and Loki's `| logfmt` reads it, while a JSON line is harder to read by eye in `journalctl`.
 */
import { Layer, Logger, References } from "effect"
import type * as AppConfig from "../AppConfig.ts"

/** The format to use: the one asked for, or pretty on a terminal and logfmt otherwise. */
export const formatFor = (format: AppConfig.LogFormat | undefined, isTerminal: boolean): AppConfig.LogFormat =>
  format ?? (isTerminal ? "pretty" : "logfmt")

// `Logger.consoleJson` and `consoleLogFmt` write to stdout whatever `Logger.LogToStderr` says (only the pretty
// logger reads it), and stdout carries the commands' results: their formatters go to stderr here instead.
const loggerOf = (format: AppConfig.LogFormat, isTerminal: boolean) =>
  format === "json"
    ? Logger.withConsoleError(Logger.formatJson)
    : format === "logfmt"
    ? Logger.withConsoleError(Logger.formatLogFmt)
    : Logger.consolePretty({ colors: isTerminal })

/**
 * Replaces the loggers and sets the minimum level. Every format writes to stderr; the pretty one because the
 * entry point sets `Logger.LogToStderr`, and colours only when stderr is a terminal.
 */
export const layer = (
  logging: AppConfig.Logging | undefined,
  isTerminal: boolean = process.stderr.isTTY === true
): Layer.Layer<never> =>
  Layer.mergeAll(
    Logger.layer([loggerOf(formatFor(logging?.format, isTerminal), isTerminal)]),
    Layer.succeed(References.MinimumLogLevel, logging?.level ?? "Info")
  )
