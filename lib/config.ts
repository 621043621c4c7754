import { Duration, Token } from 'aws-cdk-lib';
import { type ClientConfig, DEFAULT_CLIENTS } from '../lambda/core/clients';
import type { SigningAlg } from '../lambda/core/keys';
import { SETTINGS, type SettingName } from '../lambda/settings';
import { WAF_RATE_LIMIT_RANGE } from './auth-web-acl';
import {
  DescribedValue,
  describeIntegerRange,
  type IntegerRange,
  InvalidValueError,
  isIntegerIn,
} from './validation';

/** How replicas agree: MREC (eventual, last writer wins) or MRSC (strong, three regions of one region set). */
export type ConsistencyMode = 'eventual' | 'strong';

/**
 * One DNS name for every region (the `domain` option): each region serves it from its own regional API
 * Gateway custom domain behind a Route 53 latency record with a health check, and every region issues and
 * accepts `iss = https://<name>`.
 */
export interface DomainConfig {
  /** The platform's one DNS name, e.g. `auth.example.com`: lowercase, no trailing dot. */
  readonly name: string;
  /** The ID of the Route 53 public hosted zone, in this account, that holds `name`, e.g. `Z0123456789ABCDEFGHIJ`. */
  readonly hostedZoneId: string;
  /** That hosted zone's name, e.g. `example.com`: `name` is it or a name within it. */
  readonly hostedZoneName: string;
}

/** The platform's whole configuration, validated. Every time is a `Duration`. */
export interface HybridAuthConfig {
  /** Prefix of the few physical names that regions must agree on (secret name, KMS alias). */
  readonly name: string;
  readonly primaryRegion: string;
  readonly replicaRegions: readonly string[];
  readonly consistency: ConsistencyMode;
  readonly signingAlg: SigningAlg;
  /**
   * The `iss` of every token and the base of the discovery document (`jwks_uri` included). With `domain` it
   * is `https://<domain.name>`. Set on its own, it is a shared issuer the team fronts itself (a custom domain
   * with latency routing in front of the regional APIs). Without either, each region uses its own API URL
   * and its tokens are accepted only in the region that issued them (synth warns).
   */
  readonly issuerUrl?: string;
  /** The custom domain every region serves, with latency routing and health checks. @default none */
  readonly domain?: DomainConfig;
  /** The `aud` of every access token. */
  readonly audience: string;
  readonly accessTokenTtl: Duration;
  readonly clockSkew: Duration;
  readonly sessionIdleTimeout: Duration;
  readonly sessionAbsoluteLifetime: Duration;
  readonly refreshGrace: Duration;
  readonly keyRotationInterval: Duration;
  /** How long issuers cache the private key set (also extends how long retired keys are kept). */
  readonly issuerKeyCacheTtl: Duration;
  /** Total time a revocation may take to reach every authorizer. */
  readonly revocationBudget: Duration;
  /** API Gateway's authorizer result cache TTL (0 disables it). Never the 5-minute API Gateway default. */
  readonly authorizerCacheTtl: Duration;
  /** The authorizer's in-memory session cache TTL. */
  readonly sessionCacheTtl: Duration;
  /** The replication lag the budget allows for (MREC); 0 under MRSC, whose reads are strongly consistent. */
  readonly expectedReplicationLag: Duration;
  readonly clients: readonly ClientConfig[];
  /** Where alarms are e-mailed; none subscribes nobody (the SNS topic still exists). */
  readonly alarmEmail?: string;
  /** WAF rate-based limit on `/auth/login`, requests per source IP per 5 minutes. */
  readonly wafLoginLimit: number;
  /** WAF rate-based limit on all of `/auth/*`, requests per source IP per 5 minutes. */
  readonly wafAuthLimit: number;
  /** API Gateway stage throttling: steady-state requests per second. */
  readonly throttlingRateLimit: number;
  /** API Gateway stage throttling: burst. */
  readonly throttlingBurstLimit: number;
  /** Whether the sample `/api/me` and `/api/admin` backends are deployed. */
  readonly sampleBackends: boolean;
}

