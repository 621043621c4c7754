import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../local/dynamodb-local';
import { type FaultProxy, startFaultProxy } from '../../local/fault-proxy';
import {
  FAULTS_PATH,
  type FaultControl,
  type GlobalEndpoint,
  parseFaultChange,
  REGION_HEADER,
  type ReplicationFault,
  startGlobalEndpoint,
} from '../../local/global-endpoint';
import { loadOrCreateKeySet } from '../../local/keys-file';
import { type LocalPlatform, startLocalPlatform, TRUSTED_PROXY_HEADER } from '../../local/platform';

// The global endpoint in front of two real regional platforms (the real issuer and authorizer wiring), each
// reaching the run's DynamoDB Local through its own fault proxy: what `REGIONS=us-east-1,us-west-2 npm start`
// runs, without the replication (both regions read the same table here, so a login in one is valid in the
// other; the replicator has its own tests).

const REGIONS = ['us-east-1', 'us-west-2'] as const;
const DEMO = { username: 'demo', password: 'demo-password' } as const;

jest.setTimeout(30_000);

interface Region {
  readonly name: string;
  readonly proxy: FaultProxy;
  readonly platform: LocalPlatform;
}

let dataDir: string;
let globalUrl: string;
let global: GlobalEndpoint;
const regions: Region[] = [];
const proxyToken = randomBytes(24).toString('base64url');
const logLines: string[] = [];
let replication: ReplicationFault = 'running';
const faults: FaultControl = {
  table: (name) => regionNamed(name).proxy.state,
  replication: () => replication,
  replicationLagMs: 200,
  apply: async (change) => {
    if (change.table !== undefined) {
      const { proxy } = regionNamed(change.table.region);
      if (change.table.state === 'down') proxy.down();
      else proxy.up();
    }
    if (change.replication !== undefined) replication = change.replication;
  },
};

function regionNamed(name: string): Region {
  const found = regions.find((region) => region.name === name);
  if (found === undefined) throw new Error(`no region ${name}`);
  return found;
}

beforeAll(async () => {
  const target = process.env.DYNAMODB_LOCAL_ENDPOINT;
  if (target === undefined) throw new Error('DYNAMODB_LOCAL_ENDPOINT is not set: run the tests through jest');
  dataDir = await mkdtemp(join(tmpdir(), 'hybrid-auth-global-'));
  const globalPort = await freePort();
  globalUrl = `http://127.0.0.1:${globalPort}`;
  // One key set, every region's copy of it (what the secret replication keeps true).
  const primaryKeys = join(dataDir, REGIONS[0], 'keys.json');
  await loadOrCreateKeySet(primaryKeys, Date.now());
  for (const name of REGIONS) {
    await mkdir(join(dataDir, name), { recursive: true });
    if (name !== REGIONS[0]) await copyFile(primaryKeys, join(dataDir, name, 'keys.json'));
    const proxy = await startFaultProxy({ target });
    const platform = await startLocalPlatform({
      port: 0,
      dataDir: join(dataDir, name),
      dynamoDbEndpoint: proxy.endpoint,
      issuer: globalUrl,
      region: name,
      trustedProxyToken: proxyToken,
      write: (line) => logLines.push(line),
    });
    regions.push({ name, proxy, platform });
  }
  global = await startGlobalEndpoint({
    port: globalPort,
    regions: regions.map((region) => ({ name: region.name, url: region.platform.url })),
    faults,
    proxyToken,
    // Only the checks these tests ask for (the background interval has its own test below).
    healthIntervalMs: 3_600_000,
  });
}, 60_000);

afterAll(async () => {
  await global?.close();
  for (const region of regions) {
    await region.platform.close();
    await region.proxy.close();
  }
  if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true });
});

afterEach(async () => {
  for (const region of regions) region.proxy.up();
  replication = 'running';
  await global.checkHealth();
});

interface Reply {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: Record<string, unknown>;
}

/** One HTTP request (node:http, so the caller's local address can be chosen). */
function call(
  url: string,
  method: string,
  path: string,
  init: {
    readonly headers?: Readonly<Record<string, string>>;
    readonly body?: string;
    readonly localAddress?: string;
  } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest(
      `${url}${path}`,
      {
        method,
        agent: false,
        headers: {
          ...(init.body === undefined ? {} : { 'Content-Type': 'application/json' }),
          ...init.headers,
        },
        ...(init.localAddress === undefined ? {} : { localAddress: init.localAddress }),
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: Record<string, unknown> = {};
          try {
            body = JSON.parse(text) as Record<string, unknown>;
          } catch {
            // empty or not JSON
          }
          resolve({ status: response.statusCode ?? 0, headers: response.headers, body });
        });
      },
    );
    outgoing.once('error', reject);
    outgoing.end(init.body);
  });
}

