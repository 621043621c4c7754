import { type DynamoDBClient, GetItemCommand, ResourceNotFoundException } from '@aws-sdk/client-dynamodb';
import type { DynamoDbLiteClient } from '../../lambda/adapters/dynamodb-lite-client';
import { DynamoDbSessionStore } from '../../lambda/adapters/dynamodb-session-store';
import type { RefreshRotation, SessionRecord } from '../../lambda/core/session';
import { localLiteClient } from '../../local/dynamodb-local';
import { freshTable } from '../support/dynamodb';

let client: DynamoDBClient;
let tableName: string;
let store: DynamoDbSessionStore;
/** The same store with its refresh write through the minimal client (the issuer's). */
let liteStore: DynamoDbSessionStore;
let lite: DynamoDbLiteClient;
let counter = 0;

beforeAll(async () => {
  ({ client, tableName } = await freshTable());
  store = new DynamoDbSessionStore({ client, tableName, retentionSeconds: 3600 });
  lite = localLiteClient(process.env.DYNAMODB_LOCAL_ENDPOINT ?? '');
  liteStore = new DynamoDbSessionStore({ client, liteClient: lite, tableName, retentionSeconds: 3600 });
});

afterAll(() => {
  lite.destroy();
  client.destroy();
});

// The present: DynamoDB Local deletes items whose TTL has passed.
const T0 = Math.floor(Date.now() / 1000) * 1000;

function session(overrides: Partial<SessionRecord> = {}): SessionRecord {
  counter += 1;
  return {
    sid: Buffer.alloc(16, counter).toString('base64url'),
    sub: 'store-user',
    clientId: 'native',
    scope: 'profile',
    createdAt: T0 + counter,
    authenticatedAt: T0 + counter,
    lastUsedAt: T0,
    absoluteExpiresAt: T0 + 7_200_000,
    idleExpiresAt: T0 + 3_600_000,
    generation: 0,
    salt: Buffer.alloc(16, 3).toString('base64url'),
    rotatedAt: T0,
    ...overrides,
  };
}

