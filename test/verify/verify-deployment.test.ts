import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { PROTECTED_ROUTES } from '../../lambda/protected-routes';
import { SAMPLE_ROUTES } from '../../lib/auth-api';
import { loadConfig } from '../../lib/config';
import { freePort, localClient } from '../../local/dynamodb-local';
import { PLATFORM_STATE_FILE } from '../../local/platform';
import { findRunningPlatform, type RunningPlatform } from '../../local/rotate-keys';
import { chooseProtectedRoute, TEST_USER_PREFIX } from '../../scripts/deployment-checks';
import { verifyDeploymentCommand } from '../../scripts/verify-deployment';
import { freshTable } from '../support/dynamodb';
import { type PlatformProcess, startPlatformProcess } from '../support/platform-process';
import { deploymentDoubles, stackOutputs } from './aws-doubles';

// verify-deployment's endpoint checks over real HTTP against a real local platform (`tsx local/main.ts`, one
// process for the file), through the command itself: `--local` as a child process (exit code and output
// exactly as a user sees them), and the deployed mode in process, its AWS calls answered by the doubles of
// test/verify/aws-doubles.ts and its regional API URLs and domain name routed to the platform.

const ROOT = join(__dirname, '../..');
/** The platform's authorizer session cache: a revocation reaches it within this. */
const PLATFORM_SESSION_CACHE_TTL_SECONDS = 2;
/** A JWT, or any run of base64url characters as long as a password or a refresh token the run made. */
const TOKEN_LIKE = /eyJ[A-Za-z0-9_-]+\.|[A-Za-z0-9_-]{40,}/;
/** Every endpoint check, in the order they run. */
const ENDPOINT_CHECKS = [
  'health',
  'jwks',
  'discovery',
  'test user',
  'login',
  'authorized call',
  'refresh',
  'logout',
  'revocation',
  'test user deleted',
];
const AWS_CHECKS = ['stack outputs', 'signing keys rotated', 'signing keys replicated'];

jest.setTimeout(90_000);

let platform: PlatformProcess;
let dataDir: string;
let state: RunningPlatform;
let dynamo: DynamoDBClient;
const tempDirs: string[] = [];

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'hybrid-auth-verify-'));
  platform = await startPlatformProcess({
    dataDir,
    env: { SESSION_CACHE_TTL_SECONDS: String(PLATFORM_SESSION_CACHE_TTL_SECONDS) },
  });
  const running = await findRunningPlatform(dataDir);
  if (running === undefined) throw new Error(`no platform.json for the platform:\n${platform.output()}`);
  state = running;
  dynamo = localClient(state.dynamoDbEndpoint);
}, 120_000);

afterAll(async () => {
  dynamo?.destroy();
  await platform?.stop();
  for (const dir of [dataDir, ...tempDirs])
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
}, 40_000);

/** `npm run verify-deployment -- --local` as a child process: its exit code and everything it wrote. */
function runCli(env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(join(ROOT, 'node_modules/.bin/tsx'), ['scripts/verify-deployment.ts', '--local'], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const chunks: string[] = [];
    child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => chunks.push(chunk.toString('utf8')));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, output: chunks.join('') }));
  });
}

/** The test users still in the platform's table. */
async function leftoverTestUsers(): Promise<string[]> {
  const found: string[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const page = await dynamo.send(
      new ScanCommand({
        TableName: state.tableName,
        FilterExpression: 'begins_with(pk, :prefix)',
        ExpressionAttributeValues: { ':prefix': { S: `USER#${TEST_USER_PREFIX}` } },
        ...(start === undefined ? {} : { ExclusiveStartKey: start as never }),
      }),
    );
    for (const item of page.Items ?? []) found.push(item.pk?.S ?? '');
    start = page.LastEvaluatedKey;
  } while (start !== undefined);
  return found;
}

/** The line of a check: `PASS  local platform: login - ...`. */
function lineOf(output: string, name: string): string {
  const found = output.split('\n').find((line) => line.slice(6).startsWith(`${name} - `));
  if (found === undefined) throw new Error(`no line for ${name} in:\n${output}`);
  return found;
}

