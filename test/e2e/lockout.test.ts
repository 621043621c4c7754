import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type PlatformProcess, startPlatformProcess } from '../support/platform-process';

// The real platform (`tsx local/main.ts`) over real sockets; each client socket is bound to its own address on
// the loopback range (Linux routes all of 127.0.0.0/8 to lo), so the issuer sees distinct source addresses.
const ADMIN = { username: 'admin', password: 'admin-password' } as const;
const DEMO = { username: 'demo', password: 'demo-password' } as const;

jest.setTimeout(180_000);

let platform: PlatformProcess;
let dataDir: string;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'hybrid-auth-lockout-'));
  platform = await startPlatformProcess({ dataDir, readyTimeoutMs: 60_000 });
}, 90_000);

afterAll(async () => {
  await platform?.stop();
  if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true });
}, 40_000);

interface Reply {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Record<string, unknown>;
}

/** `POST /auth/login` from a socket bound to `address`, with an optional Cookie header. */
function loginFrom(
  address: string,
  credentials: { readonly username: string; readonly password: string },
  extra: { readonly cookie?: string; readonly deviceToken?: string; readonly clientId?: string } = {},
): Promise<Reply> {
  const url = new URL('/auth/login', platform.url);
  const payload = JSON.stringify({
    ...credentials,
    ...(extra.deviceToken === undefined ? {} : { device_token: extra.deviceToken }),
    ...(extra.clientId === undefined ? {} : { client_id: extra.clientId }),
  });
  return new Promise((resolve, reject) => {
    const outgoing = request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        localAddress: address,
        agent: false,
        headers: {
          'Content-Type': 'application/json',
          'Content-Length': Buffer.byteLength(payload),
          ...(extra.cookie === undefined ? {} : { Cookie: extra.cookie }),
        },
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
            // not JSON: assertions on the body fail where they matter
          }
          resolve({ status: response.statusCode ?? 0, headers: response.headers, body });
        });
      },
    );
    outgoing.on('error', reject);
    outgoing.end(payload);
  });
}

function countStatuses(replies: readonly Reply[]): Record<number, number> {
  const counts: Record<number, number> = {};
  for (const reply of replies) counts[reply.status] = (counts[reply.status] ?? 0) + 1;
  return counts;
}

function deviceCookieOf(reply: Reply): string | undefined {
  const cookies = reply.headers['set-cookie'] ?? [];
  return (Array.isArray(cookies) ? cookies : [cookies]).find((line) => line.startsWith('login_device='));
}