describe('DynamoDbSessionStore', () => {
  test('round-trips every field, optional ones included', async () => {
    const record = session({ userAgent: 'curl/8', ip: '192.0.2.1' });
    await store.create(record);
    expect(await store.get(record.sid, { consistent: true })).toEqual(record);
    expect(await store.get(record.sid)).toEqual(record);
  });

  test('returns undefined for an unknown sid', async () => {
    expect(await store.get('unknown-session-id')).toBeUndefined();
  });

  test('fails to create a session whose sid exists', async () => {
    const record = session();
    await store.create(record);
    await expect(store.create({ ...record, sub: 'someone-else' })).rejects.toThrow(/conditional/i);
    expect((await store.get(record.sid, { consistent: true }))?.sub).toBe('store-user');
  });

  test('writes a TTL attribute in epoch seconds, retention after the absolute expiry', async () => {
    const record = session();
    await store.create(record);
    const { Item } = await client.send(
      new GetItemCommand({
        TableName: tableName,
        Key: { pk: { S: `SESSION#${record.sid}` } },
        ConsistentRead: true,
      }),
    );
    expect(Number(Item?.ttl?.N)).toBe(Math.ceil(record.absoluteExpiresAt / 1000) + 3600);
  });

  test('rotates only from the expected generation', async () => {
    const record = session();
    await store.create(record);
    const rotation = { expectedGeneration: 0, generation: 1, rotatedAt: T0 + 5, idleExpiresAt: T0 + 99 };
    expect(await store.rotate(record.sid, rotation)).toBe(true);
    expect(await store.rotate(record.sid, rotation)).toBe(false);
    expect(await store.get(record.sid, { consistent: true })).toMatchObject({
      generation: 1,
      rotatedAt: T0 + 5,
      lastUsedAt: T0 + 5,
      idleExpiresAt: T0 + 99,
    });
  });

  test('does not rotate a revoked session', async () => {
    const record = session();
    await store.create(record);
    expect(await store.revoke(record.sid, 'logout', T0 + 1)).toBe(true);
    expect(
      await store.rotate(record.sid, {
        expectedGeneration: 0,
        generation: 1,
        rotatedAt: 1,
        idleExpiresAt: 1,
      }),
    ).toBe(false);
  });

  describe.each([
    ['the AWS SDK', () => store],
    ['the minimal client', () => liteStore],
  ])(
    'the refresh write (one conditional UpdateItem that returns the item), through %s',
    (_client, current) => {
      let store: DynamoDbSessionStore;
      beforeAll(() => {
        store = current();
      });
      const refreshRotation = (overrides: Partial<RefreshRotation> = {}): RefreshRotation => ({
        presentedGeneration: 0,
        generation: 1,
        salt: Buffer.alloc(16, 3).toString('base64url'),
        clientId: 'native',
        at: T0 + 10,
        idleExpiresAt: T0 + 3_600_010,
        ...overrides,
      });

      test('applies and returns the item after the write (ALL_NEW)', async () => {
        const record = session();
        await store.create(record);
        const outcome = await store.rotateForRefresh(record.sid, refreshRotation());
        expect(outcome).toEqual({
          applied: true,
          session: {
            ...record,
            generation: 1,
            rotatedAt: T0 + 10,
            lastUsedAt: T0 + 10,
            idleExpiresAt: T0 + 3_600_010,
          },
        });
        expect(await store.get(record.sid, { consistent: true })).toEqual(outcome.session);
      });

      test('applies for a presented generation ahead of the item (replication lag)', async () => {
        const record = session();
        await store.create(record);
        const outcome = await store.rotateForRefresh(
          record.sid,
          refreshRotation({ presentedGeneration: 4, generation: 5 }),
        );
        expect(outcome).toMatchObject({ applied: true, session: { generation: 5 } });
      });

      test.each([
        ['the item is ahead of the token', {}, { generation: 2 }],
        ['another salt', { salt: Buffer.alloc(16, 4).toString('base64url') }, {}],
        ['another client', { clientId: 'web' }, {}],
        ['revoked', {}, { revokedAt: T0, revokedReason: 'logout' as const }],
        ['expired', {}, { absoluteExpiresAt: T0 + 10 }],
        ['idle', {}, { idleExpiresAt: T0 + 10 }],
        ['the idle expiry would pass the absolute one', {}, { absoluteExpiresAt: T0 + 3_600_009 }],
      ])(
        'fails when %s, changes nothing and returns the item as it was (ALL_OLD)',
        async (_name, change, stored) => {
          const record = session(stored);
          await store.create(record);
          const outcome = await store.rotateForRefresh(record.sid, refreshRotation(change));
          expect(outcome).toEqual({ applied: false, session: record });
          expect(await store.get(record.sid, { consistent: true })).toEqual(record);
        },
      );

      test('fails for an unknown sid without creating an item', async () => {
        const sid = Buffer.alloc(16, 0xfe).toString('base64url');
        expect(await store.rotateForRefresh(sid, refreshRotation())).toEqual({
          applied: false,
          session: undefined,
        });
        expect(await store.get(sid, { consistent: true })).toBeUndefined();
      });
    },
  );

  test('revokes once, records when and why, and reports a second revocation as a no-op', async () => {
    const record = session();
    await store.create(record);
    expect(await store.revoke(record.sid, 'refresh_token_reuse', T0 + 7)).toBe(true);
    expect(await store.revoke(record.sid, 'logout', T0 + 8)).toBe(false);
    expect(await store.get(record.sid, { consistent: true })).toMatchObject({
      revokedAt: T0 + 7,
      revokedReason: 'refresh_token_reuse',
    });
  });

  test('revokes only for the owning subject when one is named', async () => {
    const record = session();
    await store.create(record);
    expect(await store.revoke(record.sid, 'revoked_by_user', T0, 'intruder')).toBe(false);
    expect(await store.revoke(record.sid, 'revoked_by_user', T0, 'store-user')).toBe(true);
  });

  test('does not create an item when revoking an unknown sid', async () => {
    expect(await store.revoke('no-such-session-here', 'logout', T0)).toBe(false);
    expect(await store.get('no-such-session-here', { consistent: true })).toBeUndefined();
  });

  test('lists a subject’s sessions through the GSI, newest first', async () => {
    const records = Array.from({ length: 30 }, () =>
      session({ sub: 'many-sessions', userAgent: 'x'.repeat(200) }),
    );
    await Promise.all(records.map((record) => store.create(record)));
    const listed = await store.listBySubject('many-sessions');
    expect(listed.map((item) => item.sid)).toEqual([...records].reverse().map((record) => record.sid));
    expect(await store.listBySubject('nobody')).toEqual([]);
  });

  test('propagates errors other than a failed condition', async () => {
    const broken = new DynamoDbSessionStore({ client, tableName: 'no-such-table' });
    await expect(broken.get('x')).rejects.toBeInstanceOf(ResourceNotFoundException);
    await expect(broken.revoke('x', 'logout', 0)).rejects.toBeInstanceOf(ResourceNotFoundException);
  });
});
