/**
 * Where a benchmark run writes its report. Only a full run replaces the committed `bench/results/latest.json` and
 * charts that the README shows; `--quick` and `--only` runs go to the git-ignored `bench/results/scratch/`, so a
 * trial run never leaves a partial or 3-round result where the README reads it.
 */
export interface RunKind {
  readonly quick: boolean
  readonly only: string | undefined
}

/** The directory for this run's `latest.json`, `latest.svg` and `ldap.svg`. */
export const outputDir = (run: RunKind): URL =>
  new URL(run.quick || run.only !== undefined ? "./results/scratch/" : "./results/", import.meta.url)
