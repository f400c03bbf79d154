/**
 * The Debian packages `demo` needs (slapd, ldap-utils, nginx-light, libnginx-mod-mail, dovecot-imapd,
 * dovecot-pop3d): checked by the files they install, and installed with apt-get when something is missing and
 * we may (root, apt-get present). The packages' own services are kept from starting, as in `.ci/run`: the demo
 * starts its own servers on loopback ports.
 */
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import { Console, Data, Effect } from "effect"

export class MissingPackages extends Data.TaggedError("MissingPackages")<{ readonly message: string }> {}

const needs: ReadonlyArray<readonly [pkg: string, file: string]> = [
  ["slapd", "/usr/sbin/slapd"],
  ["ldap-utils", "/usr/bin/ldapsearch"],
  ["nginx-light", "/usr/sbin/nginx"],
  ["libnginx-mod-mail", "/usr/lib/nginx/modules/ngx_mail_module.so"],
  ["dovecot-imapd", "/usr/lib/dovecot/imap"],
  ["dovecot-pop3d", "/usr/lib/dovecot/pop3"]
]

const policy = "/usr/sbin/policy-rc.d"

const install = (packages: ReadonlyArray<string>) =>
  Effect.try({
    try: () => {
      const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" }
      const ownPolicy = !Fs.existsSync(policy)
      if (ownPolicy) Fs.writeFileSync(policy, "#!/bin/sh\nexit 101\n", { mode: 0o755 })
      try {
        ChildProcess.execFileSync("apt-get", ["update", "-qq"], { stdio: "inherit", env })
        ChildProcess.execFileSync("apt-get", ["install", "-y", "-qq", "--no-install-recommends", ...packages], {
          stdio: "inherit",
          env
        })
      } finally {
        if (ownPolicy) Fs.rmSync(policy, { force: true })
      }
    },
    catch: (cause) => new MissingPackages({ message: `apt-get install ${packages.join(" ")} failed: ${String(cause)}` })
  })

/** Succeeds when everything is there (installing it first if it may). */
export const ensure: Effect.Effect<void, MissingPackages> = Effect.suspend(() => {
  const missing = needs.filter(([, file]) => !Fs.existsSync(file)).map(([pkg]) => pkg)
  if (missing.length === 0) return Effect.void
  const command = `apt-get install --no-install-recommends ${missing.join(" ")}`
  if (process.getuid?.() !== 0 || !Fs.existsSync("/usr/bin/apt-get")) {
    return Effect.fail(new MissingPackages({ message: `missing Debian packages; run as root: ${command}` }))
  }
  return Console.log(`Installing missing Debian packages: ${missing.join(" ")}`).pipe(Effect.andThen(install(missing)))
})
