import { randomUUID } from 'node:crypto';
import {
  CloudFormationClient,
  CloudFormationServiceException,
  DescribeStacksCommand,
  type DescribeStacksCommandOutput,
  type Output,
  type StackStatus,
} from '@aws-sdk/client-cloudformation';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { DynamoDbJwksStore } from '../../lambda/adapters/dynamodb-jwks-store';
import { createLogger } from '../../lambda/adapters/logger';
import { UNINITIALIZED_SECRET } from '../../lambda/core/key-set-format';
import { createRotationHandler } from '../../lambda/rotation/handler';
import { stackNameOf } from '../../lib/app';
import { type HybridAuthConfig, loadConfig } from '../../lib/config';
import { SecretsManagerStandIn, STAND_IN_REGION } from '../../local/secrets-manager-stand-in';
import type { CheckResult } from '../../scripts/deployment-checks';
import { verifyDeployment } from '../../scripts/deployment-checks';
import { type DeployedClients, deployedPlan } from '../../scripts/verify-deployment';
import { freshTable } from '../support/dynamodb';

// The AWS checks of verify-deployment against the two services they read. Secrets Manager is the stateful
// stand-in (local/secrets-manager-stand-in.ts), its secret rotated by the real rotation function.
// CloudFormation has no local equivalent: aws-sdk-client-mock answers DescribeStacks with exactly the shape
// the API reference documents, and the ValidationError it documents for a stack that does not exist
// (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DescribeStacks.html; the Stack and
// Output types: https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_Stack.html,
// https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_Output.html). The endpoint checks
// are not under test here: each ApiUrl points at a port nothing listens on.

const ACCOUNT = '123456789012';
/** Nothing listens on port 9 (discard) of the loopback: the endpoint checks fail fast there. */
const CLOSED = 'https://127.0.0.1:9';

let table: { client: DynamoDBClient; tableName: string };

/** The test never leaves the machine: a request for any other host goes to the closed loopback port. */
const loopbackOnly: typeof fetch = (input, init) => {
  const url = new URL(String(input));
  if (url.hostname !== '127.0.0.1') {
    url.hostname = '127.0.0.1';
    url.port = '9';
  }
  return fetch(url, init);
};

beforeAll(async () => {
  table = await freshTable();
});
afterAll(() => table?.client.destroy());

/** One stack as DescribeStacks documents it: `StackName`, `CreationTime` and `StackStatus` are required. */
interface StackSpec {
  readonly status?: StackStatus;
  readonly outputs?: Readonly<Record<string, string>>;
}

/** The outputs lib/hybrid-auth-stack.ts declares for a region's stack. */
function outputsOf(config: HybridAuthConfig, region: string): Record<string, string> {
  const issuer = config.issuerUrl ?? `${CLOSED}/${region}`;
  return {
    ApiUrl: `${CLOSED}/${region}/v1/`,
    IssuerUrl: issuer,
    SigningKeysSecret: `${config.name}/signing-keys`,
    ...(region === config.primaryRegion ? { RotationFunctionName: `${config.name}-rotation-abc123` } : {}),
    ...(config.domain === undefined ? {} : { HealthCheckId: randomUUID() }),
  };
}

interface Harness {
  readonly config: HybridAuthConfig;
  readonly standIn: SecretsManagerStandIn;
  readonly secretArn: string;
  /** The DescribeStacks inputs each region's client received. */
  readonly describedStacks: Map<string, string[]>;
  /** Runs every check of the deployed plan. */
  run(): Promise<CheckResult[]>;
  /** Rotates the secret with the real rotation function, as the first rotation after a deployment does. */
  rotate(): Promise<void>;
}

/**
 * A deployment of `config`: a stack per region as `stacks` says (every region CREATE_COMPLETE with its outputs
 * by default; `null` for no such stack), and the signing-keys secret in the stand-in, replicated to every
 * replica region and still holding the deployment's placeholder until {@link Harness.rotate}.
 */
