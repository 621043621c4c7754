import { createServer, request as httpRequest, type Server } from 'node:http';
import { type DynamoDBClient, ProvisionedThroughputExceededException } from '@aws-sdk/client-dynamodb';
import type { APIGatewayProxyResult } from 'aws-lambda';
import { DYNAMODB_TIMEOUTS } from '../../lambda/adapters/dynamodb-client';
import { DynamoDbJwksStore } from '../../lambda/adapters/dynamodb-jwks-store';
import { type DynamoDbLiteClient, liteClientFromEnv } from '../../lambda/adapters/dynamodb-lite-client';
import { sdkSessionSubjectReader } from '../../lambda/adapters/dynamodb-sdk-batch-get';
import { createLogger } from '../../lambda/adapters/logger';
import { createAuthorizerHandler, UNAUTHORIZED } from '../../lambda/authorizer/handler';
import { AccessTokenVerifier } from '../../lambda/core/access-token';
import { Authorizer } from '../../lambda/core/authorizer';
import { BearerAuthenticator } from '../../lambda/core/bearer-authenticator';
import { JwksCache } from '../../lambda/core/jwks-cache';
import { generateKeySet, type KeySet, toPublicJwks } from '../../lambda/core/keys';
import { parseRefreshToken } from '../../lambda/core/refresh-token';
import { SessionCache } from '../../lambda/core/session-cache';
import { PROTECTED_ROUTES } from '../../lambda/protected-routes';
import {
  createTable,
  type DynamoDbLocal,
  freePort,
  localClient,
  localLiteClient,
  startDynamoDbLocal,
} from '../../local/dynamodb-local';
import { listenOnLoopback } from '../../local/loopback';
import { freshTable } from '../support/dynamodb';
import {
  authorizerEvent,
  buildAuthorizer,
  buildIssuer,
  FORM_TYPE,
  type IssuerHandler,
  login,
  PROFILE,
  proxyEvent,
  refresh,
  scanTable,
  seedUsers,
  USERS,
} from './harness';

// Fail closed: when DynamoDB is unreachable, stopped or throttling, the authorizer never allows (it throws
// the non-Unauthorized failure that API Gateway answers 503: AuthApi's AUTHORIZER_FAILURE response,
// test/infra/auth-api.test.ts) and the issuer answers 503 with Retry-After, writing nothing half-way.

jest.setTimeout(60_000);

let keys: KeySet;

beforeAll(async () => {
  keys = await generateKeySet({ now: Date.now() });
});

const DEPENDENCY_FAILURE = 'AuthorizerDependencyFailure';

function expect503(response: APIGatewayProxyResult): void {
  expect(response.statusCode).toBe(503);
  expect(response.headers?.['Retry-After']).toBe('1');
  expect(JSON.parse(response.body)).toEqual({
    error: 'temporarily_unavailable',
    error_description: 'try again shortly',
  });
}

/** Login, refresh, logout (bearer and refresh token), logout-all, listing: all 503 with Retry-After. */
async function expectIssuerUnavailable(
  handler: IssuerHandler,
  tokens: { accessToken: string; refreshToken: string },
): Promise<void> {
  const bearer = { Authorization: `Bearer ${tokens.accessToken}` };
  const responses = await Promise.all([
    handler(
      proxyEvent('POST', '/auth/login', {
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ username: USERS.alice.username, password: USERS.alice.password }),
      }),
    ),
    refresh(handler, tokens.refreshToken),
    handler(proxyEvent('POST', '/auth/logout', { headers: bearer })),
    handler(
      proxyEvent('POST', '/auth/logout', {
        headers: FORM_TYPE,
        body: `refresh_token=${tokens.refreshToken}&client_id=native`,
      }),
    ),
    handler(proxyEvent('POST', '/auth/logout-all', { headers: bearer })),
    handler(proxyEvent('GET', '/auth/sessions', { headers: bearer })),
    handler(
      proxyEvent('POST', '/auth/revoke', {
        headers: FORM_TYPE,
        body: `token=${tokens.refreshToken}&client_id=native`,
      }),
    ),
  ]);
  for (const response of responses) expect503(response);
}