/** The documented defaults (README "Configuration"). */
export const DEFAULT_CONFIG: HybridAuthConfig = {
  name: 'hybrid-auth',
  primaryRegion: 'us-east-1',
  replicaRegions: ['us-east-2', 'us-west-2'],
  consistency: 'eventual',
  signingAlg: 'ES256',
  audience: 'hybrid-auth-api',
  accessTokenTtl: Duration.seconds(SETTINGS.accessTokenTtlSeconds.default),
  clockSkew: Duration.seconds(SETTINGS.clockSkewSeconds.default),
  sessionIdleTimeout: Duration.seconds(SETTINGS.sessionIdleTimeoutSeconds.default),
  sessionAbsoluteLifetime: Duration.seconds(SETTINGS.sessionAbsoluteLifetimeSeconds.default),
  refreshGrace: Duration.seconds(SETTINGS.refreshGraceSeconds.default),
  keyRotationInterval: Duration.days(30),
  issuerKeyCacheTtl: Duration.seconds(SETTINGS.issuerKeyCacheTtlSeconds.default),
  revocationBudget: Duration.seconds(5),
  authorizerCacheTtl: Duration.seconds(2),
  sessionCacheTtl: Duration.seconds(SETTINGS.sessionCacheTtlSeconds.default),
  expectedReplicationLag: Duration.seconds(SETTINGS.expectedReplicationLagSeconds.default),
  clients: DEFAULT_CLIENTS,
  wafLoginLimit: 100,
  wafAuthLimit: 1000,
  throttlingRateLimit: 500,
  throttlingBurstLimit: 1000,
  sampleBackends: true,
};

/** MRSC region sets: a strongly consistent global table's three regions must come from one of these. */
export const MRSC_REGION_SETS: Readonly<Record<string, readonly string[]>> = {
  US: ['us-east-1', 'us-east-2', 'us-west-2'],
  EU: ['eu-west-1', 'eu-west-2', 'eu-west-3', 'eu-central-1'],
  AP: ['ap-northeast-1', 'ap-northeast-2', 'ap-northeast-3'],
};

const REGION = /^[a-z]{2}(-gov)?-[a-z]+-\d$/;
const NAME = /^[a-z][a-z0-9-]{1,30}[a-z0-9]$/;
/** A lowercase DNS name of two labels or more, without a trailing dot (RFC 1035 label rules). */
const DNS_NAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
/** A Route 53 hosted zone ID as CloudFormation takes it: `Z...`, not `/hostedzone/Z...`. */
const HOSTED_ZONE_ID = /^[A-Z0-9]{1,32}$/;
const DOMAIN_KEYS = ['name', 'hostedZoneId', 'hostedZoneName'] as const;

/** Whose values the configuration errors name. */
const OWNER = 'hybrid-auth config';

/**
 * A configuration error: says what was given and what is allowed, in the message format of every
 * validation in lib/ (`hybrid-auth config: <key> is <given>; allowed: <allowed>`, see lib/validation.ts).
 */
export class ConfigError extends InvalidValueError {
  public override readonly name = 'ConfigError';
}

function fail(key: string, given: unknown, allowed: string): never {
  throw new ConfigError(OWNER, key, given, allowed);
}

function seconds(
  raw: Record<string, unknown>,
  key: string,
  fallback: Duration,
  min: number,
  max: number,
): Duration {
  return Duration.seconds(
    integer(raw, key, fallback.toSeconds(), { min, max }, 'an integer number of seconds'),
  );
}

/** A runtime setting of the functions (lambda/settings.ts): its default and range are the functions' own. */
function setting(raw: Record<string, unknown>, key: SettingName): Duration {
  const spec = SETTINGS[key];
  return seconds(raw, key, Duration.seconds(spec.default), spec.min, spec.max);
}

function integer(
  raw: Record<string, unknown>,
  key: string,
  fallback: number,
  range: IntegerRange,
  kind = 'an integer',
): number {
  const value = raw[key];
  if (value === undefined) return fallback;
  if (!isIntegerIn(value, range)) fail(key, value, describeIntegerRange(range, kind));
  return value;
}