describe('npm run verify-deployment -- --local', () => {
  test('passes every endpoint check, skips the AWS-only ones, deletes its user and exits 0', async () => {
    const { code, output } = await runCli({
      LOCAL_DATA_DIR: dataDir,
      SESSION_CACHE_TTL_SECONDS: String(PLATFORM_SESSION_CACHE_TTL_SECONDS),
    });
    expect({ code, output }).toMatchObject({ code: 0 });
    for (const check of ENDPOINT_CHECKS)
      expect(lineOf(output, `local platform: ${check}`)).toMatch(/^PASS {2}/);
    for (const check of AWS_CHECKS) expect(lineOf(output, `local platform: ${check}`)).toMatch(/^SKIP {2}/);
    expect(output).toContain(
      `verified: ${ENDPOINT_CHECKS.length} passed, 0 failed, ${AWS_CHECKS.length} skipped`,
    );
    // The authorized call and the revocation poll use the route the route table gives a plain user.
    const { route } = await chooseProtectedRoute(PROTECTED_ROUTES, { preferred: SAMPLE_ROUTES });
    expect(lineOf(output, 'local platform: authorized call')).toContain(
      `${route?.method} ${route?.path} 200`,
    );
    expect(lineOf(output, 'local platform: revocation')).toContain(
      `budget ${PLATFORM_SESSION_CACHE_TTL_SECONDS}.00 s`,
    );
    expect(output).not.toMatch(TOKEN_LIKE);
    expect(await leftoverTestUsers()).toEqual([]);
  });

  test('fails, with exit code 1, when the platform keeps accepting a revoked session longer than the budget', async () => {
    // verify-deployment is told the platform caches sessions 1 s; it caches them 2 s.
    const { code, output } = await runCli({ LOCAL_DATA_DIR: dataDir, SESSION_CACHE_TTL_SECONDS: '1' });
    expect({ code, output }).toMatchObject({ code: 1 });
    const revocation = lineOf(output, 'local platform: revocation');
    expect(revocation).toMatch(
      /^FAIL {2}local platform: revocation - a request sent \d+\.\d\d s after the logout was still accepted/,
    );
    expect(revocation).toContain('budget 1.00 s, SESSION_CACHE_TTL_SECONDS=1');
    expect(lineOf(output, 'local platform: logout')).toMatch(/^PASS/);
    expect(output).toMatch(/NOT verified: \d+ passed, 1 failed, 3 skipped/);
    expect(output).not.toMatch(TOKEN_LIKE);
    expect(await leftoverTestUsers()).toEqual([]);
  });

  test('fails, with exit code 1, at a base URL where no platform answers, and still deletes its user', async () => {
    // A platform.json whose URL nothing listens on, with the running platform's table (and live pid).
    const wrong = await mkdtemp(join(tmpdir(), 'hybrid-auth-verify-wrong-'));
    tempDirs.push(wrong);
    const url = `http://127.0.0.1:${await freePort()}`;
    await writeFile(join(wrong, PLATFORM_STATE_FILE), JSON.stringify({ ...state, url }));
    const { code, output } = await runCli({ LOCAL_DATA_DIR: wrong });
    expect({ code, output }).toMatchObject({ code: 1 });
    for (const check of ['health', 'jwks', 'discovery', 'login']) {
      expect(lineOf(output, `local platform: ${check}`)).toMatch(/^FAIL {2}.*ECONNREFUSED/);
    }
    for (const check of ['authorized call', 'refresh', 'logout', 'revocation']) {
      expect(lineOf(output, `local platform: ${check}`)).toMatch(/^SKIP {2}.* - no login$/);
    }
    expect(lineOf(output, 'local platform: test user deleted')).toMatch(/^PASS/);
    expect(await leftoverTestUsers()).toEqual([]);
  });

  test('fails to run without a running platform: says so and exits 2', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'hybrid-auth-verify-none-'));
    tempDirs.push(empty);
    const { code, output } = await runCli({ LOCAL_DATA_DIR: empty });
    expect(code).toBe(2);
    expect(output).toContain('no local platform is running');
  });
});

