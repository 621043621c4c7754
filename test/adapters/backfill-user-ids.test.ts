import { DeleteItemCommand, type DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDbUserStore } from '../../lambda/adapters/dynamodb-user-store';
import { CredentialService } from '../../lambda/core/credentials';
import { InvalidRequestError } from '../../lambda/core/errors';
import { backfillUserIds } from '../../scripts/backfill-user-ids';
import { localModeDataDir, withLocalCredentials, writePlatformFile } from '../support/aws-environment';
import { freshTable } from '../support/dynamodb';
import { runPackageScript } from '../support/package-scripts';

let client: DynamoDBClient;
let tableName: string;
let credentials: CredentialService;

const PASSWORD = 'a long enough password';

// A table of its own for each test: what a run finds is the test's alone.
beforeEach(async () => {
  ({ client, tableName } = await freshTable());
  credentials = new CredentialService({
    users: new DynamoDbUserStore({ client, tableName }),
    scrypt: { N: 2 ** 10 },
  });
});

afterEach(() => client.destroy());

// The script takes credentials from the default chain.
withLocalCredentials();

async function user(username: string, userId: string): Promise<void> {
  await credentials.createUser({ username, password: PASSWORD, userId });
}

const dropUserIdItem = (userId: string) =>
  client.send(new DeleteItemCommand({ TableName: tableName, Key: { pk: { S: `USERID#${userId}` } } }));

/** A user as created before `USERID#` items existed: the user item alone. */
async function legacyUser(username: string, userId: string): Promise<void> {
  await user(username, userId);
  await dropUserIdItem(userId);
}

const change = (userId: string) =>
  credentials.changePassword(userId, PASSWORD, 'another long enough password', { source: '192.0.2.1' });

test('writes the USERID# item of every user without one; leaves shared and claimed subjects to the operator', async () => {
  // GIVEN two legacy users and a current one; two legacy users sharing a subject; a user whose subject's
  // USERID# item names someone else; and a user item without a subject
  await user('alice', 'u-alice');
  await legacyUser('bob', 'u-bob');
  await legacyUser('carol', 'u-carol');
  await legacyUser('dave', 'u-shared');
  await legacyUser('gina', 'u-shared');
  await user('erin', 'u-erin');
  await client.send(
    new PutItemCommand({
      TableName: tableName,
      Item: { pk: { S: 'USERID#u-erin' }, username: { S: 'zoe' } },
    }),
  );
  await client.send(
    new PutItemCommand({
      TableName: tableName,
      Item: { pk: { S: 'USER#broken' }, username: { S: 'broken' } },
    }),
  );
  await expect(change('u-bob')).rejects.toBeInstanceOf(InvalidRequestError);

  // WHEN the store backfills, a page of two items at a time (a scan reads the JWKS and other items too)
  const store = new DynamoDbUserStore({ client, tableName });
  const result = await store.backfillUserIds({ pageSize: 2 });

  // THEN exactly the missing items of subjects with one user are written; the rest is reported, untouched
  expect({
    ...result,
    written: [...result.written].sort(),
    conflicts: result.conflicts
      .map((conflict) => ({ ...conflict, usernames: [...conflict.usernames].sort() }))
      .sort((a, b) => a.userId.localeCompare(b.userId)),
  }).toEqual({
    written: ['bob', 'carol'],
    present: 1,
    conflicts: [
      { userId: 'u-erin', usernames: ['erin'], namedUser: 'zoe' },
      { userId: 'u-shared', usernames: ['dave', 'gina'], namedUser: undefined },
    ],
    incomplete: 1,
  });
  expect(await store.getUsername('u-bob')).toBe('bob');
  expect(await store.getUsername('u-shared')).toBeUndefined();
  expect(await store.getUsername('u-erin')).toBe('zoe');
  await expect(change('u-bob')).resolves.toEqual({ username: 'bob' });

  // AND the script, run again, writes nothing and says what it left
  const endpoint = process.env.DYNAMODB_LOCAL_ENDPOINT ?? '';
  const output = await backfillUserIds(
    ['--table', tableName, '--region', 'us-east-1', '--endpoint', endpoint],
    {},
  );
  expect(output.split('\n').sort()).toEqual(
    [
      'wrote 0 USERID# items; 3 already there',
      'left subject u-erin of erin: its USERID# item names zoe',
      'left subject u-shared: users dave, gina share it; keep one (create-user --overwrite the others with their own subject)',
      'skipped 1 user item without a username or userId',
    ].sort(),
  );
});

describe('npm run backfill-user-ids -- --local', () => {
  // No AWS credentials, profile or region anywhere: local mode must not need any.
  const dataDir = localModeDataDir('hybrid-auth-backfill-');

  test("runs the file package.json names, against the running platform's table", async () => {
    await legacyUser('frank', 'u-frank');
    writePlatformFile(dataDir(), tableName);
    const result = runPackageScript('backfill-user-ids', ['--local'], { LOCAL_DATA_DIR: dataDir() });
    expect({ status: result.status, stderr: result.stderr }).toEqual({ status: 0, stderr: '' });
    expect(result.stdout).toMatch(
      /^wrote 1 USERID# item \(frank\); 0 already there in the local platform at http:\/\/127\.0\.0\.1:3999\b/,
    );
    await expect(change('u-frank')).resolves.toEqual({ username: 'frank' });
  }, 120_000);
});
