/**
 * The decision behind every nginx login: shared secret, decoding, method, rate limits, then LDAP, and the
 * answer nginx needs. Every refusal reads the same to the client (`Invalid login or password`) whatever the
 * reason; only a directory that is down or slow gets `Temporary server problem, try again later`. The answer
 * comes before nginx's own `auth_http_timeout` (`deadline`), since nginx would otherwise show the client an
 * internal error and log a timeout.
 */
import * as Crypto from "node:crypto"
import type * as Http from "node:http"
import { Cause, Context, Duration, Effect, Layer, LogLevel, Redacted, Result, type Scope } from "effect"
import { HttpServerRequest, HttpServerResponse } from "effect/http"
import * as AuthHttpProtocol from "./AuthHttpProtocol.ts"
import * as Deadline from "./internal/deadline.ts"
import * as Input from "./internal/ldapInput.ts"
import * as LogText from "./internal/logText.ts"
import * as LogThrottle from "./internal/logThrottle.ts"
import * as Tracing from "./internal/tracing.ts"
import * as LdapAuth from "./LdapAuth.ts"
import * as Metrics from "./Metrics.ts"
import { RateLimiter } from "./RateLimiter.ts"

export interface Options {
  /** Where nginx proxies an accepted login, per protocol: IP literals only. */
  readonly backends: Readonly<Record<AuthHttpProtocol.MailProtocol, AuthHttpProtocol.Backend>>
  /** When set, requests must carry it in `X-Auth-Key` (nginx: `auth_http_header X-Auth-Key "…";`). */
  readonly sharedSecret?: Redacted.Redacted<string> | undefined
  /** Attempts on one connection before nginx is told to close it; 10 by default. */
  readonly maxAttempts?: number | undefined
  /** The longest `Auth-Wait`, in seconds; 5 by default. */
  readonly maxWaitSeconds?: number | undefined
  /** The longest an answer may take; a slower LDAP check is answered as temporary. 20 s by default. */
  readonly deadline?: Duration.Input | undefined
  /** Repeated warnings of one kind are written once per interval, with the count suppressed. 1 minute by default. */
  readonly logInterval?: Duration.Input | undefined
}

/** An answer and why it was given (for the metrics and the log, never for the client). */
export interface Decision {
  readonly response: AuthHttpProtocol.AuthResponse
  readonly outcome: Metrics.Outcome
  readonly protocol: AuthHttpProtocol.MailProtocol | "unknown"
}

export class AuthHttpHandler extends Context.Service<AuthHttpHandler, {
  /** Decides one attempt from nginx's request headers (lower-cased names). */
  readonly decide: (headers: Readonly<Record<string, string | undefined>>) => Effect.Effect<Decision>
}>()("effect-connection-pool/examples/AuthHttpHandler") {}

/**
 * A check of `X-Auth-Key` against the secret, in time that does not depend on where the strings differ: the given
 * value is written into a buffer of the secret's length (cut or zero-padded) and compared in constant time, and a
 * length that differs fails after the comparison.
 */
const secretCheck = (secret: Redacted.Redacted<string>) => {
  const expected = Buffer.from(Redacted.value(secret), "utf8")
  // Reused: a check runs synchronously, start to end.
  const given = Buffer.alloc(expected.length)
  return (value: string | undefined): boolean => {
    if (value === undefined) return false
    given.fill(0)
    given.write(value, "utf8")
    return Crypto.timingSafeEqual(given, expected) && Buffer.byteLength(value, "utf8") === expected.length
  }
}

