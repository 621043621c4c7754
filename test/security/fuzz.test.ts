import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { APIGatewayAuthorizerResult } from 'aws-lambda';
import fc from 'fast-check';
import { DynamoDbJwksStore } from '../../lambda/adapters/dynamodb-jwks-store';
import { DynamoDbSessionStore } from '../../lambda/adapters/dynamodb-session-store';
import { DynamoDbSubjectStore } from '../../lambda/adapters/dynamodb-subject-store';
import { UNAUTHORIZED } from '../../lambda/authorizer/handler';
import { normalizeUsername } from '../../lambda/core/credentials';
import { generateKeySet, type KeySet, toPublicJwks } from '../../lambda/core/keys';
import { SessionService } from '../../lambda/core/session-service';
import { HEALTH_PATH, ISSUER_ROUTES } from '../../lambda/issuer/routes';
import { freshTable } from '../support/dynamodb';
import {
  authorizerEvent,
  buildAuthorizer,
  buildIssuer,
  PROFILE,
  proxyEvent,
  scanTable,
  seedUsers,
  USERS,
} from './harness';

// Property-based fuzzing (fast-check, bounded runs) of the two handlers that face the internet.

let client: DynamoDBClient;
let tableName: string;
let keys: KeySet;
/** Every access token issued in this file: the only strings the authorizer may allow. */
const issued: string[] = [];
const refreshTokens: string[] = [];

beforeAll(async () => {
  ({ client, tableName } = await freshTable());
  keys = await generateKeySet({ now: Date.now() });
  await seedUsers(client, tableName);
  // A ready region: the JWKS is published, so the health route answers 200.
  await new DynamoDbJwksStore(client, tableName).publish(toPublicJwks(keys), Date.now());
  const service = new SessionService({
    store: new DynamoDbSessionStore({ client, tableName }),
    subjects: new DynamoDbSubjectStore({ client, tableName }),
    keys: async () => keys,
    profile: PROFILE,
  });
  for (const [sub, scope] of [
    ['fuzz-a', 'profile'],
    ['fuzz-b', 'profile admin'],
    ['fuzz-c', ''],
  ] as const) {
    const tokens = await service.login({ sub, clientId: 'native', scope });
    issued.push(tokens.accessToken);
    refreshTokens.push(tokens.refreshToken);
  }
});

afterAll(() => client.destroy());

/** The outcome of one authorizer call: allowed (an Allow statement for the route), or the error message. */
async function decide(
  handler: ReturnType<typeof buildAuthorizer>['handler'],
  authorization: string | undefined,
): Promise<'allow' | 'deny' | string> {
  let result: APIGatewayAuthorizerResult;
  try {
    result = await handler(authorizerEvent(authorization));
  } catch (error) {
    return (error as Error).message;
  }
  const allows = result.policyDocument.Statement.some(
    (statement) =>
      statement.Effect === 'Allow' &&
      'Resource' in statement &&
      [statement.Resource].flat().some((resource) => String(resource).endsWith('/GET/api/me')),
  );
  return allows ? 'allow' : 'deny';
}

const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const base64urlChar = fc.constantFrom(...B64URL.split(''));
const hostileChar = fc.constantFrom(...'.=+/ \t\n\u0000é{}"\\~'.split(''));
const anyChar = fc.oneof({ weight: 4, arbitrary: base64urlChar }, { weight: 1, arbitrary: hostileChar });

/** Whether `username` normalises to a seeded user whose password is `password`. */
function isRealLogin(username: string, password: string): boolean {
  let name: string;
  try {
    name = normalizeUsername(username);
  } catch {
    return false;
  }
  return Object.values(USERS).some((user) => user.username === name && user.password === password);
}

