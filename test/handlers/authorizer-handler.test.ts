import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { sdkSessionSubjectReader } from '../../lambda/adapters/dynamodb-sdk-batch-get';
import { DynamoDbSessionStore } from '../../lambda/adapters/dynamodb-session-store';
import { DynamoDbSubjectStore } from '../../lambda/adapters/dynamodb-subject-store';
import { createLogger } from '../../lambda/adapters/logger';
import { createAuthorizerHandler, UNAUTHORIZED } from '../../lambda/authorizer/handler';
import type { AccessTokenClaims } from '../../lambda/core/access-token';
import { AccessTokenVerifier } from '../../lambda/core/access-token';
import { Authorizer } from '../../lambda/core/authorizer';
import { BearerAuthenticator } from '../../lambda/core/bearer-authenticator';
import { JwksCache } from '../../lambda/core/jwks-cache';
import { generateKeySet, type KeySet, toPublicJwks } from '../../lambda/core/keys';
import { SessionCache, type SessionSubjectReader } from '../../lambda/core/session-cache';
import { SessionService, type TokenSet } from '../../lambda/core/session-service';
import {
  authenticated,
  evaluatePolicy,
  type ProtectedRoute,
  requireScope,
  sourceIpAllowList,
} from '../../lambda/policies';
import { PROTECTED_ROUTES } from '../../lambda/protected-routes';
import { localClient } from '../../local/dynamodb-local';
import { isAllowed } from '../../local/platform';
import { freshTable } from '../support/dynamodb';
import { TEST_API as API, authorizerEvent as event } from '../support/events';
import { AUDIENCE, ISSUER } from '../support/fixtures';

let client: DynamoDBClient;
let store: DynamoDbSessionStore;
let reader: SessionSubjectReader;
let keys: KeySet;
let service: SessionService;
const profile = { issuer: ISSUER, audience: AUDIENCE, ttlSeconds: 300 };

beforeAll(async () => {
  const table = await freshTable();
  client = table.client;
  store = new DynamoDbSessionStore({ client, tableName: table.tableName });
  reader = sdkSessionSubjectReader(client, table.tableName);
  keys = await generateKeySet({ now: Date.now() });
  service = new SessionService({
    store,
    subjects: new DynamoDbSubjectStore({ client, tableName: table.tableName }),
    keys: async () => keys,
    profile,
  });
});

afterAll(() => client.destroy());

function handlerWith(sessionReader = reader, routes: readonly ProtectedRoute[] = PROTECTED_ROUTES) {
  const lines: string[] = [];
  const jwks = new JwksCache({ load: async () => toPublicJwks(keys) });
  const verifier = new AccessTokenVerifier({ ...profile, keys: jwks.get });
  const authenticator = new BearerAuthenticator({
    verifier,
    jwks,
    sessions: new SessionCache({ reader: sessionReader, ttlMs: 1000 }),
  });
  const handler = createAuthorizerHandler({
    authorizer: new Authorizer(authenticator, routes),
    logger: createLogger('authorizer', (line) => lines.push(line)),
  });
  return { handler, lines };
}

