/**
 * The auth server of part 3 without connection reuse, as a child process: what `ldap-auth serve` runs, from the
 * same environment, with `LdapAuth`'s `reuse: false` (a new search and bind connection for every login).
 */
import { NodeRuntime } from "@effect/platform-node"
import { Effect, Layer, Logger } from "effect"
import * as AppConfig from "../../examples/ldap-auth/src/AppConfig.ts"
import * as AuthApp from "../../examples/ldap-auth/src/internal/AuthApp.ts"

Effect.flatMap(AppConfig.read(AppConfig.fromEnv()), (config) =>
  Layer.launch(AuthApp.layer(config, { ldap: { reuse: false } }))).pipe(
    Effect.provideService(Logger.LogToStderr, true),
    NodeRuntime.runMain
  )
