import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDbSubjectStore } from '../../lambda/adapters/dynamodb-subject-store';
import { subjectKey } from '../../lambda/core/subject';
import { freshTable } from '../support/dynamodb';

let client: DynamoDBClient;
let subjects: DynamoDbSubjectStore;

beforeAll(async () => {
  const table = await freshTable();
  client = table.client;
  subjects = new DynamoDbSubjectStore({ client, tableName: table.tableName });
});

afterAll(() => client.destroy());

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
