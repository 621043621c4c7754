import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { APIGatewayProxyResult } from 'aws-lambda';
import { generateKeySet, type KeySet } from '../../lambda/core/keys';
import { freePort, localClient } from '../../local/dynamodb-local';
import { freshTable } from '../support/dynamodb';
import {
  authorizerEvent,
  buildAuthorizer,
  buildIssuer,
  cookieValue,
  FORM_TYPE,
  JSON_TYPE,
  login,
  proxyEvent,
  refresh,
  STACK_TRACE,
  seedUsers,
  USERS,
  WEB_ORIGIN,
} from './harness';

// Response hygiene through the issuer handler: no-store on every token response and every error, no token or
// secret in any body, no stack trace in any body, and no token or secret in any log line of this file.

let client: DynamoDBClient;
let tableName: string;
let keys: KeySet;
/** Every log line any handler of this file wrote. */
const logLines: string[] = [];
/** Every token this file received or presented. */
const tokens = new Set<string>();

beforeAll(async () => {
  ({ client, tableName } = await freshTable());
  keys = await generateKeySet({ now: Date.now() });
  await seedUsers(client, tableName);
});

afterAll(() => client.destroy());

function issuer(options: Partial<Parameters<typeof buildIssuer>[0]> = {}) {
  const built = buildIssuer({ client, tableName, keys, ...options });
  const handler: typeof built.handler = async (event) => {
    const response = await built.handler(event);
    collect(response);
    return response;
  };
  return { ...built, handler, flush: () => logLines.push(...built.lines) };
}

function collect(response: APIGatewayProxyResult): void {
  try {
    const body = JSON.parse(response.body) as Record<string, unknown>;
    for (const name of ['access_token', 'refresh_token']) {
      if (typeof body[name] === 'string') tokens.add(body[name]);
    }
  } catch {
    // an empty body
  }
  for (const line of response.multiValueHeaders?.['Set-Cookie'] ?? []) {
    const value = cookieValue(String(line));
    if (value !== '') tokens.add(value);
  }
}

/** Every secret of the key set and every password: none may appear in a body or a log line. */
function secrets(): string[] {
  return [
    ...keys.macKeys.map((key) => key.secret),
    ...keys.signingKeys.map((key) => String((key.privateJwk as { d?: unknown }).d)),
    ...Object.values(USERS).map((user) => user.password),
  ];
}

function expectNoStore(response: APIGatewayProxyResult): void {
  expect(response.headers).toMatchObject({ 'Cache-Control': 'no-store', Pragma: 'no-cache' });
}

describe('Cache-Control: no-store on every token response', () => {
  test.each(['native', 'web'])('login and refresh of the %s client', async (clientId) => {
    const { handler, flush } = issuer();
    const session = await login(handler, USERS.alice, clientId);
    expectNoStore(session.response);
    const refreshed = await refresh(handler, session.refreshToken, clientId);
    expect(refreshed.statusCode).toBe(200);
    expectNoStore(refreshed);
    const logout = await handler(
      proxyEvent('POST', '/auth/logout', { headers: { Authorization: `Bearer ${session.accessToken}` } }),
    );
    expect(logout.statusCode).toBe(204);
    expectNoStore(logout);
    flush();
  });
});

