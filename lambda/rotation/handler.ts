import {
  DescribeSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  ResourceNotFoundException,
  type SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import type { SecretsManagerRotationEvent } from 'aws-lambda';
import { LOG_MESSAGES, type Logger } from '../adapters/logger';
import { METRIC_NAMES, type MetricEmitter } from '../adapters/metrics';
import { AccessTokenMinter, AccessTokenVerifier } from '../core/access-token';
import type { Clock } from '../core/clock';
import { importJwks } from '../core/jws';
import { type RotationPolicy, revokeKey, rotateKeySet, signingKeyAgeSeconds } from '../core/key-rotation';
import { parseKeySet, serializeKeySet, UNINITIALIZED_SECRET } from '../core/key-set-format';
import { currentSigningKey, generateKeySet, type KeySet, type PublicJwks, toPublicJwks } from '../core/keys';

/** Where the public JWKS is published (the session table's JWKS item). */
export interface JwksPublisher {
  publish(jwks: PublicJwks, at: number): Promise<void>;
  /**
   * Reads the published JWKS back. `testSecret` asks for a strongly consistent read: it checks what
   * `setSecret` has just written.
   */
  load(options?: { readonly consistentRead?: boolean }): Promise<unknown>;
}

/**
 * How long `finishSecret` waits for replicas that are still `InProgress`: up to `attempts` DescribeSecret
 * calls, `intervalMs` apart.
 */
export interface ReplicaCheck {
  readonly attempts: number;
  readonly intervalMs: number;
}

/**
 * Five DescribeSecret calls one second apart: a replica still `InProgress` after about 4 seconds is reported
 * stale. Replication is asynchronous, so a short wait avoids a false alarm for a replica a moment behind,
 * and it is bounded, so the rotation (a 30-second function) never waits on a region that is down. A
 * replica that is `Failed` is reported at once.
 */
export const DEFAULT_REPLICA_CHECK: ReplicaCheck = { attempts: 5, intervalMs: 1000 };

/** Collaborators of the rotation handler. */
export interface RotationDeps {
  readonly secrets: SecretsManagerClient;
  readonly jwks: JwksPublisher;
  readonly policy: RotationPolicy;
  readonly logger: Logger;
  /**
   * Publishes the rotation's metrics (`SigningKeyAgeSeconds`, `SigningKeysReplicaStale`): Embedded Metric
   * Format with the `service` dimension `rotation` in Lambda (`createMetrics(SERVICES.rotation)`).
   */
  readonly metric: MetricEmitter;
  /**
   * Regions that hold a replica of the secret: one missing from DescribeSecret's `ReplicationStatus` is
   * reported stale too. @default [] (only the replicas DescribeSecret lists are checked)
   */
  readonly replicaRegions?: readonly string[];
  /** @default {@link DEFAULT_REPLICA_CHECK} */
  readonly replicaCheck?: ReplicaCheck;
  /** Waits between two replica checks. @default a timer */
  readonly sleep?: (ms: number) => Promise<void>;
  readonly clock?: Clock;
}

/** One replica region whose copy of the secret `finishSecret` could not confirm in sync. */
interface StaleReplica {
  readonly region: string;
  /** DescribeSecret's `Status` (`InProgress`, `Failed`), or `Missing` when the region is not listed at all. */
  readonly status: string;
  readonly statusMessage?: string;
}

/** An emergency rotation: rotate now and remove the named key at once. */
export interface RevokeKeyEvent {
  readonly action: 'revoke';
  readonly SecretId: string;
  readonly kid: string;
  /** Version id of the new secret version; a retry with the same token does no harm. */
  readonly ClientRequestToken: string;
}

const AWSCURRENT = 'AWSCURRENT';
const AWSPENDING = 'AWSPENDING';
/** Issuer and audience of the test token `testSecret` signs: never accepted anywhere else. */
const TEST_PROFILE = {
  issuer: 'urn:hybrid-auth:rotation-test',
  audience: 'urn:hybrid-auth:rotation-test',
  ttlSeconds: 60,
};

/**
 * The Secrets Manager rotation function (docs/design.md "Keys and rotation"), the four steps as the service
 * calls them, each idempotent on retries; the client request token is the pending version's id.
 *
 * - `createSecret`: derives the rotated key set from AWSCURRENT and stores it as AWSPENDING (a pending
 *   version that already exists is reused).
 * - `setSecret`: publishes the pending set's public JWKS (next, current and every kept previous) to the
 *   table, so every verifier knows the new keys **before** any token is signed with them.
 * - `testSecret`: signs a test token with the pending `current` key and verifies it against the JWKS read
 *   back from the table (a strongly consistent read).
 * - `finishSecret`: moves AWSCURRENT to the pending version (the issuer starts signing with the new key
 *   within its cache TTL), publishes the key-age metric, then confirms every replica region is `InSync`:
 *   each one that is not gets an error line {@link LOG_MESSAGES.signingKeysReplicaStale} and one
 *   `SigningKeysReplicaStale` metric (the rotation itself stands: the primary holds the new version).
 *
 * The same function takes a {@link RevokeKeyEvent} for the emergency path: it runs the four steps with a
 * set from which the compromised key is removed.
 */
export function createRotationHandler(deps: RotationDeps) {
  const clock = deps.clock ?? Date.now;
  const replicaCheck = deps.replicaCheck ?? DEFAULT_REPLICA_CHECK;
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const readVersion = async (secretId: string, options: { versionId?: string; stage?: string }) => {
    const { SecretString } = await deps.secrets.send(
      new GetSecretValueCommand({
        SecretId: secretId,
        ...(options.versionId === undefined ? {} : { VersionId: options.versionId }),
        ...(options.stage === undefined ? {} : { VersionStage: options.stage }),
      }),
    );
    if (SecretString === undefined) throw new TypeError(`secret ${secretId} has no string value`);
    return parseKeySet(SecretString, `secret version ${options.versionId ?? options.stage}`);
  };

  const steps = {
    /** Stores the rotated set as AWSPENDING unless the pending version exists already. */
    createSecret: async (
      secretId: string,
      token: string,
      derive: (current: KeySet | undefined) => Promise<KeySet>,
    ) => {
      const current = await readCurrentOrPlaceholder(secretId);
      try {
        await readVersion(secretId, { versionId: token, stage: AWSPENDING });
        deps.logger.info('rotation step', { step: 'createSecret', outcome: 'pending version exists' });
        return;
      } catch (error) {
        if (!(error instanceof ResourceNotFoundException)) throw error;
      }
      const pending = await derive(current);
      await deps.secrets.send(
        new PutSecretValueCommand({
          SecretId: secretId,
          ClientRequestToken: token,
          SecretString: serializeKeySet(pending),
          VersionStages: [AWSPENDING],
        }),
      );
      deps.logger.info('rotation step', {
        step: 'createSecret',
        outcome: 'pending version created',
        currentKid: currentSigningKey(pending).kid,
        keys: pending.signingKeys.length,
        macKeys: pending.macKeys.length,
      });
    },
    /** Publishes the pending set's public JWKS. Idempotent: the same set publishes the same document. */
    setSecret: async (secretId: string, token: string) => {
      const pending = await readVersion(secretId, { versionId: token, stage: AWSPENDING });
      await deps.jwks.publish(toPublicJwks(pending), clock());
      deps.logger.info('rotation step', { step: 'setSecret', outcome: 'jwks published' });
    },
    /** Signs with the pending current key and verifies against the published JWKS. */
    testSecret: async (secretId: string, token: string) => {
      const pending = await readVersion(secretId, { versionId: token, stage: AWSPENDING });
      // Strongly consistent: an eventually consistent read may miss the item setSecret has just written.
      const published = importJwks(await deps.jwks.load({ consistentRead: true }));
      for (const key of pending.signingKeys) {
        if (!published.keys.has(key.kid)) throw new Error(`key ${key.kid} (${key.state}) is not published`);
      }
      const minted = await new AccessTokenMinter(TEST_PROFILE, clock).mint(currentSigningKey(pending), {
        sub: 'rotation-test',
        sid: 'rotation-test',
        clientId: 'rotation-test',
        scope: '',
      });
      new AccessTokenVerifier({ ...TEST_PROFILE, clock, keys: (kid) => published.keys.get(kid) }).verify(
        minted.token,
      );
      deps.logger.info('rotation step', { step: 'testSecret', outcome: 'verified', kid: minted.kid });
    },
    /** Moves AWSCURRENT to the pending version (a no-op when it is there already). */
    finishSecret: async (secretId: string, token: string) => {
      const { VersionIdsToStages = {} } = await deps.secrets.send(
        new DescribeSecretCommand({ SecretId: secretId }),
      );
      const currentVersion = Object.entries(VersionIdsToStages).find(([, stages]) =>
        stages.includes(AWSCURRENT),
      )?.[0];
      if (currentVersion !== token) {
        await deps.secrets.send(
          new UpdateSecretVersionStageCommand({
            SecretId: secretId,
            VersionStage: AWSCURRENT,
            MoveToVersionId: token,
            ...(currentVersion === undefined ? {} : { RemoveFromVersionId: currentVersion }),
          }),
        );
      }
      const finished = await readVersion(secretId, { stage: AWSCURRENT });
      deps.metric(METRIC_NAMES.signingKeyAge, signingKeyAgeSeconds(finished, clock()), 'Seconds');
      const replicas = await checkReplicas(secretId);
      deps.logger.info('rotation step', {
        step: 'finishSecret',
        outcome: currentVersion === token ? 'already current' : 'current moved',
        kid: currentSigningKey(finished).kid,
        replicasInSync: replicas.inSync,
        replicasStale: replicas.stale,
      });
    },
  };

  /**
   * Secrets Manager replicates each new version to the replica regions asynchronously, under each region's
   * key, and as the caller that wrote it: a replica the rotation role may not encrypt for keeps its old value
   * (https://docs.aws.amazon.com/secretsmanager/latest/userguide/replicate-secrets_troubleshoot.html).
   * DescribeSecret's `ReplicationStatus` lists each replica with `Status` `InSync`, `Failed` or `InProgress`
   * (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_ReplicationStatusType.html). Waits
   * while some replica is `InProgress` (bounded by {@link ReplicaCheck}), then reports each region that is
   * not `InSync`, or not listed at all, with one error line and one metric. A failure to describe the
   * secret is reported the same way for every expected region (status `Unknown`): the check never fails the
   * rotation, whose new version is already AWSCURRENT in the primary.
   */
  const checkReplicas = async (secretId: string): Promise<{ inSync: number; stale: number }> => {
    let stale: StaleReplica[] = [];
    let inSync = 0;
    try {
      for (let attempt = 1; ; attempt++) {
        const { ReplicationStatus = [] } = await deps.secrets.send(
          new DescribeSecretCommand({ SecretId: secretId }),
        );
        const listed = new Map(ReplicationStatus.map((replica) => [replica.Region ?? '', replica]));
        const regions = [...new Set([...(deps.replicaRegions ?? []), ...listed.keys()])].filter(
          (region) => region !== '',
        );
        stale = [];
        inSync = 0;
        for (const region of regions) {
          const replica = listed.get(region);
          if (replica?.Status === 'InSync') inSync += 1;
          else
            stale.push({
              region,
              status: replica === undefined ? 'Missing' : (replica.Status ?? 'Unknown'),
              ...(replica?.StatusMessage === undefined ? {} : { statusMessage: replica.StatusMessage }),
            });
        }
        const waiting = stale.some((replica) => replica.status === 'InProgress');
        if (!waiting || attempt >= replicaCheck.attempts) break;
        await sleep(replicaCheck.intervalMs);
      }
    } catch (error) {
      inSync = 0;
      stale = (deps.replicaRegions ?? []).map((region) => ({
        region,
        status: 'Unknown',
        statusMessage: `DescribeSecret failed: ${(error as Error)?.name ?? 'error'}`,
      }));
    }
    for (const replica of stale) {
      deps.logger.error(LOG_MESSAGES.signingKeysReplicaStale, { ...replica });
      deps.metric(METRIC_NAMES.signingKeysReplicaStale, 1, 'Count');
    }
    return { inSync, stale: stale.length };
  };

  /** AWSCURRENT, or `undefined` while it still holds the deployment's {@link UNINITIALIZED_SECRET} placeholder. */
  const readCurrentOrPlaceholder = async (secretId: string): Promise<KeySet | undefined> => {
    const { SecretString } = await deps.secrets.send(
      new GetSecretValueCommand({ SecretId: secretId, VersionStage: AWSCURRENT }),
    );
    if (SecretString === UNINITIALIZED_SECRET) return undefined;
    if (SecretString === undefined) throw new TypeError(`secret ${secretId} has no string value`);
    return parseKeySet(SecretString, 'secret version AWSCURRENT');
  };

  // The first rotation (right after deployment) replaces the placeholder with a fresh key set.
  const scheduled = (current: KeySet | undefined, lastSwitchAt: number | undefined) =>
    current === undefined
      ? generateKeySet({ alg: deps.policy.alg ?? 'ES256', now: clock() })
      : rotateKeySet(current, clock(), deps.policy, lastSwitchAt);
  /** When the last rotation completed (DescribeSecret's `LastRotatedDate`), epoch ms. */
  const lastRotatedAt = async (secretId: string): Promise<number | undefined> => {
    const { LastRotatedDate } = await deps.secrets.send(new DescribeSecretCommand({ SecretId: secretId }));
    return LastRotatedDate?.getTime();
  };

  return async (event: SecretsManagerRotationEvent | RevokeKeyEvent): Promise<void> => {
    if ('action' in event) {
      if (event.action !== 'revoke' || typeof event.kid !== 'string') throw new TypeError('unknown action');
      const revoke = async (current: KeySet | undefined) => {
        if (current === undefined) throw new Error('the secret holds no key set yet: nothing to revoke');
        return revokeKey(current, event.kid, clock(), deps.policy, await lastRotatedAt(event.SecretId));
      };
      deps.logger.warn('emergency key revocation', { kid: event.kid });
      await steps.createSecret(event.SecretId, event.ClientRequestToken, revoke);
      await steps.setSecret(event.SecretId, event.ClientRequestToken);
      await steps.testSecret(event.SecretId, event.ClientRequestToken);
      await steps.finishSecret(event.SecretId, event.ClientRequestToken);
      return;
    }
    const { SecretId: secretId, ClientRequestToken: token, Step: step } = event;
    const {
      RotationEnabled,
      LastRotatedDate,
      VersionIdsToStages = {},
    } = await deps.secrets.send(new DescribeSecretCommand({ SecretId: secretId }));
    if (RotationEnabled === false) throw new Error(`rotation is not enabled on secret ${secretId}`);
    const stages = VersionIdsToStages[token];
    if (stages === undefined) throw new Error(`secret version ${token} has no stage for rotation`);
    if (stages.includes(AWSCURRENT)) {
      deps.logger.info('rotation step', { step, outcome: 'version already current' });
      return;
    }
    if (!stages.includes(AWSPENDING)) throw new Error(`secret version ${token} is not AWSPENDING`);
    switch (step) {
      case 'createSecret':
        return steps.createSecret(secretId, token, (current) =>
          scheduled(current, LastRotatedDate?.getTime()),
        );
      case 'setSecret':
        return steps.setSecret(secretId, token);
      case 'testSecret':
        return steps.testSecret(secretId, token);
      case 'finishSecret':
        return steps.finishSecret(secretId, token);
      default:
        throw new TypeError(`unknown rotation step ${String(step)}`);
    }
  };
}
