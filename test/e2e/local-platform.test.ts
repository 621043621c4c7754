import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { type AccessTokenClaims, AccessTokenMinter } from '../../lambda/core/access-token';
import { UNINITIALIZED_SECRET } from '../../lambda/core/key-set-format';
import { currentSigningKey, generateSigningKey, type SigningKey } from '../../lambda/core/keys';
import { HEALTH_PATH } from '../../lambda/issuer/routes';
import { SETTINGS } from '../../lambda/settings';
import { readKeySet } from '../../local/keys-file';
import { KEY_CACHE_SECONDS, startLocalPlatform } from '../../local/platform';
import { createUser } from '../../scripts/create-user';
import { disableUser, enableUser } from '../../scripts/disable-user';
import { accessTokenHeader, b64u, forge, segment } from '../support/jws-forge';
import { type PlatformProcess, startPlatformProcess } from '../support/platform-process';

// The real platform (`tsx local/main.ts`) as a child process, over real sockets: one process for the file.
const SESSION_CACHE_TTL_SECONDS = 1;
const REFRESH_GRACE_SECONDS = 2;
/** The declared revocation budget of this configuration: the authorizer's session cache TTL plus 1 s. */
const REVOCATION_BUDGET_MS = (SESSION_CACHE_TTL_SECONDS + 1) * 1000;
const DEMO = { username: 'demo', password: 'demo-password', sub: 'user-demo' } as const;
const ADMIN = { username: 'admin', password: 'admin-password', sub: 'user-admin' } as const;
const FORM = 'application/x-www-form-urlencoded';
/** A stack-trace line (`    at fn (file.ts:1:2)`), a source position or a Node internal in a body. */
const STACK_TRACE = /^\s*at |\bat \S+ \(|\.[cm]?[jt]s:\d+|node:internal/m;

jest.setTimeout(30_000);

let platform: PlatformProcess;
let dataDir: string;
let restarted: PlatformProcess | undefined;
/** Every access and refresh token this run received or forged: none may reach the platform's output. */
const seenTokens: string[] = [];

interface Reply {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  /** The body as a JSON object; `{}` when it is empty or not an object. */
  readonly body: Record<string, unknown>;
}

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'hybrid-auth-e2e-'));
  platform = await startPlatformProcess({
    dataDir,
    env: {
      SESSION_CACHE_TTL_SECONDS: String(SESSION_CACHE_TTL_SECONDS),
      REFRESH_GRACE_SECONDS: String(REFRESH_GRACE_SECONDS),
    },
    readyTimeoutMs: 60_000,
  });
}, 90_000);

afterAll(async () => {
  await platform?.stop();
  await restarted?.stop();
  if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true });
}, 40_000);

async function call(
  method: string,
  path: string,
  init: { readonly headers?: Record<string, string>; readonly body?: RequestInit['body'] } = {},
): Promise<Reply> {
  const response = await fetch(`${platform.url}${path}`, {
    method,
    headers: init.headers ?? {},
    ...(init.body === undefined ? {} : { body: init.body }),
    ...(init.body instanceof ReadableStream ? { duplex: 'half' } : {}),
    redirect: 'manual',
  });
  const text = await response.text();
  let body: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) {
      body = parsed as Record<string, unknown>;
    }
  } catch {
    // not JSON: `body` stays empty and the assertions on it fail where they matter
  }
  collectTokens(body, response.headers);
  return { status: response.status, headers: response.headers, text, body };
}

function collectTokens(body: Record<string, unknown>, headers: Headers): void {
  for (const name of ['access_token', 'refresh_token']) {
    const value = body[name];
    if (typeof value === 'string' && value !== '') seenTokens.push(value);
  }
  for (const setCookie of headers.getSetCookie()) {
    const value = parseCookie(setCookie).value;
    if (value !== '') seenTokens.push(value);
  }
}

function form(params: Record<string, string>): string {
  return new URLSearchParams(params).toString();
}

function login(
  user: { readonly username: string; readonly password: string },
  clientId = 'native',
  headers: Record<string, string> = {},
): Promise<Reply> {
  return call('POST', '/auth/login', {
    headers: { 'Content-Type': 'application/json', ...headers },
    body: JSON.stringify({ username: user.username, password: user.password, client_id: clientId }),
  });
}

/** A successful native login: its tokens and session id. */
async function nativeSession(
  user: { readonly username: string; readonly password: string } = DEMO,
  headers: Record<string, string> = {},
): Promise<{ accessToken: string; refreshToken: string; sid: string }> {
  const reply = await login(user, 'native', headers);
  expect(reply.status).toBe(200);
  const accessToken = stringField(reply.body, 'access_token');
  return {
    accessToken,
    refreshToken: stringField(reply.body, 'refresh_token'),
    sid: claimsOf(accessToken).sid,
  };
}

function refresh(refreshToken: string, clientId = 'native'): Promise<Reply> {
  return call('POST', '/auth/token', {
    headers: { 'Content-Type': FORM },
    body: form({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: clientId }),
  });
}

function me(accessToken: string, path = '/api/me'): Promise<Reply> {
  return call('GET', path, { headers: { Authorization: `Bearer ${accessToken}` } });
}

function stringField(body: Record<string, unknown>, name: string): string {
  const value = body[name];
  if (typeof value !== 'string') throw new Error(`expected a string ${name} in ${JSON.stringify(body)}`);
  return value;
}

function claimsOf(token: string): AccessTokenClaims {
  const payload = token.split('.')[1] ?? '';
  return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as AccessTokenClaims;
}

function parseCookie(setCookie: string): { name: string; value: string; attributes: string[] } {
  const [pair = '', ...attributes] = setCookie.split(';').map((part) => part.trim());
  const separator = pair.indexOf('=');
  return { name: pair.slice(0, separator), value: pair.slice(separator + 1), attributes };
}