const login = (url: string, localAddress?: string, headers: Record<string, string> = {}) =>
  call(url, 'POST', '/auth/login', {
    body: JSON.stringify({ ...DEMO, client_id: 'native' }),
    headers,
    ...(localAddress === undefined ? {} : { localAddress }),
  });

const setFaults = (body: unknown) => call(globalUrl, 'POST', FAULTS_PATH, { body: JSON.stringify(body) });

function claims(accessToken: unknown): Record<string, unknown> {
  const payload = String(accessToken).split('.')[1] ?? '';
  return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
}

test('forwards each request to the first region: method, path, headers and body, and names the region', async () => {
  const reply = await login(globalUrl);
  expect(reply.status).toBe(200);
  expect(reply.headers[REGION_HEADER]).toBe('us-east-1');
  // Every region issues with the global endpoint's URL as `iss`, and the second region accepts the token.
  expect(claims(reply.body.access_token)).toMatchObject({ iss: globalUrl, aud: `${globalUrl}/api` });
  const me = await call(regionNamed('us-west-2').platform.url, 'GET', '/api/me', {
    headers: { Authorization: `Bearer ${String(reply.body.access_token)}` },
  });
  expect(me.status).toBe(200);
  // Discovery through the global endpoint names the global issuer.
  const discovery = await call(globalUrl, 'GET', '/.well-known/openid-configuration');
  expect(discovery.body).toMatchObject({ issuer: globalUrl, jwks_uri: `${globalUrl}/.well-known/jwks.json` });
});

test('GET /_local/faults shows each region table and health, the replication and its lag', async () => {
  const reply = await call(globalUrl, 'GET', FAULTS_PATH);
  expect(reply.status).toBe(200);
  expect(reply.headers['cache-control']).toBe('no-store');
  expect(reply.body).toEqual({
    regions: {
      'us-east-1': { table: 'up', healthy: true },
      'us-west-2': { table: 'up', healthy: true },
    },
    replication: 'running',
    replicationLagMs: 200,
  });
});

test('fails over to the second region while the first region table is down, and back once it is up', async () => {
  const down = await setFaults({ region: 'us-east-1', table: 'down' });
  expect(down.status).toBe(204);
  // The 204 comes after the health view has taken the change in.
  expect((await call(globalUrl, 'GET', FAULTS_PATH)).body).toMatchObject({
    regions: { 'us-east-1': { table: 'down', healthy: false }, 'us-west-2': { table: 'up', healthy: true } },
  });
  // The first region itself says why: its health route is the deployed health check's.
  const health = await call(regionNamed('us-east-1').platform.url, 'GET', '/health');
  expect(health.status).toBe(503);
  expect(health.body).toMatchObject({ error: 'temporarily_unavailable' });

  const failedOver = await login(globalUrl);
  expect(failedOver.status).toBe(200);
  expect(failedOver.headers[REGION_HEADER]).toBe('us-west-2');
  expect(claims(failedOver.body.access_token)).toMatchObject({ iss: globalUrl });

  const up = await setFaults({ region: 'us-east-1', table: 'up' });
  expect(up.status).toBe(204);
  expect((await call(globalUrl, 'GET', FAULTS_PATH)).body).toMatchObject({
    regions: { 'us-east-1': { table: 'up', healthy: true } },
  });
  const back = await login(globalUrl);
  expect(back.status).toBe(200);
  expect(back.headers[REGION_HEADER]).toBe('us-east-1');
});

test('POST /_local/faults pauses and resumes the replication, and takes both changes in one body', async () => {
  expect((await setFaults({ replication: 'paused' })).status).toBe(204);
  expect((await call(globalUrl, 'GET', FAULTS_PATH)).body).toMatchObject({ replication: 'paused' });
  expect((await setFaults({ region: 'us-west-2', table: 'down', replication: 'running' })).status).toBe(204);
  expect((await call(globalUrl, 'GET', FAULTS_PATH)).body).toMatchObject({
    regions: { 'us-west-2': { table: 'down', healthy: false } },
    replication: 'running',
  });
});

