/**
 * The pool's own errors, re-exported by `ConnectionPool`.
 *
 * @internal
 */
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"

/**
 * A borrower waited `acquireTimeout` without getting a connection.
 *
 * @category errors
 */
export class PoolTimeoutError extends Data.TaggedError("PoolTimeoutError")<{
  readonly pool: string
  readonly timeout: Duration.Duration
}> {
  override get message(): string {
    return `pool "${this.pool}": no connection within ${Duration.format(this.timeout)}`
  }
}

/**
 * `maxSize` was reached and `maxWaiting` borrowers were already waiting.
 *
 * @category errors
 */
export class PoolExhaustedError extends Data.TaggedError("PoolExhaustedError")<{
  readonly pool: string
  readonly waiting: number
}> {
  override get message(): string {
    return `pool "${this.pool}": exhausted, ${this.waiting} borrowers already waiting`
  }
}

/**
 * The pool is shutting down or shut down.
 *
 * @category errors
 */
export class PoolClosedError extends Data.TaggedError("PoolClosedError")<{
  readonly pool: string
}> {
  override get message(): string {
    return `pool "${this.pool}": closed`
  }
}