/** The `refresh_token` cookie a response sets (exactly one). */
function refreshCookie(reply: Reply): { value: string; attributes: string[] } {
  const cookies = reply.headers
    .getSetCookie()
    .map(parseCookie)
    .filter((cookie) => cookie.name === 'refresh_token');
  expect(cookies).toHaveLength(1);
  const [cookie] = cookies;
  if (cookie === undefined) throw new Error('no refresh_token cookie');
  return cookie;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Polls `GET /api/me` every 100 ms until the token is refused with 401 and returns the milliseconds since
 * `since`; every answer before that must be a 200. Gives up (returning the elapsed time) after 5 s.
 */
async function msUntilRefused(accessToken: string, since: number): Promise<number> {
  for (;;) {
    const reply = await me(accessToken);
    const elapsed = Date.now() - since;
    if (reply.status === 401) return elapsed;
    expect(reply.status).toBe(200);
    if (elapsed > 5_000) return elapsed;
    await sleep(100);
  }
}

/** The 4xx OAuth-style JSON error every refusal must be: a JSON body with `error`, no stack trace. */
function expectJsonError(reply: Reply, status: number, error?: string): void {
  expect({ status: reply.status, error: reply.body.error }).toEqual({
    status,
    error: error ?? expect.any(String),
  });
  expect(reply.status).toBeGreaterThanOrEqual(400);
  expect(reply.status).toBeLessThan(500);
  expect(reply.headers.get('content-type')).toMatch(/^application\/json/);
  expect(reply.text).not.toMatch(STACK_TRACE);
}

function expectInvalidToken(reply: Reply): void {
  expectJsonError(reply, 401, 'invalid_token');
  expect(reply.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
}

async function signingKey(): Promise<SigningKey> {
  return currentSigningKey(await readKeySet(platform.keysPath));
}

/** Mints a token exactly as the platform does, with its current key from keys.json. */
async function mintWithPlatformKey(
  subject: {
    sub: string;
    sid: string;
    clientId: string;
    scope: string;
  },
  ageMs = 0,
): Promise<string> {
  const minter = new AccessTokenMinter(
    { issuer: platform.url, audience: `${platform.url}/api`, ttlSeconds: 300 },
    () => Date.now() - ageMs,
  );
  const { token } = await minter.mint(await signingKey(), subject);
  seenTokens.push(token);
  return token;
}

describe('login', () => {
  test('native login answers 200 with a Bearer token response, the refresh token in the body', async () => {
    const reply = await login(DEMO);

    expect(reply.status).toBe(200);
    expect(reply.body).toEqual({
      access_token: expect.stringMatching(/^[\w-]+\.[\w-]+\.[\w-]+$/),
      token_type: 'Bearer',
      expires_in: 300,
      scope: 'profile',
      refresh_token: expect.stringMatching(/^[\w-]{80,}$/),
      // The device token a native client sends back to stay exempt from the account-wide back-off.
      device_token: expect.stringMatching(/^d1\./),
    });
    expect(reply.headers.get('cache-control')).toBe('no-store');
    expect(reply.headers.getSetCookie()).toEqual([]);
    const claims = claimsOf(stringField(reply.body, 'access_token'));
    expect(claims).toMatchObject({
      iss: platform.url,
      aud: `${platform.url}/api`,
      sub: DEMO.sub,
      client_id: 'native',
      scope: 'profile',
    });
  });

  test('client_id defaults to native', async () => {
    const reply = await call('POST', '/auth/login', {
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ username: DEMO.username, password: DEMO.password }),
    });

    expect(reply.status).toBe(200);
    expect(reply.body.refresh_token).toEqual(expect.any(String));
    expect(claimsOf(stringField(reply.body, 'access_token')).client_id).toBe('native');
  });

  test('web login sets the refresh token only as an HttpOnly, Secure, SameSite=Strict cookie on /auth', async () => {
    const reply = await login(DEMO, 'web');

    expect(reply.status).toBe(200);
    expect(Object.keys(reply.body).sort()).toEqual(['access_token', 'expires_in', 'scope', 'token_type']);
    const cookie = refreshCookie(reply);
    expect(cookie.value).toMatch(/^[\w-]{80,}$/);
    expect(reply.text).not.toContain(cookie.value);
    expect(cookie.attributes).toEqual(
      expect.arrayContaining(['HttpOnly', 'Secure', 'SameSite=Strict', 'Path=/auth']),
    );
    expect(cookie.attributes.filter((attribute) => /^(path|samesite|domain)=/i.test(attribute))).toEqual([
      'Path=/auth',
      'SameSite=Strict',
    ]);
  });

  test('a wrong password and an unknown user get the identical 401 invalid_grant', async () => {
    const wrongPassword = await login({ username: DEMO.username, password: 'not-the-password' });
    const unknownUser = await login({ username: `nobody-${randomBytes(4).toString('hex')}`, password: 'x' });

    expectJsonError(wrongPassword, 401, 'invalid_grant');
    expect({ status: unknownUser.status, body: unknownUser.text }).toEqual({
      status: wrongPassword.status,
      body: wrongPassword.text,
    });
  });
});

