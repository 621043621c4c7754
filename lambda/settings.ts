/**
 * The runtime settings of the functions, each declared once: the environment variable that carries it, its
 * default and the range allowed. The functions read them at start-up (`Env.setting`), the CDK configuration
 * (lib/config.ts) validates `cdk.json` against the same ranges and defaults, and the local platform reads
 * its environment through them too, so the three cannot disagree.
 *
 * Every value is a whole number of seconds; the key is the name of the `cdk.json` setting.
 */

/** One runtime setting. */
export interface SettingSpec {
  /** The environment variable of the functions that carries the value. */
  readonly env: string;
  /** The value when none is given. */
  readonly default: number;
  /** The smallest value allowed. */
  readonly min: number;
  /** The largest value allowed. */
  readonly max: number;
}

/** The settings both functions and the CDK configuration share. */
export const SETTINGS = {
  /** The access token lifetime (`exp - iat`). */
  accessTokenTtlSeconds: { env: 'ACCESS_TOKEN_TTL_SECONDS', default: 300, min: 60, max: 3600 },
  /** The clock difference a verifier tolerates on `iat`, `nbf` and `exp`. */
  clockSkewSeconds: { env: 'CLOCK_SKEW_SECONDS', default: 30, min: 0, max: 300 },
  /** A session dies this long after its last refresh (always more than the access token lifetime). */
  sessionIdleTimeoutSeconds: {
    env: 'SESSION_IDLE_TIMEOUT_SECONDS',
    default: 86_400,
    min: 300,
    max: 31_536_000,
  },
  /** A session dies this long after login, however often it is refreshed. */
  sessionAbsoluteLifetimeSeconds: {
    env: 'SESSION_ABSOLUTE_LIFETIME_SECONDS',
    default: 604_800,
    min: 3600,
    max: 31_536_000,
  },
  /** How long after a rotation the previous refresh token still returns the same successor; 0 is strict. */
  refreshGraceSeconds: { env: 'REFRESH_GRACE_SECONDS', default: 10, min: 0, max: 60 },
  /** How long the issuer reuses the private key set it read (retired keys are kept this much longer). */
  issuerKeyCacheTtlSeconds: { env: 'KEY_CACHE_TTL_SECONDS', default: 300, min: 1, max: 3600 },
  /** How long a verifier reuses the published JWKS it read (an unknown `kid` re-reads it sooner). */
  jwksCacheTtlSeconds: { env: 'JWKS_CACHE_TTL_SECONDS', default: 60, min: 1, max: 3600 },
  /**
   * The replication lag the global table is expected to stay within (a term of the revocation budget): the
   * authorizer accepts a valid token this young whose session item has not reached its region yet. 0 under
   * strong consistency.
   */
  expectedReplicationLagSeconds: {
    env: 'EXPECTED_REPLICATION_LAG_SECONDS',
    default: 2,
    min: 0,
    max: 600,
  },
  /** The authorizer's in-memory session cache (a term of the revocation budget). */
  sessionCacheTtlSeconds: { env: 'SESSION_CACHE_TTL_SECONDS', default: 1, min: 0, max: 300 },
  /**
   * How far ahead of its writer's clock a subject watermark is set (lambda/core/subject.ts `watermarkAt`): the
   * largest clock difference between regions it absorbs. Sessions created this long after a "log out
   * everywhere" die too.
   */
  revocationClockMarginSeconds: {
    env: 'REVOCATION_CLOCK_MARGIN_SECONDS',
    default: 1,
    min: 0,
    max: 60,
  },
} as const satisfies Record<string, SettingSpec>;

/** The name of one of {@link SETTINGS}. */
export type SettingName = keyof typeof SETTINGS;