test('with no healthy region, requests go to the first region, whose own 503 the caller sees', async () => {
  await setFaults({ region: 'us-east-1', table: 'down' });
  await setFaults({ region: 'us-west-2', table: 'down' });
  const reply = await login(globalUrl);
  expect(reply.status).toBe(503);
  expect(reply.headers[REGION_HEADER]).toBe('us-east-1');
  expect(reply.body).toMatchObject({ error: 'temporarily_unavailable' });
  expect(reply.headers['retry-after']).toBeDefined();
});

test("the caller's address reaches the region through the global endpoint, and cannot be forged", async () => {
  // From 127.0.0.2 through the global endpoint, claiming another address in X-Forwarded-For.
  const viaGlobal = await login(globalUrl, '127.0.0.2', { 'X-Forwarded-For': '203.0.113.9' });
  expect(viaGlobal.status).toBe(200);
  const token = String(viaGlobal.body.access_token);
  const sessions = await call(globalUrl, 'GET', '/auth/sessions', {
    headers: { Authorization: `Bearer ${token}` },
  });
  const current = (sessions.body.sessions as { current: boolean; ip: string }[]).find((s) => s.current);
  expect(current?.ip).toBe('127.0.0.2');

  // Straight to a region with a made-up proxy token: the connection's address counts, not the header.
  const direct = await login(regionNamed('us-west-2').platform.url, '127.0.0.3', {
    'X-Forwarded-For': '203.0.113.9',
    [TRUSTED_PROXY_HEADER]: 'not-the-token',
  });
  expect(direct.status).toBe(200);
  const directSessions = await call(globalUrl, 'GET', '/auth/sessions', {
    headers: { Authorization: `Bearer ${String(direct.body.access_token)}` },
  });
  const directCurrent = (directSessions.body.sessions as { current: boolean; ip: string }[]).find(
    (s) => s.current,
  );
  expect(directCurrent?.ip).toBe('127.0.0.3');
  // The token never reaches a log line.
  expect(logLines.join('\n')).not.toContain(proxyToken);
});

test('the health checks of the global endpoint are logged by a region only when their outcome changes', async () => {
  const before = logLines.filter((line) => line.includes('"route":"GET /health"')).length;
  for (let round = 0; round < 5; round++) await global.checkHealth();
  expect(logLines.filter((line) => line.includes('"route":"GET /health"')).length).toBe(before);
  // A change is logged: the not-ready line names the table.
  await setFaults({ region: 'us-east-1', table: 'down' });
  for (let round = 0; round < 5; round++) await global.checkHealth();
  const after = logLines.slice().filter((line) => line.includes('"route":"GET /health"'));
  expect(after.length).toBeGreaterThan(before);
  expect(after.length).toBeLessThanOrEqual(before + 4);
  expect(after.some((line) => line.includes('issuer not ready') && line.includes('table_unavailable'))).toBe(
    true,
  );
});

test.each([
  ['not JSON', 'region=us-east-1', /JSON object/],
  ['an array', '[]', /JSON object/],
  ['an empty object', '{}', /names no change/],
  ['an unknown member', '{"region":"us-east-1","table":"down","speed":"slow"}', /unknown member "speed"/],
  ['a forbidden member name', '{"__proto__":{"table":"down"}}', /JSON object/],
  ['a region without its table', '{"region":"us-east-1"}', /region and table go together/],
  ['a table without its region', '{"table":"down"}', /region and table go together/],
  [
    'an unknown region',
    '{"region":"eu-west-1","table":"down"}',
    /region is "eu-west-1"; allowed: us-east-1, us-west-2/,
  ],
  ['a bad table state', '{"region":"us-east-1","table":"off"}', /table is "off"; allowed: up, down/],
  [
    'a bad replication state',
    '{"replication":"stopped"}',
    /replication is "stopped"; allowed: running, paused/,
  ],
  ['a number for a state', '{"replication":1}', /replication is 1/],
])('fails with 400 and changes nothing for %s', async (_name, body, description) => {
  const before = (await call(globalUrl, 'GET', FAULTS_PATH)).body;
  const reply = await call(globalUrl, 'POST', FAULTS_PATH, { body });
  expect(reply.status).toBe(400);
  expect(reply.headers['content-type']).toBe('application/json');
  expect(reply.body).toEqual({
    error: 'invalid_request',
    error_description: expect.stringMatching(description),
  });
  expect((await call(globalUrl, 'GET', FAULTS_PATH)).body).toEqual(before);
});