describe('refresh', () => {
  test('refresh rotates the refresh token and issues a new access token for the same session', async () => {
    const first = await nativeSession();

    const second = await refresh(first.refreshToken);
    expect(second.status).toBe(200);
    expect(second.body).toMatchObject({ token_type: 'Bearer', expires_in: 300, scope: 'profile' });
    const rotated = stringField(second.body, 'refresh_token');
    const access = stringField(second.body, 'access_token');
    expect(rotated).not.toBe(first.refreshToken);
    expect(access).not.toBe(first.accessToken);
    expect(claimsOf(access).sid).toBe(first.sid);
    expect((await me(access)).status).toBe(200);

    const third = await refresh(rotated);
    expect(third.status).toBe(200);
    expect(third.body.refresh_token).not.toBe(rotated);
  });

  test('10 concurrent refreshes with one token all get the identical successor, and it works', async () => {
    const { refreshToken } = await nativeSession();

    const replies = await Promise.all(Array.from({ length: 10 }, () => refresh(refreshToken)));

    expect(replies.map((reply) => reply.status)).toEqual(Array(10).fill(200));
    const successors = new Set(replies.map((reply) => reply.body.refresh_token));
    expect(successors.size).toBe(1);
    const [successor] = [...successors];
    expect(successor).not.toBe(refreshToken);
    expect((await refresh(String(successor))).status).toBe(200);
  });

  test('reuse after the grace window: 400 invalid_grant, the newest token fails, the API refuses within budget', async () => {
    const { refreshToken: stale, sid } = await nativeSession();
    const rotated = await refresh(stale);
    expect(rotated.status).toBe(200);
    const newest = stringField(rotated.body, 'refresh_token');
    const access = stringField(rotated.body, 'access_token');
    await sleep(REFRESH_GRACE_SECONDS * 1000 + 500);
    expect((await me(access)).status).toBe(200); // the authorizer now caches the live session

    const reuse = await refresh(stale);
    const revokedAt = Date.now();

    expectJsonError(reuse, 400, 'invalid_grant');
    expectJsonError(await refresh(newest), 400, 'invalid_grant');
    expect(await msUntilRefused(access, revokedAt)).toBeLessThanOrEqual(REVOCATION_BUDGET_MS);
    const securityEvents = platform
      .output()
      .split('\n')
      .filter((line) => line.includes('refresh_token_reuse') && line.includes(sid));
    expect(securityEvents).toHaveLength(1);
  });
});

describe('access tokens at the API', () => {
  let valid: { accessToken: string; refreshToken: string; sid: string };
  let claims: AccessTokenClaims;
  let foreignKey: SigningKey;

  beforeAll(async () => {
    valid = await nativeSession();
    claims = claimsOf(valid.accessToken);
    foreignKey = await generateSigningKey('ES256', { state: 'current', now: Date.now() });
  });

  test('GET /api/me answers 200 with the authorizer context of a valid token', async () => {
    const reply = await me(valid.accessToken);

    expect(reply.status).toBe(200);
    expect(reply.body).toEqual({
      route: 'GET /api/me',
      authorizer: expect.objectContaining({
        sub: DEMO.sub,
        sid: valid.sid,
        scope: 'profile',
        clientId: 'native',
      }),
    });
  });

  test('GET /api/admin without scope admin is 403 insufficient_scope', async () => {
    expectJsonError(await me(valid.accessToken, '/api/admin'), 403, 'insufficient_scope');
  });

  const now = () => Math.floor(Date.now() / 1000);
  const variants: ReadonlyArray<[string, (key: SigningKey) => string | undefined]> = [
    ['no Authorization header', () => undefined],
    ['a token that is not a JWT', () => 'Bearer not-a-jwt'],
    ['the token without the Bearer scheme', () => valid.accessToken],
    [
      'a tampered payload (scope widened, signature kept)',
      () => {
        const [header, , signature] = valid.accessToken.split('.');
        return `Bearer ${header}.${segment({ ...claims, scope: 'profile admin' })}.${signature}`;
      },
    ],
    [
      'a flipped signature bit',
      () => {
        const [header, payload, signature = ''] = valid.accessToken.split('.');
        const bytes = Buffer.from(signature, 'base64url');
        bytes[0] = (bytes[0] ?? 0) ^ 1;
        return `Bearer ${header}.${payload}.${b64u(bytes)}`;
      },
    ],
    [
      'alg none',
      (key) => `Bearer ${segment({ alg: 'none', typ: 'at+jwt', kid: key.kid })}.${segment({ ...claims })}.`,
    ],
    [
      'signed by a key the platform does not know',
      () => `Bearer ${forge(foreignKey, accessTokenHeader(foreignKey), { ...claims })}`,
    ],
    [
      'signed by a foreign key that claims the real kid',
      (key) => `Bearer ${forge(foreignKey, accessTokenHeader(key), { ...claims })}`,
    ],
    [
      'real key, wrong issuer',
      (key) => `Bearer ${forge(key, accessTokenHeader(key), { ...claims, iss: 'https://evil.example' })}`,
    ],
    [
      'real key, wrong audience',
      (key) => `Bearer ${forge(key, accessTokenHeader(key), { ...claims, aud: platform.url })}`,
    ],
    [
      'real key, expired',
      (key) =>
        `Bearer ${forge(key, accessTokenHeader(key), { ...claims, iat: now() - 600, nbf: now() - 600, exp: now() - 300 })}`,
    ],
    [
      'real key, lifetime above the TTL',
      (key) =>
        `Bearer ${forge(key, accessTokenHeader(key), { ...claims, iat: now(), nbf: now(), exp: now() + 3600 })}`,
    ],
    [
      'real key, typ JWT',
      (key) => `Bearer ${forge(key, { ...accessTokenHeader(key), typ: 'JWT' }, { ...claims })}`,
    ],
    [
      'real key, another subject than the session',
      (key) => `Bearer ${forge(key, accessTokenHeader(key), { ...claims, sub: ADMIN.sub })}`,
    ],
  ];

  test.each(variants)('%s is refused with 401 and WWW-Authenticate', async (_name, build) => {
    const authorization = build(await signingKey());
    if (authorization !== undefined) seenTokens.push(authorization.replace(/^Bearer /, ''));

    const reply = await call('GET', '/api/me', {
      headers: authorization === undefined ? {} : { Authorization: authorization },
    });

    expectInvalidToken(reply);
  });

  test('a token minted with the real key for a session that does not exist is refused with 401', async () => {
    // Older than the replication-lag bound: no region can still be waiting for its session.
    const lagBoundMs = SETTINGS.expectedReplicationLagSeconds.default * 1000;
    const subject = {
      sub: DEMO.sub,
      sid: randomBytes(16).toString('base64url'),
      clientId: 'native',
      scope: 'profile',
    };
    const token = await mintWithPlatformKey(subject, lagBoundMs + 2000);

    expectInvalidToken(await me(token));
    expectInvalidToken(
      await call('GET', '/auth/sessions', { headers: { Authorization: `Bearer ${token}` } }),
    );

    // Younger than the bound, the authorizer takes the session to be still replicating (its decision line
    // says so); the issuer never acts on a session it cannot see.
    const fresh = await mintWithPlatformKey({ ...subject, sid: randomBytes(16).toString('base64url') });
    expect((await me(fresh)).status).toBe(200);
    expectInvalidToken(
      await call('GET', '/auth/sessions', { headers: { Authorization: `Bearer ${fresh}` } }),
    );
  });

  test('a token minted with the real key, scope admin, on the demo user’s live session passes the admin policy', async () => {
    const token = await mintWithPlatformKey({
      sub: DEMO.sub,
      sid: valid.sid,
      clientId: 'native',
      scope: 'profile admin',
    });

    const reply = await me(token, '/api/admin');

    expect(reply.status).toBe(200);
    expect(reply.body).toEqual({
      route: 'GET /api/admin',
      authorizer: expect.objectContaining({ sub: DEMO.sub, sid: valid.sid, scope: 'profile admin' }),
    });
  });
});