describe('targeted lock-out and burst guessing (issue 14, items 1, 2 and 4)', () => {
  test('a 100-request burst from one address gets exactly 10 password checks; the rest are 429 with Retry-After', async () => {
    const burst = await Promise.all(
      Array.from({ length: 100 }, (_, i) => loginFrom('127.0.0.2', { ...ADMIN, password: `guess-${i}` })),
    );

    const counts = countStatuses(burst);
    // Each 401 is one password check (scrypt); each 429 was refused before any.
    expect(counts).toEqual({ 401: 10, 429: 90 });
    for (const reply of burst.filter((r) => r.status === 429)) {
      expect(Number(reply.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      expect(reply.body.error).toBe('too_many_requests');
    }
    // The attacker's address has spent its budget: even the right password is refused there ...
    expect((await loginFrom('127.0.0.2', ADMIN)).status).toBe(429);
    // ... while the real admin, from another address, logs in.
    expect((await loginFrom('127.0.0.3', ADMIN)).status).toBe(200);
  });

  test('a burst with the right password among 40 guesses gets no more checks than the limit', async () => {
    const username = DEMO.username;
    const guesses = Array.from({ length: 40 }, (_, i) =>
      loginFrom('127.0.0.4', i === 39 ? DEMO : { username, password: `guess-${i}` }),
    );
    const replies = await Promise.all(guesses);
    const counts = countStatuses(replies);
    expect((counts[401] ?? 0) + (counts[200] ?? 0)).toBeLessThanOrEqual(10);
    expect(counts[429]).toBeGreaterThanOrEqual(30);
  });

  test('the real user keeps logging in during a sustained attack from another address', async () => {
    // The attacker hammers admin from 127.0.0.5 for a while; the user logs in from 127.0.0.6 in between.
    const attacker = (async () => {
      const statuses: number[] = [];
      for (let i = 0; i < 30; i++)
        statuses.push((await loginFrom('127.0.0.5', { ...ADMIN, password: `x${i}` })).status);
      return statuses;
    })();
    const user: number[] = [];
    for (let i = 0; i < 5; i++) {
      user.push((await loginFrom('127.0.0.6', ADMIN)).status);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const attackerStatuses = await attacker;

    expect(user).toEqual([200, 200, 200, 200, 200]);
    expect(attackerStatuses.filter((status) => status === 401)).toHaveLength(10);
    expect(attackerStatuses.filter((status) => status === 429)).toHaveLength(20);
  });

  test('a known device logs in while the account is under a distributed attack; an unknown one is slowed, not locked', async () => {
    const victim = { username: 'demo', password: 'demo-password' };
    // The device logs in once, before the attack, and keeps its cookie.
    const first = await loginFrom('127.0.0.7', victim, { clientId: 'web' });
    expect(first.status).toBe(200);
    const cookie = deviceCookieOf(first);
    expect(cookie).toMatch(
      /^login_device=d1\.[^;]+; Path=\/auth\/login; Max-Age=\d+; HttpOnly; Secure; SameSite=Strict$/,
    );

    // 10 addresses x 10 wrong passwords: with the failures of the earlier burst, above the soft threshold (100).
    for (let host = 20; host < 30; host++) {
      const replies = await Promise.all(
        Array.from({ length: 10 }, (_, i) => loginFrom(`127.0.1.${host}`, { ...victim, password: `w${i}` })),
      );
      // Each address gets its 10 checks until the account crosses the soft threshold; then unknown devices wait.
      const counts = countStatuses(replies);
      expect((counts[401] ?? 0) + (counts[429] ?? 0)).toBe(10);
    }

    // A new address without the cookie: slowed down (one check per back-off slot), never a hard lock.
    const unknown = await Promise.all(Array.from({ length: 3 }, () => loginFrom('127.0.0.8', victim)));
    expect(countStatuses(unknown)[429]).toBeGreaterThanOrEqual(2);
    const slowed = unknown.find((reply) => reply.status === 429);
    expect(Number(slowed?.headers['retry-after'])).toBeLessThanOrEqual(5);

    // The known device, from its usual address, logs in at once with the right password.
    const known = await loginFrom('127.0.0.7', victim, {
      clientId: 'web',
      cookie: (cookie ?? '').split(';')[0],
    });
    expect(known.status).toBe(200);
    // A native client without cookies gets its token in the body and presents it in `device_token`.
    const nativeFirst = await loginFrom('127.0.0.9', DEMO, {
      clientId: 'native',
      cookie: (cookie ?? '').split(';')[0],
    });
    expect(nativeFirst.status).toBe(200);
    expect(nativeFirst.body.device_token).toMatch(/^d1\./);
    const native = await loginFrom('127.0.0.11', DEMO, {
      clientId: 'native',
      deviceToken: String(nativeFirst.body.device_token),
    });
    expect(native.status).toBe(200);

    // After the back-off slot, an unknown device gets its check too.
    await new Promise((resolve) => setTimeout(resolve, 5_100));
    expect((await loginFrom('127.0.0.8', victim)).status).toBe(200);
  });

  test('every refused login is one log line with the source address, a keyed username hash and the reason', async () => {
    const ghost = `ghost${randomBytes(4).toString('hex')}`;
    await loginFrom('127.0.0.10', { username: ghost, password: 'secret-guess-123' });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const lines = platform
      .output()
      .split('\n')
      .filter((line) => line.includes('"message":"login refused"'));
    const mine = lines
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((l) => l.source === '127.0.0.10');
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({
      reason: 'invalid_credentials',
      source: '127.0.0.10',
      knownDevice: false,
    });
    expect(mine[0]?.userHash).toMatch(/^[0-9a-f]{16}$/);
    expect(platform.output()).not.toContain(ghost);
    expect(platform.output()).not.toContain('secret-guess-123');
    // The burst of the first test: 10 refused checks and 90 throttled lines from 127.0.0.2.
    const first = lines
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((l) => l.source === '127.0.0.2');
    expect(countBy(first, 'reason')).toEqual({ invalid_credentials: 10, source_throttled: 91 });
    expect(new Set(first.map((l) => l.userHash)).size).toBe(1);
  });
});

function countBy(items: readonly Record<string, unknown>[], field: string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const item of items) counts[String(item[field])] = (counts[String(item[field])] ?? 0) + 1;
  return counts;
}
