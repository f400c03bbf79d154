/**
 * Part 5's figures added up for a platform: from one auth server's measured cost (CPU per login, LDAP connections,
 * Redis round trips) to what `nginxHosts` auth servers, one per nginx host, need for `loginsPerHour` on average and
 * at `peakFactor` times that. Pure arithmetic over a `ScalingResult`, printed by `npm run bench` as the tables the
 * example README's "Running several" section shows.
 */
import type { ScalingResult, ScalingRun, Transport } from "./scaling.ts"

export interface Platform {
  readonly nginxHosts: number
  readonly loginsPerHour: number
  /** Peak logins/s over the average (mornings, a reconnect storm after an outage). */
  readonly peakFactor: number
}

export const examplePlatform: Platform = { nginxHosts: 10, loginsPerHour: 1_000_000, peakFactor: 5 }

/** One load (average or peak) on the whole platform and on each host. */
export interface Load {
  readonly loginsPerSecond: number
  readonly loginsPerSecondPerHost: number
  /** Cores each auth server is busy at this load (CPU seconds per login × its logins/s). */
  readonly coresPerServer: number
  /** Cores of every auth server together. */
  readonly cores: number
  /** Round trips to Redis, every login counted as a right password (the most round trips): an upper bound. */
  readonly redisRoundTripsPerSecond: number
  /** redis-server's own CPU for these logins, as measured here. */
  readonly redisCores: number
  /** slapd's own CPU for these logins, as measured here: the directory's cores. */
  readonly directoryCores: number
}

export interface Sizing {
  readonly platform: Platform
  readonly transport: Transport
  /** The run the CPU figures come from: the concurrency where a login cost the auth server most. */
  readonly cpuFrom: ScalingRun
  /** One per nginx host: nginx's `auth_http` names one address, the host's own socket. */
  readonly authServers: number
  /** Logins one core's second of an auth server answers. */
  readonly loginsPerCoreSecond: number
  readonly average: Load
  readonly peak: Load
  /** Connections the pools held per server at the measured load, and on the directory for every server. */
  readonly ldapConnectionsPerServer: number
  readonly ldapConnectionsOnDirectory: number
  /** The most the pools may open: every server × 2 pools × `POOL_MAX_SIZE`. */
  readonly ldapConnectionsAtMost: number
}

/**
 * The sizing of `platform` from the runs over `transport` and the round trips of `result`, on the safe side of
 * what was measured: the CPU per login of the concurrency where a login cost most, and the most connections held.
 */
export const size = (result: ScalingResult, transport: Transport, platform: Platform = examplePlatform): Sizing => {
  const runs = result.runs.filter((each) => each.transport === transport)
  if (runs.length === 0) throw new Error(`no run over ${transport}://`)
  const run = runs.reduce((most, each) => (each.cpuMicrosPerLogin > most.cpuMicrosPerLogin ? each : most))
  const held = Math.max(...runs.map((each) => each.ldapConnectionsHeld))
  const cpuPerLogin = run.cpuMicrosPerLogin / 1_000_000
  const at = (loginsPerSecond: number): Load => ({
    loginsPerSecond,
    loginsPerSecondPerHost: loginsPerSecond / platform.nginxHosts,
    coresPerServer: (loginsPerSecond / platform.nginxHosts) * cpuPerLogin,
    cores: loginsPerSecond * cpuPerLogin,
    redisRoundTripsPerSecond: loginsPerSecond * Math.max(result.roundTrips.right, result.roundTrips.wrong),
    redisCores: loginsPerSecond * (run.redisCpuMicrosPerLogin / 1_000_000),
    directoryCores: loginsPerSecond * (run.slapdCpuMicrosPerLogin / 1_000_000)
  })
  const average = platform.loginsPerHour / 3600
  return {
    platform,
    transport,
    cpuFrom: run,
    authServers: platform.nginxHosts,
    loginsPerCoreSecond: 1 / cpuPerLogin,
    average: at(average),
    peak: at(average * platform.peakFactor),
    ldapConnectionsPerServer: held,
    ldapConnectionsOnDirectory: platform.nginxHosts * held,
    ldapConnectionsAtMost: platform.nginxHosts * 2 * run.poolSize
  }
}