describe('logout', () => {
  test('logout with the Bearer token: 204, and the API refuses the old access token within the budget', async () => {
    const { accessToken, refreshToken } = await nativeSession();
    expect((await me(accessToken)).status).toBe(200); // the authorizer now caches the live session

    const reply = await call('POST', '/auth/logout', { headers: { Authorization: `Bearer ${accessToken}` } });
    const loggedOutAt = Date.now();

    expect(reply.status).toBe(204);
    const latencyMs = await msUntilRefused(accessToken, loggedOutAt);
    process.stdout.write(
      `\nlogout-to-refusal latency: ${latencyMs} ms (budget ${REVOCATION_BUDGET_MS} ms)\n`,
    );
    expect({ logoutToRefusalMs: latencyMs, withinBudget: latencyMs <= REVOCATION_BUDGET_MS }).toEqual({
      logoutToRefusalMs: latencyMs,
      withinBudget: true,
    });
    expectJsonError(await refresh(refreshToken), 400, 'invalid_grant');
  });

  test('logout with the refresh token (native): 204, and the session is revoked', async () => {
    const { accessToken, refreshToken } = await nativeSession();

    const reply = await call('POST', '/auth/logout', {
      headers: { 'Content-Type': FORM },
      body: form({ refresh_token: refreshToken, client_id: 'native' }),
    });

    expect(reply.status).toBe(204);
    expectJsonError(await refresh(refreshToken), 400, 'invalid_grant');
    expect(await msUntilRefused(accessToken, Date.now())).toBeLessThanOrEqual(REVOCATION_BUDGET_MS);
  });

  test('logout-all revokes all three sessions of the subject and no other subject’s', async () => {
    const sessions = await Promise.all([nativeSession(), nativeSession(), nativeSession()]);
    const admin = await nativeSession(ADMIN);
    const [first] = sessions;
    if (first === undefined) throw new Error('no session');

    const reply = await call('POST', '/auth/logout-all', {
      headers: { Authorization: `Bearer ${first.accessToken}` },
    });
    const loggedOutAt = Date.now();

    expect(reply.status).toBe(204);
    for (const session of sessions) {
      expectJsonError(await refresh(session.refreshToken), 400, 'invalid_grant');
      expect(await msUntilRefused(session.accessToken, loggedOutAt)).toBeLessThanOrEqual(
        REVOCATION_BUDGET_MS,
      );
    }
    expect((await me(admin.accessToken)).status).toBe(200);
    expect((await refresh(admin.refreshToken)).status).toBe(200);
    // The watermark ends sessions created up to its clock margin (1 s) after it; a session created later
    // lives (and the next tests log in as this user).
    await sleep(1100);
    const later = await nativeSession();
    expect((await me(later.accessToken)).status).toBe(200);
    expect((await refresh(later.refreshToken)).status).toBe(200);
  });
});