test('fails with 405 for another method and 413 for an oversized body on the fault control', async () => {
  const put = await call(globalUrl, 'PUT', FAULTS_PATH, { body: '{"replication":"paused"}' });
  expect(put.status).toBe(405);
  expect(put.headers.allow).toBe('GET, POST');
  expect(put.body).toMatchObject({ error: 'invalid_request' });
  const large = await call(globalUrl, 'POST', FAULTS_PATH, {
    body: JSON.stringify({ replication: 'paused', pad: 'x'.repeat(2048) }),
  });
  expect(large.status).toBe(413);
  expect(large.body).toMatchObject({ error: 'invalid_request' });
  expect((await call(globalUrl, 'GET', FAULTS_PATH)).body).toMatchObject({ replication: 'running' });
});

test('parseFaultChange reads a table change, a replication change, or both', () => {
  const names = ['us-east-1', 'us-west-2'];
  expect(parseFaultChange('{"region":"us-west-2","table":"down"}', names)).toEqual({
    table: { region: 'us-west-2', state: 'down' },
  });
  expect(parseFaultChange('{"replication":"paused"}', names)).toEqual({ replication: 'paused' });
  expect(parseFaultChange('{"region":"us-east-1","table":"up","replication":"running"}', names)).toEqual({
    table: { region: 'us-east-1', state: 'up' },
    replication: 'running',
  });
});

describe('a region whose server is gone', () => {
  let gone: Server;
  let endpoint: GlobalEndpoint;

  beforeAll(async () => {
    // A region that passes its health check, then stops answering at all (its server closes).
    gone = createServer((_request, response) => {
      response.writeHead(200, { 'Content-Type': 'application/json' });
      response.end('{"status":"ok"}');
    });
    await new Promise<void>((resolve) => gone.listen(0, '127.0.0.1', resolve));
    endpoint = await startGlobalEndpoint({
      port: 0,
      regions: [
        { name: 'eu-west-1', url: `http://127.0.0.1:${(gone.address() as AddressInfo).port}` },
        { name: 'us-east-1', url: regionNamed('us-east-1').platform.url },
      ],
      faults: { ...faults, table: () => 'up' },
      proxyToken,
      healthIntervalMs: 3_600_000,
    });
    gone.closeAllConnections();
    await new Promise<void>((resolve) => gone.close(() => resolve()));
  });

  afterAll(async () => {
    await endpoint?.close();
  });

  test('is skipped at once: the request goes to the next region and the region counts as unhealthy', async () => {
    expect(endpoint.healthy('eu-west-1')).toBe(true);
    const reply = await login(endpoint.url);
    expect(reply.status).toBe(200);
    expect(reply.headers[REGION_HEADER]).toBe('us-east-1');
    expect(endpoint.healthy('eu-west-1')).toBe(false);
  });
});

describe('the background health check', () => {
  let endpoint: GlobalEndpoint;

  beforeAll(async () => {
    endpoint = await startGlobalEndpoint({
      port: 0,
      regions: regions.map((region) => ({ name: region.name, url: region.platform.url })),
      faults,
      proxyToken,
      healthIntervalMs: 100,
    });
  });

  afterAll(async () => {
    await endpoint?.close();
  });

  /** Waits until a request through `endpoint` is answered by `region`. */
  async function untilServedBy(region: string): Promise<void> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const reply = await call(endpoint.url, 'GET', '/health');
      if (reply.headers[REGION_HEADER] === region && reply.status === 200) return;
      if (Date.now() > deadline)
        throw new Error(`not served by ${region}: ${reply.status} ${String(reply.headers[REGION_HEADER])}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  test('notices a table that goes down without the fault control, and its return, on its own', async () => {
    await untilServedBy('us-east-1');
    // Straight on the proxy: nobody tells the global endpoint.
    regionNamed('us-east-1').proxy.down();
    await untilServedBy('us-west-2');
    expect(endpoint.healthy('us-east-1')).toBe(false);
    regionNamed('us-east-1').proxy.up();
    await untilServedBy('us-east-1');
    expect(endpoint.healthy('us-east-1')).toBe(true);
  });
});