const KNOWN_KEYS = new Set([
  'name',
  'primaryRegion',
  'replicaRegions',
  'consistency',
  'signingAlg',
  'issuerUrl',
  'domain',
  'audience',
  'accessTokenTtlSeconds',
  'clockSkewSeconds',
  'sessionIdleTimeoutSeconds',
  'sessionAbsoluteLifetimeSeconds',
  'refreshGraceSeconds',
  'keyRotationIntervalDays',
  'issuerKeyCacheTtlSeconds',
  'revocationBudgetSeconds',
  'authorizerCacheTtlSeconds',
  'sessionCacheTtlSeconds',
  'expectedReplicationLagSeconds',
  'clients',
  'allowedOrigins',
  'alarmEmail',
  'wafLoginLimit',
  'wafAuthLimit',
  'throttlingRateLimit',
  'throttlingBurstLimit',
  'sampleBackends',
]);

/**
 * Reads and validates the configuration (the `hybrid-auth` object of cdk.json's context, or `-c
 * hybrid-auth='{...}'`): unknown keys, wrong types, out-of-range values, MRSC region rules and a blown
 * revocation budget all fail synth with a message naming the value given and what is allowed.
 */
export function loadConfig(input: unknown): HybridAuthConfig {
  const raw = (typeof input === 'string' ? JSON.parse(input) : (input ?? {})) as Record<string, unknown>;
  if (typeof raw !== 'object' || Array.isArray(raw)) fail('the configuration', raw, 'an object');
  for (const key of Object.keys(raw)) {
    if (!KNOWN_KEYS.has(key)) fail(key, raw[key], `one of the keys ${[...KNOWN_KEYS].join(', ')}`);
  }
  const d = DEFAULT_CONFIG;
  const name = raw.name ?? d.name;
  if (typeof name !== 'string' || !NAME.test(name))
    fail('name', name, 'lowercase letters, digits and -, 3 to 32');
  const primaryRegion = raw.primaryRegion ?? d.primaryRegion;
  if (typeof primaryRegion !== 'string' || !REGION.test(primaryRegion))
    fail('primaryRegion', primaryRegion, 'an AWS region such as us-east-1');
  const replicaRegions = raw.replicaRegions ?? d.replicaRegions;
  if (
    !Array.isArray(replicaRegions) ||
    replicaRegions.some((r) => typeof r !== 'string' || !REGION.test(r))
  ) {
    fail('replicaRegions', replicaRegions, 'a list of AWS regions');
  }
  const regions = [primaryRegion, ...(replicaRegions as string[])];
  if (new Set(regions).size !== regions.length)
    fail('replicaRegions', replicaRegions, 'regions other than the primary, each once');
  const consistency = raw.consistency ?? d.consistency;
  if (consistency !== 'eventual' && consistency !== 'strong')
    fail('consistency', consistency, '"eventual" (MREC) or "strong" (MRSC)');
  if (consistency === 'strong') {
    const set = Object.entries(MRSC_REGION_SETS).find(([, members]) => members.includes(primaryRegion));
    if (regions.length !== 3 || set === undefined || !regions.every((r) => set[1].includes(r))) {
      fail(
        'primaryRegion + replicaRegions',
        regions,
        `with consistency "strong", exactly three regions of one region set (${Object.entries(
          MRSC_REGION_SETS,
        )
          .map(([k, v]) => `${k}: ${v.join(', ')}`)
          .join('; ')})`,
      );
    }
  }
  const signingAlg = raw.signingAlg ?? d.signingAlg;
  if (signingAlg !== 'ES256' && signingAlg !== 'EdDSA') fail('signingAlg', signingAlg, '"ES256" or "EdDSA"');

  const issuerUrl = raw.issuerUrl;
  if (
    issuerUrl !== undefined &&
    (typeof issuerUrl !== 'string' ||
      !/^https:\/\/[a-z0-9.-]+(:\d{1,5})?(\/[A-Za-z0-9._~/-]*)?$/.test(issuerUrl) ||
      issuerUrl.endsWith('/'))
  ) {
    fail('issuerUrl', issuerUrl, 'an https URL without a trailing slash');
  }
  const domain = raw.domain === undefined ? undefined : domainOf(raw.domain);
  if (domain !== undefined && issuerUrl !== undefined && issuerUrl !== `https://${domain.name}`) {
    fail('issuerUrl', issuerUrl, `"https://${domain.name}" (the issuer domain.name gives), or leave it out`);
  }
  const sharedIssuer = domain === undefined ? (issuerUrl as string | undefined) : `https://${domain.name}`;
  const audience = raw.audience ?? d.audience;
  if (typeof audience !== 'string' || audience.length === 0 || audience.length > 256)
    fail('audience', audience, 'a string of 1 to 256 characters');
  const accessTokenTtl = setting(raw, 'accessTokenTtlSeconds');
  const sessionIdleTimeout = setting(raw, 'sessionIdleTimeoutSeconds');
  const sessionAbsoluteLifetime = setting(raw, 'sessionAbsoluteLifetimeSeconds');
  if (sessionIdleTimeout.toSeconds() <= accessTokenTtl.toSeconds()) {
    fail(
      'sessionIdleTimeoutSeconds',
      sessionIdleTimeout.toSeconds(),
      `more than accessTokenTtlSeconds (${accessTokenTtl.toSeconds()})`,
    );
  }
  if (sessionAbsoluteLifetime.toSeconds() < sessionIdleTimeout.toSeconds()) {
    fail(
      'sessionAbsoluteLifetimeSeconds',
      sessionAbsoluteLifetime.toSeconds(),
      `at least sessionIdleTimeoutSeconds (${sessionIdleTimeout.toSeconds()})`,
    );
  }
  const rotationDays = integer(raw, 'keyRotationIntervalDays', d.keyRotationInterval.toDays(), {
    min: 1,
    max: 365,
  });

  const config: HybridAuthConfig = {
    name,
    primaryRegion,
    replicaRegions: replicaRegions as string[],
    consistency,
    signingAlg,
    ...(sharedIssuer === undefined ? {} : { issuerUrl: sharedIssuer }),
    ...(domain === undefined ? {} : { domain }),
    audience,
    accessTokenTtl,
    clockSkew: setting(raw, 'clockSkewSeconds'),
    sessionIdleTimeout,
    sessionAbsoluteLifetime,
    refreshGrace: setting(raw, 'refreshGraceSeconds'),
    keyRotationInterval: Duration.days(rotationDays),
    issuerKeyCacheTtl: setting(raw, 'issuerKeyCacheTtlSeconds'),
    revocationBudget: seconds(raw, 'revocationBudgetSeconds', d.revocationBudget, 1, 3600),
    authorizerCacheTtl: seconds(raw, 'authorizerCacheTtlSeconds', d.authorizerCacheTtl, 0, 3600),
    sessionCacheTtl: setting(raw, 'sessionCacheTtlSeconds'),
    expectedReplicationLag: seconds(
      raw,
      'expectedReplicationLagSeconds',
      consistency === 'strong' ? Duration.seconds(0) : d.expectedReplicationLag,
      SETTINGS.expectedReplicationLagSeconds.min,
      SETTINGS.expectedReplicationLagSeconds.max,
    ),
    clients: clientsOf(raw),
    ...(raw.alarmEmail === undefined ? {} : { alarmEmail: emailOf(raw.alarmEmail) }),
    wafLoginLimit: integer(raw, 'wafLoginLimit', d.wafLoginLimit, WAF_RATE_LIMIT_RANGE),
    wafAuthLimit: integer(raw, 'wafAuthLimit', d.wafAuthLimit, WAF_RATE_LIMIT_RANGE),
    throttlingRateLimit: integer(raw, 'throttlingRateLimit', d.throttlingRateLimit, { min: 1, max: 10_000 }),
    throttlingBurstLimit: integer(raw, 'throttlingBurstLimit', d.throttlingBurstLimit, {
      min: 1,
      max: 5_000,
    }),
    sampleBackends: booleanOf(raw, 'sampleBackends', d.sampleBackends),
  };
  checkRevocationBudget(config);
  return config;
}