describe('DynamoDB unreachable (a client pointed at a closed port)', () => {
  let good: { client: DynamoDBClient; tableName: string };
  let unreachable: DynamoDBClient;
  let unreachableLite: DynamoDbLiteClient;

  beforeAll(async () => {
    good = await freshTable();
    await seedUsers(good.client, good.tableName);
    const closed = `http://127.0.0.1:${await freePort()}`;
    unreachable = localClient(closed);
    unreachableLite = localLiteClient(closed);
  });

  afterAll(() => {
    good.client.destroy();
    unreachable.destroy();
    unreachableLite.destroy();
  });

  test('the authorizer throws the dependency failure for a valid token, never Unauthorized or an allow', async () => {
    const tokens = await login(buildIssuer({ ...good, keys }).handler);
    const { handler, lines } = buildAuthorizer({ client: unreachable, tableName: good.tableName, keys });
    await expect(handler(authorizerEvent(`Bearer ${tokens.accessToken}`))).rejects.toThrow(
      new RegExp(`^${DEPENDENCY_FAILURE}$`),
    );
    expect(JSON.parse(lines[0] ?? '{}')).toMatchObject({
      decision: 'error',
      reason: 'dependency_unavailable',
    });
  });

  test('the authorizer fails closed when the published JWKS cannot be read', async () => {
    await new DynamoDbJwksStore(good.client, good.tableName).publish(toPublicJwks(keys), Date.now());
    const tokens = await login(buildIssuer({ ...good, keys }).handler);
    const handlerOver = (client: DynamoDBClient) => {
      const jwks = new JwksCache({ load: () => new DynamoDbJwksStore(client, good.tableName).load() });
      return createAuthorizerHandler({
        authorizer: new Authorizer(
          new BearerAuthenticator({
            verifier: new AccessTokenVerifier({ ...PROFILE, keys: jwks.get }),
            jwks,
            sessions: new SessionCache({
              reader: sdkSessionSubjectReader(good.client, good.tableName),
              ttlMs: 0,
            }),
          }),
          PROTECTED_ROUTES,
        ),
        logger: createLogger('authorizer', () => undefined),
      });
    };
    // Control: the same handler over the reachable table allows.
    expect(
      (await handlerOver(good.client)(authorizerEvent(`Bearer ${tokens.accessToken}`))).principalId,
    ).toBe(USERS.alice.userId);
    await expect(handlerOver(unreachable)(authorizerEvent(`Bearer ${tokens.accessToken}`))).rejects.toThrow(
      DEPENDENCY_FAILURE,
    );
  });

  test('the issuer answers 503 with Retry-After on every stateful route and writes nothing', async () => {
    const tokens = await login(buildIssuer({ ...good, keys }).handler);
    const before = await scanTable(good.client, good.tableName);
    const { handler, lines } = buildIssuer({
      client: unreachable,
      liteClient: unreachableLite,
      tableName: good.tableName,
      keys,
    });
    await expectIssuerUnavailable(handler, tokens);
    expect(await scanTable(good.client, good.tableName)).toEqual(before);
    expect(lines.filter((line) => line.includes('"issuer dependency failed"'))).toHaveLength(7);
  });
});

describe('DynamoDB Local stopped mid-run, then started again', () => {
  let server: DynamoDbLocal | undefined;
  let client: DynamoDBClient;
  let lite: DynamoDbLiteClient;
  const tableName = 'fail-closed';

  beforeAll(async () => {
    server = await startDynamoDbLocal();
    client = localClient(server.endpoint);
    lite = localLiteClient(server.endpoint);
    await createTable(client, tableName);
    await seedUsers(client, tableName);
  }, 60_000);

  afterAll(async () => {
    client.destroy();
    lite.destroy();
    await server?.stop();
  });

  test('while it is down nothing is allowed and the issuer answers 503; afterwards the same handlers recover', async () => {
    const issuer = buildIssuer({ client, liteClient: lite, tableName, keys });
    const authorizer = buildAuthorizer({ client, tableName, keys });
    const tokens = await login(issuer.handler);
    expect((await authorizer.handler(authorizerEvent(`Bearer ${tokens.accessToken}`))).principalId).toBe(
      USERS.alice.userId,
    );
    const port = server?.port ?? 0;

    await server?.stop();

    await expect(authorizer.handler(authorizerEvent(`Bearer ${tokens.accessToken}`))).rejects.toThrow(
      new RegExp(`^${DEPENDENCY_FAILURE}$`),
    );
    await expectIssuerUnavailable(issuer.handler, tokens);

    // Back on the same port (in memory: the old sessions are gone, so the old token must not pass either).
    server = await startDynamoDbLocal({ port });
    await createTable(client, tableName);
    await seedUsers(client, tableName);
    await expect(authorizer.handler(authorizerEvent(`Bearer ${tokens.accessToken}`))).rejects.toThrow(
      new RegExp(`^${UNAUTHORIZED}$`),
    );
    expect(JSON.parse(authorizer.lines.at(-1) ?? '{}')).toMatchObject({ reason: 'session_not_found' });
    const fresh = await login(issuer.handler);
    expect((await authorizer.handler(authorizerEvent(`Bearer ${fresh.accessToken}`))).principalId).toBe(
      USERS.alice.userId,
    );
  });
});

