import { startDynamoDbLocal } from '../../local/dynamodb-local';
import './setup-env';

/** Starts one DynamoDB Local for the whole run; each test file creates its own table in it. */
export default async function globalSetup(): Promise<void> {
  const started = Date.now();
  const server = await startDynamoDbLocal();
  (globalThis as { dynamoDbLocal?: typeof server }).dynamoDbLocal = server;
  process.env.DYNAMODB_LOCAL_ENDPOINT = server.endpoint;
  process.stdout.write(
    `\nDynamoDB Local ${server.version} (real DynamoDB API server) ready on ${server.endpoint} in ${Date.now() - started} ms\n`,
  );
}