/** One edit of a token. */
type Mutation = (token: string) => string;
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.tuple(fc.nat(), anyChar).map(
    ([at, char]): Mutation =>
      (t) => {
        const i = at % t.length;
        return `${t.slice(0, i)}${char}${t.slice(i + 1)}`;
      },
  ),
  fc.tuple(fc.nat(), anyChar).map(
    ([at, char]): Mutation =>
      (t) => {
        const i = at % (t.length + 1);
        return `${t.slice(0, i)}${char}${t.slice(i)}`;
      },
  ),
  fc.nat().map(
    (at): Mutation =>
      (t) => {
        const i = at % t.length;
        return `${t.slice(0, i)}${t.slice(i + 1)}`;
      },
  ),
  fc.nat().map(
    (at): Mutation =>
      (t) =>
        t.slice(0, at % t.length),
  ),
  fc.tuple(fc.nat(2), fc.nat(2)).map(
    ([a, b]): Mutation =>
      (t) => {
        const parts = t.split('.');
        const first = parts[a] ?? '';
        parts[a] = parts[b] ?? '';
        parts[b] = first;
        return parts.join('.');
      },
  ),
  fc.tuple(fc.nat(2), fc.nat()).map(
    ([segment, from]): Mutation =>
      (t) => {
        const parts = t.split('.');
        parts[segment] = (issued[from % issued.length] ?? '').split('.')[segment] ?? '';
        return parts.join('.');
      },
  ),
  fc.nat().map(
    (at): Mutation =>
      (t) => {
        const i = at % t.length;
        const c = t.charAt(i);
        const flipped = c === c.toUpperCase() ? c.toLowerCase() : c.toUpperCase();
        return `${t.slice(0, i)}${flipped}${t.slice(i + 1)}`;
      },
  ),
  fc.constant<Mutation>((t) => `${t}.${t.split('.')[2] ?? ''}`),
  fc.constant<Mutation>((t) => t.replace(/-/g, '+').replace(/_/g, '/')),
);

describe('the authorizer handler never allows what was not issued', () => {
  test('arbitrary Authorization headers are Unauthorized', async () => {
    const { handler } = buildAuthorizer({ client, tableName, keys, cacheMs: 1000 });
    const segment = fc.string({ unit: base64urlChar, maxLength: 120 });
    const header = fc.oneof(
      fc.string(),
      fc.string({ unit: 'binary', maxLength: 300 }),
      fc
        .tuple(fc.constantFrom('Bearer ', 'bearer ', 'BEARER ', 'Bearer  ', 'Basic ', ''), fc.string())
        .map(([a, b]) => a + b),
      fc
        .tuple(fc.constantFrom('Bearer ', 'bearer '), segment, segment, segment)
        .map(([scheme, a, b, c]) => `${scheme}${a}.${b}.${c}`),
    );
    await fc.assert(
      fc.asyncProperty(header, async (authorization) => {
        expect(await decide(handler, authorization)).toBe(UNAUTHORIZED);
      }),
      { numRuns: 1000 },
    );
  });

  test('mutated issued tokens are allowed only when byte-for-byte an issued token', async () => {
    const { handler } = buildAuthorizer({ client, tableName, keys, cacheMs: 1000 });
    // The harness can fail: every issued token is allowed as it is.
    for (const token of issued) expect(await decide(handler, `Bearer ${token}`)).toBe('allow');
    let distinct = 0;
    await fc.assert(
      fc.asyncProperty(fc.nat(), fc.array(mutation, { minLength: 1, maxLength: 3 }), async (which, edits) => {
        const original = issued[which % issued.length] ?? '';
        const mutated = edits.reduce((token, edit) => edit(token), original);
        const outcome = await decide(handler, `Bearer ${mutated}`);
        // ECDSA's high-S twin is the one accepted equivalent the design documents (test/core/access-token);
        // a random edit never produces it, so anything but an issued string must be refused.
        if (issued.includes(mutated)) expect(outcome).toBe('allow');
        else {
          distinct++;
          expect(outcome).toBe(UNAUTHORIZED);
        }
      }),
      { numRuns: 1500 },
    );
    expect(distinct).toBeGreaterThan(1000);
  });
});