/**
 * The revocation budget: a revoked session may still pass for the authorizer cache TTL plus the in-memory
 * session cache TTL plus the replication lag. Their sum must fit the budget.
 *
 * @throws {ConfigError} with the three terms and the budget.
 */
export function checkRevocationBudget(config: HybridAuthConfig): void {
  const parts = [config.authorizerCacheTtl, config.sessionCacheTtl, config.expectedReplicationLag];
  if (parts.some((part) => Token.isUnresolved(part))) return;
  const total = parts.reduce((sum, part) => sum + part.toSeconds(), 0);
  const budget = config.revocationBudget.toSeconds();
  if (total > budget) {
    throw new ConfigError(
      OWNER,
      'authorizerCacheTtlSeconds + sessionCacheTtlSeconds + expectedReplicationLagSeconds',
      new DescribedValue(`${parts.map((part) => `${part.toSeconds()} s`).join(' + ')} = ${total} s`),
      `at most the revocation budget, revocationBudgetSeconds (${budget} s): lower a cache TTL or raise the budget`,
    );
  }
}

function clientsOf(raw: Record<string, unknown>): readonly ClientConfig[] {
  const origins = raw.allowedOrigins ?? [];
  if (
    !Array.isArray(origins) ||
    origins.some((o) => typeof o !== 'string' || !/^https:\/\/[a-z0-9.-]+(:\d{1,5})?$/i.test(o))
  ) {
    fail('allowedOrigins', origins, 'a list of https://host[:port] origins');
  }
  if (raw.clients === undefined) {
    return DEFAULT_CONFIG.clients.map((client) =>
      client.refreshTokenDelivery === 'cookie' ? { ...client, allowedOrigins: origins as string[] } : client,
    );
  }
  const clients = raw.clients;
  if (!Array.isArray(clients) || clients.length === 0)
    fail('clients', clients, 'a non-empty list of clients');
  return clients.map((client, index) => {
    const c = client as Partial<ClientConfig>;
    if (typeof c?.clientId !== 'string' || !/^[a-z0-9_-]{1,64}$/.test(c.clientId)) {
      fail(`clients[${index}].clientId`, c?.clientId, '[a-z0-9_-]{1,64}');
    }
    if (c.refreshTokenDelivery !== 'cookie' && c.refreshTokenDelivery !== 'body') {
      fail(`clients[${index}].refreshTokenDelivery`, c.refreshTokenDelivery, '"cookie" or "body"');
    }
    return {
      clientId: c.clientId,
      refreshTokenDelivery: c.refreshTokenDelivery,
      allowedOrigins: c.allowedOrigins ?? (origins as string[]),
    };
  });
}