describe('DynamoDB throttling (ProvisionedThroughputExceededException injected by SDK client middleware; every request through the SDK)', () => {
  let table: { client: DynamoDBClient; tableName: string };
  let throttled: DynamoDBClient;
  /** Command names that currently throw. */
  const armed = new Set<string>();

  beforeAll(async () => {
    table = await freshTable();
    await seedUsers(table.client, table.tableName);
    const endpoint = process.env.DYNAMODB_LOCAL_ENDPOINT ?? '';
    throttled = localClient(endpoint);
    throttled.middlewareStack.add(
      (next, context) => async (args) => {
        if (armed.has(String(context.commandName))) {
          throw new ProvisionedThroughputExceededException({
            message: 'The level of configured provisioned throughput for the table was exceeded.',
            $metadata: { httpStatusCode: 400 },
          });
        }
        return next(args);
      },
      { step: 'initialize', name: 'injectThrottling' },
    );
  });

  afterEach(() => armed.clear());

  afterAll(() => {
    table.client.destroy();
    throttled.destroy();
  });

  const sessionItems = async () =>
    [...(await scanTable(table.client, table.tableName))].filter(([pk]) => pk.startsWith('SESSION#'));

  test('the authorizer throws the dependency failure when its session read (BatchGetItem) is throttled', async () => {
    const tokens = await login(
      buildIssuer({ client: throttled, liteClient: null, tableName: table.tableName, keys }).handler,
    );
    const { handler, lines } = buildAuthorizer({ client: throttled, tableName: table.tableName, keys });
    armed.add('BatchGetItemCommand');
    await expect(handler(authorizerEvent(`Bearer ${tokens.accessToken}`))).rejects.toThrow(
      new RegExp(`^${DEPENDENCY_FAILURE}$`),
    );
    expect(JSON.parse(lines[0] ?? '{}')).toMatchObject({
      reason: 'dependency_unavailable',
      error: 'ProvisionedThroughputExceededException',
    });
    armed.clear();
    expect((await handler(authorizerEvent(`Bearer ${tokens.accessToken}`))).principalId).toBe(
      USERS.alice.userId,
    );
  });

  test('login with the session write throttled: 503, and no session item was created', async () => {
    const { handler, lines } = buildIssuer({
      client: throttled,
      liteClient: null,
      tableName: table.tableName,
      keys,
    });
    const before = await sessionItems();
    armed.add('PutItemCommand');
    const response = await handler(
      proxyEvent('POST', '/auth/login', {
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ username: USERS.bob.username, password: USERS.bob.password }),
      }),
    );
    expect503(response);
    expect(await sessionItems()).toEqual(before);
    expect(lines.some((line) => line.includes('"error":"ProvisionedThroughputExceededException"'))).toBe(
      true,
    );
  });

  test('refresh with the rotation write throttled: 503, the generation unchanged, and the same token works after', async () => {
    const { handler, securityEvents } = buildIssuer({
      client: throttled,
      liteClient: null,
      tableName: table.tableName,
      keys,
    });
    const tokens = await login(handler);
    const before = await sessionItems();
    armed.add('UpdateItemCommand');
    expect503(await refresh(handler, tokens.refreshToken));
    expect(await sessionItems()).toEqual(before);
    armed.clear();
    expect((await refresh(handler, tokens.refreshToken)).statusCode).toBe(200);
    expect(securityEvents).toEqual([]);
  });

  test('refresh with the watermark read throttled: 503 and no tokens; a retry with the same token gets the successor', async () => {
    const { handler, lines, securityEvents } = buildIssuer({
      client: throttled,
      liteClient: null,
      tableName: table.tableName,
      keys,
    });
    const tokens = await login(handler);
    armed.add('GetItemCommand');
    const response = await refresh(handler, tokens.refreshToken);
    armed.clear();
    // The write went out beside the read and applied; no token left the issuer without the watermark.
    expect503(response);
    expect(lines.some((line) => line.includes('"error":"ProvisionedThroughputExceededException"'))).toBe(
      true,
    );
    const item = (await scanTable(table.client, table.tableName)).get(`SESSION#${tokens.sid}`);
    expect(item?.generation?.N).toBe('1');
    // The retry finds the rotation already made: the grace branch, the watermark read, the same successor.
    const retry = await refresh(handler, tokens.refreshToken);
    expect(retry.statusCode).toBe(200);
    const next = JSON.parse(retry.body) as { refresh_token: string };
    expect(parseRefreshToken(next.refresh_token).generation).toBe(1);
    expect((await refresh(handler, next.refresh_token)).statusCode).toBe(200);
    expect(securityEvents).toEqual([]);
  });

  test('logout with the revocation write throttled: 503, the session still live, a retry logs out', async () => {
    const { handler } = buildIssuer({
      client: throttled,
      liteClient: null,
      tableName: table.tableName,
      keys,
    });
    const tokens = await login(handler);
    const logout = () =>
      handler(
        proxyEvent('POST', '/auth/logout', { headers: { Authorization: `Bearer ${tokens.accessToken}` } }),
      );
    armed.add('UpdateItemCommand');
    expect503(await logout());
    const item = (await scanTable(table.client, table.tableName)).get(`SESSION#${tokens.sid}`);
    expect(item?.revokedAt).toBeUndefined();
    armed.clear();
    expect((await logout()).statusCode).toBe(204);
  });

  test('logout-all with the watermark write throttled: 503, no watermark, a retry logs out', async () => {
    const { handler } = buildIssuer({
      client: throttled,
      liteClient: null,
      tableName: table.tableName,
      keys,
    });
    const tokens = await login(handler);
    const logoutAll = () =>
      handler(
        proxyEvent('POST', '/auth/logout-all', {
          headers: { Authorization: `Bearer ${tokens.accessToken}` },
        }),
      );
    armed.add('UpdateItemCommand');
    expect503(await logoutAll());
    const subjects = [...(await scanTable(table.client, table.tableName)).keys()].filter((key) =>
      key.startsWith('SUBJECT#'),
    );
    expect(subjects).toEqual([]);
    armed.clear();
    expect((await logoutAll()).statusCode).toBe(204);
    expect((await refresh(handler, tokens.refreshToken)).statusCode).toBe(400);
  });
});

