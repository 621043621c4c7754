import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { DynamoDbLiteClient } from '../../lambda/adapters/dynamodb-lite-client';
import { DynamoDbSubjectStore } from '../../lambda/adapters/dynamodb-subject-store';
import { subjectKey } from '../../lambda/core/subject';
import { localLiteClient } from '../../local/dynamodb-local';
import { freshTable } from '../support/dynamodb';

let client: DynamoDBClient;
let subjects: DynamoDbSubjectStore;
/** The same store reading through the minimal client (the issuer's). */
let liteSubjects: DynamoDbSubjectStore;
let lite: DynamoDbLiteClient;

beforeAll(async () => {
  const table = await freshTable();
  client = table.client;
  subjects = new DynamoDbSubjectStore({ client, tableName: table.tableName });
  lite = localLiteClient(process.env.DYNAMODB_LOCAL_ENDPOINT ?? '');
  liteSubjects = new DynamoDbSubjectStore({ client, liteClient: lite, tableName: table.tableName });
});

afterAll(() => {
  lite.destroy();
  client.destroy();
});

test('reads through the minimal client what the SDK wrote, and nothing for a subject without an item', async () => {
  await subjects.setDisabled('user-lite-1', true, 4_000, 1_500);
  const written = await subjects.get('user-lite-1', { consistent: true });
  expect(written).toEqual({ sub: 'user-lite-1', notBefore: 4_000, disabled: true, updatedAt: 1_500 });
  expect(await liteSubjects.get('user-lite-1', { consistent: true })).toEqual(written);
  expect(await liteSubjects.getByKey(subjectKey('user-lite-1'))).toEqual(written);
  expect(await liteSubjects.get('user-lite-none', { consistent: true })).toBeUndefined();
});

describe('getByKey (what a version 3 refresh token names)', () => {
  test('reads the item get(sub) reads, by the subject key alone', async () => {
    await subjects.moveWatermark('user-key-1', 2_000, 1_000);
    const bySub = await subjects.get('user-key-1', { consistent: true });
    expect(bySub).toEqual({ sub: 'user-key-1', notBefore: 2_000, updatedAt: 1_000 });
    expect(await subjects.getByKey(subjectKey('user-key-1'), { consistent: true })).toEqual(bySub);
  });

  test("another subject's key, or a key with no item, reads nothing of this subject", async () => {
    await subjects.setDisabled('user-key-2', true, 3_000, 1_000);
    expect(await subjects.getByKey(subjectKey('user-key-3'), { consistent: true })).toBeUndefined();
    expect(await subjects.getByKey(subjectKey('user-key-2'), { consistent: true })).toMatchObject({
      sub: 'user-key-2',
      disabled: true,
    });
  });
});