describe('authorizer handler', () => {
  /**
   * The statements the authorizer must return for a token: every route of the table, in table order, allowed
   * when its policy allows this session (and the request facts of the event) and denied otherwise. Derived
   * from the route table, so a fork's routes are checked the same way.
   */
  async function expectedStatements(tokens: TokenSet, routes: readonly ProtectedRoute[] = PROTECTED_ROUTES) {
    const claims = JSON.parse(
      Buffer.from(tokens.accessToken.split('.')[1] ?? '', 'base64url').toString('utf8'),
    ) as AccessTokenClaims;
    const session = await store.get(tokens.sid);
    if (session === undefined) throw new Error('the session was not stored');
    const request = { sourceIp: event(undefined).requestContext.identity.sourceIp };
    const effects = await Promise.all(
      routes.map(async ({ method, path, policy }) => ({
        resource: `${API}/${method}${path.replace(/\{[^}]+\}/g, '*')}`,
        allow: (await evaluatePolicy(policy, { claims, session, route: { method, path }, request })).allow,
      })),
    );
    const allowed = effects.filter((effect) => effect.allow).map((effect) => effect.resource);
    const denied = effects.filter((effect) => !effect.allow).map((effect) => effect.resource);
    return [
      ...(allowed.length > 0 ? [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: allowed }] : []),
      ...(denied.length > 0 ? [{ Action: 'execute-api:Invoke', Effect: 'Deny', Resource: denied }] : []),
    ];
  }

  test('allows every route the policies allow and denies the rest, in one cacheable policy', async () => {
    const { handler } = handlerWith();
    const tokens = await service.login({ sub: 'handler-user', clientId: 'native', scope: 'profile' });
    const result = await handler(event(`Bearer ${tokens.accessToken}`));
    expect(result.principalId).toBe('handler-user');
    const statements = await expectedStatements(tokens);
    expect(result.policyDocument.Statement).toEqual(statements);
    // The sample table's two policies really differ for this token: one route allowed, one denied.
    expect(statements.map((statement) => statement.Effect)).toEqual(['Allow', 'Deny']);
    expect(result.context).toEqual({
      sub: 'handler-user',
      sid: tokens.sid,
      scope: 'profile',
      clientId: 'native',
      policy: 'authenticated()',
      reason: 'authenticated',
    });
  });

  test('allows the admin route for the admin scope', async () => {
    const { handler } = handlerWith();
    const tokens = await service.login({ sub: 'handler-admin', clientId: 'native', scope: 'profile admin' });
    const result = await handler(event(`Bearer ${tokens.accessToken}`, '/api/admin'));
    const statements = await expectedStatements(tokens);
    expect(result.policyDocument.Statement).toEqual(statements);
    expect(statements[0]).toMatchObject({
      Effect: 'Allow',
      Resource: expect.arrayContaining([`${API}/GET/api/admin`]),
    });
  });

  describe('on a table with path parameters and a source-address policy', () => {
    // Method ARN patterns that do not overlap (validateRouteTable refuses those that do).
    const ROUTES: readonly ProtectedRoute[] = [
      { method: 'GET', path: '/api/me', policy: authenticated() },
      { method: 'GET', path: '/api/items', policy: authenticated() },
      { method: 'GET', path: '/api/items/{id}', policy: requireScope('items:read') },
      { method: 'DELETE', path: '/api/items/{id}', policy: requireScope('items:write') },
      { method: 'GET', path: '/api/my-items/{id}/history', policy: authenticated() },
      { method: 'GET', path: '/api/office/{path+}', policy: sourceIpAllowList(['198.51.100.0/24']) },
    ];

    test.each(['profile', 'profile items:read', 'profile items:read items:write'])(
      'returns the statements the table derives for scope %p',
      async (scope) => {
        const { handler } = handlerWith(reader, ROUTES);
        const tokens = await service.login({ sub: 'table-user', clientId: 'native', scope });
        const result = await handler(event(`Bearer ${tokens.accessToken}`));
        expect(result.policyDocument.Statement).toEqual(await expectedStatements(tokens, ROUTES));
      },
    );

    test('the one cached policy decides a request to every route as its policy does', async () => {
      const { handler } = handlerWith(reader, ROUTES);
      const tokens = await service.login({ sub: 'table-user', clientId: 'native', scope: 'items:read' });
      // WHEN the authorizer answers one request (API Gateway then caches the answer for every route)
      const result = await handler(event(`Bearer ${tokens.accessToken}`));
      // THEN, evaluated as API Gateway does, it allows exactly the requests whose route's policy allows
      const claims = JSON.parse(
        Buffer.from(tokens.accessToken.split('.')[1] ?? '', 'base64url').toString('utf8'),
      ) as AccessTokenClaims;
      const session = await store.get(tokens.sid);
      if (session === undefined) throw new Error('the session was not stored');
      const request = { sourceIp: event(undefined).requestContext.identity.sourceIp };
      for (const { method, path, policy } of ROUTES) {
        const expected = (await evaluatePolicy(policy, { claims, session, route: { method, path }, request }))
          .allow;
        // A concrete request: each parameter one segment, a greedy parameter two.
        const concrete = path.replace(/\{[^}]+\+\}/, 'x7/y8').replace(/\{[^}]+\}/g, 'x7');
        expect([method, concrete, isAllowed(result, `${API}/${method}${concrete}`)]).toEqual([
          method,
          concrete,
          expected,
        ]);
      }
    });

    test('hands the source IP to the policy that declares it', async () => {
      const { handler } = handlerWith(reader, ROUTES);
      const tokens = await service.login({ sub: 'table-user', clientId: 'native', scope: 'profile' });
      const office = `${API}/GET/api/office/*`;
      const inside = await handler(event(`Bearer ${tokens.accessToken}`));
      const elsewhere = event(`Bearer ${tokens.accessToken}`);
      elsewhere.requestContext.identity.sourceIp = '192.0.2.1';
      const outside = await handler(elsewhere);
      expect(inside.policyDocument.Statement[0]).toMatchObject({
        Effect: 'Allow',
        Resource: expect.arrayContaining([office]),
      });
      expect(outside.policyDocument.Statement[1]).toMatchObject({
        Effect: 'Deny',
        Resource: expect.arrayContaining([office]),
      });
    });
  });

  test('answers Unauthorized for a missing or bad token and logs why, never the token', async () => {
    const { handler, lines } = handlerWith();
    const tokens = await service.login({ sub: 'handler-user', clientId: 'native', scope: 'profile' });
    const tampered = `${tokens.accessToken.slice(0, -2)}AA`;
    await expect(handler(event(undefined))).rejects.toThrow(new RegExp(`^${UNAUTHORIZED}$`));
    await expect(handler(event(`Bearer ${tampered}`))).rejects.toThrow(new RegExp(`^${UNAUTHORIZED}$`));
    const decisions = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(decisions.map((line) => [line.decision, line.reason])).toEqual([
      ['unauthorized', 'missing_token'],
      ['unauthorized', 'bad_signature'],
    ]);
    expect(lines.join('\n')).not.toContain(tampered.split('.')[2]);
  });

  test('logs one decision line with who, which policy, why, latency and cache hit', async () => {
    const { handler, lines } = handlerWith();
    const tokens = await service.login({ sub: 'handler-user', clientId: 'native', scope: 'profile' });
    await handler(event(`Bearer ${tokens.accessToken}`, '/api/admin'));
    await handler(event(`Bearer ${tokens.accessToken}`, '/api/admin'));
    const [first, second] = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(first).toMatchObject({
      message: 'authorizer decision',
      route: 'GET /api/admin',
      decision: 'deny',
      reason: 'scope_missing:admin',
      policy: 'requireScope(admin)',
      sub: 'handler-user',
      sid: tokens.sid,
      kid: tokens.kid,
      jti: tokens.jti,
      cacheHit: false,
    });
    expect(typeof first?.latencyMs).toBe('number');
    expect(second?.cacheHit).toBe(true);
    expect(lines.join('\n')).not.toContain(tokens.accessToken.split('.')[2]);
  });

  test('fails closed with a non-Unauthorized error when DynamoDB is unreachable', async () => {
    const unreachable = localClient('http://127.0.0.1:9');
    const { handler, lines } = handlerWith(sdkSessionSubjectReader(unreachable, 'x'));
    const tokens = await service.login({ sub: 'handler-user', clientId: 'native', scope: 'profile' });
    const outcome = handler(event(`Bearer ${tokens.accessToken}`));
    await expect(outcome).rejects.toThrow('AuthorizerDependencyFailure');
    expect(JSON.parse(lines[0] ?? '{}')).toMatchObject({
      decision: 'error',
      reason: 'dependency_unavailable',
    });
    unreachable.destroy();
  });

  test('refuses an event whose methodArn is malformed', async () => {
    const { handler } = handlerWith();
    const tokens = await service.login({ sub: 'handler-user', clientId: 'native', scope: 'profile' });
    await expect(
      handler({ ...event(`Bearer ${tokens.accessToken}`), methodArn: 'arn:aws:s3:::bucket' }),
    ).rejects.toThrow(UNAUTHORIZED);
  });
});