describe('sessions', () => {
  test('GET /auth/sessions lists the sessions with their fields, exactly one of them current', async () => {
    const mine = await nativeSession(DEMO, { 'User-Agent': 'e2e-agent-A' });
    const other = await nativeSession(DEMO, { 'User-Agent': 'e2e-agent-B' });

    const reply = await call('GET', '/auth/sessions', {
      headers: { Authorization: `Bearer ${mine.accessToken}` },
    });

    expect(reply.status).toBe(200);
    const sessions = reply.body.sessions as Array<Record<string, unknown>>;
    expect(Array.isArray(sessions)).toBe(true);
    for (const session of sessions) {
      expect(Object.keys(session).sort()).toEqual([
        'createdAt',
        'current',
        'id',
        'ip',
        'lastUsedAt',
        'userAgent',
      ]);
      expect(Number.isNaN(Date.parse(String(session.createdAt)))).toBe(false);
      expect(Number.isNaN(Date.parse(String(session.lastUsedAt)))).toBe(false);
      expect(typeof session.current).toBe('boolean');
    }
    expect(sessions.filter((session) => session.current === true).map((session) => session.id)).toEqual([
      mine.sid,
    ]);
    expect(sessions.find((session) => session.id === other.sid)).toEqual({
      id: other.sid,
      createdAt: expect.any(String),
      lastUsedAt: expect.any(String),
      current: false,
      userAgent: 'e2e-agent-B',
      ip: '127.0.0.1',
    });
  });

  test('DELETE /auth/sessions/{id}: 204 for one’s own session, 404 for another user’s or an unknown one', async () => {
    const mine = await nativeSession();
    const second = await nativeSession();
    const admin = await nativeSession(ADMIN);
    const bearer = { Authorization: `Bearer ${mine.accessToken}` };

    const own = await call('DELETE', `/auth/sessions/${second.sid}`, { headers: bearer });
    const foreign = await call('DELETE', `/auth/sessions/${admin.sid}`, { headers: bearer });
    const unknown = await call('DELETE', `/auth/sessions/${randomBytes(16).toString('base64url')}`, {
      headers: bearer,
    });

    expect(own.status).toBe(204);
    expectJsonError(await refresh(second.refreshToken), 400, 'invalid_grant');
    const listed = await call('GET', '/auth/sessions', { headers: bearer });
    expect((listed.body.sessions as Array<{ id: string }>).map((session) => session.id)).not.toContain(
      second.sid,
    );
    expectJsonError(foreign, 404);
    expect({ status: unknown.status, body: unknown.text }).toEqual({
      status: foreign.status,
      body: foreign.text,
    });
    expect((await refresh(admin.refreshToken)).status).toBe(200);
  });
});

describe('RFC 7009 revocation', () => {
  function revoke(params: Record<string, string>): Promise<Reply> {
    return call('POST', '/auth/revoke', { headers: { 'Content-Type': FORM }, body: form(params) });
  }

  test('revoking a refresh token: 200, then the refresh and the API are refused', async () => {
    const { accessToken, refreshToken } = await nativeSession();

    const reply = await revoke({
      token: refreshToken,
      token_type_hint: 'refresh_token',
      client_id: 'native',
    });
    const revokedAt = Date.now();

    expect(reply.status).toBe(200);
    expectJsonError(await refresh(refreshToken), 400, 'invalid_grant');
    expect(await msUntilRefused(accessToken, revokedAt)).toBeLessThanOrEqual(REVOCATION_BUDGET_MS);
  });

  test('revoking an access token: 200, then the refresh and the API are refused', async () => {
    const { accessToken, refreshToken } = await nativeSession();

    const reply = await revoke({ token: accessToken, token_type_hint: 'access_token', client_id: 'native' });
    const revokedAt = Date.now();

    expect(reply.status).toBe(200);
    expectJsonError(await refresh(refreshToken), 400, 'invalid_grant');
    expect(await msUntilRefused(accessToken, revokedAt)).toBeLessThanOrEqual(REVOCATION_BUDGET_MS);
  });

  test('revoking garbage, or a token under another client_id, answers 200 and revokes nothing', async () => {
    const { accessToken, refreshToken } = await nativeSession();

    const replies = [
      await revoke({ token: 'garbage', client_id: 'native' }),
      await revoke({ token: 'x'.repeat(4000), token_type_hint: 'refresh_token' }),
      await revoke({ token: refreshToken, token_type_hint: 'refresh_token', client_id: 'web' }),
      await revoke({ token: accessToken, token_type_hint: 'access_token', client_id: 'web' }),
    ];

    expect(replies.map((reply) => reply.status)).toEqual([200, 200, 200, 200]);
    expect((await me(accessToken)).status).toBe(200);
    expect((await refresh(refreshToken)).status).toBe(200);
  });
});

describe('discovery', () => {
  test('the OpenID configuration names the issuer and its endpoints', async () => {
    const reply = await call('GET', '/.well-known/openid-configuration');

    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({
      issuer: platform.url,
      jwks_uri: `${platform.url}/.well-known/jwks.json`,
      token_endpoint: `${platform.url}/auth/token`,
      revocation_endpoint: `${platform.url}/auth/revoke`,
    });
  });

  test('the JWKS holds the public keys of keys.json only (use sig, alg, no private member) and verifies a real token', async () => {
    const reply = await call('GET', '/.well-known/jwks.json');
    const file = JSON.parse(await readFile(platform.keysPath, 'utf8')) as { keys: Array<{ kid: string }> };

    expect(reply.status).toBe(200);
    expect(reply.text).not.toMatch(/"(d|p|q|dp|dq|qi|k|secret|mac_keys|state)"\s*:/);
    const keys = reply.body.keys as Array<Record<string, unknown>>;
    expect(keys.map((key) => key.kid).sort()).toEqual(file.keys.map((key) => key.kid).sort());
    for (const key of keys) {
      expect(key).toEqual({
        kty: 'EC',
        crv: 'P-256',
        x: expect.any(String),
        y: expect.any(String),
        kid: expect.any(String),
        use: 'sig',
        alg: 'ES256',
      });
    }
    const { accessToken } = await nativeSession();
    const jwks = createLocalJWKSet({ keys: keys as Array<{ kty: string }> });
    const verified = await jwtVerify(accessToken, jwks, {
      issuer: platform.url,
      audience: `${platform.url}/api`,
      typ: 'at+jwt',
      algorithms: ['ES256'],
    });
    expect(verified.payload.sub).toBe(DEMO.sub);
  });
});

