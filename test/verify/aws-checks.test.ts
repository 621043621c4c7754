import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { stackNameOf } from '../../lib/app';
import { type HybridAuthConfig, loadConfig } from '../../lib/config';
import { type CheckResult, verifyDeployment } from '../../scripts/deployment-checks';
import { deployedPlan } from '../../scripts/verify-deployment';
import { freshTable } from '../support/dynamodb';
import { type DeploymentDoubles, deploymentDoubles, type StackSpec, stackOutputs } from './aws-doubles';

// The AWS checks of verify-deployment against the two services they read, through their doubles
// (test/verify/aws-doubles.ts): DescribeStacks in the shape its API reference documents, DescribeSecret from
// the Secrets Manager stand-in. The endpoint checks are not under test here: each ApiUrl points at a loopback
// port nothing listens on, and so does every other host.

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

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

/** The outputs of a region's stack, its API on the closed port. */
function outputsOf(config: HybridAuthConfig, region: string): Record<string, string> {
  return stackOutputs(
    config,
    region,
    `${CLOSED}/${region}/v1/`,
    config.issuerUrl ?? `${CLOSED}/${region}/v1`,
  );
}

interface Harness extends DeploymentDoubles {
  readonly config: HybridAuthConfig;
  /** Runs every check of the deployed plan. */
  run(): Promise<CheckResult[]>;
}

/** A deployment of the configuration `raw` (see {@link deploymentDoubles}), every region on one local table. */
function harness(
  raw: Record<string, unknown> = {},
  stacks: Readonly<Record<string, StackSpec | null>> = {},
  options: { readonly replicatedTo?: readonly string[] } = {},
): Harness {
  const config = loadConfig(raw);
  const doubles = deploymentDoubles(config, {
    outputs: (region) => outputsOf(config, region),
    stacks,
    ...options,
    dynamoDb: () => table.client,
    jwksTable: table,
  });
  cleanups.push(() => doubles.restore());
  return {
    ...doubles,
    config,
    run: async () =>
      verifyDeployment(
        await deployedPlan(config, doubles.clients, { tableName: table.tableName, fetch: loopbackOnly }),
      ),
  };
}

/** The result of one check by name, e.g. `region us-east-2: signing keys replicated`. */
function line(results: readonly CheckResult[], name: string): CheckResult {
  const found = results.find((result) => result.name === name);
  if (found === undefined) throw new Error(`no line ${name} in:\n${results.map((r) => r.name).join('\n')}`);
  return found;
}

describe('stack outputs', () => {
  test("reads each region's stack by the name lib/app.ts gives it and passes complete stacks with every output", async () => {
    const h = harness({ name: 'hybrid-auth-staging' });
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
    const h = harness({}, { 'us-west-2': null });
    const results = await h.run();
    const result = line(results, 'region us-west-2: stack outputs');
    expect(result.status).toBe('fail');
    expect(result.detail).toContain(`no stack ${stackNameOf(h.config.name, 'us-west-2')} in us-west-2`);
    expect(line(results, 'region us-west-2: endpoint')).toMatchObject({ status: 'skip' });
    expect(results.some((r) => r.name === 'region us-west-2: health')).toBe(false);
    expect(line(results, 'region us-east-2: stack outputs').status).toBe('pass');
  });

  test('fails a stack whose last update rolled back, naming its status', async () => {
    const h = harness({}, { 'us-east-2': { status: 'UPDATE_ROLLBACK_COMPLETE' } });
    const result = line(await h.run(), 'region us-east-2: stack outputs');
    expect(result.status).toBe('fail');
    expect(result.detail).toContain('status UPDATE_ROLLBACK_COMPLETE');
  });

  test('fails a primary stack without its RotationFunctionName output, and with domain one without HealthCheckId', async () => {
    const plain = loadConfig({});
    const { RotationFunctionName: _rotation, ...withoutRotation } = outputsOf(plain, plain.primaryRegion);
    const h = harness({}, { [plain.primaryRegion]: { outputs: withoutRotation } });
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
    const d = harness({ domain }, { 'us-east-2': { outputs: withoutHealthCheck } });
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
    const h = harness();
    const result = line(await h.run(), `region ${h.config.primaryRegion}: signing keys rotated`);
    expect(result.status).toBe('fail');
    expect(result.detail).toContain('never rotated');
    expect(result.detail).toContain(
      `aws secretsmanager rotate-secret --secret-id ${h.config.name}/signing-keys`,
    );
  });

  test('passes once the rotation function has run, and each InSync replica region', async () => {
    const h = harness();
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
    const h = harness();
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
    const h = harness({}, {}, { replicatedTo: ['us-east-2'] });
    await h.rotate();
    const results = await h.run();
    expect(line(results, 'region us-east-2: signing keys replicated').status).toBe('pass');
    expect(line(results, 'region us-west-2: signing keys replicated')).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining('no replica in us-west-2'),
    });
  });

  test('fails when DescribeSecret fails, and skips the replica checks it would have answered', async () => {
    const h = harness();
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
