import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { APIGatewayProxyResult } from 'aws-lambda';
import { DynamoDbJwksStore } from '../../lambda/adapters/dynamodb-jwks-store';
import { sdkSessionSubjectReader } from '../../lambda/adapters/dynamodb-sdk-batch-get';
import { DynamoDbSessionStore } from '../../lambda/adapters/dynamodb-session-store';
import { DynamoDbSubjectStore } from '../../lambda/adapters/dynamodb-subject-store';
import { DynamoDbUserStore } from '../../lambda/adapters/dynamodb-user-store';
import { createLogger } from '../../lambda/adapters/logger';
import { AccessTokenVerifier } from '../../lambda/core/access-token';
import { BearerAuthenticator } from '../../lambda/core/bearer-authenticator';
import { ClientRegistry } from '../../lambda/core/clients';
import { CredentialService } from '../../lambda/core/credentials';
import { JwksCache } from '../../lambda/core/jwks-cache';
import { generateKeySet, type KeySet, toPublicJwks } from '../../lambda/core/keys';
import { isCommonPassword, MIN_PASSWORD_CODE_POINTS } from '../../lambda/core/password-policy';
import { SessionCache } from '../../lambda/core/session-cache';
import { SessionService } from '../../lambda/core/session-service';
import type { SubjectStore } from '../../lambda/core/subject';
import { issuerReadiness } from '../../lambda/issuer/create-issuer';
import { createIssuerHandler } from '../../lambda/issuer/handler';
import { ISSUER_ROUTES } from '../../lambda/issuer/routes';
import { freshTable } from '../support/dynamodb';
import { proxyEvent as event, FORM_TYPE, JSON_TYPE } from '../support/events';
import { AUDIENCE, ISSUER } from '../support/fixtures';

let client: DynamoDBClient;
let tableName: string;
let keys: KeySet;

const SCRYPT = { N: 2 ** 10 };

beforeAll(async () => {
  ({ client, tableName } = await freshTable());
  keys = await generateKeySet({ now: Date.now() });
  await new DynamoDbJwksStore(client, tableName).publish(toPublicJwks(keys), Date.now());
});

afterAll(() => client.destroy());

/** The issuer over DynamoDB Local; `subjects` may wrap the real watermark store (fault injection). */
function issuer(wrap: (store: SubjectStore) => SubjectStore = (store) => store) {
  const lines: string[] = [];
  const store = new DynamoDbSessionStore({ client, tableName });
  const profile = { issuer: ISSUER, audience: AUDIENCE, ttlSeconds: 300 };
  const jwks = new JwksCache({ load: async () => toPublicJwks(keys) });
  const handler = createIssuerHandler({
    sessions: new SessionService({
      store,
      subjects: wrap(new DynamoDbSubjectStore({ client, tableName })),
      keys: async () => keys,
      profile,
      // No clock margin: a login right after the change is not behind the new watermark.
      policy: { revocationClockMarginSeconds: 0 },
    }),
    credentials: new CredentialService({
      users: new DynamoDbUserStore({ client, tableName }),
      scrypt: SCRYPT,
    }),
    authenticator: new BearerAuthenticator({
      verifier: new AccessTokenVerifier({ ...profile, keys: jwks.get }),
      jwks,
      sessions: new SessionCache({ reader: sdkSessionSubjectReader(client, tableName), ttlMs: 0 }),
    }),
    publicJwks: async () => toPublicJwks(keys),
    readiness: issuerReadiness(
      async () => keys,
      () => new DynamoDbJwksStore(client, tableName).probe(),
    ),
    clients: new ClientRegistry([{ clientId: 'native', refreshTokenDelivery: 'body' }]),
    issuer: ISSUER,
    refreshCookieMaxAgeSeconds: 3600,
    logger: createLogger('issuer', (line) => lines.push(line)),
  });
  return { handler, lines };
}

type Handler = ReturnType<typeof issuer>['handler'];

