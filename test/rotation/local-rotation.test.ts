import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { KeySet } from '../../lambda/core/keys';
import { readKeySet } from '../../local/keys-file';
import { type PlatformProcess, startPlatformProcess } from '../support/platform-process';

// End to end on the local platform: the platform runs as a child process (as `npm start`), and
// `npm run rotate-keys` runs as another one (`tsx local/rotate-keys.ts`, what the npm script runs), against
// the same LOCAL_DATA_DIR. Everything goes over HTTP, as a client sees it.

const ROOT = join(__dirname, '../..');
const DEMO = { username: 'demo', password: 'demo-password' } as const;
/** The platform re-reads keys.json and the JWKS every 2 s (KEY_CACHE_SECONDS): a change shows within this. */
const PICKUP_BUDGET_MS = 3_000;

jest.setTimeout(40_000);

let platform: PlatformProcess;
let dataDir: string;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'hybrid-auth-rotation-'));
  platform = await startPlatformProcess({ dataDir, readyTimeoutMs: 60_000 });
}, 90_000);

afterAll(async () => {
  await platform?.stop();
  if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true });
}, 40_000);

/** `npm run rotate-keys -- ...args`, as a real child process. */
async function rotateKeys(...args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)(
    join(ROOT, 'node_modules/.bin/tsx'),
    ['local/rotate-keys.ts', ...args],
    { cwd: ROOT, env: { ...process.env, LOCAL_DATA_DIR: dataDir }, timeout: 20_000 },
  );
  return stdout;
}

async function login(): Promise<{ token: string; kid: string }> {
  const response = await fetch(`${platform.url}/auth/login`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ ...DEMO, client_id: 'native' }),
  });
  expect(response.status).toBe(200);
  const body = (await response.json()) as { access_token?: unknown };
  if (typeof body.access_token !== 'string') throw new Error('no access_token in the login answer');
  return { token: body.access_token, kid: kidOf(body.access_token) };
}

function kidOf(token: string): string {
  const header = JSON.parse(Buffer.from(token.split('.')[0] ?? '', 'base64url').toString('utf8')) as {
    kid?: unknown;
  };
  if (typeof header.kid !== 'string') throw new Error('token header has no kid');
  return header.kid;
}

async function me(token: string): Promise<number> {
  const response = await fetch(`${platform.url}/api/me`, { headers: { Authorization: `Bearer ${token}` } });
  await response.text();
  return response.status;
}

async function publishedKids(): Promise<string[]> {
  const response = await fetch(`${platform.url}/.well-known/jwks.json`);
  expect(response.status).toBe(200);
  const jwks = (await response.json()) as { keys: Array<{ kid: string; d?: unknown }> };
  for (const key of jwks.keys) expect(key).not.toHaveProperty('d');
  return jwks.keys.map((key) => key.kid).sort();
}

function byState(set: KeySet): { next: string[]; current: string[]; previous: string[] } {
  const of = (state: string) => set.signingKeys.filter((key) => key.state === state).map((key) => key.kid);
  return { next: of('next'), current: of('current'), previous: of('previous') };
}