const row = (cells: ReadonlyArray<string>): string => `| ${cells.join(" | ")} |`
const count = (n: number) => Math.round(n).toLocaleString("en")
const formatMicros = (n: number) => `${Math.round(n).toLocaleString("en")} µs`

/** One server per transport: throughput, CPU per login of each process, LDAP connections, Redis commands. */
export const costTable = (result: ScalingResult): string =>
  [
    row([
      "LDAP", "concurrency", "logins/s (wall)", "auth server CPU / login", "logins per core second", "slapd CPU / login",
      "redis CPU / login", "p50", "p99", "LDAP connections held", "opened while measured", "Redis scripts / login", "Redis commands / login",
      "failures"
    ]),
    row(["---", ...Array<string>(13).fill("---:")]),
    ...result.runs.map((run) =>
      row([
        `${run.transport}://`,
        String(run.concurrency),
        count(run.loginsPerSecond),
        formatMicros(run.cpuMicrosPerLogin),
        count(1_000_000 / run.cpuMicrosPerLogin),
        formatMicros(run.slapdCpuMicrosPerLogin),
        formatMicros(run.redisCpuMicrosPerLogin),
        `${run.p50Millis.toFixed(1)} ms`,
        `${run.p99Millis.toFixed(1)} ms`,
        String(run.ldapConnectionsHeld),
        String(run.ldapConnectionsMeasured),
        run.redisScriptsPerLogin.toFixed(2),
        run.redisCommandsPerLogin.toFixed(2),
        String(run.failures)
      ])
    )
  ].join("\n")

const commands = (calls: Readonly<Record<string, number>>, logins: number) =>
  Object.entries(calls).map(([name, n]) => `${name.toUpperCase()} × ${n / logins}`).join(", ") || "none"

/** Redis round trips per login by kind, one login at a time, and the commands inside the scripts. */
export const roundTripTable = (result: ScalingResult): string => {
  const { byKind, logins } = result.roundTrips
  const line = (what: string, trips: number, kind: keyof typeof byKind) =>
    row([what, String(trips), commands(byKind[kind].sent, logins), commands(byKind[kind].inScripts, logins)])
  return [
    row(["login", "Redis round trips", "sent", "run inside the scripts"]),
    row(["---", "---:", "---", "---"]),
    line("right password", result.roundTrips.right, "right"),
    line("wrong password", result.roundTrips.wrong, "wrong"),
    line("unknown user", result.roundTrips.unknownUser, "unknownUser")
  ].join("\n")
}

/** The platform's needs at the average and at the peak. */
export const sizingTable = (sizing: Sizing): string => {
  const line = (what: string, average: string, peak: string) => row([what, average, peak])
  const { average, peak } = sizing
  return [
    row(["", "average", `peak (${sizing.platform.peakFactor}×)`]),
    row(["---", "---:", "---:"]),
    line("logins/s, whole platform", count(average.loginsPerSecond), count(peak.loginsPerSecond)),
    line("logins/s per auth server", count(average.loginsPerSecondPerHost), count(peak.loginsPerSecondPerHost)),
    line(
      `auth server CPU (${sizing.transport}://, ${formatMicros(sizing.cpuFrom.cpuMicrosPerLogin)} a login), per server`,
      `${average.coresPerServer.toFixed(2)} core`,
      `${peak.coresPerServer.toFixed(2)} core`
    ),
    line("auth server CPU, all servers", `${average.cores.toFixed(2)} core`, `${peak.cores.toFixed(2)} core`),
    line(
      "Redis round trips/s (at most: every login right)",
      count(average.redisRoundTripsPerSecond),
      count(peak.redisRoundTripsPerSecond)
    ),
    line("Redis CPU (redis-server, as measured here)", `${average.redisCores.toFixed(2)} core`, `${peak.redisCores.toFixed(2)} core`),
    line("directory CPU (slapd, as measured here)", `${average.directoryCores.toFixed(2)} core`, `${peak.directoryCores.toFixed(2)} core`)
  ].join("\n")
}