describe("the issuer's minimal client (the refresh requests, as deployed) unreachable or throttled", () => {
  // A DynamoDB endpoint in front of DynamoDB Local that answers the armed operations as DynamoDB answers a
  // throttled request: 400 with a ProvisionedThroughputExceededException `__type` (the minimal client does not
  // take the SDK's middleware, so the throttling is injected on the wire).
  // https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Programming.Errors.html
  let table: { client: DynamoDBClient; tableName: string };
  let front: Server;
  let lite: DynamoDbLiteClient;
  const armed = new Set<string>();
  /** Operations whose next answer is held past the request time-out (the request itself goes through). */
  const held = new Set<string>();
  const answered: string[] = [];

  beforeAll(async () => {
    table = await freshTable();
    await seedUsers(table.client, table.tableName);
    const target = new URL(process.env.DYNAMODB_LOCAL_ENDPOINT ?? '');
    front = createServer((request, response) => {
      const operation = String(request.headers['x-amz-target'] ?? '').replace('DynamoDB_20120810.', '');
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        answered.push(operation);
        if (armed.has(operation)) {
          response.writeHead(400, { 'content-type': 'application/x-amz-json-1.0' });
          response.end(
            JSON.stringify({
              __type: 'com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException',
              message: 'The level of configured provisioned throughput for the table was exceeded.',
            }),
          );
          return;
        }
        const forwarded = httpRequest(
          {
            hostname: target.hostname,
            port: target.port,
            method: 'POST',
            path: '/',
            headers: request.headers,
          },
          (upstream) => {
            // A held operation reaches DynamoDB (and applies) at once; its answer comes after the client's
            // request time-out, once.
            const hold = held.delete(operation) ? DYNAMODB_TIMEOUTS.requestTimeoutMs + 300 : 0;
            setTimeout(() => {
              response.writeHead(upstream.statusCode ?? 500, upstream.headers);
              upstream.pipe(response);
            }, hold);
          },
        );
        forwarded.end(Buffer.concat(chunks));
      });
    });
    // As the issuer's (liteClientFromEnv): the function's time limits, two attempts.
    lite = liteClientFromEnv({
      AWS_ENDPOINT_URL_DYNAMODB: await listenOnLoopback(front),
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
    });
  });

  afterEach(() => {
    armed.clear();
    held.clear();
    answered.length = 0;
  });

  afterAll(async () => {
    lite.destroy();
    table.client.destroy();
    await new Promise((resolve) => front.close(resolve));
  });

  const session = async (sid: string) =>
    (await scanTable(table.client, table.tableName)).get(`SESSION#${sid}`);

  test('control: a refresh goes through the minimal client, an UpdateItem and a GetItem', async () => {
    const { handler } = buildIssuer({ ...table, liteClient: lite, keys });
    const tokens = await login(handler);
    answered.length = 0;
    expect((await refresh(handler, tokens.refreshToken)).statusCode).toBe(200);
    expect([...answered].sort()).toEqual(['GetItem', 'UpdateItem']);
  });

  test('unreachable: refresh answers 503 with Retry-After and writes nothing', async () => {
    const tokens = await login(buildIssuer({ ...table, keys }).handler);
    const before = await session(tokens.sid);
    const closed = localLiteClient(`http://127.0.0.1:${await freePort()}`);
    try {
      const { handler, lines } = buildIssuer({ ...table, liteClient: closed, keys });
      expect503(await refresh(handler, tokens.refreshToken));
      expect(await session(tokens.sid)).toEqual(before);
      expect(lines.some((line) => line.includes('"issuer dependency failed"'))).toBe(true);
    } finally {
      closed.destroy();
    }
  });

  test('the rotation write throttled: 503 naming the throttling, the generation unchanged, the same token works after', async () => {
    const { handler, lines, securityEvents } = buildIssuer({ ...table, liteClient: lite, keys });
    const tokens = await login(handler);
    const before = await session(tokens.sid);
    armed.add('UpdateItem');
    expect503(await refresh(handler, tokens.refreshToken));
    // The client's one retry of a throttled request, then the failure.
    expect(answered.filter((operation) => operation === 'UpdateItem')).toHaveLength(2);
    expect(await session(tokens.sid)).toEqual(before);
    expect(lines.some((line) => line.includes('"error":"ProvisionedThroughputExceededException"'))).toBe(
      true,
    );
    armed.clear();
    expect((await refresh(handler, tokens.refreshToken)).statusCode).toBe(200);
    expect(securityEvents).toEqual([]);
  });

  test('the watermark read throttled: 503 and no tokens; a retry with the same token gets the successor', async () => {
    const { handler, securityEvents } = buildIssuer({ ...table, liteClient: lite, keys });
    const tokens = await login(handler);
    armed.add('GetItem');
    const response = await refresh(handler, tokens.refreshToken);
    armed.clear();
    expect503(response);
    expect(response.body).not.toContain('access_token');
    expect((await session(tokens.sid))?.generation?.N).toBe('1');
    const retry = await refresh(handler, tokens.refreshToken);
    expect(retry.statusCode).toBe(200);
    const next = JSON.parse(retry.body) as { refresh_token: string };
    expect(parseRefreshToken(next.refresh_token).generation).toBe(1);
    expect(securityEvents).toEqual([]);
  });
  test('a rotation write that applied but answered after the time-out: the retry takes the grace branch, same successor, no reuse', async () => {
    const { handler, securityEvents } = buildIssuer({ ...table, liteClient: lite, keys });
    const tokens = await login(handler);
    held.add('UpdateItem');
    const response = await refresh(handler, tokens.refreshToken);
    // The first attempt timed out after its write applied; the retry met the rotated item (ALL_OLD) within
    // the grace period and answered with the successor the first attempt would have handed out.
    expect(answered.filter((operation) => operation === 'UpdateItem')).toHaveLength(2);
    expect(response.statusCode).toBe(200);
    const body = JSON.parse(response.body) as { refresh_token: string };
    expect(parseRefreshToken(body.refresh_token).generation).toBe(1);
    expect((await session(tokens.sid))?.generation?.N).toBe('1');
    expect(securityEvents).toEqual([]);
    // The successor works, and the session goes on.
    expect((await refresh(handler, body.refresh_token)).statusCode).toBe(200);
  });
});
