/**
 * Entry point: `npm run ldap-auth -- <command>` (`npm start` runs `demo`). SIGINT, SIGTERM and SIGHUP interrupt
 * the program, which answers the logins in flight, closes the servers and the LDAP pools in order and exits 0.
 */
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Cause, Effect, Exit, Logger, Runtime } from "effect"
import * as Demo from "./harness/Demo.ts"
import * as Cli from "./src/Cli.ts"

const teardown: Runtime.Teardown = (exit, onExit) =>
  Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause) ? onExit(0) : Runtime.defaultTeardown(exit, onExit)

// Node's default for SIGHUP (a closed terminal, `systemctl reload`, `kill -HUP`) ends the process at once, with
// logins unanswered and LDAP connections not unbound; it takes the same graceful path as SIGTERM instead.
process.on("SIGHUP", () => process.kill(process.pid, "SIGTERM"))

// Logs go to stderr: stdout carries the commands' results (`check` prints ok / invalid / temporary there).
Cli.run([Cli.serve, Cli.check, Demo.command]).pipe(
  Effect.provideService(Logger.LogToStderr, true),
  Effect.provide(NodeServices.layer),
  NodeRuntime.runMain({ teardown })
)
