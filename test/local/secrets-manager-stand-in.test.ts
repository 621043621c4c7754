import {
  DescribeSecretCommand,
  GetSecretValueCommand,
  InternalServiceError,
  InvalidParameterException,
  InvalidRequestException,
  ListSecretsCommand,
  PutSecretValueCommand,
  ResourceExistsException,
  ResourceNotFoundException,
  SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import type { SecretsManagerRotationEvent } from 'aws-lambda';
import type { AwsClientStub } from 'aws-sdk-client-mock';
import fc from 'fast-check';
import {
  MODELLED_COMMANDS,
  type RotationFunction,
  SecretsManagerStandIn,
  STAND_IN_ACCOUNT,
  STAND_IN_REGION,
} from '../../local/secrets-manager-stand-in';
import { FrozenClock } from '../support/fixtures';

const NAME = 'hybrid-auth/signing-keys';
const V1 = '11111111-1111-4111-8111-111111111111';
const V2 = '22222222-2222-4222-8222-222222222222';
const V3 = '33333333-3333-4333-8333-333333333333';
const UNKNOWN = '99999999-9999-4999-8999-999999999999';

const mocks: AwsClientStub<SecretsManagerClient>[] = [];
afterEach(() => {
  for (const mock of mocks.splice(0)) mock.restore();
});

/** A stand-in holding one secret (`v1`, AWSCURRENT, version V1), attached to a fresh client. */
function setup(options: { rotationEnabled?: boolean } = {}) {
  const clock = new FrozenClock();
  const secrets = new SecretsManagerStandIn({ clock: clock.now });
  const arn = secrets.createSecret(NAME, 'v1', { versionId: V1, ...options });
  const client = new SecretsManagerClient({});
  mocks.push(secrets.attach(client));
  const describe = async () =>
    (await client.send(new DescribeSecretCommand({ SecretId: NAME }))).VersionIdsToStages;
  const put = (token: string, value: string, stages?: string[]) =>
    client.send(
      new PutSecretValueCommand({
        SecretId: NAME,
        ClientRequestToken: token,
        SecretString: value,
        ...(stages === undefined ? {} : { VersionStages: stages }),
      }),
    );
  return { clock, secrets, arn, client, describe, put };
}

describe('createSecret and GetSecretValue', () => {
  test('returns the AWSCURRENT version by default, stamped by the clock', async () => {
    const { clock, arn, client } = setup();

    const value = await client.send(new GetSecretValueCommand({ SecretId: NAME }));

    expect(value).toMatchObject({
      ARN: arn,
      Name: NAME,
      VersionId: V1,
      SecretString: 'v1',
      VersionStages: ['AWSCURRENT'],
      CreatedDate: new Date(clock.nowMs),
    });
  });

  test('makes an ARN of the region, the account, the name and a random 6-character suffix', () => {
    const { arn } = setup();

    expect(arn).toMatch(
      new RegExp(
        `^arn:aws:secretsmanager:${STAND_IN_REGION}:${STAND_IN_ACCOUNT}:secret:${NAME}-[A-Za-z0-9]{6}$`,
      ),
    );
  });

  test('addresses a secret by name, by ARN and by partial ARN (without the suffix)', async () => {
    const { arn, client } = setup();

    for (const SecretId of [NAME, arn, arn.slice(0, -7)]) {
      const value = await client.send(new GetSecretValueCommand({ SecretId }));
      expect(value.SecretString).toBe('v1');
    }
  });

  test('gets a version by VersionId and by VersionStage', async () => {
    const { client, put } = setup();
    await put(V2, 'v2');

    const byId = await client.send(new GetSecretValueCommand({ SecretId: NAME, VersionId: V1 }));
    const byStage = await client.send(
      new GetSecretValueCommand({ SecretId: NAME, VersionStage: 'AWSPREVIOUS' }),
    );
    const both = await client.send(
      new GetSecretValueCommand({ SecretId: NAME, VersionId: V2, VersionStage: 'AWSCURRENT' }),
    );

    expect(byId).toMatchObject({ VersionId: V1, SecretString: 'v1', VersionStages: ['AWSPREVIOUS'] });
    expect(byStage).toMatchObject({ VersionId: V1, SecretString: 'v1' });
    expect(both).toMatchObject({ VersionId: V2, SecretString: 'v2', VersionStages: ['AWSCURRENT'] });
  });

  test('fails with ResourceNotFoundException when VersionId and VersionStage name different versions', async () => {
    const { client, put } = setup();
    await put(V2, 'v2');

    await expect(
      client.send(new GetSecretValueCommand({ SecretId: NAME, VersionId: V1, VersionStage: 'AWSCURRENT' })),
    ).rejects.toBeInstanceOf(ResourceNotFoundException);
  });

  test('fails with ResourceNotFoundException for an unknown version or an unattached label', async () => {
    const { client } = setup();

    await expect(
      client.send(new GetSecretValueCommand({ SecretId: NAME, VersionId: UNKNOWN })),
    ).rejects.toBeInstanceOf(ResourceNotFoundException);
    await expect(
      client.send(new GetSecretValueCommand({ SecretId: NAME, VersionStage: 'AWSPENDING' })),
    ).rejects.toBeInstanceOf(ResourceNotFoundException);
  });

  test('fails with ResourceExistsException for a second secret of the same name', () => {
    const { secrets } = setup();

    expect(() => secrets.createSecret(NAME, 'other')).toThrow(ResourceExistsException);
  });

  test('fails with InvalidParameterException for a version id shorter than 32 characters', () => {
    const secrets = new SecretsManagerStandIn();

    expect(() => secrets.createSecret('short-token', 'x', { versionId: 'v1' })).toThrow(
      InvalidParameterException,
    );
  });
});

describe('unknown secret', () => {
  const calls: [string, (client: SecretsManagerClient) => Promise<unknown>][] = [
    ['GetSecretValue', (c) => c.send(new GetSecretValueCommand({ SecretId: 'nope' }))],
    [
      'PutSecretValue',
      (c) =>
        c.send(new PutSecretValueCommand({ SecretId: 'nope', ClientRequestToken: V2, SecretString: 'x' })),
    ],
    ['DescribeSecret', (c) => c.send(new DescribeSecretCommand({ SecretId: 'nope' }))],
    [
      'UpdateSecretVersionStage',
      (c) =>
        c.send(
          new UpdateSecretVersionStageCommand({
            SecretId: 'nope',
            VersionStage: 'AWSCURRENT',
            MoveToVersionId: V1,
          }),
        ),
    ],
  ];

  test.each(calls)('%s fails with ResourceNotFoundException', async (_name, call) => {
    const { client } = setup();

    await expect(call(client)).rejects.toBeInstanceOf(ResourceNotFoundException);
  });

  test('fails with ResourceNotFoundException for an ARN of another secret, and in the snapshots', () => {
    const { secrets, arn } = setup();

    expect(() => secrets.versions(`${arn.slice(0, -7)}-other-AbCdEf`)).toThrow(ResourceNotFoundException);
    expect(() => secrets.current('nope')).toThrow(ResourceNotFoundException);
  });
});

describe('PutSecretValue', () => {
  test('moves AWSCURRENT by default, the old current version becoming AWSPREVIOUS', async () => {
    const { secrets, put, describe } = setup();

    const output = await put(V2, 'v2');

    expect(output).toMatchObject({ Name: NAME, VersionId: V2, VersionStages: ['AWSCURRENT'] });
    expect(await describe()).toEqual({ [V1]: ['AWSPREVIOUS'], [V2]: ['AWSCURRENT'] });
    expect(secrets.current(NAME)).toBe('v2');
  });

  test('takes AWSPREVIOUS from the version that had it, which is then deprecated but kept', async () => {
    const { secrets, put, describe } = setup();
    await put(V2, 'v2');

    await put(V3, 'v3');

    expect(await describe()).toEqual({ [V2]: ['AWSPREVIOUS'], [V3]: ['AWSCURRENT'] });
    expect(secrets.versions(NAME).map(({ versionId, stages }) => ({ versionId, stages }))).toEqual([
      { versionId: V1, stages: [] },
      { versionId: V2, stages: ['AWSPREVIOUS'] },
      { versionId: V3, stages: ['AWSCURRENT'] },
    ]);
  });

  test('is idempotent for the same token and value: no new version, no label moved', async () => {
    const { secrets, put } = setup();
    const first = await put(V2, 'v2', ['AWSPENDING']);
    const before = secrets.versions(NAME);

    const again = await put(V2, 'v2', ['AWSCURRENT']);

    expect(again).toMatchObject({ VersionId: V2, VersionStages: ['AWSPENDING'] });
    expect(again.VersionStages).toEqual(first.VersionStages);
    expect(secrets.versions(NAME)).toEqual(before);
  });

  test('fails with ResourceExistsException for the same token and another value, changing nothing', async () => {
    const { secrets, put } = setup();
    await put(V2, 'v2');
    const before = secrets.versions(NAME);

    await expect(put(V2, 'tampered')).rejects.toBeInstanceOf(ResourceExistsException);
    expect(secrets.versions(NAME)).toEqual(before);
  });

  test('with AWSPENDING leaves AWSCURRENT where it is', async () => {
    const { secrets, put, describe } = setup();

    await put(V2, 'v2', ['AWSPENDING']);

    expect(secrets.current(NAME)).toBe('v1');
    expect(await describe()).toEqual({ [V1]: ['AWSCURRENT'], [V2]: ['AWSPENDING'] });
  });

  test('fails with InvalidParameterException for a token shorter than 32 characters', async () => {
    const { secrets, put } = setup();

    await expect(put('short', 'v2')).rejects.toBeInstanceOf(InvalidParameterException);
    expect(secrets.versions(NAME)).toHaveLength(1);
  });

  test('fails with InvalidRequestException without a SecretString', async () => {
    const { client } = setup();

    await expect(
      client.send(new PutSecretValueCommand({ SecretId: NAME, ClientRequestToken: V2 })),
    ).rejects.toBeInstanceOf(InvalidRequestException);
  });
});

describe('DescribeSecret', () => {
  test('answers the name, the ARN, RotationEnabled and the labelled versions only', async () => {
    const { client, arn, put } = setup({ rotationEnabled: true });
    await put(V2, 'v2');
    await put(V3, 'v3');

    const output = await client.send(new DescribeSecretCommand({ SecretId: arn }));

    expect(output).toMatchObject({
      ARN: arn,
      Name: NAME,
      RotationEnabled: true,
      VersionIdsToStages: { [V2]: ['AWSPREVIOUS'], [V3]: ['AWSCURRENT'] },
    });
  });

  test('answers RotationEnabled false for a secret created without rotation', async () => {
    const { client } = setup();

    const output = await client.send(new DescribeSecretCommand({ SecretId: NAME }));

    expect(output.RotationEnabled).toBe(false);
  });

  test('answers no ReplicationStatus for a secret that is not replicated', async () => {
    const { client } = setup();

    const output = await client.send(new DescribeSecretCommand({ SecretId: NAME }));

    expect(output.PrimaryRegion).toBe(STAND_IN_REGION);
    expect(output.ReplicationStatus).toBeUndefined();
  });
});

describe('replica regions', () => {
  const REPLICAS = [
    { region: 'us-east-2', kmsKeyId: 'alias/hybrid-auth/signing-keys' },
    { region: 'us-west-2', kmsKeyId: 'alias/hybrid-auth/signing-keys' },
  ];

  function replicated() {
    const secrets = new SecretsManagerStandIn();
    const arn = secrets.createSecret(NAME, 'v1', { versionId: V1, replicaRegions: REPLICAS });
    const client = new SecretsManagerClient({});
    mocks.push(secrets.attach(client));
    const status = async () =>
      (await client.send(new DescribeSecretCommand({ SecretId: arn }))).ReplicationStatus;
    return { secrets, arn, status };
  }

  test('DescribeSecret lists each replica InSync, with its KMS key, in the order given', async () => {
    const { status } = replicated();

    expect(await status()).toEqual([
      { Region: 'us-east-2', KmsKeyId: 'alias/hybrid-auth/signing-keys', Status: 'InSync' },
      { Region: 'us-west-2', KmsKeyId: 'alias/hybrid-auth/signing-keys', Status: 'InSync' },
    ]);
  });

  test('setReplicationStatus marks one region Failed with its message, the others unchanged', async () => {
    const { secrets, arn, status } = replicated();

    secrets.setReplicationStatus(arn, 'us-west-2', 'Failed', 'Access to KMS is not allowed');

    expect(await status()).toEqual([
      expect.objectContaining({ Region: 'us-east-2', Status: 'InSync' }),
      {
        Region: 'us-west-2',
        KmsKeyId: 'alias/hybrid-auth/signing-keys',
        Status: 'Failed',
        StatusMessage: 'Access to KMS is not allowed',
      },
    ]);
  });

  test('a region set InProgress and then InSync again loses its message', async () => {
    const { secrets, arn, status } = replicated();
    secrets.setReplicationStatus(arn, 'us-east-2', 'InProgress', 'replicating');

    secrets.setReplicationStatus(arn, 'us-east-2', 'InSync');

    expect((await status())?.[0]).toEqual({
      Region: 'us-east-2',
      KmsKeyId: 'alias/hybrid-auth/signing-keys',
      Status: 'InSync',
    });
  });

  test('fails to set the status of a region that holds no replica, or an unknown status', () => {
    const { secrets, arn } = replicated();

    expect(() => secrets.setReplicationStatus(arn, 'eu-west-1', 'Failed')).toThrow(
      /has no replica in eu-west-1 \(replicas: us-east-2, us-west-2\)/,
    );
    expect(() => secrets.setReplicationStatus(arn, 'us-east-2', 'Broken' as 'Failed')).toThrow(
      /status must be one of Failed, InProgress, InSync, got "Broken"/,
    );
  });

  test('fails to create a replica in an invalid region, its own region, or twice in one region', () => {
    const secrets = new SecretsManagerStandIn();

    expect(() => secrets.createSecret('a', 'v', { replicaRegions: [{ region: 'US-EAST-2' }] })).toThrow(
      InvalidParameterException,
    );
    expect(() => secrets.createSecret('b', 'v', { replicaRegions: [{ region: STAND_IN_REGION }] })).toThrow(
      /is the secret's own Region/,
    );
    expect(() =>
      secrets.createSecret('c', 'v', { replicaRegions: [{ region: 'us-east-2' }, { region: 'us-east-2' }] }),
    ).toThrow(/listed twice/);
  });
});

describe('UpdateSecretVersionStage', () => {
  const move = (
    client: SecretsManagerClient,
    stage: string,
    ids: { MoveToVersionId?: string; RemoveFromVersionId?: string },
  ) => client.send(new UpdateSecretVersionStageCommand({ SecretId: NAME, VersionStage: stage, ...ids }));

  test('moves AWSCURRENT given its holder, which gets AWSPREVIOUS', async () => {
    const { client, put, describe } = setup();
    await put(V2, 'v2', ['AWSPENDING']);

    const output = await move(client, 'AWSCURRENT', { MoveToVersionId: V2, RemoveFromVersionId: V1 });

    expect(output).toMatchObject({ Name: NAME });
    expect(await describe()).toEqual({ [V1]: ['AWSPREVIOUS'], [V2]: ['AWSCURRENT', 'AWSPENDING'] });
  });

  test('fails with InvalidParameterException without RemoveFromVersionId, changing nothing', async () => {
    const { secrets, client, put } = setup();
    await put(V2, 'v2', ['AWSPENDING']);
    const before = secrets.versions(NAME);

    await expect(move(client, 'AWSCURRENT', { MoveToVersionId: V2 })).rejects.toBeInstanceOf(
      InvalidParameterException,
    );
    expect(secrets.versions(NAME)).toEqual(before);
  });

  test('fails with InvalidParameterException when RemoveFromVersionId does not hold the label', async () => {
    const { secrets, client, put } = setup();
    await put(V2, 'v2', ['AWSPENDING']);
    await put(V3, 'v3', []);
    const before = secrets.versions(NAME);

    await expect(
      move(client, 'AWSCURRENT', { MoveToVersionId: V2, RemoveFromVersionId: V3 }),
    ).rejects.toBeInstanceOf(InvalidParameterException);
    await expect(move(client, 'AWSPENDING', { RemoveFromVersionId: V1 })).rejects.toBeInstanceOf(
      InvalidParameterException,
    );
    expect(secrets.versions(NAME)).toEqual(before);
  });

  test('fails with ResourceNotFoundException for an unknown MoveToVersionId', async () => {
    const { secrets, client } = setup();

    await expect(
      move(client, 'AWSCURRENT', { MoveToVersionId: UNKNOWN, RemoveFromVersionId: V1 }),
    ).rejects.toBeInstanceOf(ResourceNotFoundException);
    expect(secrets.current(NAME)).toBe('v1');
  });

  test('does nothing when MoveToVersionId already has the label', async () => {
    const { secrets, client, put } = setup();
    await put(V2, 'v2');
    const before = secrets.versions(NAME);

    await move(client, 'AWSCURRENT', { MoveToVersionId: V2 });

    expect(secrets.versions(NAME)).toEqual(before);
  });

  test('attaches a label no version has without RemoveFromVersionId', async () => {
    const { client, put, describe } = setup();
    await put(V2, 'v2', []);

    await move(client, 'CANARY', { MoveToVersionId: V2 });

    expect(await describe()).toEqual({ [V1]: ['AWSCURRENT'], [V2]: ['CANARY'] });
  });

  test('removes a label given only RemoveFromVersionId, deprecating a version left with none', async () => {
    const { secrets, client, put, describe } = setup();
    await put(V2, 'v2', ['AWSPENDING']);

    await move(client, 'AWSPENDING', { RemoveFromVersionId: V2 });

    expect(await describe()).toEqual({ [V1]: ['AWSCURRENT'] });
    expect(secrets.versions(NAME)).toHaveLength(2);
  });

  test('fails with InvalidParameterException when asked to remove AWSCURRENT without moving it', async () => {
    const { secrets, client } = setup();

    await expect(move(client, 'AWSCURRENT', { RemoveFromVersionId: V1 })).rejects.toBeInstanceOf(
      InvalidParameterException,
    );
    expect(secrets.current(NAME)).toBe('v1');
  });

  test('moves AWSCURRENT back to the AWSPREVIOUS version (roll-back), swapping the two labels', async () => {
    const { client, put, describe } = setup();
    await put(V2, 'v2');

    await move(client, 'AWSCURRENT', { MoveToVersionId: V1, RemoveFromVersionId: V2 });

    expect(await describe()).toEqual({ [V1]: ['AWSCURRENT'], [V2]: ['AWSPREVIOUS'] });
  });
});

describe('staging labels', () => {
  test('a label is on one version only: attaching it elsewhere moves it', async () => {
    const { put, describe } = setup();
    await put(V2, 'v2', ['AWSPENDING']);

    await put(V3, 'v3', ['AWSPENDING']);

    expect(await describe()).toEqual({ [V1]: ['AWSCURRENT'], [V3]: ['AWSPENDING'] });
  });

  test('any sequence of calls keeps each label on at most one version and AWSCURRENT on exactly one', async () => {
    const tokens = [V1, V2, V3, UNKNOWN];
    const labels = ['AWSCURRENT', 'AWSPENDING', 'AWSPREVIOUS', 'CANARY'];
    const call = fc.oneof(
      fc.record({
        kind: fc.constant('put' as const),
        token: fc.constantFrom(...tokens),
        value: fc.constantFrom('a', 'b'),
        stages: fc.option(fc.subarray(labels), { nil: undefined }),
      }),
      fc.record({
        kind: fc.constant('stage' as const),
        stage: fc.constantFrom(...labels),
        moveTo: fc.option(fc.constantFrom(...tokens), { nil: undefined }),
        removeFrom: fc.option(fc.constantFrom(...tokens, 'holder'), { nil: undefined }),
      }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(call, { maxLength: 25 }), async (calls) => {
        const { secrets, client, put } = setup();
        for (const c of calls) {
          const before = secrets.versions(NAME);
          let promise: Promise<unknown>;
          if (c.kind === 'put') {
            promise = put(c.token, c.value, c.stages);
          } else {
            const holder = secrets.versions(NAME).find((v) => v.stages.includes(c.stage))?.versionId;
            const removeFrom = c.removeFrom === 'holder' ? holder : c.removeFrom;
            promise = client.send(
              new UpdateSecretVersionStageCommand({
                SecretId: NAME,
                VersionStage: c.stage,
                ...(c.moveTo === undefined ? {} : { MoveToVersionId: c.moveTo }),
                ...(removeFrom === undefined ? {} : { RemoveFromVersionId: removeFrom }),
              }),
            );
          }
          const failed = await promise.then(
            () => false,
            (error: unknown) => {
              // Refusals are the service's own exceptions, never a crash of the stand-in.
              expect(error).toBeInstanceOf(Error);
              expect((error as Error).name).toMatch(
                /^(InvalidParameter|ResourceNotFound|ResourceExists)Exception$/,
              );
              return true;
            },
          );
          if (failed) expect(secrets.versions(NAME)).toEqual(before);
          const all = secrets.versions(NAME).flatMap((v) => v.stages);
          expect(new Set(all).size).toBe(all.length);
          expect(all.filter((stage) => stage === 'AWSCURRENT')).toHaveLength(1);
        }
      }),
      { numRuns: 150 },
    );
  });
});

describe('fault injection', () => {
  test('the next calls of a command fail with the given error and change nothing', async () => {
    const { secrets, put } = setup();
    const outage = new InternalServiceError({ message: 'injected', $metadata: {} });
    secrets.failNext('PutSecretValueCommand', outage, 2);
    const before = secrets.versions(NAME);

    await expect(put(V2, 'v2')).rejects.toBe(outage);
    await expect(put(V2, 'v2')).rejects.toBe(outage);
    expect(secrets.versions(NAME)).toEqual(before);

    await put(V2, 'v2');
    expect(secrets.current(NAME)).toBe('v2');
  });

  test('a failed UpdateSecretVersionStage leaves the labels as they were', async () => {
    const { secrets, client, put, describe } = setup();
    await put(V2, 'v2', ['AWSPENDING']);
    secrets.failNext('UpdateSecretVersionStageCommand', new Error('throttled'));

    await expect(
      client.send(
        new UpdateSecretVersionStageCommand({
          SecretId: NAME,
          VersionStage: 'AWSCURRENT',
          MoveToVersionId: V2,
          RemoveFromVersionId: V1,
        }),
      ),
    ).rejects.toThrow('throttled');
    expect(await describe()).toEqual({ [V1]: ['AWSCURRENT'], [V2]: ['AWSPENDING'] });
  });

  test('faults are per command: other commands still answer', async () => {
    const { secrets, client } = setup();
    secrets.failNext('DescribeSecretCommand', new Error('down'));

    const value = await client.send(new GetSecretValueCommand({ SecretId: NAME }));

    expect(value.SecretString).toBe('v1');
    await expect(client.send(new DescribeSecretCommand({ SecretId: NAME }))).rejects.toThrow('down');
  });

  test('with `after`, lets that many calls through before the failures begin', async () => {
    const { secrets, client } = setup();
    const describeOnce = () => client.send(new DescribeSecretCommand({ SecretId: NAME }));
    secrets.failNext('DescribeSecretCommand', new Error('down'), 1, { after: 2 });

    await expect(describeOnce()).resolves.toMatchObject({ Name: NAME });
    await expect(describeOnce()).resolves.toMatchObject({ Name: NAME });
    await expect(describeOnce()).rejects.toThrow('down');
    await expect(describeOnce()).resolves.toMatchObject({ Name: NAME });
  });

  test('fails for a command that is not modelled, or a count below 1', () => {
    const secrets = new SecretsManagerStandIn();

    // @ts-expect-error: RotateSecretCommand is not a modelled command
    expect(() => secrets.failNext('RotateSecretCommand', new Error('x'))).toThrow(/not modelled/);
    expect(() => secrets.failNext('GetSecretValueCommand', new Error('x'), 0)).toThrow(/times must be >= 1/);
    expect(() => secrets.failNext('GetSecretValueCommand', new Error('x'), 1, { after: -1 })).toThrow(
      /after must be >= 0/,
    );
  });
});

describe('rotation', () => {
  test('the rotation dance ends with exactly the new version AWSCURRENT and the old AWSPREVIOUS', async () => {
    const { secrets, client, put, describe } = setup();

    await put(V2, 'v2', ['AWSPENDING']);
    await client.send(
      new UpdateSecretVersionStageCommand({
        SecretId: NAME,
        VersionStage: 'AWSCURRENT',
        MoveToVersionId: V2,
        RemoveFromVersionId: V1,
      }),
    );
    await client.send(
      new UpdateSecretVersionStageCommand({
        SecretId: NAME,
        VersionStage: 'AWSPENDING',
        RemoveFromVersionId: V2,
      }),
    );

    expect(await describe()).toEqual({ [V1]: ['AWSPREVIOUS'], [V2]: ['AWSCURRENT'] });
    expect(secrets.current(NAME)).toBe('v2');
  });

  /** A rotation function shaped like AWS's templates: it checks the event, then runs one step. */
  function templateRotation(client: SecretsManagerClient, next: string, seen: SecretsManagerRotationEvent[]) {
    const rotation: RotationFunction = async (event) => {
      seen.push(event);
      const { SecretId, ClientRequestToken: token, Step } = event;
      const { RotationEnabled, VersionIdsToStages = {} } = await client.send(
        new DescribeSecretCommand({ SecretId }),
      );
      if (!RotationEnabled) throw new Error('rotation is not enabled');
      const stages = VersionIdsToStages[token] ?? [];
      if (stages.includes('AWSCURRENT')) return;
      if (!stages.includes('AWSPENDING')) throw new Error('version is not AWSPENDING');
      if (Step === 'createSecret') {
        await client.send(new GetSecretValueCommand({ SecretId, VersionStage: 'AWSCURRENT' }));
        try {
          await client.send(
            new GetSecretValueCommand({ SecretId, VersionId: token, VersionStage: 'AWSPENDING' }),
          );
          return;
        } catch (error) {
          if (!(error instanceof ResourceNotFoundException)) throw error;
        }
        await client.send(
          new PutSecretValueCommand({
            SecretId,
            ClientRequestToken: token,
            SecretString: next,
            VersionStages: ['AWSPENDING'],
          }),
        );
      }
      if (Step === 'finishSecret') {
        const current = Object.entries(VersionIdsToStages).find(([, s]) => s.includes('AWSCURRENT'))?.[0];
        await client.send(
          new UpdateSecretVersionStageCommand({
            SecretId,
            VersionStage: 'AWSCURRENT',
            MoveToVersionId: token,
            ...(current === undefined ? {} : { RemoveFromVersionId: current }),
          }),
        );
      }
    };
    return rotation;
  }

  test('rotate() starts with a value-less AWSPENDING version and runs the four steps with the ARN', async () => {
    const { secrets, client, arn, describe } = setup({ rotationEnabled: true });
    const seen: SecretsManagerRotationEvent[] = [];

    const token = await secrets.rotate(NAME, templateRotation(client, 'v2', seen), { token: V2 });

    expect(token).toBe(V2);
    expect(seen).toEqual(
      ['createSecret', 'setSecret', 'testSecret', 'finishSecret'].map((Step) => ({
        Step,
        SecretId: arn,
        ClientRequestToken: V2,
      })),
    );
    expect(await describe()).toEqual({ [V1]: ['AWSPREVIOUS'], [V2]: ['AWSCURRENT', 'AWSPENDING'] });
    expect(secrets.current(NAME)).toBe('v2');
  });

  test('rotate() again takes AWSPENDING off the current version for the new one', async () => {
    const { secrets, client, describe } = setup({ rotationEnabled: true });
    await secrets.rotate(NAME, templateRotation(client, 'v2', []), { token: V2 });

    const rotation = templateRotation(client, 'v3', []);
    let atStart: Record<string, string[]> | undefined;
    const token = await secrets.rotate(NAME, async (event) => {
      atStart ??= await describe();
      return rotation(event);
    });

    expect(atStart).toEqual({ [V1]: ['AWSPREVIOUS'], [V2]: ['AWSCURRENT'], [token]: ['AWSPENDING'] });
    expect(await describe()).toEqual({ [V2]: ['AWSPREVIOUS'], [token]: ['AWSCURRENT', 'AWSPENDING'] });
  });

  test('the pending version has no value until PutSecretValue fills it', async () => {
    const { secrets, client } = setup({ rotationEnabled: true });
    const stop: RotationFunction = async () => {
      throw new Error('stopped before createSecret');
    };

    await expect(secrets.rotate(NAME, stop, { token: V2 })).rejects.toThrow('stopped');

    await expect(
      client.send(new GetSecretValueCommand({ SecretId: NAME, VersionId: V2, VersionStage: 'AWSPENDING' })),
    ).rejects.toBeInstanceOf(ResourceNotFoundException);
    expect(secrets.versions(NAME)[1]).toMatchObject({
      versionId: V2,
      stages: ['AWSPENDING'],
      secretString: undefined,
    });
  });

  test('a failed rotation blocks a new one (InvalidRequestException) but can be retried with its token', async () => {
    const { secrets, client, describe } = setup({ rotationEnabled: true });
    secrets.failNext(
      'UpdateSecretVersionStageCommand',
      new InternalServiceError({ message: 'x', $metadata: {} }),
    );
    await expect(
      secrets.rotate(NAME, templateRotation(client, 'v2', []), { token: V2 }),
    ).rejects.toBeInstanceOf(InternalServiceError);

    await expect(
      secrets.rotate(NAME, templateRotation(client, 'v3', []), { token: V3 }),
    ).rejects.toBeInstanceOf(InvalidRequestException);
    await secrets.rotate(NAME, templateRotation(client, 'v2-retry', []), { token: V2 });

    expect(await describe()).toEqual({ [V1]: ['AWSPREVIOUS'], [V2]: ['AWSCURRENT', 'AWSPENDING'] });
    // The retry found the pending value and kept it (createSecret is idempotent).
    expect(secrets.current(NAME)).toBe('v2');
  });

  test('rotate() turns rotation on, as RotateSecret with a rotation function does', async () => {
    const { secrets, client } = setup({ rotationEnabled: false });

    await secrets.rotate(NAME, templateRotation(client, 'v2', []));

    expect((await client.send(new DescribeSecretCommand({ SecretId: NAME }))).RotationEnabled).toBe(true);
  });
});

describe('attach', () => {
  /** A client whose real transport fails loudly instead of reaching the network. */
  const offlineClient = () =>
    new SecretsManagerClient({
      maxAttempts: 1,
      requestHandler: {
        handle: async () => {
          throw new Error('reached the real transport');
        },
      },
    });

  test('refuses a command it does not model with an error naming it', async () => {
    const { client } = setup();

    await expect(client.send(new ListSecretsCommand({}))).rejects.toThrow(
      /does not model ListSecretsCommand/,
    );
    expect(MODELLED_COMMANDS).not.toContain('ListSecretsCommand');
  });

  test('to a client instance leaves another instance alone', async () => {
    const secrets = new SecretsManagerStandIn();
    secrets.createSecret(NAME, 'v1');
    const attached = offlineClient();
    const other = offlineClient();
    mocks.push(secrets.attach(attached));

    const value = await attached.send(new GetSecretValueCommand({ SecretId: NAME }));

    expect(value.SecretString).toBe('v1');
    await expect(other.send(new GetSecretValueCommand({ SecretId: NAME }))).rejects.toThrow(
      'reached the real transport',
    );
  });

  test('restore() gives the client its real send back', async () => {
    const secrets = new SecretsManagerStandIn();
    secrets.createSecret(NAME, 'v1');
    const client = offlineClient();
    const mock = secrets.attach(client);

    mock.restore();

    await expect(client.send(new GetSecretValueCommand({ SecretId: NAME }))).rejects.toThrow(
      'reached the real transport',
    );
  });

  test('without a client answers every SecretsManagerClient, including ones made later', async () => {
    const secrets = new SecretsManagerStandIn();
    secrets.createSecret(NAME, 'v1');
    mocks.push(secrets.attach());

    const value = await offlineClient().send(new GetSecretValueCommand({ SecretId: NAME }));

    expect(value.SecretString).toBe('v1');
  });

  test('records the calls on the returned mock', async () => {
    const { secrets } = setup();
    const client = new SecretsManagerClient({});
    const mock = secrets.attach(client);
    mocks.push(mock);

    await client.send(new GetSecretValueCommand({ SecretId: NAME }));

    expect(mock.commandCalls(GetSecretValueCommand)).toHaveLength(1);
  });
});