describe(`GET ${HEALTH_PATH}`, () => {
  test('answers 200 {"status":"ok"}, not cacheable: the platform’s table and key file are usable', async () => {
    const reply = await call('GET', HEALTH_PATH);

    expect(reply.status).toBe(200);
    expect(reply.body).toEqual({ status: 'ok' });
    expect(reply.headers.get('cache-control')).toBe('no-store');
  });

  // In process (its log lines must not reach the child's output, which the shutdown test checks for errors),
  // over this run's DynamoDB Local: the health route reads this platform's own key file.
  test('answers 503 naming the keys while the key file is not a key set, and 200 again once it is', async () => {
    const ownDir = await mkdtemp(join(tmpdir(), 'hybrid-auth-health-'));
    const lines: string[] = [];
    const local = await startLocalPlatform({
      port: 0,
      dataDir: ownDir,
      dynamoDbEndpoint: process.env.DYNAMODB_LOCAL_ENDPOINT,
      write: (line) => lines.push(line),
    });
    const health = async () => {
      const response = await fetch(`${local.url}${HEALTH_PATH}`);
      return {
        status: response.status,
        retryAfter: response.headers.get('retry-after'),
        body: await response.json(),
      };
    };
    /** Polls until the health route answers `status`, for at most twice what the key cache may take. */
    const until = async (status: number) => {
      const deadline = Date.now() + 4 * KEY_CACHE_SECONDS * 1000;
      let reply = await health();
      while (reply.status !== status && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 200));
        reply = await health();
      }
      return reply;
    };
    try {
      expect((await health()).status).toBe(200);
      const keys = await readFile(local.keysPath, 'utf8');
      await writeFile(local.keysPath, UNINITIALIZED_SECRET);

      const notReady = await until(503);
      expect(notReady).toEqual({
        status: 503,
        retryAfter: expect.stringMatching(/^[1-9]\d*$/),
        body: {
          error: 'temporarily_unavailable',
          error_description: 'the signing keys are not ready; try again shortly',
        },
      });
      expect(lines.some((line) => line.includes('"message":"issuer not ready"'))).toBe(true);

      await writeFile(local.keysPath, keys);
      expect((await until(200)).body).toEqual({ status: 'ok' });
    } finally {
      await local.close();
      await rm(ownDir, { recursive: true, force: true });
    }
  });
});

describe('web client cookie refresh', () => {
  function cookieRefresh(value: string, headers: Record<string, string>): Promise<Reply> {
    return call('POST', '/auth/token', {
      headers: { 'Content-Type': FORM, Cookie: `refresh_token=${value}`, ...headers },
      body: form({ grant_type: 'refresh_token', client_id: 'web' }),
    });
  }

  test('a cookie refresh with the platform’s own Origin answers 200 and rotates the cookie', async () => {
    const first = refreshCookie(await login(DEMO, 'web'));

    const reply = await cookieRefresh(first.value, { Origin: platform.url });

    expect(reply.status).toBe(200);
    expect(reply.body.refresh_token).toBeUndefined();
    expect(reply.body.access_token).toEqual(expect.any(String));
    const rotated = refreshCookie(reply);
    expect(rotated.value).not.toBe(first.value);
    expect(rotated.attributes).toEqual(
      expect.arrayContaining(['HttpOnly', 'Secure', 'SameSite=Strict', 'Path=/auth']),
    );
  });

  test('a cookie refresh without Origin or with a foreign Origin is refused and leaves the session alone', async () => {
    const webLogin = await login(DEMO, 'web');
    const cookie = refreshCookie(webLogin);
    const accessToken = stringField(webLogin.body, 'access_token');

    const refused = [
      await cookieRefresh(cookie.value, {}),
      await cookieRefresh(cookie.value, { Origin: 'https://evil.example' }),
      await cookieRefresh(cookie.value, { Origin: 'null' }),
      await cookieRefresh(cookie.value, { Origin: `${platform.url}.evil.example` }),
    ];

    for (const reply of refused) {
      expectJsonError(reply, reply.status);
      expect(reply.headers.getSetCookie()).toEqual([]);
    }
    expect((await me(accessToken)).status).toBe(200);
    const allowed = await cookieRefresh(cookie.value, { Origin: platform.url });
    expect(allowed.status).toBe(200);
  });

  test('a web client that sends its refresh token in the body gets 400 invalid_request', async () => {
    const cookie = refreshCookie(await login(DEMO, 'web'));

    const reply = await call('POST', '/auth/token', {
      headers: { 'Content-Type': FORM, Origin: platform.url },
      body: form({ grant_type: 'refresh_token', client_id: 'web', refresh_token: cookie.value }),
    });

    expectJsonError(reply, 400, 'invalid_request');
  });
});