async function harness(
  raw: Record<string, unknown> = {},
  stacks: Readonly<Record<string, StackSpec | null>> = {},
  options: { readonly replicatedTo?: readonly string[] } = {},
): Promise<Harness> {
  const config = loadConfig(raw);
  const replicatedTo = options.replicatedTo ?? config.replicaRegions;
  const standIn = new SecretsManagerStandIn();
  const secretArn = standIn.createSecret(`${config.name}/signing-keys`, UNINITIALIZED_SECRET, {
    rotationEnabled: true,
    replicaRegions: replicatedTo.map((region) => ({ region })),
  });
  const secretsClient = new SecretsManagerClient({ region: STAND_IN_REGION });
  const secretsMock = standIn.attach(secretsClient);
  const describedStacks = new Map<string, string[]>();
  const cfnClients = new Map<string, CloudFormationClient>();
  const restores: Array<() => void> = [() => secretsMock.restore(), () => secretsClient.destroy()];
  const clients: DeployedClients = {
    cloudFormation: (region) => {
      let client = cfnClients.get(region);
      if (client === undefined) {
        client = new CloudFormationClient({ region });
        const made = client;
        const mock = mockClient(made);
        mock.on(DescribeStacksCommand).callsFake(async (input: { StackName?: string }) => {
          describedStacks.set(region, [...(describedStacks.get(region) ?? []), input.StackName ?? '']);
          const spec = stacks[region];
          const stackName = stackNameOf(config.name, region);
          if (spec === null || input.StackName !== stackName) {
            throw new CloudFormationServiceException({
              name: 'ValidationError',
              $fault: 'client',
              $metadata: { httpStatusCode: 400 },
              message: `Stack with id ${input.StackName} does not exist`,
            });
          }
          const outputs: Output[] = Object.entries(spec?.outputs ?? outputsOf(config, region)).map(
            ([OutputKey, OutputValue]) => ({ OutputKey, OutputValue }),
          );
          const output: DescribeStacksCommandOutput = {
            Stacks: [
              {
                StackId: `arn:aws:cloudformation:${region}:${ACCOUNT}:stack/${stackName}/${randomUUID()}`,
                StackName: stackName,
                CreationTime: new Date('2026-01-05T10:00:00Z'),
                StackStatus: spec?.status ?? 'CREATE_COMPLETE',
                Outputs: outputs,
              },
            ],
            $metadata: { httpStatusCode: 200, requestId: randomUUID(), attempts: 1, totalRetryDelay: 0 },
          };
          return output;
        });
        restores.push(
          () => mock.restore(),
          () => made.destroy(),
        );
        cfnClients.set(region, made);
      }
      return client;
    },
    secretsManager: (region) => {
      if (region !== STAND_IN_REGION)
        throw new Error(`the secret lives in ${STAND_IN_REGION}, not ${region}`);
      return secretsClient;
    },
    // Every region's replica of the table is this one table of DynamoDB Local.
    dynamoDb: () => table.client,
    destroy: () => {},
  };
  cleanups.push(() => {
    for (const restore of restores) restore();
  });
  return {
    config,
    standIn,
    secretArn,
    describedStacks,
    run: async () =>
      verifyDeployment(
        await deployedPlan(config, clients, { tableName: table.tableName, fetch: loopbackOnly }),
      ),
    rotate: async () => {
      const jwks = new DynamoDbJwksStore(table.client, table.tableName);
      const handler = createRotationHandler({
        secrets: secretsClient,
        jwks,
        policy: { accessTokenTtlSeconds: 300, sessionLifetimeSeconds: 86_400 },
        logger: createLogger('rotation', () => {}),
        metric: () => {},
        replicaRegions: replicatedTo,
        sleep: async () => {},
      });
      await standIn.rotate(secretArn, handler);
    },
  };
}

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

/** The result of one check by name, e.g. `region us-east-2: signing keys replicated`. */
function line(results: readonly CheckResult[], name: string): CheckResult {
  const found = results.find((result) => result.name === name);
  if (found === undefined) throw new Error(`no line ${name} in:\n${results.map((r) => r.name).join('\n')}`);
  return found;
}

