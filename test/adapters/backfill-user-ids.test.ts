import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DeleteItemCommand, type DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDbUserStore } from '../../lambda/adapters/dynamodb-user-store';
import { CredentialService } from '../../lambda/core/credentials';
import { InvalidRequestError } from '../../lambda/core/errors';
import { backfillUserIds } from '../../scripts/backfill-user-ids';
import { localModeDataDir, withLocalCredentials } from '../support/aws-environment';
import { freshTable } from '../support/dynamodb';
import { runPackageScript } from '../support/package-scripts';

let client: DynamoDBClient;
let tableName: string;
let credentials: CredentialService;

const PASSWORD = 'a long enough password';

beforeAll(async () => {
  ({ client, tableName } = await freshTable());
  credentials = new CredentialService({
    users: new DynamoDbUserStore({ client, tableName }),
    scrypt: { N: 2 ** 10 },
  });
});

afterAll(() => client.destroy());

// The script takes credentials from the default chain.
withLocalCredentials();

async function user(username: string, userId: string): Promise<void> {
  await credentials.createUser({ username, password: PASSWORD, userId });
}

/** A user as created before `USERID#` items existed: the user item alone. */
async function legacyUser(username: string, userId: string): Promise<void> {
  await user(username, userId);
  await client.send(new DeleteItemCommand({ TableName: tableName, Key: { pk: { S: `USERID#${userId}` } } }));
}

const change = (userId: string) =>
  credentials.changePassword(userId, PASSWORD, 'another long enough password', { source: '192.0.2.1' });

test('writes the USERID# item of every user without one, leaves the rest, and the password change works after', async () => {
  // GIVEN two legacy users, two current ones, and one whose subject another user's USERID# item names
  await user('alice', 'u-alice');
  await legacyUser('bob', 'u-bob');
  await legacyUser('carol', 'u-carol');
  await user('dave', 'u-shared');
  await user('erin', 'u-erin');
  await client.send(
    new PutItemCommand({
      TableName: tableName,
      Item: { pk: { S: 'USERID#u-shared' }, username: { S: 'erin' } },
    }),
  );
  await expect(change('u-bob')).rejects.toBeInstanceOf(InvalidRequestError);

  // WHEN the store backfills, a page of two items at a time (a scan reads sessions and throttles too)
  const store = new DynamoDbUserStore({ client, tableName });
  const result = await store.backfillUserIds({ pageSize: 2 });

  // THEN exactly the missing items are written, the conflict is reported and left
  expect({ ...result, written: [...result.written].sort() }).toEqual({
    written: ['bob', 'carol'],
    present: 2,
    conflicts: [{ username: 'dave', userId: 'u-shared', namedUser: 'erin' }],
  });
  expect(await store.getUsername('u-bob')).toBe('bob');
  expect(await store.getUsername('u-shared')).toBe('erin');
  await expect(change('u-bob')).resolves.toEqual({ username: 'bob' });

  // AND the script, run again, writes nothing and says so
  const endpoint = process.env.DYNAMODB_LOCAL_ENDPOINT ?? '';
  expect(
    await backfillUserIds(['--table', tableName, '--region', 'us-east-1', '--endpoint', endpoint], {}),
  ).toBe(
    'wrote 0 USERID# items; 4 already there\n' +
      "left dave: its subject u-shared is named by erin's USERID# item",
  );
});

describe('npm run backfill-user-ids -- --local', () => {
  // No AWS credentials, profile or region anywhere: local mode must not need any.
  const dataDir = localModeDataDir('hybrid-auth-backfill-');

  test("runs the file package.json names, against the running platform's table", async () => {
    await legacyUser('frank', 'u-frank');
    writeFileSync(
      join(dataDir(), 'platform.json'),
      `${JSON.stringify({ url: 'http://127.0.0.1:3999', dynamoDbEndpoint: process.env.DYNAMODB_LOCAL_ENDPOINT, tableName, pid: process.pid })}\n`,
    );
    const result = runPackageScript('backfill-user-ids', ['--local'], { LOCAL_DATA_DIR: dataDir() });
    expect({ status: result.status, stderr: result.stderr }).toEqual({ status: 0, stderr: '' });
    expect(result.stdout).toMatch(
      /^wrote 1 USERID# item \(frank\); 4 already there in the local platform at http:\/\/127\.0\.0\.1:3999/,
    );
    await expect(change('u-frank')).resolves.toEqual({ username: 'frank' });
  }, 120_000);
});
