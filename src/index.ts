/**
 * effect-connection-pool: a connection pool for Effect.
 *
 * @since 0.1.0
 */
export * as ConnectionPool from "./ConnectionPool.ts"