describe('stack outputs', () => {
  test("reads each region's stack by the name lib/app.ts gives it and passes complete stacks with every output", async () => {
    const h = await harness({ name: 'hybrid-auth-staging' });
    const results = await h.run();
    const regions = [h.config.primaryRegion, ...h.config.replicaRegions];
    for (const region of regions) {
      expect(h.describedStacks.get(region)).toEqual([stackNameOf('hybrid-auth-staging', region)]);
      const result = line(results, `region ${region}: stack outputs`);
      expect(result.status).toBe('pass');
      expect(result.detail).toContain(`${stackNameOf('hybrid-auth-staging', region)} CREATE_COMPLETE`);
    }
    // The endpoint checks ran against each region's ApiUrl (and, with nothing listening there, failed).
    for (const region of regions) {
      expect(line(results, `region ${region}: health`)).toMatchObject({ status: 'fail' });
      expect(line(results, `region ${region}: health`).detail).toContain(`${CLOSED}/${region}/v1/health`);
    }
  });

  test('fails a region without a stack (ValidationError) and skips its endpoint checks', async () => {
    const h = await harness({}, { 'us-west-2': null });
    const results = await h.run();
    const result = line(results, 'region us-west-2: stack outputs');
    expect(result.status).toBe('fail');
    expect(result.detail).toContain(`no stack ${stackNameOf(h.config.name, 'us-west-2')} in us-west-2`);
    expect(line(results, 'region us-west-2: endpoint')).toMatchObject({ status: 'skip' });
    expect(results.some((r) => r.name === 'region us-west-2: health')).toBe(false);
    expect(line(results, 'region us-east-2: stack outputs').status).toBe('pass');
  });

  test('fails a stack whose last update rolled back, naming its status', async () => {
    const h = await harness({}, { 'us-east-2': { status: 'UPDATE_ROLLBACK_COMPLETE' } });
    const result = line(await h.run(), 'region us-east-2: stack outputs');
    expect(result.status).toBe('fail');
    expect(result.detail).toContain('status UPDATE_ROLLBACK_COMPLETE');
  });

  test('fails a primary stack without its RotationFunctionName output, and with domain one without HealthCheckId', async () => {
    const plain = loadConfig({});
    const { RotationFunctionName: _rotation, ...withoutRotation } = outputsOf(plain, plain.primaryRegion);
    const h = await harness({}, { [plain.primaryRegion]: { outputs: withoutRotation } });
    const result = line(await h.run(), `region ${plain.primaryRegion}: stack outputs`);
    expect(result).toMatchObject({ status: 'fail' });
    expect(result.detail).toContain('missing outputs RotationFunctionName');

    const domain = {
      name: 'auth.example.com',
      hostedZoneId: 'Z0123456789ABCDEFGHIJ',
      hostedZoneName: 'example.com',
    };
    const withDomain = loadConfig({ domain });
    const { HealthCheckId: _healthCheck, ...withoutHealthCheck } = outputsOf(withDomain, 'us-east-2');
    const d = await harness({ domain }, { 'us-east-2': { outputs: withoutHealthCheck } });
    const results = await d.run();
    expect(line(results, 'region us-east-2: stack outputs').detail).toContain(
      'missing outputs HealthCheckId',
    );
    expect(line(results, 'region us-west-2: stack outputs').status).toBe('pass');
    // The endpoint checks run through the domain name too.
    expect(line(results, 'domain auth.example.com: health').detail).toContain(
      'https://auth.example.com/health',
    );
  });
});

describe('signing keys', () => {
  test('fails a secret that never rotated: it still holds the deployment placeholder', async () => {
    const h = await harness();
    const result = line(await h.run(), `region ${h.config.primaryRegion}: signing keys rotated`);
    expect(result.status).toBe('fail');
    expect(result.detail).toContain('never rotated');
    expect(result.detail).toContain(
      `aws secretsmanager rotate-secret --secret-id ${h.config.name}/signing-keys`,
    );
  });

  test('passes once the rotation function has run, and each InSync replica region', async () => {
    const h = await harness();
    await h.rotate();
    const results = await h.run();
    expect(line(results, `region ${h.config.primaryRegion}: signing keys rotated`).status).toBe('pass');
    for (const region of h.config.replicaRegions) {
      expect(line(results, `region ${region}: signing keys replicated`)).toMatchObject({
        status: 'pass',
        detail: expect.stringContaining('InSync'),
      });
    }
  });

  test('fails a replica region whose copy is not InSync, with its status and message', async () => {
    const h = await harness();
    await h.rotate();
    h.standIn.setReplicationStatus(h.secretArn, 'us-west-2', 'Failed', 'Access to KMS is not allowed');
    h.standIn.setReplicationStatus(h.secretArn, 'us-east-2', 'InProgress');
    const results = await h.run();
    expect(line(results, 'region us-west-2: signing keys replicated')).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining('Failed: Access to KMS is not allowed'),
    });
    expect(line(results, 'region us-east-2: signing keys replicated')).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining('InProgress'),
    });
  });

  test('fails a configured replica region the secret is not replicated to', async () => {
    const h = await harness({}, {}, { replicatedTo: ['us-east-2'] });
    await h.rotate();
    const results = await h.run();
    expect(line(results, 'region us-east-2: signing keys replicated').status).toBe('pass');
    expect(line(results, 'region us-west-2: signing keys replicated')).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining('no replica in us-west-2'),
    });
  });

  test('fails when DescribeSecret fails, and skips the replica checks it would have answered', async () => {
    const h = await harness();
    await h.rotate();
    const denied = new Error('User is not authorized to perform: secretsmanager:DescribeSecret');
    denied.name = 'AccessDeniedException';
    h.standIn.failNext('DescribeSecretCommand', denied);
    const results = await h.run();
    expect(line(results, `region ${h.config.primaryRegion}: signing keys rotated`)).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining('AccessDeniedException: User is not authorized'),
    });
    for (const region of h.config.replicaRegions) {
      expect(line(results, `region ${region}: signing keys replicated`).status).toBe('skip');
    }
  });
});