describe('hostile input', () => {
  type Body = () => RequestInit['body'];
  interface Request {
    readonly method: string;
    readonly path: string;
    readonly headers?: Record<string, string>;
    readonly body?: Body;
  }
  const big = 'x'.repeat(17 * 1024);
  const post = (path: string, contentType: string, body?: Body): Request => ({
    method: 'POST',
    path,
    headers: { 'Content-Type': contentType },
    ...(body === undefined ? {} : { body }),
  });
  const loginBody = (body: Body, contentType = 'application/json') => post('/auth/login', contentType, body);
  const tokenForm = (params: Record<string, string>) => post('/auth/token', FORM, () => form(params));
  const revokeForm = (params: Record<string, string>) => post('/auth/revoke', FORM, () => form(params));
  const bare = (method: string, path: string, headers: Record<string, string> = {}): Request => ({
    method,
    path,
    headers,
  });
  const streamed17KiB: Body = () =>
    new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < 17; i++) controller.enqueue(new Uint8Array(1024).fill(0x20));
        controller.close();
      },
    });
  const randomRefreshToken = () => Buffer.concat([Buffer.from([1]), randomBytes(60)]).toString('base64url');

  const cases: ReadonlyArray<[string, number, string, Request]> = [
    ['malformed JSON', 400, 'invalid_request', loginBody(() => '{"username":')],
    ['a JSON array', 400, 'invalid_request', loginBody(() => '["demo","demo-password"]')],
    ['a JSON string', 400, 'invalid_request', loginBody(() => '"demo"')],
    ['an empty JSON body', 400, 'invalid_request', post('/auth/login', 'application/json')],
    ['a missing password', 400, 'invalid_request', loginBody(() => '{"username":"demo"}')],
    ['an empty object', 400, 'invalid_request', loginBody(() => '{}')],
    ['a non-string password', 400, 'invalid_request', loginBody(() => '{"username":"demo","password":123}')],
    [
      'a duplicate member',
      400,
      'invalid_request',
      loginBody(() => '{"username":"demo","username":"admin","password":"x"}'),
    ],
    [
      'a __proto__ member',
      400,
      'invalid_request',
      loginBody(() => '{"__proto__":{"a":1},"username":"demo","password":"x"}'),
    ],
    ['invalid UTF-8', 400, 'invalid_request', loginBody(() => Buffer.from([0x7b, 0xff, 0xfe, 0x7d]))],
    [
      'an overlong username',
      400,
      'invalid_request',
      loginBody(() => JSON.stringify({ username: 'u'.repeat(2000), password: 'x' })),
    ],
    [
      'an unknown client_id',
      400,
      'invalid_client',
      loginBody(() => JSON.stringify({ ...DEMO, client_id: 'evil' })),
    ],
    ['JSON sent as text/plain', 415, 'invalid_request', loginBody(() => JSON.stringify(DEMO), 'text/plain')],
    ['a form at the JSON login', 415, 'invalid_request', loginBody(() => form(DEMO), FORM)],
    [
      'JSON at the form token endpoint',
      415,
      'invalid_request',
      post('/auth/token', 'application/json', () => '{}'),
    ],
    ['a 17 KiB JSON body', 413, 'invalid_request', loginBody(() => JSON.stringify({ ...DEMO, pad: big }))],
    ['a 17 KiB form body', 413, 'invalid_request', tokenForm({ grant_type: 'refresh_token', pad: big })],
    ['a 17 KiB body streamed without Content-Length', 413, 'invalid_request', loginBody(streamed17KiB)],
    ['an unknown route', 404, 'not_found', bare('GET', '/no/such/route')],
    ['an unknown route under /auth', 404, 'not_found', post('/auth/nope', 'application/json', () => '{}')],
    ['GET on the login route', 405, 'invalid_request', bare('GET', '/auth/login')],
    ['DELETE on the token route', 405, 'invalid_request', bare('DELETE', '/auth/token')],
    ['POST on /api/me', 405, 'invalid_request', bare('POST', '/api/me')],
    ['grant_type password', 400, 'unsupported_grant_type', tokenForm({ grant_type: 'password', ...DEMO })],
    ['no grant_type', 400, 'invalid_request', tokenForm({ refresh_token: 'x' })],
    ['no refresh_token', 400, 'invalid_request', tokenForm({ grant_type: 'refresh_token' })],
    [
      'a repeated form parameter',
      400,
      'invalid_request',
      post('/auth/token', FORM, () => 'grant_type=a&grant_type=b'),
    ],
    [
      'a garbage refresh token',
      400,
      'invalid_grant',
      tokenForm({ grant_type: 'refresh_token', refresh_token: 'garbage' }),
    ],
    [
      'a huge refresh token',
      400,
      'invalid_grant',
      tokenForm({ grant_type: 'refresh_token', refresh_token: 'A'.repeat(12_000) }),
    ],
    [
      'a well-formed refresh token of random bytes',
      400,
      'invalid_grant',
      tokenForm({ grant_type: 'refresh_token', refresh_token: randomRefreshToken() }),
    ],
    ['revoke without a token', 400, 'invalid_request', revokeForm({ client_id: 'native' })],
    ['logout with neither token', 400, 'invalid_request', bare('POST', '/auth/logout')],
    // RFC 6750 section 3.1: no credentials at all is no token error (a plain `WWW-Authenticate: Bearer`).
    ['sessions without a token', 401, 'invalid_request', bare('GET', '/auth/sessions')],
    ['DELETE a session without a token', 401, 'invalid_request', bare('DELETE', '/auth/sessions/abc')],
    [
      'logout-all with a garbage token',
      401,
      'invalid_token',
      bare('POST', '/auth/logout-all', { Authorization: 'Bearer a.b.c' }),
    ],
    [
      'a malformed percent-encoding in the path',
      400,
      'invalid_request',
      bare('DELETE', '/auth/sessions/%zz'),
    ],
  ];

  test.each(cases)('%s: %i %s as JSON, no stack trace', async (_name, status, error, request) => {
    const reply = await call(request.method, request.path, {
      ...(request.headers === undefined ? {} : { headers: request.headers }),
      ...(request.body === undefined ? {} : { body: request.body() }),
    });

    expectJsonError(reply, status, error);
    if (error === 'invalid_token')
      expect(reply.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
  });

  // Platform bug (RFC 9110 section 15.5.6: a 405 MUST carry Allow): local/platform.ts answers 405 without it.
  test('a 405 names the allowed methods in an Allow header', async () => {
    const reply = await call('GET', '/auth/login');

    expect(reply.status).toBe(405);
    expect(reply.headers.get('allow')).toBe('POST');
  });
});