let users = 0;
/** A new user with a 12+ character password; each test has its own (the throttle counts per account). */
async function newUser(username = `user${++users}`, password = `${username}-first-password`) {
  const credentials = new CredentialService({
    users: new DynamoDbUserStore({ client, tableName }),
    scrypt: SCRYPT,
  });
  const created = await credentials.createUser({ username, password, scope: 'profile' });
  if (created === undefined) throw new Error('user exists');
  return { username, password, sub: created.userId };
}

async function login(handler: Handler, username: string, password: string) {
  const response = await handler(
    event('POST', '/auth/login', {
      headers: JSON_TYPE,
      body: JSON.stringify({ username, password, client_id: 'native' }),
    }),
  );
  return { status: response.statusCode, body: JSON.parse(response.body) as Record<string, string> };
}

async function loggedIn(handler: Handler, username: string, password: string) {
  const { status, body } = await login(handler, username, password);
  expect(status).toBe(200);
  return { access: body.access_token as string, refresh: body.refresh_token as string };
}

function refresh(handler: Handler, refreshToken: string) {
  return handler(
    event('POST', '/auth/token', {
      headers: FORM_TYPE,
      body: new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: refreshToken,
        client_id: 'native',
      }).toString(),
    }),
  );
}

function change(
  handler: Handler,
  access: string | undefined,
  body: unknown,
  headers: Record<string, string> = JSON_TYPE,
) {
  return handler(
    event('POST', '/auth/password', {
      headers: { ...headers, ...(access === undefined ? {} : { Authorization: `Bearer ${access}` }) },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    }),
  );
}

function errorOf(response: APIGatewayProxyResult): { error: string; error_description: string } {
  return JSON.parse(response.body);
}

