import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDbUserStore } from '../../lambda/adapters/dynamodb-user-store';
import { CredentialService } from '../../lambda/core/credentials';
import { createUser } from '../../scripts/create-user';
import { freshTable } from '../support/dynamodb';

let client: DynamoDBClient;
let tableName: string;

const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };

beforeAll(async () => {
  ({ client, tableName } = await freshTable());
  // The script takes credentials from the default chain; DynamoDB Local keeps tables per access key.
  process.env.AWS_ACCESS_KEY_ID = 'local';
  process.env.AWS_SECRET_ACCESS_KEY = 'local';
});

afterAll(() => {
  process.env.AWS_ACCESS_KEY_ID = saved.id;
  process.env.AWS_SECRET_ACCESS_KEY = saved.secret;
  client.destroy();
});

const endpoint = () => process.env.DYNAMODB_LOCAL_ENDPOINT ?? '';
const base = () => ['--table', tableName, '--region', 'us-east-1', '--endpoint', endpoint()];

describe('npm run create-user', () => {
  test('creates a user whose password then logs in, storing only a scrypt hash', async () => {
    const message = await createUser([...base(), '--username', 'Alice', '--scope', 'profile admin'], {
      HYBRID_AUTH_PASSWORD: 'correct horse',
    });
    expect(message).toMatch(/created user alice \(subject [0-9a-f-]{36}, scope "profile admin"\)/);
    const users = new DynamoDbUserStore({ client, tableName });
    const stored = await users.getUser('alice');
    expect(stored?.passwordHash).toMatch(/^\$scrypt\$/);
    expect(JSON.stringify(stored)).not.toContain('correct horse');
    await expect(
      new CredentialService({ users }).authenticate('alice', 'correct horse'),
    ).resolves.toMatchObject({
      scope: 'profile admin',
    });
  });

  test('refuses to replace an existing user without --overwrite', async () => {
    await createUser([...base(), '--username', 'bob'], { HYBRID_AUTH_PASSWORD: 'one' });
    await expect(
      createUser([...base(), '--username', 'bob'], { HYBRID_AUTH_PASSWORD: 'two' }),
    ).rejects.toThrow(/pass --overwrite/);
    await createUser([...base(), '--username', 'bob', '--overwrite'], { HYBRID_AUTH_PASSWORD: 'two' });
    const users = new DynamoDbUserStore({ client, tableName });
    await expect(new CredentialService({ users }).authenticate('bob', 'two')).resolves.toBeDefined();
  });

  test('takes the password only from the environment', async () => {
    await expect(createUser([...base(), '--username', 'carol'], {})).rejects.toThrow(/HYBRID_AUTH_PASSWORD/);
    await expect(createUser(['--username', 'carol'], { HYBRID_AUTH_PASSWORD: 'x' })).rejects.toThrow(
      /--region/,
    );
  });
});
