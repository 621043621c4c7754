import {
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  ScanCommand,
} from '@aws-sdk/client-dynamodb';
import { DynamoDbUserStore } from '../../lambda/adapters/dynamodb-user-store';
import type { UserRecord } from '../../lambda/core/credentials';
import { freshTable } from '../support/dynamodb';

let client: DynamoDBClient;
let tableName: string;
let store: DynamoDbUserStore;
let counter = 0;

beforeAll(async () => {
  ({ client, tableName } = await freshTable());
  store = new DynamoDbUserStore({ client, tableName });
});

afterAll(() => client.destroy());

// The present: DynamoDB Local deletes items whose TTL has passed.
const T0 = Math.floor(Date.now() / 1000) * 1000;
const HASH = '$scrypt$ln=10,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';

/** A username of its own for each test. */
function name(): string {
  counter += 1;
  return `store-user-${counter}`;
}

function user(overrides: Partial<UserRecord> = {}): UserRecord {
  const username = overrides.username ?? name();
  return { username, userId: `id-${username}`, scope: 'profile email', passwordHash: HASH, ...overrides };
}

async function rawItem(pk: string) {
  const { Item } = await client.send(
    new GetItemCommand({ TableName: tableName, Key: { pk: { S: pk } }, ConsistentRead: true }),
  );
  return Item;
}

describe('users', () => {
  test('round-trips a user under USER#<username>, with the subject as userId and no sub attribute', async () => {
    const record = user();
    expect(await store.putUser(record)).toBe(true);
    expect(await store.getUser(record.username)).toEqual(record);
    const item = await rawItem(`USER#${record.username}`);
    expect(item?.userId).toEqual({ S: record.userId });
    expect(item?.sub).toBeUndefined();
    expect(item?.ttl).toBeUndefined();
  });

  test('keeps user items out of the session-only bySubject index', async () => {
    const record = user();
    await store.putUser(record);
    const { Items } = await client.send(
      new QueryCommand({
        TableName: tableName,
        IndexName: 'bySubject',
        KeyConditionExpression: '#sub = :sub',
        ExpressionAttributeNames: { '#sub': 'sub' },
        ExpressionAttributeValues: { ':sub': { S: record.userId } },
      }),
    );
    expect(Items).toEqual([]);
    const scan = await client.send(new ScanCommand({ TableName: tableName, IndexName: 'bySubject' }));
    expect(scan.Items?.filter((item) => item.pk?.S?.startsWith('USER#'))).toEqual([]);
  });

  test('returns undefined for an unknown username', async () => {
    expect(await store.getUser('nobody-here')).toBeUndefined();
  });

  test('does not overwrite an existing user unless asked to', async () => {
    const record = user();
    expect(await store.putUser(record)).toBe(true);
    expect(await store.putUser({ ...record, userId: 'intruder', scope: 'admin' })).toBe(false);
    expect(await store.getUser(record.username)).toEqual(record);
    const replaced = { ...record, scope: 'admin', passwordHash: `${HASH.slice(0, -1)}B` };
    expect(await store.putUser(replaced, { overwrite: true })).toBe(true);
    expect(await store.getUser(record.username)).toEqual(replaced);
  });

  test('deletes a user item, leaving other users and its login throttle item alone', async () => {
    const gone = user();
    const kept = user();
    await store.putUser(gone);
    await store.putUser(kept);
    await store.recordFailure(gone.username, { at: T0, expiresAt: T0 + 1000 });
    expect(await store.deleteUser(gone.username)).toBe(true);
    expect(await store.getUser(gone.username)).toBeUndefined();
    expect(await rawItem(`USER#${gone.username}`)).toBeUndefined();
    expect(await store.getUser(kept.username)).toEqual(kept);
    expect((await store.getFailures(gone.username))?.failures).toBe(1);
  });

  test('deleting an absent user answers false and writes nothing', async () => {
    const username = name();
    expect(await store.deleteUser(username)).toBe(false);
    expect(await rawItem(`USER#${username}`)).toBeUndefined();
  });

  test('fails loudly on an incomplete user item', async () => {
    const username = name();
    await client.send(
      new PutItemCommand({
        TableName: tableName,
        Item: { pk: { S: `USER#${username}` }, username: { S: username }, userId: { S: 'x' } },
      }),
    );
    await expect(store.getUser(username)).rejects.toThrow(TypeError);
  });
});

