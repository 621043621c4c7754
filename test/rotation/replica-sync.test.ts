import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { InternalServiceError, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DynamoDbJwksStore } from '../../lambda/adapters/dynamodb-jwks-store';
import { createLogger, LOG_MESSAGES } from '../../lambda/adapters/logger';
import { createMetrics, METRIC_NAMES, METRICS_NAMESPACE, SERVICES } from '../../lambda/adapters/metrics';
import type { RotationPolicy } from '../../lambda/core/key-rotation';
import { parseKeySet, serializeKeySet } from '../../lambda/core/key-set-format';
import { generateKeySet, toPublicJwks } from '../../lambda/core/keys';
import {
  createRotationHandler,
  DEFAULT_REPLICA_CHECK,
  type RevokeKeyEvent,
} from '../../lambda/rotation/handler';
import { SecretsManagerStandIn } from '../../local/secrets-manager-stand-in';
import { freshTable } from '../support/dynamodb';
import { FrozenClock } from '../support/fixtures';

// The rotation function's replica check (finishSecret): the real handler against the Secrets Manager
// stand-in, whose DescribeSecret reports a ReplicationStatus per replica region, and a real JWKS item in
// DynamoDB Local; logs and Embedded Metric Format lines are the real Powertools ones, captured.

const NAME = 'hybrid-auth/signing-keys';
const V1 = '11111111-1111-4111-8111-111111111111';
const V2 = '22222222-2222-4222-8222-222222222222';
const REPLICA_REGIONS = ['us-east-2', 'us-west-2'];
const POLICY: RotationPolicy = {
  accessTokenTtlSeconds: 300,
  clockSkewSeconds: 30,
  issuerKeyCacheSeconds: 60,
  sessionLifetimeSeconds: 7 * 86_400,
};

let table: { client: DynamoDBClient; tableName: string };
const cleanups: Array<() => void> = [];

beforeAll(async () => {
  table = await freshTable();
});
afterAll(() => table?.client.destroy());
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

interface SetupOptions {
  /** Regions the stand-in's secret is replicated to. @default REPLICA_REGIONS */
  readonly replicatedTo?: readonly string[];
  /** Regions the handler is told to expect. @default REPLICA_REGIONS */
  readonly expected?: readonly string[];
  /** Called on each wait between two checks, with the wait asked for. */
  readonly onSleep?: (ms: number) => void;
}