describe('what it prints', () => {
  test('never a password or a token it sent or received, in any line', async () => {
    const secrets: string[] = [];
    const spy: typeof fetch = async (input, init) => {
      const headers = (init?.headers ?? {}) as Record<string, string>;
      if (headers.Authorization !== undefined) secrets.push(headers.Authorization.slice('Bearer '.length));
      if (typeof init?.body === 'string') {
        if (headers['Content-Type'] === 'application/json') {
          secrets.push((JSON.parse(init.body) as { password: string }).password);
        } else {
          secrets.push(new URLSearchParams(init.body).get('refresh_token') ?? '');
        }
      }
      const response = await fetch(input, init);
      const text = await response.clone().text();
      for (const field of ['access_token', 'refresh_token']) {
        const match = new RegExp(`"${field}":"([^"]+)"`).exec(text);
        if (match?.[1] !== undefined) secrets.push(match[1]);
      }
      return response;
    };
    const lines: string[] = [];
    const code = await verifyDeploymentCommand(
      ['--local'],
      { LOCAL_DATA_DIR: dataDir, SESSION_CACHE_TTL_SECONDS: String(PLATFORM_SESSION_CACHE_TTL_SECONDS) },
      { write: (line) => lines.push(line), fetch: spy },
    );
    expect({ code, lines }).toMatchObject({ code: 0 });
    const seen = secrets.filter((secret) => secret !== '');
    // The password, the access token and refresh token of the login and of the refresh, at least.
    expect(new Set(seen).size).toBeGreaterThanOrEqual(5);
    const output = lines.join('\n');
    for (const secret of seen) expect(output).not.toContain(secret);
  });
});

describe('npm run verify-deployment (deployed), its AWS calls answered by doubles', () => {
  test("checks every region's stack and secret, then each region's API and the domain name over HTTP, and passes", async () => {
    const domain = {
      name: 'auth.example.com',
      hostedZoneId: 'Z0123456789ABCDEFGHIJ',
      hostedZoneName: 'example.com',
    };
    const raw = { name: 'hybrid-auth', domain };
    const config = loadConfig(raw);
    const apiHost = (region: string) => `abc123def4.execute-api.${region}.amazonaws.com`;
    const jwksTable = await freshTable();
    const doubles = deploymentDoubles(config, {
      // The platform's issuer stands for the one every region declares.
      outputs: (region) => stackOutputs(config, region, `https://${apiHost(region)}/v1/`, platform.url),
      dynamoDb: () => dynamo,
      jwksTable,
    });
    // DNS and API Gateway, as far as the test needs them: each region's API host (its stage in the path) and
    // the domain name (mapped at the root) reach the local platform; no request leaves the machine.
    const routed: string[] = [];
    const route: typeof fetch = (input, init) => {
      const url = new URL(String(input));
      const region = [config.primaryRegion, ...config.replicaRegions].find((r) => url.host === apiHost(r));
      if (region === undefined && url.host !== domain.name) throw new Error(`unexpected host ${url.host}`);
      routed.push(region ?? domain.name);
      const path = region === undefined ? url.pathname : url.pathname.replace(/^\/v1/, '');
      return fetch(`${platform.url}${path}${url.search}`, init);
    };
    const cdkJson = join(await mkdtemp(join(tmpdir(), 'hybrid-auth-verify-cdk-')), 'cdk.json');
    tempDirs.push(join(cdkJson, '..'));
    await writeFile(cdkJson, JSON.stringify({ context: { 'hybrid-auth': raw } }));
    const lines: string[] = [];
    try {
      await doubles.rotate();
      const code = await verifyDeploymentCommand(
        [],
        {},
        {
          write: (line) => lines.push(line),
          clients: doubles.clients,
          cdkJsonPath: cdkJson,
          tableName: state.tableName,
          fetch: route,
        },
      );
      const output = lines.join('\n');
      expect({ code, output }).toMatchObject({ code: 0 });
      const regions = [config.primaryRegion, ...config.replicaRegions];
      expect(lineOf(output, `region ${config.primaryRegion}: signing keys rotated`)).toMatch(/^PASS/);
      for (const region of regions) {
        expect(lineOf(output, `region ${region}: stack outputs`)).toMatch(/^PASS/);
        for (const check of ENDPOINT_CHECKS)
          expect(lineOf(output, `region ${region}: ${check}`)).toMatch(/^PASS/);
      }
      for (const region of config.replicaRegions) {
        expect(lineOf(output, `region ${region}: signing keys replicated`)).toMatch(/^PASS/);
      }
      for (const check of ENDPOINT_CHECKS)
        expect(lineOf(output, `domain ${domain.name}: ${check}`)).toMatch(/^PASS/);
      expect(lineOf(output, `domain ${domain.name}: revocation`)).toContain(
        'revocationBudgetSeconds of cdk.json',
      );
      expect(output).not.toContain('FAIL');
      expect(output).not.toMatch(TOKEN_LIKE);
      expect(new Set(routed)).toEqual(new Set([...regions, domain.name]));
      expect(await leftoverTestUsers()).toEqual([]);
    } finally {
      doubles.restore();
      jwksTable.client.destroy();
    }
  });
});
