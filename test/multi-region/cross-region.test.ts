import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type PlatformProcess, startPlatformProcess } from '../support/platform-process';

/**
 * The cross-region promises, end to end over HTTP: `REGIONS=us-east-1,us-west-2 npm start` runs two full
 * regional platforms, each on its own DynamoDB Local server, with the replicator between their tables (lag
 * REPLICATION_LAG_MS) and the global endpoint in front. Region 1 is `us-east-1` (the primary).
 */
const ROOT = path.join(__dirname, '../..');
const LAG_MS = 200;
const SESSION_CACHE_TTL_SECONDS = 1;
const GRACE_SECONDS = 2;
/** Lag + the authorizer's session cache (its result cache is 0 locally) + a margin for a loaded machine. */
const REFUSAL_BOUND_MS = LAG_MS + SESSION_CACHE_TTL_SECONDS * 1000 + 1500;
const DEMO = { username: 'demo', password: 'demo-password' };

let dataDir: string;
let platform: PlatformProcess;
let global: string;
let region1: string;
let region2: string;

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(tmpdir(), 'hybrid-auth-regions-'));
  platform = await startPlatformProcess({
    dataDir,
    regions: ['us-east-1', 'us-west-2'],
    env: {
      REPLICATION_LAG_MS: String(LAG_MS),
      SESSION_CACHE_TTL_SECONDS: String(SESSION_CACHE_TTL_SECONDS),
      REFRESH_GRACE_SECONDS: String(GRACE_SECONDS),
    },
  });
  global = platform.url;
  [region1, region2] = platform.regions.map((region) => region.url) as [string, string];
}, 180_000);

afterAll(async () => {
  await platform?.stop();
  if (dataDir !== undefined) rmSync(dataDir, { recursive: true, force: true });
}, 60_000);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Tokens {
  readonly access_token: string;
  readonly refresh_token: string;
}

async function login(url: string): Promise<Tokens> {
  const response = await fetch(`${url}/auth/login`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ ...DEMO, client_id: 'native' }),
  });
  expect(response.status).toBe(200);
  return (await response.json()) as Tokens;
}

async function refresh(
  url: string,
  refreshToken: string,
): Promise<{ status: number; body: Record<string, string> }> {
  const response = await fetch(`${url}/auth/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: `grant_type=refresh_token&client_id=native&refresh_token=${refreshToken}`,
  });
  return { status: response.status, body: (await response.json()) as Record<string, string> };
}

async function me(url: string, accessToken: string): Promise<number> {
  const response = await fetch(`${url}/api/me`, { headers: { Authorization: `Bearer ${accessToken}` } });
  await response.arrayBuffer();
  return response.status;
}

async function logout(url: string, accessToken: string): Promise<void> {
  const response = await fetch(`${url}/auth/logout`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${accessToken}` },
  });
  expect(response.status).toBe(204);
}