/** A replicated secret (version V1, AWSCURRENT) in the stand-in, and the rotation handler over it. */
async function setup(options: SetupOptions = {}) {
  const clock = new FrozenClock();
  const initial = await generateKeySet({ now: clock.now() });
  const standIn = new SecretsManagerStandIn({ clock: clock.now });
  const arn = standIn.createSecret(NAME, serializeKeySet(initial), {
    versionId: V1,
    rotationEnabled: true,
    replicaRegions: (options.replicatedTo ?? REPLICA_REGIONS).map((region) => ({
      region,
      kmsKeyId: 'alias/hybrid-auth/signing-keys',
    })),
  });
  const client = new SecretsManagerClient({
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
  const mock = standIn.attach(client);
  cleanups.push(() => {
    mock.restore();
    client.destroy();
  });
  const store = new DynamoDbJwksStore(table.client, table.tableName);
  await store.publish(toPublicJwks(initial), clock.now());
  const lines: string[] = [];
  const emf: string[] = [];
  const sleeps: number[] = [];
  const handler = createRotationHandler({
    secrets: client,
    jwks: store,
    policy: POLICY,
    logger: createLogger(SERVICES.rotation, (line) => lines.push(line)),
    // The emitter the Lambda entry point uses: Powertools EMF with the service dimension `rotation`.
    metric: createMetrics(SERVICES.rotation, (line) => emf.push(line)),
    replicaRegions: options.expected ?? REPLICA_REGIONS,
    sleep: async (ms) => {
      sleeps.push(ms);
      options.onSleep?.(ms);
    },
    clock: clock.now,
  });
  const parsed = () => lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  const staleLines = () => parsed().filter((line) => line.message === LOG_MESSAGES.signingKeysReplicaStale);
  const finishLine = () => parsed().find((line) => line.step === 'finishSecret');
  /** The value of each EMF line that publishes `name`, with the dimensions and unit it carries. */
  const published = (name: string) =>
    emf
      .map((line) => JSON.parse(line) as Record<string, unknown> & { _aws: { CloudWatchMetrics: unknown[] } })
      .filter((line) => name in line)
      .map((line) => ({ value: line[name], service: line.service, directives: line._aws.CloudWatchMetrics }));
  const currentVersion = () =>
    standIn.versions(arn).find((version) => version.stages.includes('AWSCURRENT'))?.versionId;
  return {
    standIn,
    arn,
    handler,
    lines,
    sleeps,
    staleLines,
    finishLine,
    published,
    currentVersion,
    current: () => parseKeySet(standIn.current(arn), 'AWSCURRENT'),
  };
}

describe('finishSecret checks every replica region', () => {
  test('all replicas InSync: no stale line, no stale metric, no wait; the finish line counts them', async () => {
    const { standIn, arn, handler, sleeps, staleLines, finishLine, published } = await setup();

    await standIn.rotate(arn, handler, { token: V2 });

    expect(staleLines()).toEqual([]);
    expect(published(METRIC_NAMES.signingKeysReplicaStale)).toEqual([]);
    expect(sleeps).toEqual([]);
    expect(finishLine()).toMatchObject({ outcome: 'current moved', replicasInSync: 2, replicasStale: 0 });
  });

  test('a Failed replica: one error line (region, status, message) and one SigningKeysReplicaStale metric of the rotation service', async () => {
    const { standIn, arn, handler, sleeps, staleLines, finishLine, published, currentVersion } =
      await setup();
    standIn.setReplicationStatus(arn, 'us-west-2', 'Failed', 'Access to KMS is not allowed');

    await standIn.rotate(arn, handler, { token: V2 });

    expect(staleLines()).toEqual([
      expect.objectContaining({
        level: 'ERROR',
        service: SERVICES.rotation,
        message: 'signing keys replica stale',
        region: 'us-west-2',
        status: 'Failed',
        statusMessage: 'Access to KMS is not allowed',
      }),
    ]);
    expect(published(METRIC_NAMES.signingKeysReplicaStale)).toEqual([
      {
        value: 1,
        service: SERVICES.rotation,
        directives: [
          {
            Namespace: METRICS_NAMESPACE,
            Dimensions: [['service']],
            Metrics: [{ Name: METRIC_NAMES.signingKeysReplicaStale, Unit: 'Count' }],
          },
        ],
      },
    ]);
    // A failed replica is reported at once: waiting does not repair a missing KMS permission.
    expect(sleeps).toEqual([]);
    expect(finishLine()).toMatchObject({ replicasInSync: 1, replicasStale: 1 });
    // The rotation itself stands: the primary's new version is AWSCURRENT.
    expect(currentVersion()).toBe(V2);
  });

  test('the stale line never carries key material', async () => {
    const { standIn, arn, handler, lines, current } = await setup();
    standIn.setReplicationStatus(arn, 'us-east-2', 'Failed', 'replication failed');

    await standIn.rotate(arn, handler, { token: V2 });

    const all = lines.join('\n');
    for (const key of current().signingKeys) expect(all).not.toContain(String(key.privateJwk.d));
    for (const mac of current().macKeys) expect(all).not.toContain(mac.secret);
  });

  test('a replica InProgress that catches up while the check waits is not reported', async () => {
    // The replica catches up during the first wait.
    const context: Awaited<ReturnType<typeof setup>> = await setup({
      onSleep: () => context.standIn.setReplicationStatus(context.arn, 'us-east-2', 'InSync'),
    });
    const { standIn, arn, handler, sleeps, staleLines, published, finishLine } = context;
    standIn.setReplicationStatus(arn, 'us-east-2', 'InProgress');

    await standIn.rotate(arn, handler, { token: V2 });

    expect(sleeps).toEqual([DEFAULT_REPLICA_CHECK.intervalMs]);
    expect(staleLines()).toEqual([]);
    expect(published(METRIC_NAMES.signingKeysReplicaStale)).toEqual([]);
    expect(finishLine()).toMatchObject({ replicasInSync: 2, replicasStale: 0 });
  });

  test('a replica still InProgress after the bounded wait is reported stale', async () => {
    const { standIn, arn, handler, sleeps, staleLines, published } = await setup();
    standIn.setReplicationStatus(arn, 'us-east-2', 'InProgress');

    await standIn.rotate(arn, handler, { token: V2 });

    expect(sleeps).toEqual(
      Array.from({ length: DEFAULT_REPLICA_CHECK.attempts - 1 }, () => DEFAULT_REPLICA_CHECK.intervalMs),
    );
    expect(staleLines()).toEqual([expect.objectContaining({ region: 'us-east-2', status: 'InProgress' })]);
    expect(published(METRIC_NAMES.signingKeysReplicaStale)).toHaveLength(1);
  });

  test('an expected region that DescribeSecret does not list is reported stale as Missing', async () => {
    const { standIn, arn, handler, staleLines, published } = await setup({ replicatedTo: ['us-east-2'] });

    await standIn.rotate(arn, handler, { token: V2 });

    expect(staleLines()).toEqual([expect.objectContaining({ region: 'us-west-2', status: 'Missing' })]);
    expect(published(METRIC_NAMES.signingKeysReplicaStale)).toHaveLength(1);
  });

  test('a DescribeSecret failure in the check reports every expected region Unknown; the rotation stands', async () => {
    const { standIn, arn, handler, staleLines, published, currentVersion } = await setup();
    const outage = new InternalServiceError({ message: 'injected outage', $metadata: {} });

    await standIn.rotate(
      arn,
      async (rotationEvent) => {
        // finishSecret describes the secret twice before the check (the step's guard, the stage lookup).
        if (rotationEvent.Step === 'finishSecret') {
          standIn.failNext('DescribeSecretCommand', outage, 1, { after: 2 });
        }
        return handler(rotationEvent);
      },
      { token: V2 },
    );

    expect(staleLines()).toEqual([
      expect.objectContaining({ region: 'us-east-2', status: 'Unknown' }),
      expect.objectContaining({ region: 'us-west-2', status: 'Unknown' }),
    ]);
    expect(published(METRIC_NAMES.signingKeysReplicaStale)).toHaveLength(2);
    expect(currentVersion()).toBe(V2);
  });

  test('the emergency revoke checks the replicas too', async () => {
    const { standIn, arn, handler, current, staleLines } = await setup();
    standIn.setReplicationStatus(arn, 'us-east-2', 'Failed');
    const revoke: RevokeKeyEvent = {
      action: 'revoke',
      SecretId: arn,
      kid: current().signingKeys.find((key) => key.state === 'current')?.kid ?? '',
      ClientRequestToken: V2,
    };

    await handler(revoke);

    expect(staleLines()).toEqual([expect.objectContaining({ region: 'us-east-2', status: 'Failed' })]);
  });
});
