/**
 * A real nginx mail proxy (Debian's `nginx-light` + `libnginx-mod-mail`) in a temporary directory, listening for
 * IMAP, POP3 and SMTP on free loopback ports and asking an `auth_http` server about every login. Foreground,
 * single process, so killing the child stops it. Used by the end-to-end tests and by `demo`.
 */
import * as Path from "node:path"
import { Context, Duration, Effect, Layer, Redacted, Scope } from "effect"
import * as ServerProcess from "./ServerProcess.ts"

export interface NginxOptions {
  /** Where nginx sends its auth requests, as `host:port/path`, e.g. `127.0.0.1:9180/auth`. */
  readonly authHttp: string
  /** Sent as `X-Auth-Key` with every auth request when given. */
  readonly sharedSecret?: Redacted.Redacted<string> | undefined
  /** nginx's `auth_http_timeout`; 60 s by default, as in nginx. */
  readonly authTimeout?: Duration.Input | undefined
}

export interface NginxInstance {
  readonly imapPort: number
  readonly pop3Port: number
  readonly smtpPort: number
  /** nginx's error log, where it reports auth server timeouts and bad responses. */
  readonly errorLog: Effect.Effect<string, ServerProcess.ServerProcessError>
}

export class Nginx extends Context.Service<Nginx, NginxInstance>()("effect-connection-pool/examples/Nginx") {}

export const mailModule = "/usr/lib/nginx/modules/ngx_mail_module.so"

const config = (dir: string, options: NginxOptions, ports: { imap: number; pop3: number; smtp: number }) => `
load_module ${mailModule};
daemon off;
master_process off;
user root;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log info;
events {
  worker_connections 1024;
}
mail {
  auth_http ${options.authHttp};
  auth_http_timeout ${Duration.toMillis(options.authTimeout ?? "60 seconds")}ms;
${options.sharedSecret === undefined ? "" : `  auth_http_header X-Auth-Key "${Redacted.value(options.sharedSecret)}";\n`}\
  proxy_pass_error_message on;
  server {
    listen 127.0.0.1:${ports.imap};
    protocol imap;
    imap_auth plain login;
  }
  server {
    listen 127.0.0.1:${ports.pop3};
    protocol pop3;
    pop3_auth plain;
  }
  server {
    listen 127.0.0.1:${ports.smtp};
    protocol smtp;
    smtp_auth plain login;
    xclient on;
  }
}
`

/** Starts nginx for the life of the scope. */
export const make = (options: NginxOptions): Effect.Effect<NginxInstance, ServerProcess.ServerProcessError, Scope.Scope> =>
  Effect.gen(function*() {
    const dir = yield* ServerProcess.tempDir("nginx-")
    const ports = {
      imap: yield* ServerProcess.freePort,
      pop3: yield* ServerProcess.freePort,
      smtp: yield* ServerProcess.freePort
    }
    yield* ServerProcess.writeFile(Path.join(dir, "nginx.conf"), config(dir, options, ports))
    yield* ServerProcess.spawn({
      name: "nginx",
      command: "nginx",
      args: ["-p", dir, "-e", Path.join(dir, "error.log"), "-c", Path.join(dir, "nginx.conf")],
      logPath: Path.join(dir, "stderr.log"),
      ports: [ports.imap, ports.pop3, ports.smtp]
    })
    return {
      imapPort: ports.imap,
      pop3Port: ports.pop3,
      smtpPort: ports.smtp,
      errorLog: ServerProcess.readFile(Path.join(dir, "error.log"))
    }
  })

export const layer = (options: NginxOptions): Layer.Layer<Nginx, ServerProcess.ServerProcessError> =>
  Layer.effect(Nginx, make(options))