async function fault(body: unknown): Promise<void> {
  const response = await fetch(`${global}/_local/faults`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  expect(response.status).toBe(204);
}

/** Polls `url` with the token until it answers `status`; the time it took, ms, or Infinity past `limitMs`. */
async function untilStatus(
  url: string,
  accessToken: string,
  status: number,
  limitMs: number,
): Promise<number> {
  const started = Date.now();
  while (Date.now() - started <= limitMs) {
    if ((await me(url, accessToken)) === status) return Date.now() - started;
    await sleep(50);
  }
  return Number.POSITIVE_INFINITY;
}

/** Waits long enough for every change to have replicated (the lag, with a margin). */
const replicated = () => sleep(LAG_MS * 3 + 300);

test('1. a token from region 1 is accepted in region 2 at once, and after replication', async () => {
  const tokens = await login(region1);
  expect(await me(region2, tokens.access_token)).toBe(200);
  await replicated();
  expect(await me(region2, tokens.access_token)).toBe(200);
});

test('2. a logout in region 1 is refused in region 2 within lag + session cache', async () => {
  const tokens = await login(region1);
  await replicated();
  expect(await me(region2, tokens.access_token)).toBe(200);
  await logout(region1, tokens.access_token);
  const latency = await untilStatus(region2, tokens.access_token, 401, REFUSAL_BOUND_MS);
  process.stdout.write(
    `cross-region revocation latency: ${latency} ms (lag ${LAG_MS} ms, bound ${REFUSAL_BOUND_MS} ms)\n`,
  );
  expect(latency).toBeLessThanOrEqual(REFUSAL_BOUND_MS);
});

test('3. a refresh in region 1 then of its successor in region 2 before replication: a generation ahead, converging', async () => {
  const tokens = await login(region1);
  await replicated();
  const first = await refresh(region1, tokens.refresh_token);
  expect(first.status).toBe(200);
  // Region 2 has not seen the rotation yet: the successor is a generation ahead there.
  const second = await refresh(region2, first.body.refresh_token as string);
  expect(second.status).toBe(200);
  await replicated();
  // Both regions now hold the newest generation: its token rotates in either.
  const third = await refresh(region1, second.body.refresh_token as string);
  expect(third.status).toBe(200);
});

test('4. one refresh token in both regions at once: the identical successor, no reuse, converging', async () => {
  const tokens = await login(region1);
  await replicated();
  const [a, b] = await Promise.all([
    refresh(region1, tokens.refresh_token),
    refresh(region2, tokens.refresh_token),
  ]);
  expect([a.status, b.status]).toEqual([200, 200]);
  expect(a.body.refresh_token).toBe(b.body.refresh_token);
  await replicated();
  // No reuse was detected: the session lives, and its newest token rotates in either region.
  expect(await me(region2, a.body.access_token as string)).toBe(200);
  expect((await refresh(region2, a.body.refresh_token as string)).status).toBe(200);
});

test('5. a reuse after the grace window in region 2 revokes the session in every region', async () => {
  const tokens = await login(region1);
  await replicated();
  const rotated = await refresh(region1, tokens.refresh_token);
  expect(rotated.status).toBe(200);
  await sleep(GRACE_SECONDS * 1000 + 500);
  const reuse = await refresh(region2, tokens.refresh_token);
  expect(reuse).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
  await replicated();
  expect(
    await untilStatus(region1, rotated.body.access_token as string, 401, REFUSAL_BOUND_MS),
  ).toBeLessThanOrEqual(REFUSAL_BOUND_MS);
  expect((await refresh(region1, rotated.body.refresh_token as string)).status).toBe(400);
});

test("6. region 1's table down: region 1 fails closed, the global endpoint serves from region 2, old tokens work", async () => {
  const tokens = await login(global);
  await replicated();
  await fault({ region: 'us-east-1', table: 'down' });
  try {
    await sleep(SESSION_CACHE_TTL_SECONDS * 1000 + 500);
    expect(await me(region1, tokens.access_token)).toBe(503);
    // The global endpoint's health check sees region 1 fail and sends everything to region 2.
    let answered: string | null = null;
    for (let attempt = 0; attempt < 40 && answered !== 'us-west-2'; attempt++) {
      const response = await fetch(`${global}/api/me`, {
        headers: { Authorization: `Bearer ${tokens.access_token}` },
      });
      await response.arrayBuffer();
      answered = response.status === 200 ? response.headers.get('x-local-region') : null;
      if (answered !== 'us-west-2') await sleep(100);
    }
    expect(answered).toBe('us-west-2');
  } finally {
    await fault({ region: 'us-east-1', table: 'up' });
  }
});

test('7. replication paused, then resumed: a logout made during the pause reaches region 2 within the bound after resume', async () => {
  const tokens = await login(region1);
  await replicated();
  await fault({ replication: 'paused' });
  let resumedAt = 0;
  try {
    await logout(region1, tokens.access_token);
    await sleep(SESSION_CACHE_TTL_SECONDS * 1000 + LAG_MS + 500);
    // Region 2 has not heard of the logout: its copy of the session is live.
    expect(await me(region2, tokens.access_token)).toBe(200);
  } finally {
    await fault({ replication: 'running' });
    resumedAt = Date.now();
  }
  const latency = await untilStatus(region2, tokens.access_token, 401, REFUSAL_BOUND_MS);
  expect(latency).toBeLessThanOrEqual(REFUSAL_BOUND_MS);
  expect(resumedAt).toBeGreaterThan(0);
});

test('8. a key rotation in the primary: new tokens accepted in every region, no token refused meanwhile', async () => {
  const before = await login(region1);
  let stop = false;
  let refused = 0;
  let checks = 0;
  const verify = (async () => {
    while (!stop) {
      for (const url of [region1, region2]) {
        checks += 1;
        if ((await me(url, before.access_token)) !== 200) refused += 1;
      }
      await sleep(50);
    }
  })();
  const rotation = spawn(path.join(ROOT, 'node_modules/.bin/tsx'), ['local/rotate-keys.ts'], {
    cwd: ROOT,
    env: { ...process.env, LOCAL_DATA_DIR: dataDir, REGIONS: 'us-east-1,us-west-2' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  rotation.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString('utf8');
  });
  rotation.stderr.on('data', (chunk: Buffer) => {
    output += chunk.toString('utf8');
  });
  const code = await new Promise<number | null>((resolve) => rotation.once('exit', resolve));
  expect({ code, output }).toMatchObject({ code: 0 });
  // The issuers' key caches (2 s) and the secret's replication: then a login signs with the new key.
  await sleep(3000 + LAG_MS * 3);
  const after = await login(region1);
  const kid = (token: string) =>
    (JSON.parse(Buffer.from(token.split('.')[0] ?? '', 'base64url').toString('utf8')) as { kid: string }).kid;
  expect(kid(after.access_token)).not.toBe(kid(before.access_token));
  expect(await me(region1, after.access_token)).toBe(200);
  expect(await me(region2, after.access_token)).toBe(200);
  const inRegion2 = await login(region2);
  expect(kid(inRegion2.access_token)).toBe(kid(after.access_token));
  stop = true;
  await verify;
  expect({ refused, checks: checks > 10 }).toEqual({ refused: 0, checks: true });
}, 60_000);

test('9. log in in region 2, then at once "log out everywhere" in region 1, before replication: the region-2 session is refused everywhere within lag + budget', async () => {
  // Another user than the other scenarios': "log out everywhere" ends every session of the subject.
  const ADMIN = { username: 'admin', password: 'admin-password', client_id: 'native' };
  const loginAs = async (url: string): Promise<Tokens> => {
    const response = await fetch(`${url}/auth/login`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(ADMIN),
    });
    expect(response.status).toBe(200);
    return (await response.json()) as Tokens;
  };
  const caller = await loginAs(region1);
  await replicated();
  // The stolen session: opened in region 2, not yet replicated to region 1 (nor in its bySubject index).
  const stolen = await loginAs(region2);
  const response = await fetch(`${region1}/auth/logout-all`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${caller.access_token}` },
  });
  expect(response.status).toBe(204);
  // Region 1 refuses it at once: its session item is unknown there, the watermark is not.
  expect(await me(region1, stolen.access_token)).toBe(401);
  expect(await me(region1, caller.access_token)).toBe(401);
  // Region 2 refuses it once the watermark item has replicated, within lag + session cache.
  const latency = await untilStatus(region2, stolen.access_token, 401, REFUSAL_BOUND_MS);
  process.stdout.write(`cross-region logout everywhere: refused in region 2 after ${latency} ms\n`);
  expect(latency).toBeLessThanOrEqual(REFUSAL_BOUND_MS);
  await replicated();
  expect((await refresh(region2, stolen.refresh_token)).status).toBe(400);
  expect((await refresh(region1, caller.refresh_token)).status).toBe(400);
  // A session opened after the watermark and its clock margin lives (2 s: the margin, plus the whole second
  // by which a token's `iat` can trail its login when region 1 checks it before its session has replicated).
  await sleep(2100);
  const after = await loginAs(region2);
  expect(await me(region2, after.access_token)).toBe(200);
  expect(await me(region1, after.access_token)).toBe(200);
});
