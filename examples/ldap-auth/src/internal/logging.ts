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

const loggerOf = (format: AppConfig.LogFormat) =>
  format === "json" ? Logger.consoleJson : format === "logfmt" ? Logger.consoleLogFmt : Logger.consolePretty()

/**
 * Replaces the loggers and sets the minimum level. The console loggers write to stderr when `Logger.LogToStderr`
 * is set, as the entry point does.
 */
export const layer = (
  logging: AppConfig.Logging | undefined,
  isTerminal: boolean = process.stderr.isTTY === true
): Layer.Layer<never> =>
  Layer.mergeAll(
    Logger.layer([loggerOf(formatFor(logging?.format, isTerminal))]),
    Layer.succeed(References.MinimumLogLevel, logging?.level ?? "Info")
  )