describe('the issuer handler answers arbitrary input with 4xx and changes nothing', () => {
  // What a fuzzed request may legitimately write: failed logins count per username in LOGIN# items
  // (docs/data-model.md), for unknown names too. Sessions, users and the JWKS must stay byte-for-byte.
  const MAY_CHANGE = /^LOGIN#/;
  /** Fuzzed credentials must not be real ones (a mutation can be the identity): those may legitimately act. */
  const notIssued = (value: string) =>
    ![...issued, ...refreshTokens].some(
      (token) => value === token || value.endsWith(` ${token}`) || value.endsWith(`=${token}`),
    );

  const paramName = fc.constantFrom(
    'username',
    'password',
    'client_id',
    'grant_type',
    'refresh_token',
    'token',
    'token_type_hint',
    'scope',
    '__proto__',
    'constructor',
    'sid',
  );
  const paramValue = fc.oneof(
    fc.string(),
    fc.constantFrom('alice', USERS.bob.username, 'refresh_token', 'native', 'web', 'cli', 'access_token', ''),
    fc.tuple(fc.nat(), mutation).map(([i, edit]) => edit(refreshTokens[i % refreshTokens.length] ?? 'x')),
    fc.tuple(fc.nat(), mutation).map(([i, edit]) => edit(issued[i % issued.length] ?? 'x')),
  );
  const params = fc.dictionary(paramName, paramValue.filter(notIssued), { maxKeys: 6 });
  // Weighted towards well-formed JSON and form bodies, so that most requests get past parsing.
  const body = fc.oneof(
    fc.constant(null),
    fc.string(),
    fc.string({ unit: 'binary', maxLength: 500 }),
    fc.json(),
    { weight: 4, arbitrary: params.map((value) => JSON.stringify(value)) },
    // Shaped like a login and like a refresh, so that the credential and grant checks are reached too.
    {
      weight: 4,
      arbitrary: fc
        .record({
          username: fc.oneof(fc.constantFrom('alice', 'ALICE', ' bob ', 'mallory'), fc.string()),
          password: fc.oneof(fc.constantFrom('alice-password', 'bob-password'), fc.string()),
          client_id: fc.option(fc.constantFrom('native', 'web', 'cli', 'evil'), { nil: undefined }),
        })
        // A real user's password would legitimately log in (usernames are normalised: 'ALICE' is alice).
        .filter(({ username, password }) => !isRealLogin(username, password))
        .map((value) => JSON.stringify(value)),
    },
    {
      weight: 4,
      arbitrary: fc
        .record({
          grant_type: fc.oneof(fc.constant('refresh_token'), fc.string()),
          refresh_token: paramValue.filter(notIssued),
          token: paramValue.filter(notIssued),
          client_id: fc.option(fc.constantFrom('native', 'web', 'cli', 'evil'), { nil: undefined }),
        })
        .map((value) => new URLSearchParams(JSON.parse(JSON.stringify(value))).toString()),
    },
    { weight: 4, arbitrary: params.map((value) => new URLSearchParams(value).toString()) },
    fc
      .tuple(params, fc.nat(3))
      .map(([value, times]) =>
        Array.from({ length: times + 1 }, () => new URLSearchParams(value).toString()).join('&'),
      ),
  );
  const contentType = fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom('application/json', 'application/x-www-form-urlencoded') },
    fc.constantFrom(
      'APPLICATION/JSON; charset=utf-8',
      'application/x-www-form-urlencoded;charset=ISO-8859-1',
      'text/plain',
      'multipart/form-data; boundary=x',
      '',
    ),
    fc.string(),
  );
  const cookieOrAuth = fc.option(
    fc
      .oneof(
        fc.string(),
        fc
          .tuple(fc.nat(), mutation)
          .map(([i, edit]) => `refresh_token=${edit(refreshTokens[i % refreshTokens.length] ?? '')}`),
        fc.tuple(fc.nat(), mutation).map(([i, edit]) => `Bearer ${edit(issued[i % issued.length] ?? '')}`),
      )
      .filter(notIssued),
    { nil: undefined },
  );
  const request = fc.record({
    body,
    contentType: fc.option(contentType, { nil: undefined, freq: 8 }),
    authorization: cookieOrAuth,
    cookie: cookieOrAuth,
    origin: fc.option(fc.constantFrom('https://app.example.test', 'https://evil.example', 'null'), {
      nil: undefined,
    }),
    extra: fc.dictionary(fc.string({ minLength: 1, maxLength: 20 }), fc.string(), { maxKeys: 3 }),
    base64: fc.boolean(),
    id: fc.option(fc.string(), { nil: undefined }),
  });

  test.each(ISSUER_ROUTES.map((route) => [`${route.method} ${route.path}`, route] as const))(
    '%s',
    async (_name, route) => {
      const { handler } = buildIssuer({ client, tableName, keys });
      const before = await scanTable(client, tableName);
      const statuses = new Set<number>();
      await fc.assert(
        fc.asyncProperty(request, async (input) => {
          const headers: Record<string, string> = { ...input.extra };
          if (input.contentType !== undefined) headers['Content-Type'] = input.contentType;
          if (input.authorization !== undefined) headers.Authorization = input.authorization;
          if (input.cookie !== undefined) headers.Cookie = input.cookie;
          if (input.origin !== undefined) headers.Origin = input.origin;
          const raw = input.body === null ? null : String(input.body);
          const response = await handler(
            proxyEvent(route.method, route.path, {
              headers,
              body: raw !== null && input.base64 ? Buffer.from(raw, 'utf8').toString('base64') : raw,
              base64: input.base64,
              path: route.path.includes('{id}') && input.id !== undefined ? { id: input.id } : null,
            }),
          );
          statuses.add(response.statusCode);
          if (
            route.method === 'GET' &&
            (route.path.startsWith('/.well-known/') || route.path === HEALTH_PATH)
          ) {
            // Public documents and the health route: the body and headers of a GET are ignored.
            expect(response.statusCode).toBe(200);
          } else if (route.path === '/auth/revoke' && response.statusCode === 200) {
            // RFC 7009 section 2.2: an invalid token is answered 200, and revokes nothing (checked below).
            expect(response.body).toBe('{}');
          } else if (route.path === '/auth/logout' && response.statusCode === 204) {
            // Logout is idempotent: a refresh token that does not verify revokes nothing (checked below) and
            // the answer is the same 204 (it clears the cookie), so it reveals nothing about the token.
            expect(response.body).toBe('');
          } else {
            expect(response.statusCode).toBeGreaterThanOrEqual(400);
            expect(response.statusCode).toBeLessThan(500);
            expect(JSON.parse(response.body)).toHaveProperty('error');
          }
        }),
        { numRuns: 200 },
      );
      const after = await scanTable(client, tableName);
      const stable = (items: typeof before) =>
        [...items].filter(([pk]) => !MAY_CHANGE.test(pk)).sort(([a], [b]) => a.localeCompare(b));
      expect(stable(after)).toEqual(stable(before));
      expect([...statuses].every((status) => status < 500)).toBe(true);
    },
  );
});

describe('session revocation by id with a valid bearer', () => {
  test('DELETE /auth/sessions/{id} with arbitrary ids: 404, and nothing changes', async () => {
    const { handler } = buildIssuer({ client, tableName, keys });
    const owner = issued[2] ?? '';
    const before = await scanTable(client, tableName);
    const id = fc.oneof(
      fc.string(),
      fc.string({ unit: 'binary', maxLength: 3000 }),
      fc.string({ minLength: 2000, maxLength: 4000 }),
      fc.string({ unit: base64urlChar, minLength: 22, maxLength: 22 }),
    );
    await fc.assert(
      fc.asyncProperty(id, async (value) => {
        const response = await handler(
          proxyEvent('DELETE', '/auth/sessions/{id}', {
            headers: { Authorization: `Bearer ${owner}` },
            path: { id: value },
          }),
        );
        expect(response.statusCode).toBe(404);
      }),
      { numRuns: 200 },
    );
    expect(await scanTable(client, tableName)).toEqual(before);
  });
});
