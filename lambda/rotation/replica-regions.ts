/**
 * The environment variable that tells the rotation function which regions hold a replica of the secret, so
 * that a replica missing from DescribeSecret's `ReplicationStatus` is reported as stale too. Written by
 * lib/signing-keys.ts, read by lambda/rotation/index.ts (docs/design.md Conventions 19).
 */
export const REPLICA_REGIONS_ENV = 'REPLICA_REGIONS';

/**
 * A region name as the Secrets Manager API writes it in `ReplicationStatusType.Region` and takes it in
 * `RemoveReplicaRegions`: `^([a-z]+-)+\d+$`
 * (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_ReplicationStatusType.html).
 */
const REGION = /^([a-z]+-)+\d+$/;

/** The value of {@link REPLICA_REGIONS_ENV} for these regions: comma-separated, in the given order. */
export function formatReplicaRegions(regions: readonly string[]): string {
  return regions.join(',');
}

/**
 * Reads {@link REPLICA_REGIONS_ENV}: unset or empty is no replica.
 *
 * @throws {TypeError} at start-up for a value that is not a comma-separated list of region names.
 */
export function parseReplicaRegions(raw: string | undefined): string[] {
  if (raw === undefined || raw === '') return [];
  const regions = raw.split(',');
  for (const region of regions) {
    if (!REGION.test(region)) {
      throw new TypeError(
        `environment variable ${REPLICA_REGIONS_ENV} must be comma-separated region names (such as us-east-2), got ${JSON.stringify(raw)}`,
      );
    }
  }
  return regions;
}