describe('login throttle', () => {
  test('a first failure creates LOGIN#<username> with a count of 1 and a TTL in epoch seconds', async () => {
    const username = name();
    const record = await store.recordFailure(username, { at: T0, expiresAt: T0 + 1_800_500 });
    expect(record).toEqual({ failures: 1, firstFailureAt: T0, lastFailureAt: T0 });
    expect(await store.getFailures(username)).toEqual(record);
    const item = await rawItem(`LOGIN#${username}`);
    expect(Number(item?.ttl?.N)).toBe(Math.ceil((T0 + 1_800_500) / 1000));
  });

  test('counts failures for names that have no user item, separately from user items', async () => {
    const record = user();
    await store.putUser(record);
    await store.recordFailure(record.username, { at: T0, expiresAt: T0 + 1000 });
    expect(await store.getUser(record.username)).toEqual(record);
    expect((await store.getFailures(record.username))?.failures).toBe(1);
    expect(await store.getFailures('never-failed')).toBeUndefined();
  });

  test('increments, keeping the first failure time and moving the last one and the TTL', async () => {
    const username = name();
    await store.recordFailure(username, { at: T0, expiresAt: T0 + 1000 });
    const record = await store.recordFailure(username, { at: T0 + 5000, expiresAt: T0 + 9000 });
    expect(record).toEqual({ failures: 2, firstFailureAt: T0, lastFailureAt: T0 + 5000 });
    expect(Number((await rawItem(`LOGIN#${username}`))?.ttl?.N)).toBe(Math.ceil((T0 + 9000) / 1000));
  });

  test('starts a new count when the record still has the last failure the caller judged stale', async () => {
    const username = name();
    await store.recordFailure(username, { at: T0, expiresAt: T0 + 1000 });
    await store.recordFailure(username, { at: T0 + 1, expiresAt: T0 + 1000 });
    const later = T0 + 3_600_000;
    const record = await store.recordFailure(username, {
      at: later,
      expiresAt: later + 1000,
      resetIfLastFailureAt: T0 + 1,
    });
    expect(record).toEqual({ failures: 1, firstFailureAt: later, lastFailureAt: later });
  });

  test('adds instead of resetting when another failure got in since the read', async () => {
    const username = name();
    await store.recordFailure(username, { at: T0, expiresAt: T0 + 1000 });
    await store.recordFailure(username, { at: T0 + 1, expiresAt: T0 + 1000 });
    // This caller read the record when its last failure was T0 and judged it stale; T0 + 1 got in since.
    const record = await store.recordFailure(username, {
      at: T0 + 2,
      expiresAt: T0 + 1000,
      resetIfLastFailureAt: T0,
    });
    expect(record).toEqual({ failures: 3, firstFailureAt: T0, lastFailureAt: T0 + 2 });
  });

  test('a reset of a record cleared in the meantime starts at 1', async () => {
    const username = name();
    await store.recordFailure(username, { at: T0, expiresAt: T0 + 1000 });
    await store.clearFailures(username);
    const record = await store.recordFailure(username, {
      at: T0 + 9,
      expiresAt: T0 + 1000,
      resetIfLastFailureAt: T0,
    });
    expect(record).toEqual({ failures: 1, firstFailureAt: T0 + 9, lastFailureAt: T0 + 9 });
  });

  test('10 concurrent failures on a new name are all counted', async () => {
    const username = name();
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        store.recordFailure(username, { at: T0 + i, expiresAt: T0 + 1000 }),
      ),
    );
    expect(results.map((record) => record.failures).sort((a, b) => a - b)).toEqual([
      1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
    ]);
    expect((await store.getFailures(username))?.failures).toBe(10);
  });

  test('10 concurrent failures that all judged the record stale reset it once and count every failure', async () => {
    const username = name();
    for (let i = 0; i < 7; i++) await store.recordFailure(username, { at: T0, expiresAt: T0 + 1000 });
    const later = T0 + 3_600_000;
    const results = await Promise.all(
      Array.from({ length: 10 }, () =>
        store.recordFailure(username, { at: later, expiresAt: later + 1000, resetIfLastFailureAt: T0 }),
      ),
    );
    expect(results.map((record) => record.failures).sort((a, b) => a - b)).toEqual([
      1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
    ]);
    expect(await store.getFailures(username)).toEqual({
      failures: 10,
      firstFailureAt: later,
      lastFailureAt: later,
    });
  });

  test('clearing forgets the failures; clearing an absent record is a no-op', async () => {
    const username = name();
    await store.recordFailure(username, { at: T0, expiresAt: T0 + 1000 });
    await store.clearFailures(username);
    expect(await store.getFailures(username)).toBeUndefined();
    expect(await rawItem(`LOGIN#${username}`)).toBeUndefined();
    await expect(store.clearFailures(username)).resolves.toBeUndefined();
  });
});
