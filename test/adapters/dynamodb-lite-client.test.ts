import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createServer, type Server, type Socket } from 'node:net';
import { type DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { DYNAMODB_TIMEOUTS } from '../../lambda/adapters/dynamodb-client';
import { DynamoDbJwksStore, jwksItemKey, publicJwksOf } from '../../lambda/adapters/dynamodb-jwks-store';
import {
  type BatchGetItemInput,
  DynamoDbLiteClient,
  DynamoDbLiteError,
  liteClientFromEnv,
  type UpdateItemInput,
} from '../../lambda/adapters/dynamodb-lite-client';
import { DynamoDbSessionStore } from '../../lambda/adapters/dynamodb-session-store';
import { DynamoDbSessionSubjectReader } from '../../lambda/adapters/dynamodb-session-subject-reader';
import { DynamoDbSubjectStore } from '../../lambda/adapters/dynamodb-subject-store';
import type { SessionRecord } from '../../lambda/core/session';
import { listenOnLoopback } from '../../local/loopback';
import { freshTable } from '../support/dynamodb';

let sdk: DynamoDBClient;
let tableName: string;
let lite: DynamoDbLiteClient;
const endpoint = () => process.env.DYNAMODB_LOCAL_ENDPOINT ?? '';

beforeAll(async () => {
  ({ client: sdk, tableName } = await freshTable());
  lite = liteClientFromEnv({
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_SESSION_TOKEN: 'session-token',
    AWS_ENDPOINT_URL_DYNAMODB: endpoint(),
  });
});

afterAll(() => {
  lite.destroy();
  sdk.destroy();
});

const session = (sid: string, sub: string): SessionRecord => ({
  sid,
  sub,
  clientId: 'native',
  scope: 'profile',
  createdAt: 1_000,
  authenticatedAt: 1_000,
  lastUsedAt: 1_000,
  absoluteExpiresAt: Date.now() + 3_600_000,
  idleExpiresAt: Date.now() + 3_600_000,
  generation: 0,
  salt: 'c2FsdA',
  rotatedAt: 1_000,
});

describe('DynamoDbLiteClient against DynamoDB Local', () => {
  test('GetItem reads what the SDK wrote (the published JWKS), and an absent item as no Item', async () => {
    const jwks = { keys: [{ kty: 'EC', kid: 'k1', crv: 'P-256', x: 'x', y: 'y' }] };
    await new DynamoDbJwksStore(sdk, tableName).publish(jwks as never, 1);
    expect(publicJwksOf(await lite.getItem({ TableName: tableName, Key: jwksItemKey() }))).toEqual(jwks);
    const absent = await lite.getItem({ TableName: tableName, Key: { pk: { S: 'SESSION#absent' } } });
    expect(absent.Item).toBeUndefined();
  });

  test('BatchGetItem reads a session and its watermark in one request, strongly consistent or not', async () => {
    const store = new DynamoDbSessionStore({ client: sdk, tableName });
    const subjects = new DynamoDbSubjectStore({ client: sdk, tableName });
    await store.create(session('lite-1', 'lite-user'));
    await subjects.moveWatermark('lite-user', 500, 400);
    const calls: BatchGetItemInput[] = [];
    const reader = new DynamoDbSessionSubjectReader({
      batchGetItem: (input) => {
        calls.push(input);
        return lite.batchGetItem(input);
      },
      tableName,
    });
    const read = await reader.read('lite-1', 'lite-user', { consistent: true });
    expect(read.session).toEqual(await store.get('lite-1'));
    expect(read.subject).toEqual({ sub: 'lite-user', notBefore: 500, updatedAt: 400 });
    expect(calls).toHaveLength(1);
    expect(calls[0]?.RequestItems[tableName]?.ConsistentRead).toBe(true);
    await expect(reader.read('lite-absent', 'nobody', { consistent: false })).resolves.toEqual({
      session: undefined,
      subject: undefined,
    });
  });

  test("maps an error answer to a typed error carrying the AWS error's type", async () => {
    const error = await lite.getItem({ TableName: 'no-such-table', Key: jwksItemKey() }).catch((e) => e);
    expect(error).toBeInstanceOf(DynamoDbLiteError);
    expect(error).toMatchObject({ type: 'ResourceNotFoundException', statusCode: 400, retryable: false });
    expect(error.item).toBeUndefined();
  });

  describe('UpdateItem', () => {
    const counterKey = (name: string) => ({ pk: { S: `SESSION#lite-update-${name}` } });
    const bump = (name: string, expected: number, extra: Partial<UpdateItemInput> = {}) =>
      lite.updateItem({
        TableName: tableName,
        Key: counterKey(name),
        UpdateExpression: 'SET generation = :next',
        ConditionExpression: 'attribute_not_exists(generation) OR generation = :expected',
        ExpressionAttributeValues: {
          ':next': { N: String(expected + 1) },
          ':expected': { N: String(expected) },
        },
        ...extra,
      });

    test('applies and returns the item after the write (ALL_NEW), as the SDK then reads it', async () => {
      const written = await bump('new', 0, { ReturnValues: 'ALL_NEW' });
      expect(written.Attributes).toEqual({ ...counterKey('new'), generation: { N: '1' } });
      const { Item } = await sdk.send(
        new GetItemCommand({ TableName: tableName, Key: counterKey('new'), ConsistentRead: true }),
      );
      expect(Item).toEqual(written.Attributes);
      expect((await bump('new', 1)).Attributes).toBeUndefined(); // ReturnValues absent: nothing comes back
    });

    test('a failed condition is a ConditionalCheckFailedException carrying the item as it was (ALL_OLD)', async () => {
      await bump('old', 0);
      const error = await bump('old', 5, { ReturnValuesOnConditionCheckFailure: 'ALL_OLD' }).catch((e) => e);
      expect(error).toBeInstanceOf(DynamoDbLiteError);
      expect(error).toMatchObject({
        type: 'ConditionalCheckFailedException',
        statusCode: 400,
        retryable: false,
      });
      expect(error.item).toEqual({ ...counterKey('old'), generation: { N: '1' } });
      // Without ALL_OLD the error carries no item, and the write changed nothing either way.
      const bare = await bump('old', 5).catch((e) => e);
      expect(bare).toMatchObject({ type: 'ConditionalCheckFailedException' });
      expect(bare.item).toBeUndefined();
      const { Item } = await sdk.send(
        new GetItemCommand({ TableName: tableName, Key: counterKey('old'), ConsistentRead: true }),
      );
      expect(Item?.generation).toEqual({ N: '1' });
    });
  });
});

describe('DynamoDbSessionSubjectReader and UnprocessedKeys', () => {
  test('retries the keys DynamoDB did not read, and fails after its bounded retries', async () => {
    const store = new DynamoDbSessionStore({ client: sdk, tableName });
    await store.create(session('lite-2', 'lite-user-2'));
    await new DynamoDbSubjectStore({ client: sdk, tableName }).moveWatermark('lite-user-2', 700, 600);
    // A partial answer, as DynamoDB gives under throttling: the first call reads only the first key.
    let calls = 0;
    const partial = new DynamoDbSessionSubjectReader({
      tableName,
      unprocessedRetryDelaysMs: [1],
      batchGetItem: async (input) => {
        calls += 1;
        const request = input.RequestItems[tableName];
        if (calls > 1 || request === undefined) return lite.batchGetItem(input);
        const [first, ...rest] = request.Keys;
        const answer = await lite.batchGetItem({
          RequestItems: { [tableName]: { ...request, Keys: first === undefined ? [] : [first] } },
        });
        return { ...answer, UnprocessedKeys: { [tableName]: { ...request, Keys: rest } } };
      },
    });
    const read = await partial.read('lite-2', 'lite-user-2', { consistent: false });
    expect(calls).toBe(2);
    expect(read.session?.sid).toBe('lite-2');
    expect(read.subject?.notBefore).toBe(700);

    let stuckCalls = 0;
    const stuck = new DynamoDbSessionSubjectReader({
      tableName,
      unprocessedRetryDelaysMs: [1, 1],
      batchGetItem: async (input) => {
        stuckCalls += 1;
        return { UnprocessedKeys: input.RequestItems };
      },
    });
    await expect(stuck.read('lite-2', 'lite-user-2', { consistent: false })).rejects.toThrow(/unprocessed/);
    expect(stuckCalls).toBe(3);
  });
});

describe('DynamoDbLiteClient time limits and retries', () => {
  let silent: Server;
  let silentEndpoint: string;
  const sockets = new Set<Socket>();

  beforeAll(async () => {
    silent = createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.resume(); // reads the request, never answers
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    silentEndpoint = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => silent.close(() => resolve()));
  });

  const client = (url: string, random?: () => number) =>
    new DynamoDbLiteClient({
      endpoint: url,
      region: 'us-east-1',
      credentials: () => ({ accessKeyId: 'local', secretAccessKey: 'local' }),
      ...(random === undefined ? {} : { random }),
    });

  test('fails against a server that never answers after its attempts, each within the request time-out', async () => {
    const lite = client(silentEndpoint);
    const started = performance.now();
    const error = await lite.getItem({ TableName: 't', Key: jwksItemKey() }).catch((e) => e);
    const elapsed = performance.now() - started;
    lite.destroy();
    expect(error).toMatchObject({ type: 'TimeoutError', retryable: true });
    const all = DYNAMODB_TIMEOUTS.maxAttempts * DYNAMODB_TIMEOUTS.requestTimeoutMs;
    expect(elapsed).toBeGreaterThanOrEqual(all - 50);
    expect(elapsed).toBeLessThan(all + 3000);
  }, 15_000);

  /** A server answering every request with `status` and `body` (until `answer` changes them), counting them. */
  async function answering(status: number, body: object) {
    const arrivals: number[] = [];
    let current = { status, body };
    const server: HttpServer = createHttpServer((_request, response) => {
      arrivals.push(performance.now());
      response.writeHead(current.status, { 'content-type': 'application/x-amz-json-1.0' });
      response.end(JSON.stringify(current.body));
    });
    const endpoint = await listenOnLoopback(server);
    return {
      arrivals,
      answer: (next: number, nextBody: object) => {
        current = { status: next, body: nextBody };
      },
      endpoint,
      close: () => new Promise<void>((resolve) => server.close(() => resolve())),
    };
  }

  test.each([
    ['throttling', 400, 'ProvisionedThroughputExceededException', 500],
    ['a 5xx', 500, 'InternalServerError', 25],
  ])('backs off as the SDK does after %s (half the jitter: %s)', async (_name, status, type, halfMs) => {
    const server = await answering(status, { __type: `com.amazonaws.dynamodb.v20120810#${type}` });
    const lite = client(server.endpoint, () => 0.5);
    try {
      await expect(lite.getItem({ TableName: 't', Key: jwksItemKey() })).rejects.toMatchObject({ type });
      const [first = 0, second = 0] = server.arrivals;
      expect(server.arrivals).toHaveLength(2);
      expect(second - first).toBeGreaterThanOrEqual(halfMs - 5);
      expect(second - first).toBeLessThan(halfMs + 400);
    } finally {
      lite.destroy();
      await server.close();
    }
  });

  test('stops retrying when its retry quota is spent, and a success earns it back', async () => {
    const server = await answering(500, { __type: 'com.amazonaws.dynamodb.v20120810#InternalServerError' });
    const lite = client(server.endpoint, () => 0);
    try {
      for (let i = 0; i < 40; i++) {
        await expect(lite.getItem({ TableName: 't', Key: jwksItemKey() })).rejects.toMatchObject({
          type: 'InternalServerError',
        });
      }
      // 500 / 14: 35 calls were retried, the last 5 were not.
      expect(server.arrivals).toHaveLength(40 + 35);
      // 10 left; four successes refund 1 each, and the next failure is retried once more (14).
      server.answer(200, {});
      for (let i = 0; i < 4; i++) await lite.getItem({ TableName: 't', Key: jwksItemKey() });
      server.answer(500, { __type: 'com.amazonaws.dynamodb.v20120810#InternalServerError' });
      const before = server.arrivals.length;
      await expect(lite.getItem({ TableName: 't', Key: jwksItemKey() })).rejects.toMatchObject({
        type: 'InternalServerError',
      });
      expect(server.arrivals.length - before).toBe(2);
      await expect(lite.getItem({ TableName: 't', Key: jwksItemKey() })).rejects.toMatchObject({
        type: 'InternalServerError',
      });
      expect(server.arrivals.length - before).toBe(3);
    } finally {
      lite.destroy();
      await server.close();
    }
  });

  test('retries a 5xx and a throttling answer once, and not a 400', async () => {
    const answers = [
      [500, { __type: 'com.amazonaws.dynamodb.v20120810#InternalServerError', message: 'oops' }],
      [200, { Item: { pk: { S: 'JWKS' }, jwks: { S: '{"keys":[]}' } } }],
      [400, { __type: 'com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException' }],
      [400, { __type: 'com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException' }],
      [400, { __type: 'com.amazonaws.dynamodb.v20120810#ValidationException', Message: 'bad key' }],
    ] as const;
    let served = 0;
    const seen: string[] = [];
    const server: HttpServer = createHttpServer((request, response) => {
      seen.push(String(request.headers['x-amz-target']));
      const [status, body] = answers[served++] ?? [500, {}];
      response.writeHead(status, { 'content-type': 'application/x-amz-json-1.0' });
      response.end(JSON.stringify(body));
    });
    const lite = client(await listenOnLoopback(server));
    try {
      // 500, then 200: one retry succeeds.
      expect(publicJwksOf(await lite.getItem({ TableName: 't', Key: jwksItemKey() }))).toEqual({ keys: [] });
      // Throttled twice: the second attempt is the last.
      await expect(lite.getItem({ TableName: 't', Key: jwksItemKey() })).rejects.toMatchObject({
        type: 'ProvisionedThroughputExceededException',
        retryable: true,
      });
      // A validation error: no retry.
      await expect(lite.getItem({ TableName: 't', Key: jwksItemKey() })).rejects.toMatchObject({
        type: 'ValidationException',
        message: expect.stringContaining('bad key'),
        statusCode: 400,
      });
      expect(served).toBe(5);
      expect(seen.every((target) => target === 'DynamoDB_20120810.GetItem')).toBe(true);
    } finally {
      lite.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