/** The `domain` option: three known keys, DNS names, and a name within its hosted zone. */
function domainOf(value: unknown): DomainConfig {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    fail('domain', value, 'an object { "name", "hostedZoneId", "hostedZoneName" }');
  }
  const raw = value as Record<string, unknown>;
  for (const key of Object.keys(raw)) {
    if (!(DOMAIN_KEYS as readonly string[]).includes(key))
      fail(`domain.${key}`, raw[key], `one of the keys ${DOMAIN_KEYS.join(', ')}`);
  }
  const { name, hostedZoneId, hostedZoneName } = raw;
  if (typeof name !== 'string' || !DNS_NAME.test(name)) {
    fail(
      'domain.name',
      name,
      'a lowercase DNS name such as auth.example.com (letters, digits and -, no trailing dot)',
    );
  }
  if (typeof hostedZoneName !== 'string' || !DNS_NAME.test(hostedZoneName)) {
    fail(
      'domain.hostedZoneName',
      hostedZoneName,
      'a lowercase DNS name such as example.com (letters, digits and -, no trailing dot)',
    );
  }
  if (typeof hostedZoneId !== 'string' || !HOSTED_ZONE_ID.test(hostedZoneId)) {
    fail(
      'domain.hostedZoneId',
      hostedZoneId,
      'a Route 53 hosted zone ID such as Z0123456789ABCDEFGHIJ (without "/hostedzone/")',
    );
  }
  if (name !== hostedZoneName && !name.endsWith(`.${hostedZoneName}`)) {
    fail('domain.name', name, `a name within the hosted zone domain.hostedZoneName (${hostedZoneName})`);
  }
  return { name, hostedZoneId, hostedZoneName };
}

function emailOf(value: unknown): string {
  if (typeof value !== 'string' || !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(value))
    fail('alarmEmail', value, 'an e-mail address');
  return value;
}

function booleanOf(raw: Record<string, unknown>, key: string, fallback: boolean): boolean {
  const value = raw[key];
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') fail(key, value, 'true or false');
  return value;
}