describe('error responses: no-store, no token, no secret, no stack trace', () => {
  test('every error status of the issuer', async () => {
    const { handler, flush } = issuer();
    const session = await login(handler);
    const web = await login(handler, USERS.alice, 'web');
    const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });
    const requests: ReadonlyArray<readonly [string, number, () => Promise<APIGatewayProxyResult>]> = [
      ['wrong password', 401, () => lastLogin(handler, 'alice', 'wrong')],
      ['access token as refresh token', 400, () => refresh(handler, session.accessToken)],
      ['refresh token of another client', 400, () => refresh(handler, session.refreshToken, 'cli')],
      [
        'refresh token as bearer',
        401,
        () => handler(proxyEvent('GET', '/auth/sessions', { headers: bearer(session.refreshToken) })),
      ],
      [
        'web cookie from a foreign Origin',
        403,
        () =>
          handler(
            proxyEvent('POST', '/auth/token', {
              headers: {
                ...FORM_TYPE,
                Cookie: `refresh_token=${web.refreshToken}`,
                Origin: 'https://evil.example',
              },
              body: 'grant_type=refresh_token&client_id=web',
            }),
          ),
      ],
      [
        'web client sending its token in the body',
        400,
        () =>
          handler(
            proxyEvent('POST', '/auth/token', {
              headers: { ...FORM_TYPE, Origin: WEB_ORIGIN },
              body: `grant_type=refresh_token&client_id=web&refresh_token=${web.refreshToken}`,
            }),
          ),
      ],
      [
        'another user’s session',
        404,
        () =>
          handler(
            proxyEvent('DELETE', '/auth/sessions/{id}', {
              headers: bearer(session.accessToken),
              path: { id: 'x' },
            }),
          ),
      ],
      [
        'wrong method',
        405,
        () => handler(proxyEvent('GET', '/auth/token', { headers: bearer(session.accessToken) })),
      ],
      [
        'oversized body',
        413,
        () =>
          handler(
            proxyEvent('POST', '/auth/token', {
              headers: FORM_TYPE,
              body: `refresh_token=${session.refreshToken}&x=${'a'.repeat(17_000)}`,
            }),
          ),
      ],
      [
        'wrong content type',
        415,
        () =>
          handler(
            proxyEvent('POST', '/auth/token', {
              headers: JSON_TYPE,
              body: JSON.stringify({ refresh_token: session.refreshToken }),
            }),
          ),
      ],
      [
        'scope change on refresh',
        400,
        () =>
          handler(
            proxyEvent('POST', '/auth/token', {
              headers: FORM_TYPE,
              body: `grant_type=refresh_token&refresh_token=${session.refreshToken}&scope=admin`,
            }),
          ),
      ],
      [
        'unknown client',
        400,
        () =>
          handler(
            proxyEvent('POST', '/auth/token', {
              headers: FORM_TYPE,
              body: `grant_type=refresh_token&refresh_token=${session.refreshToken}&client_id=evil`,
            }),
          ),
      ],
    ];
    for (const [name, status, send] of requests) {
      const response = await send();
      expect([name, response.statusCode]).toEqual([name, status]);
      expectHygienic(name, response);
    }
    // A throttled login (429) for a name that keeps failing from one address: the source's checks run out.
    let locked: APIGatewayProxyResult | undefined;
    for (let attempt = 0; attempt < 20 && locked?.statusCode !== 429; attempt++)
      locked = await lastLogin(handler, 'mallory', 'alice-password');
    expect(locked?.statusCode).toBe(429);
    expect(locked?.headers?.['Retry-After']).toMatch(/^\d+$/);
    expectHygienic('lock-out', locked as APIGatewayProxyResult);
    flush();
  });

  test('a 503 (DynamoDB unreachable) and a 500 (a bug) carry no stack trace, no message of the cause', async () => {
    const unreachable = localClient(`http://127.0.0.1:${await freePort()}`);
    const down = issuer({ client: unreachable });
    const unavailable = await lastLogin(down.handler, 'alice', 'alice-password');
    expect(unavailable.statusCode).toBe(503);
    expectHygienic('503', unavailable);
    down.flush();
    unreachable.destroy();

    const cause = new Error(`boom: ${keys.macKeys[0]?.secret} at Object.<anonymous> (/work/lambda/x.ts:1:2)`);
    const buggy = issuer({
      credentials: {
        authenticate: async () => {
          throw cause;
        },
        changePassword: async () => {
          throw cause;
        },
      },
    });
    const crashed = await lastLogin(buggy.handler, 'alice', 'alice-password');
    expect(crashed.statusCode).toBe(500);
    expect(JSON.parse(crashed.body)).toEqual({
      error: 'server_error',
      error_description: 'unexpected error',
    });
    expectHygienic('500', crashed);
    buggy.flush();
    expect(buggy.lines.join('\n')).not.toContain('boom');
  });
});

describe('log lines', () => {
  test('the authorizer logs no token, and no log line of this file holds a token or a secret', async () => {
    const { handler: issue, flush } = issuer();
    const session = await login(issue);
    flush();
    const { handler, lines } = buildAuthorizer({ client, tableName, keys });
    await handler(authorizerEvent(`Bearer ${session.accessToken}`));
    await handler(authorizerEvent(`Bearer ${session.accessToken.slice(0, -3)}AAA`)).catch(() => undefined);
    tokens.add(`${session.accessToken.slice(0, -3)}AAA`);
    logLines.push(...lines);

    expect(tokens.size).toBeGreaterThan(5);
    expect(logLines.length).toBeGreaterThan(20);
    const all = logLines.join('\n');
    for (const token of tokens) {
      expect(all).not.toContain(token);
      // Not even the signature or MAC part alone.
      expect(all).not.toContain(token.slice(-40));
    }
    for (const secret of secrets()) expect(all).not.toContain(secret);
  });
});

/** A login that returns the response whatever its status. */
function lastLogin(
  handler: ReturnType<typeof issuer>['handler'],
  username: string,
  password: string,
): Promise<APIGatewayProxyResult> {
  return handler(
    proxyEvent('POST', '/auth/login', {
      headers: JSON_TYPE,
      body: JSON.stringify({ username, password }),
    }),
  );
}

function expectHygienic(name: string, response: APIGatewayProxyResult): void {
  expectNoStore(response);
  expect(response.headers?.['Content-Type']).toBe('application/json');
  const body = JSON.parse(response.body) as Record<string, unknown>;
  expect([name, Object.keys(body).sort()]).toEqual([name, ['error', 'error_description']]);
  expect(response.body).not.toMatch(STACK_TRACE);
  for (const token of tokens) expect(response.body).not.toContain(token.slice(-40));
  for (const secret of secrets()) expect(response.body).not.toContain(secret);
}
