/**
 * A real Dovecot as the IMAP/POP3 backend behind nginx, in a temporary directory on free loopback ports. Its
 * passdb accepts any password: nginx has already asked the auth server, and a backend that checked again would
 * hide what the auth server decided. Used by the end-to-end tests and by `demo`.
 */
import * as ChildProcess from "node:child_process"
import * as Os from "node:os"
import * as Path from "node:path"
import { Context, Effect, Layer, Scope } from "effect"
import * as ServerProcess from "./ServerProcess.ts"

export interface DovecotInstance {
  readonly imapPort: number
  readonly pop3Port: number
  /** Dovecot's own log: one `Login: user=<…>` line per session nginx proxied. */
  readonly log: Effect.Effect<string, ServerProcess.ServerProcessError>
}

export class Dovecot extends Context.Service<Dovecot, DovecotInstance>()("effect-connection-pool/examples/Dovecot") {}

interface Accounts {
  readonly login: string
  readonly internal: string
  readonly group: string
  /** The login processes chroot, which only root may do. */
  readonly chroot: boolean
}

// As root, Dovecot's own unprivileged accounts; as anyone else, every process runs as the current user.
const accounts = (): Accounts => {
  if (process.getuid?.() === 0) return { login: "dovenull", internal: "dovecot", group: "dovecot", chroot: true }
  const user = Os.userInfo().username
  const group = ChildProcess.execFileSync("id", ["-gn"], { encoding: "utf8" }).trim()
  return { login: user, internal: user, group, chroot: false }
}

const config = (dir: string, imapPort: number, pop3Port: number, users: Accounts) => `
base_dir = ${dir}/run
state_dir = ${dir}/state
instance_name = dovecot-${Path.basename(dir)}
protocols = imap pop3
listen = 127.0.0.1
log_path = ${dir}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_login_user = ${users.login}
default_internal_user = ${users.internal}
default_internal_group = ${users.group}
first_valid_uid = 1
mail_location = maildir:${dir}/mail/%u
# Every login comes from nginx's address, and the load tests log the same users in many times at once.
mail_max_userip_connections = 1000
passdb {
  driver = static
  args = nopassword=y
}
userdb {
  driver = static
  args = uid=${users.internal} gid=${users.group} home=${dir}/mail/%u
}
# Dovecot's performance mode: long-lived login and mail processes instead of one new process per login,
# which had made Dovecot, not the auth path, the limit of the end-to-end benchmark (169 vs 506 logins/s).
service imap-login {
  ${users.chroot ? "" : "chroot ="}
  service_count = 0
  process_min_avail = 2
  inet_listener imap {
    address = 127.0.0.1
    port = ${imapPort}
  }
  inet_listener imaps {
    port = 0
  }
}
service pop3-login {
  ${users.chroot ? "" : "chroot ="}
  service_count = 0
  process_min_avail = 2
  inet_listener pop3 {
    address = 127.0.0.1
    port = ${pop3Port}
  }
  inet_listener pop3s {
    port = 0
  }
}
service imap {
  service_count = 0
  process_min_avail = 4
}
service pop3 {
  service_count = 0
  process_min_avail = 4
}
service anvil {
  chroot =
}
`

/** Starts Dovecot for the life of the scope. */
export const make: Effect.Effect<DovecotInstance, ServerProcess.ServerProcessError, Scope.Scope> = Effect.gen(
  function*() {
    const dir = yield* ServerProcess.tempDir("dovecot-")
    const imapPort = yield* ServerProcess.freePort
    const pop3Port = yield* ServerProcess.freePort
    yield* ServerProcess.writeFile(Path.join(dir, "dovecot.conf"), config(dir, imapPort, pop3Port, accounts()))
    // Mail is written by the unprivileged user the userdb names.
    yield* ServerProcess.makeDir(Path.join(dir, "mail"), 0o1777)
    yield* ServerProcess.spawn({
      name: "dovecot",
      command: "dovecot",
      args: ["-F", "-c", Path.join(dir, "dovecot.conf")],
      logPath: Path.join(dir, "stderr.log"),
      ports: [imapPort, pop3Port]
    })
    return { imapPort, pop3Port, log: ServerProcess.readFile(Path.join(dir, "dovecot.log")) }
  }
)

export const layer: Layer.Layer<Dovecot, ServerProcess.ServerProcessError> = Layer.effect(Dovecot, make)
