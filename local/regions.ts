/**
 * The settings of `REGIONS=... npm start` that more than one command reads (`npm start`, `npm run
 * rotate-keys`): kept apart from local/multi-region.ts so that reading them loads nothing else.
 */

/**
 * An AWS region name, as lib/config.ts accepts one for `primaryRegion` and `replicaRegions` (`us-east-1`,
 * `us-gov-west-1`).
 */
const REGION = /^[a-z]{2}(-gov)?-[a-z]+-\d$/;

/** `REPLICATION_LAG_MS` when unset: how long each change takes to reach the other regions. */
export const DEFAULT_REPLICATION_LAG_MS = 200;

/**
 * Reads `REGIONS` (a comma-separated list, the first the primary): the region names, or a TypeError that
 * names the variable, the value given and what is allowed. Empty or unset is `undefined`: one region, as
 * `npm start` has always run.
 */
export function parseRegions(raw: string | undefined): readonly string[] | undefined {
  if (raw === undefined || raw.trim() === '') return undefined;
  const regions = raw.split(',').map((name) => name.trim());
  const fail = (why: string): never => {
    throw new TypeError(
      `environment variable REGIONS must be a comma-separated list of distinct AWS regions, the first the ` +
        `primary (such as us-east-1,us-west-2); ${why}, got ${JSON.stringify(raw)}`,
    );
  };
  const bad = regions.find((name) => !REGION.test(name));
  if (bad !== undefined) fail(`${JSON.stringify(bad)} is not a region name`);
  const repeated = regions.find((name, index) => regions.indexOf(name) !== index);
  if (repeated !== undefined) fail(`${repeated} appears twice`);
  return regions;
}