export const make = (
  options: Options
): Effect.Effect<Context.Service.Shape<typeof AuthHttpHandler>, never, LdapAuth.LdapAuth | RateLimiter | Scope.Scope> =>
  Effect.gen(function*() {
    const ldap = yield* LdapAuth.LdapAuth
    const limiter = yield* RateLimiter
    const limits = { maxAttempts: options.maxAttempts ?? 10, maxWaitSeconds: options.maxWaitSeconds ?? 5 }
    const deadline = yield* Deadline.make(Duration.fromInputUnsafe(options.deadline ?? Duration.seconds(20)))
    const throttle = LogThrottle.make(options.logInterval ?? Duration.minutes(1))
    const sameSecret = options.sharedSecret === undefined ? undefined : secretCheck(options.sharedSecret)

    const refuse = (
      kind: "invalid" | "temporary",
      outcome: Metrics.Outcome,
      request: { readonly protocol: AuthHttpProtocol.MailProtocol; readonly attempt: number }
    ): Decision => ({ response: AuthHttpProtocol.reject(kind, request, limits), outcome, protocol: request.protocol })

    /** Input that broke a rule counts against the address alone: its name is never a key, nor logged. */
    const refuseInput = (clientIp: string, outcome: Metrics.Outcome, request: Parameters<typeof refuse>[2]) =>
      Effect.as(limiter.attempt({ clientIp }), refuse("invalid", outcome, request))

    /** The right password: the entry's login attribute is what nginx passes on, so it must be usable. */
    const accepted = (request: AuthHttpProtocol.AuthRequest, user: LdapAuth.AuthenticatedUser): Effect.Effect<Decision> => {
      const login = user.login
      if (login === undefined || !AuthHttpProtocol.isHeaderSafe(login)) {
        return Effect.as(
          throttle.log("Warn", "login-attribute", "the entry has no usable login attribute; answered temporary", {
            dn: LogText.preview(user.dn, 128)
          }),
          refuse("temporary", "temporary", request)
        )
      }
      return Effect.succeed({
        response: { _tag: "Accept", backend: options.backends[request.protocol], user: login },
        outcome: "ok",
        protocol: request.protocol
      })
    }

    const check = (request: AuthHttpProtocol.AuthRequest): Effect.Effect<Decision> => {
      if (request.method !== "plain" || Input.rejection(request.user, request.password) !== undefined) {
        return refuseInput(request.clientIp, "rejected_input", request)
      }
      return Effect.flatMap(limiter.attempt({ clientIp: request.clientIp, user: request.user }), (ticket) => {
        if (ticket === undefined) return Effect.succeed(refuse("invalid", "rate_limited", request))
        return Effect.matchEffect(
          deadline.bound(
            Metrics.timeLdap(ldap.authenticate(request.user, request.password, ticket.entry)),
            () => "deadline" as const
          ),
          {
            onSuccess: (user) => Effect.flatMap(ticket.succeeded, () => accepted(request, user)),
            onFailure: (error) =>
              error === "deadline" || error.reason === "Temporary" || error.reason === "Misconfigured"
                ? Effect.as(ticket.abandoned, refuse("temporary", "temporary", request))
                : Effect.succeed(refuse(
                  "invalid",
                  error.reason === "RateLimited"
                    ? "rate_limited"
                    : error.reason === "RejectedInput"
                    ? "rejected_input"
                    : "invalid",
                  request
                ))
          }
        )
      })
    }

    /** The login line, looked at first: below `debug` it would be built for nothing on every login. */
    const logged = (request: AuthHttpProtocol.AuthRequest, decision: Decision): Effect.Effect<Decision> =>
      Effect.flatMap(LogLevel.isEnabled("Debug"), (enabled) =>
        enabled
          ? Effect.as(
            Effect.logDebug("login").pipe(
              Effect.annotateLogs({
                // Names that broke the input rules are never written, not even cut.
                user: decision.outcome === "rejected_input" ? "(rejected)" : LogText.preview(request.user),
                client: request.clientIp,
                protocol: request.protocol,
                attempt: request.attempt,
                outcome: decision.outcome
              })
            ),
            decision
          )
          : Effect.succeed(decision))

    const fallbackOf = (headers: Readonly<Record<string, string | undefined>>) => ({
      protocol: AuthHttpProtocol.mailProtocols.find((protocol) => protocol === headers["auth-protocol"]) ?? "imap",
      attempt: 1
    })

    const decideOnce = (headers: Readonly<Record<string, string | undefined>>): Effect.Effect<Decision> => {
      if (sameSecret !== undefined && !sameSecret(headers["x-auth-key"])) {
        // Not counted against the claimed Client-IP: without the secret, that address is anyone's choice.
        return Effect.as(
          throttle.log("Warn", "shared-secret", "auth request without the right shared secret"),
          refuse("invalid", "unauthorized", fallbackOf(headers))
        )
      }
      const decoded = AuthHttpProtocol.decodeRequest(headers)
      if (Result.isFailure(decoded)) {
        return Effect.andThen(
          throttle.log("Info", "undecodable", "undecodable auth request", { problem: decoded.failure.message }),
          refuseInput(headers["client-ip"] ?? "", "bad_request", fallbackOf(headers))
        )
      }
      const request = decoded.success
      // A bug must never let anyone in, nor leave nginx without an answer.
      return Effect.flatMap(
        Effect.catchDefect(check(request), (defect) =>
          Effect.logError("login check failed", Cause.pretty(Cause.die(defect))).pipe(
            Effect.as(refuse("temporary", "temporary", request))
          )),
        (decision) => logged(request, decision)
      )
    }

    const decide = (headers: Readonly<Record<string, string | undefined>>): Effect.Effect<Decision> =>
      Tracing.withSpan("AuthHttp.decide")(
        Effect.tap(Effect.suspend(() => decideOnce(headers)), (decision) => Metrics.countLogin(decision.protocol, decision.outcome))
      )

    return AuthHttpHandler.of({ decide })
  })

export const layer = (options: Options): Layer.Layer<AuthHttpHandler, never, LdapAuth.LdapAuth | RateLimiter> =>
  Layer.effect(AuthHttpHandler, make(options))

/**
 * The response headers of a decision, sent with HTTP 200 (nginx ignores the status) and no body.
 * `Connection: close` as nginx expects (it speaks HTTP/1.0), which also keeps an idle keep-alive client from
 * holding up shutdown.
 */
export const responseHeaders = (decision: Decision): Record<string, string> => ({
  ...AuthHttpProtocol.encodeResponse(decision.response),
  Connection: "close"
})

/** Node's request headers as `decide` reads them: a header sent twice is joined, as Effect's `Headers` does. */
export const headersOf = (headers: Http.IncomingHttpHeaders): Readonly<Record<string, string | undefined>> => {
  const result: Record<string, string | undefined> = {}
  for (const name in headers) {
    const value = headers[name]
    result[name] = Array.isArray(value) ? value.join(", ") : value
  }
  return result
}

/** The `GET /auth` route body, for the router (`AuthHttpServer` answers it directly when no tracer is installed). */
export const route: Effect.Effect<
  HttpServerResponse.HttpServerResponse,
  never,
  AuthHttpHandler | HttpServerRequest.HttpServerRequest
> = Effect.gen(function*() {
  const request = yield* HttpServerRequest.HttpServerRequest
  const handler = yield* AuthHttpHandler
  const decision = yield* handler.decide(request.headers)
  return HttpServerResponse.empty({ status: 200, headers: responseHeaders(decision) })
})
