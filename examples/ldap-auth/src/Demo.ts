import { Effect } from "effect"
export const run = (_: { readonly keep: boolean }) => Effect.logInfo("demo")
