import { randomBytes } from 'node:crypto';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { createTable, localClient } from '../../local/dynamodb-local';

/** A fresh table in the run's DynamoDB Local, for one test file. */
export async function freshTable(): Promise<{ client: DynamoDBClient; tableName: string }> {
  const endpoint = process.env.DYNAMODB_LOCAL_ENDPOINT;
  if (endpoint === undefined)
    throw new Error('DYNAMODB_LOCAL_ENDPOINT is not set: run the tests through jest');
  const client = localClient(endpoint);
  const tableName = `test-${randomBytes(6).toString('hex')}`;
  await createTable(client, tableName);
  return { client, tableName };
}