/** Polls `probe` every 100 ms until it returns true; returns the milliseconds it took (or throws at `budget`). */
async function msUntil(probe: () => Promise<boolean>, budgetMs: number, what: string): Promise<number> {
  const started = Date.now();
  for (;;) {
    if (await probe()) return Date.now() - started;
    if (Date.now() - started > budgetMs) throw new Error(`${what} did not happen within ${budgetMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

test('npm run rotate-keys: old tokens keep working, new logins sign with the old next; --revoke kills a key', async () => {
  const before = byState(await readKeySet(platform.keysPath));
  const [oldCurrent] = before.current;
  const [oldNext] = before.next;
  if (oldCurrent === undefined || oldNext === undefined) throw new Error('keys.json lacks current or next');
  const issuedBefore = await login();
  expect(issuedBefore.kid).toBe(oldCurrent);
  expect(await me(issuedBefore.token)).toBe(200);
  const signingKids = new Set([issuedBefore.kid]);

  // A scheduled rotation.
  const rotated = await rotateKeys();
  expect(rotated).toContain('the JWKS is published to the running platform');

  const after = byState(await readKeySet(platform.keysPath));
  expect(after.current).toEqual([oldNext]);
  expect(after.previous).toEqual([oldCurrent]);
  expect(after.next).toHaveLength(1);
  const [newNext] = after.next;
  if (newNext === undefined) throw new Error('no next key after the rotation');
  expect([oldCurrent, oldNext]).not.toContain(newNext);
  // The token issued before the rotation still works, straight away and once every cache has turned over.
  expect(await me(issuedBefore.token)).toBe(200);
  let latest = issuedBefore;
  const pickupMs = await msUntil(
    async () => {
      latest = await login();
      signingKids.add(latest.kid);
      return latest.kid === oldNext;
    },
    PICKUP_BUDGET_MS,
    'a login token signed by the new current key',
  );
  const signedByNewCurrent = latest;
  expect(await me(signedByNewCurrent.token)).toBe(200);
  expect(await me(issuedBefore.token)).toBe(200);
  // The JWKS lists the old current (as previous), the new current, and a next that has signed nothing yet.
  expect(await publishedKids()).toEqual([oldCurrent, oldNext, newNext].sort());
  expect([...signingKids].sort()).toEqual([oldCurrent, oldNext].sort());

  // The emergency path: the new current key is compromised.
  const revoked = await rotateKeys('--revoke', oldNext);
  expect(revoked).toContain(`revoked key ${oldNext}`);
  const revokedAt = Date.now();

  const afterRevoke = byState(await readKeySet(platform.keysPath));
  expect(afterRevoke.current).toEqual([newNext]);
  expect([...afterRevoke.next, ...afterRevoke.current, ...afterRevoke.previous]).not.toContain(oldNext);
  const refusedMs = await msUntil(
    async () => {
      const status = await me(signedByNewCurrent.token);
      expect([200, 401]).toContain(status);
      return status === 401;
    },
    PICKUP_BUDGET_MS,
    'the refusal of a token signed by the revoked key',
  );
  const newKidMs = await msUntil(
    async () => {
      latest = await login();
      return latest.kid === newNext;
    },
    Math.max(0, PICKUP_BUDGET_MS - (Date.now() - revokedAt)),
    'a login token signed by yet another key',
  );
  expect([oldCurrent, oldNext]).not.toContain(latest.kid);
  expect(await me(latest.token)).toBe(200);
  expect(await publishedKids()).not.toContain(oldNext);
  // The key retired by the scheduled rotation was not revoked: its token still works.
  expect(await me(issuedBefore.token)).toBe(200);
  process.stdout.write(
    `\nlocal rotation: new kid on logins after ${pickupMs} ms; after --revoke, refusal after ${refusedMs} ms, ` +
      `new kid on logins after ${refusedMs + newKidMs} ms (budget ${PICKUP_BUDGET_MS} ms)\n`,
  );
});

test('npm run rotate-keys without the LOCAL_DATA_DIR given to npm start names the keys file and the setting', async () => {
  // The platform runs with LOCAL_DATA_DIR=<dataDir>; rotate-keys runs without it, from a directory with no
  // `.local/`, so it looks for the default `.local/keys.json` there.
  const elsewhere = await mkdtemp(join(tmpdir(), 'hybrid-auth-rotation-cwd-'));
  const keysBefore = await readFile(platform.keysPath, 'utf8');
  const env = { ...process.env };
  delete env.LOCAL_DATA_DIR;
  try {
    const failure = await promisify(execFile)(
      join(ROOT, 'node_modules/.bin/tsx'),
      [join(ROOT, 'local/rotate-keys.ts')],
      { cwd: elsewhere, env, timeout: 20_000 },
    ).then(
      () => undefined,
      (error: { code?: unknown; stderr?: unknown }) => error,
    );
    expect(failure?.code).toBe(1);
    const stderr = String(failure?.stderr);
    expect(stderr).toContain(join(elsewhere, '.local', 'keys.json'));
    expect(stderr).toContain('LOCAL_DATA_DIR');
    expect(stderr).toContain('npm start');
    expect(stderr).not.toContain('ENOENT');
    // Nothing was created where it looked, and the running platform's keys are untouched.
    expect(await readdir(elsewhere)).toEqual([]);
    expect(await readFile(platform.keysPath, 'utf8')).toBe(keysBefore);
  } finally {
    await rm(elsewhere, { recursive: true, force: true });
  }
});
