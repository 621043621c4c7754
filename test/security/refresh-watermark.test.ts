import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { DynamoDbLiteClient } from '../../lambda/adapters/dynamodb-lite-client';
import { DynamoDbSubjectStore } from '../../lambda/adapters/dynamodb-subject-store';
import { generateKeySet, type KeySet } from '../../lambda/core/keys';
import { parseRefreshToken } from '../../lambda/core/refresh-token';
import { localClient } from '../../local/dynamodb-local';
import { freshTable } from '../support/dynamodb';
import { versionOneToken, versionTwoToken } from '../support/refresh-token-formats';
import { buildIssuer, defaultLiteClient, login, proxyEvent, refresh, seedUsers, USERS } from './harness';

// The refresh checks the subject's watermark (log out everywhere, disable) within its one round trip: the
// watermark GetItem goes out beside the conditional UpdateItem, through the real issuer handler over a real
// DynamoDB Local table, observed around the minimal client the issuer sends them through (as in Lambda) and
// around its SDK client, so that a request added on either is seen.

let table: { client: DynamoDBClient; tableName: string };
let recorded: Pick<DynamoDbLiteClient, 'updateItem' | 'getItem'>;
let recordedSdk: DynamoDBClient;
let keys: KeySet;

/** Every request `recorded` sent: the operation, when it started and when its response was in (ms). */
const requests: { command: string; start: number; end?: number }[] = [];

beforeAll(async () => {
  table = await freshTable();
  keys = await generateKeySet({ now: Date.now() });
  await seedUsers(table.client, table.tableName);
  const lite = defaultLiteClient();
  const record = async <T>(command: string, send: () => Promise<T>): Promise<T> => {
    const request: (typeof requests)[number] = { command, start: performance.now() };
    requests.push(request);
    try {
      return await send();
    } finally {
      request.end = performance.now();
    }
  };
  recorded = {
    updateItem: (input) => record('UpdateItem', () => lite.updateItem(input)),
    getItem: (input) => record('GetItem', () => lite.getItem(input)),
  };
  recordedSdk = localClient(process.env.DYNAMODB_LOCAL_ENDPOINT ?? '');
  recordedSdk.middlewareStack.add(
    (next, context) => (args) =>
      record(String(context.commandName).replace(/Command$/, ''), () => next(args)),
    { step: 'initialize', name: 'recordRequests' },
  );
});

afterAll(() => {
  recordedSdk.destroy();
  table.client.destroy();
});

/** The token's older encodings (same session, generation and salt), as clients may still hold them. */
function olderVersions(refreshToken: string): { v1: string; v2: string } {
  const parts = parseRefreshToken(refreshToken);
  const macKey = keys.macKeys.find((key) => key.kid === parts.macKid);
  if (macKey === undefined || parts.salt === undefined) throw new Error('no MAC key or salt');
  const args = [macKey.secret, parts.macKid, parts.sid, parts.generation, parts.salt] as const;
  return { v1: versionOneToken(...args), v2: versionTwoToken(...args) };
}

/** The real issuer over the table, its refresh requests recorded. */
function issuer() {
  return buildIssuer({ client: recordedSdk, liteClient: recorded, tableName: table.tableName, keys });
}

function logoutAll(handler: ReturnType<typeof buildIssuer>['handler'], accessToken: string) {
  return handler(
    proxyEvent('POST', '/auth/logout-all', { headers: { Authorization: `Bearer ${accessToken}` } }),
  );
}

test('a refresh is one UpdateItem and one GetItem, in parallel; a version 2 token reads after its write', async () => {
  const { handler } = issuer();
  const tokens = await login(handler);
  requests.length = 0;
  const response = await refresh(handler, tokens.refreshToken);
  expect(response.statusCode).toBe(200);
  expect(requests.map((r) => r.command).sort()).toEqual(['GetItem', 'UpdateItem']);
  const write = requests.find((r) => r.command === 'UpdateItem');
  const read = requests.find((r) => r.command === 'GetItem');
  // On the wire at the same time: each started before the other's response was in.
  expect(read?.start).toBeLessThan(write?.end ?? 0);
  expect(write?.start).toBeLessThan(read?.end ?? 0);

  // A version 2 token carries no subject key: the same two requests, one after the other.
  const next = JSON.parse(response.body) as { refresh_token: string };
  const { v2 } = olderVersions(next.refresh_token);
  requests.length = 0;
  expect((await refresh(handler, v2)).statusCode).toBe(200);
  expect(requests.map((r) => r.command)).toEqual(['UpdateItem', 'GetItem']);
  expect(requests[1]?.start).toBeGreaterThanOrEqual(requests[0]?.end ?? Number.POSITIVE_INFINITY);
});

test('after logout-all no token version refreshes', async () => {
  const { handler, securityEvents } = issuer();
  const sessions = await Promise.all([1, 2, 3].map(() => login(handler, USERS.bob)));
  const [first, second, third] = sessions;
  if (first === undefined || second === undefined || third === undefined) throw new Error('no logins');
  const tokens = [
    olderVersions(first.refreshToken).v1,
    olderVersions(second.refreshToken).v2,
    third.refreshToken,
  ];
  expect(tokens.map((token) => parseRefreshToken(token).version)).toEqual([1, 2, 3]);
  expect((await logoutAll(handler, first.accessToken)).statusCode).toBe(204);
  for (const token of tokens) {
    const response = await refresh(handler, token);
    expect(response.statusCode).toBe(400);
    expect(JSON.parse(response.body)).toMatchObject({ error: 'invalid_grant' });
    expect(response.body).not.toContain('access_token');
  }
  expect(securityEvents).toEqual([]);
});

test('a disabled subject refreshes nothing', async () => {
  const { handler } = issuer();
  const tokens = await login(handler);
  const subjects = new DynamoDbSubjectStore({ client: table.client, tableName: table.tableName });
  const now = Date.now();
  await subjects.setDisabled(USERS.alice.userId, true, now + 1000, now);
  try {
    const response = await refresh(handler, tokens.refreshToken);
    expect(response.statusCode).toBe(400);
    expect(JSON.parse(response.body)).toMatchObject({ error: 'invalid_grant' });
  } finally {
    await subjects.setDisabled(USERS.alice.userId, false, now + 1000, now);
  }
});
