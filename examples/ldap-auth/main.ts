/**
 * Entry point: `npm run ldap-auth -- <command>` (`npm start` runs `demo`). SIGINT/SIGTERM interrupt the
 * program, which closes the servers and the LDAP pools in order and exits 0.
 */
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Cause, Effect, Exit, Runtime } from "effect"
import * as Cli from "./src/Cli.ts"

const teardown: Runtime.Teardown = (exit, onExit) =>
  Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause) ? onExit(0) : Runtime.defaultTeardown(exit, onExit)

Cli.run.pipe(Effect.provide(NodeServices.layer), NodeRuntime.runMain({ teardown }))