describe('password change and account disable (a user of their own, made with the scripts in --local mode)', () => {
  const CAROL = { username: 'carol', password: 'carol-first-password' } as const;
  const NEW_PASSWORD = 'carol-second-password';
  /** The scripts run in-process against this platform, found through its data directory. */
  const scriptEnv = () => ({ ...process.env, LOCAL_DATA_DIR: dataDir, HYBRID_AUTH_PASSWORD: CAROL.password });
  /** Past the watermark's clock margin: a login now is authenticated after it. */
  const pastMargin = () => sleep(SETTINGS.revocationClockMarginSeconds.default * 1000 + 100);

  test('a password change ends every other session (API and refresh), keeps the caller’s, and replaces the password', async () => {
    await createUser(['--local', '--username', CAROL.username, '--scope', 'profile'], scriptEnv());
    const caller = await nativeSession(CAROL);
    const other = await nativeSession(CAROL);
    expect((await me(other.accessToken)).status).toBe(200);

    const reply = await call('POST', '/auth/password', {
      headers: { Authorization: `Bearer ${caller.accessToken}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ current_password: CAROL.password, new_password: NEW_PASSWORD }),
    });
    const changedAt = Date.now();
    expect(reply.status).toBe(204);

    expect(await msUntilRefused(other.accessToken, changedAt)).toBeLessThanOrEqual(REVOCATION_BUDGET_MS);
    expectJsonError(await refresh(other.refreshToken), 400, 'invalid_grant');
    expect((await me(caller.accessToken)).status).toBe(200);
    const rotated = await refresh(caller.refreshToken);
    expect(rotated.status).toBe(200);
    expect((await me(stringField(rotated.body, 'access_token'))).status).toBe(200);

    expectJsonError(await login(CAROL), 401, 'invalid_grant');
    await pastMargin();
    const fresh = await nativeSession({ ...CAROL, password: NEW_PASSWORD });
    expect((await me(fresh.accessToken)).status).toBe(200);
  });

  test('a disabled account is refused everywhere within the budget; enabling it revives no old session', async () => {
    const user = { ...CAROL, password: NEW_PASSWORD };
    const live = await nativeSession(user);
    expect((await me(live.accessToken)).status).toBe(200);

    await disableUser(['--local', '--username', CAROL.username], scriptEnv());
    const disabledAt = Date.now();
    expect(await msUntilRefused(live.accessToken, disabledAt)).toBeLessThanOrEqual(REVOCATION_BUDGET_MS);
    expectJsonError(await refresh(live.refreshToken), 400, 'invalid_grant');
    expect((await login(user)).status).toBeGreaterThanOrEqual(400);
    expect((await login(user)).status).toBeLessThan(500);

    await enableUser(['--local', '--username', CAROL.username], scriptEnv());
    await pastMargin();
    expect((await me(live.accessToken)).status).toBe(401);
    const again = await nativeSession(user);
    expect((await me(again.accessToken)).status).toBe(200);
  });
});

describe('login throttle per account and source (the seeded admin is throttled last from this address: no later test logs in as admin)', () => {
  let unknownLocked: Reply;

  // 10 password checks per account per source address per 15 minutes (lambda/core/login-throttle.ts); the
  // cross-address behaviour is in test/e2e/lockout.test.ts.
  async function failTenTimes(username: string): Promise<void> {
    for (let attempt = 1; attempt <= 10; attempt++) {
      expectJsonError(await login({ username, password: `wrong-${attempt}` }), 401, 'invalid_grant');
    }
  }

  test('an unknown username is throttled after 10 failures from one address: 429 with Retry-After', async () => {
    const username = `ghost-${randomBytes(4).toString('hex')}`;
    await failTenTimes(username);

    unknownLocked = await login({ username, password: 'anything' });

    expectJsonError(unknownLocked, 429);
    expect(Number(unknownLocked.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(Number.isInteger(Number(unknownLocked.headers.get('retry-after')))).toBe(true);
  });

  test('an existing username (admin) is throttled alike from that address: 429 with Retry-After even for the right password', async () => {
    await failTenTimes(ADMIN.username);

    const locked = await login(ADMIN);

    expectJsonError(locked, 429);
    expect(Number(locked.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect({ status: locked.status, body: locked.text }).toEqual({
      status: unknownLocked.status,
      body: unknownLocked.text,
    });
  });
});

describe('shutdown and restart', () => {
  test('SIGTERM stops the platform cleanly; its output holds no token, no key material, no server error', async () => {
    const keysFile = JSON.parse(await readFile(platform.keysPath, 'utf8')) as {
      keys: Array<{ d: string }>;
      mac_keys: Array<{ secret: string }>;
    };

    const exit = await platform.stop();
    const output = platform.output();

    expect(exit).toEqual({ code: 0, signal: null });
    expect(output).toContain('"message":"issuer request"');
    expect(output).toContain('"message":"authorizer decision"');
    expect(seenTokens.length).toBeGreaterThan(50);
    expect(seenTokens.filter((token) => output.includes(token))).toEqual([]);
    const secrets = [...keysFile.keys.map((key) => key.d), ...keysFile.mac_keys.map((key) => key.secret)];
    expect(secrets.filter((secret) => output.includes(secret))).toEqual([]);
    expect(output).not.toMatch(/"level":"error"/);
    expect(output).not.toMatch(STACK_TRACE);
  });

  test('a second start with the same LOCAL_DATA_DIR reuses the keys (same kids in the JWKS)', async () => {
    const keysBefore = await readFile(platform.keysPath, 'utf8');
    const kidsBefore = (JSON.parse(keysBefore) as { keys: Array<{ kid: string }> }).keys
      .map((key) => key.kid)
      .sort();

    restarted = await startPlatformProcess({ dataDir, readyTimeoutMs: 60_000 });
    const jwks = (await (await fetch(`${restarted.url}/.well-known/jwks.json`)).json()) as {
      keys: Array<{ kid: string }>;
    };
    await restarted.stop();

    expect(jwks.keys.map((key) => key.kid).sort()).toEqual(kidsBefore);
    expect(await readFile(platform.keysPath, 'utf8')).toBe(keysBefore);
  }, 90_000);
});