describe('POST /auth/password', () => {
  test('is an issuer route (API Gateway method and local platform)', () => {
    expect(ISSUER_ROUTES).toContainEqual({ method: 'POST', path: '/auth/password' });
  });

  test('stores the new password, ends every other session and keeps the caller', async () => {
    const { handler, lines } = issuer();
    const alice = await newUser();
    const caller = await loggedIn(handler, alice.username, alice.password);
    const other = await loggedIn(handler, alice.username, alice.password);
    const next = 'a brand new passphrase';

    const response = await change(handler, caller.access, {
      current_password: alice.password,
      new_password: next,
    });
    expect(response.statusCode).toBe(204);
    expect(response.body).toBe('');

    // The other session is dead: its refresh token is refused.
    const otherRefresh = await refresh(handler, other.refresh);
    expect(otherRefresh.statusCode).toBe(400);
    expect(errorOf(otherRefresh).error).toBe('invalid_grant');
    // The caller's session lives on: it refreshes, and its access token still lists one session.
    expect((await refresh(handler, caller.refresh)).statusCode).toBe(200);
    const listed = await handler(
      event('GET', '/auth/sessions', { headers: { Authorization: `Bearer ${caller.access}` } }),
    );
    expect(listed.statusCode).toBe(200);
    expect((JSON.parse(listed.body) as { sessions: unknown[] }).sessions).toHaveLength(1);
    // The old password no longer logs in; the new one does, into a live session.
    expect((await login(handler, alice.username, alice.password)).status).toBe(401);
    const fresh = await loggedIn(handler, alice.username, next);
    expect((await refresh(handler, fresh.refresh)).statusCode).toBe(200);
    // Neither password reaches a log line.
    const log = lines.join('\n');
    expect(log).not.toContain(alice.password);
    expect(log).not.toContain(next);
  });

  test('refuses a wrong current password with 401 invalid_grant and changes nothing', async () => {
    const { handler } = issuer();
    const bob = await newUser();
    const caller = await loggedIn(handler, bob.username, bob.password);
    const other = await loggedIn(handler, bob.username, bob.password);
    const response = await change(handler, caller.access, {
      current_password: 'not the password at all',
      new_password: 'a brand new passphrase',
    });
    expect(response.statusCode).toBe(401);
    expect(errorOf(response)).toEqual({
      error: 'invalid_grant',
      error_description: 'the current password is wrong',
    });
    expect((await refresh(handler, other.refresh)).statusCode).toBe(200);
    expect((await login(handler, bob.username, bob.password)).status).toBe(200);
    expect((await login(handler, bob.username, 'a brand new passphrase')).status).toBe(401);
  });

  describe('the password policy (400 invalid_request naming the rule, never the password)', () => {
    const cases: readonly [string, string | ((username: string) => string)][] = [
      ['min_length', 'elevenchars'],
      // 11 code points after NFC (each e + U+0301 composes to one), 22 UTF-16 code units as sent.
      ['min_length', 'e\u0301'.repeat(MIN_PASSWORD_CODE_POINTS - 1)],
      // 11 code points, 22 UTF-16 code units (characters outside the Basic Multilingual Plane).
      ['min_length', '\u{1F600}'.repeat(MIN_PASSWORD_CODE_POINTS - 1)],
      ['max_length', 'x'.repeat(1025)],
      ['same_as_username', (username) => username.toUpperCase()],
      ['common_password', '123qweasdzxc'],
      ['common_password', 'QWERTY123456'],
    ];
    test.each(cases)('%s', async (rule, password) => {
      const { handler } = issuer();
      const user = await newUser(`policy-user-${++users}`);
      const caller = await loggedIn(handler, user.username, user.password);
      const other = await loggedIn(handler, user.username, user.password);
      const next = typeof password === 'string' ? password : password(user.username);
      const response = await change(handler, caller.access, {
        current_password: user.password,
        new_password: next,
      });
      expect(response.statusCode).toBe(400);
      const body = errorOf(response);
      expect(body.error).toBe('invalid_request');
      expect(body.error_description).toContain(`(password policy: ${rule})`);
      expect(response.body).not.toContain(next.slice(0, 12));
      // Nothing was written: the old password still works and the other session lives.
      expect((await refresh(handler, other.refresh)).statusCode).toBe(200);
      expect((await login(handler, user.username, user.password)).status).toBe(200);
    });

    test('12 code points after NFC are enough, however many UTF-16 code units they were sent as', async () => {
      const { handler } = issuer();
      const user = await newUser();
      const caller = await loggedIn(handler, user.username, user.password);
      const next = 'e\u0301'.repeat(MIN_PASSWORD_CODE_POINTS);
      const response = await change(handler, caller.access, {
        current_password: user.password,
        new_password: next,
      });
      expect(response.statusCode).toBe(204);
      // Login normalizes the same way: the precomposed form logs in.
      expect((await login(handler, user.username, '\u00e9'.repeat(MIN_PASSWORD_CODE_POINTS))).status).toBe(
        200,
      );
    });

    test('the list holds the 10,000 vendored entries, compared case-insensitively', () => {
      expect(isCommonPassword('password')).toBe(true);
      expect(isCommonPassword('PassWord')).toBe(true);
      expect(isCommonPassword('qqqqqq1')).toBe(true); // the 10,000th entry
      expect(isCommonPassword('a brand new passphrase')).toBe(false);
    });
  });

  test('throttles the current-password check exactly like login (429 with Retry-After)', async () => {
    const { handler } = issuer();
    const carol = await newUser();
    const caller = await loggedIn(handler, carol.username, carol.password);
    // Login's per-source limit (10 per 15 minutes) counts the password change's checks too.
    for (let i = 0; i < 10; i++) {
      const wrong = await change(handler, caller.access, {
        current_password: `wrong password ${i}`,
        new_password: 'a brand new passphrase',
      });
      expect(wrong.statusCode).toBe(401);
    }
    const throttled = await change(handler, caller.access, {
      current_password: carol.password,
      new_password: 'a brand new passphrase',
    });
    expect(throttled.statusCode).toBe(429);
    expect(Number(throttled.headers?.['Retry-After'])).toBeGreaterThan(0);
    expect(errorOf(throttled).error).toBe('too_many_requests');
    // And login from the same source shares the count.
    expect((await login(handler, carol.username, carol.password)).status).toBe(429);
  });

  test.each([
    ['no body', null, 400],
    ['a body that is not JSON', 'current_password=x', 400],
    ['a JSON array', '[]', 400],
    ['a missing new_password', { current_password: 'x' }, 400],
    ['a missing current_password', { new_password: 'a brand new passphrase' }, 400],
    ['a non-string field', { current_password: 'x', new_password: 123456789012 }, 400],
  ] as const)('refuses %s with 400 invalid_request', async (_what, body, status) => {
    const { handler } = issuer();
    const dave = await newUser();
    const caller = await loggedIn(handler, dave.username, dave.password);
    const response = await handler(
      event('POST', '/auth/password', {
        headers: { ...JSON_TYPE, Authorization: `Bearer ${caller.access}` },
        body: body === null ? null : typeof body === 'string' ? body : JSON.stringify(body),
      }),
    );
    expect(response.statusCode).toBe(status);
    expect(errorOf(response).error).toBe('invalid_request');
  });

  test('refuses another content type with 415', async () => {
    const { handler } = issuer();
    const erin = await newUser();
    const caller = await loggedIn(handler, erin.username, erin.password);
    const response = await change(handler, caller.access, 'current_password=a&new_password=b', FORM_TYPE);
    expect(response.statusCode).toBe(415);
  });

  test('refuses a missing or invalid bearer token with 401', async () => {
    const { handler } = issuer();
    const body = { current_password: 'x', new_password: 'a brand new passphrase' };
    const missing = await change(handler, undefined, body);
    expect(missing.statusCode).toBe(401);
    expect(missing.headers?.['WWW-Authenticate']).toBe('Bearer');
    const invalid = await change(handler, 'not.a.token', body);
    expect(invalid.statusCode).toBe(401);
    expect(errorOf(invalid).error).toBe('invalid_token');
  });

  test('refuses a session that "log out everywhere" ended (it must not be revived)', async () => {
    const { handler } = issuer();
    const frank = await newUser();
    const caller = await loggedIn(handler, frank.username, frank.password);
    const logoutAll = await handler(
      event('POST', '/auth/logout-all', { headers: { Authorization: `Bearer ${caller.access}` } }),
    );
    expect(logoutAll.statusCode).toBe(204);
    const response = await change(handler, caller.access, {
      current_password: frank.password,
      new_password: 'a brand new passphrase',
    });
    expect(response.statusCode).toBe(401);
    expect(errorOf(response).error).toBe('invalid_token');
    expect((await login(handler, frank.username, frank.password)).status).toBe(200);
  });

  test('a failed watermark write after the hash write is a 503; repeating with the new password completes it', async () => {
    let failing = true;
    const { handler } = issuer((store) => ({
      get: (sub, options) => store.get(sub, options),
      getByKey: (key, options) => store.getByKey(key, options),
      setDisabled: (...args) => store.setDisabled(...args),
      moveWatermark: async (...args) => {
        if (failing) {
          throw Object.assign(new Error('injected'), { name: 'InternalServerError', $metadata: {} });
        }
        return store.moveWatermark(...args);
      },
    }));
    const grace = await newUser();
    const caller = await loggedIn(handler, grace.username, grace.password);
    const other = await loggedIn(handler, grace.username, grace.password);
    const next = 'a brand new passphrase';

    const failed = await change(handler, caller.access, {
      current_password: grace.password,
      new_password: next,
    });
    expect(failed.statusCode).toBe(503);
    expect(errorOf(failed).error).toBe('temporarily_unavailable');
    expect(failed.headers?.['Retry-After']).toBe('1');
    // The state it leaves: the new password works, the other session is not ended yet.
    expect((await login(handler, grace.username, grace.password)).status).toBe(401);
    const stillAlive = await refresh(handler, other.refresh);
    expect(stillAlive.statusCode).toBe(200);
    const otherNow = (JSON.parse(stillAlive.body) as { refresh_token: string }).refresh_token;

    failing = false;
    const retried = await change(handler, caller.access, { current_password: next, new_password: next });
    expect(retried.statusCode).toBe(204);
    expect((await refresh(handler, otherNow)).statusCode).toBe(400);
    expect((await refresh(handler, caller.refresh)).statusCode).toBe(200);
  });
});
