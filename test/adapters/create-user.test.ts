import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDbUserStore } from '../../lambda/adapters/dynamodb-user-store';
import { CredentialService } from '../../lambda/core/credentials';
import { createUser } from '../../scripts/create-user';
import { localModeDataDir, withLocalCredentials, writePlatformFile } from '../support/aws-environment';
import { freshTable } from '../support/dynamodb';

let client: DynamoDBClient;
let tableName: string;

beforeAll(async () => {
  ({ client, tableName } = await freshTable());
});

afterAll(() => client.destroy());

// The script takes credentials from the default chain.
withLocalCredentials();

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

describe('npm run create-user -- --local', () => {
  // No AWS credentials, profile or region anywhere: local mode must not need any.
  const dataDir = localModeDataDir('hybrid-auth-create-user-');

  /** What `npm start` writes to `$LOCAL_DATA_DIR/platform.json` while it runs. */
  const platformFile = (pid: number) => writePlatformFile(dataDir(), tableName, pid);

  test("writes to the running platform's table with built-in dummy credentials", async () => {
    await platformFile(process.pid);
    const message = await createUser(['--local', '--username', 'dave', '--scope', 'profile'], {
      HYBRID_AUTH_PASSWORD: 'local secret',
      LOCAL_DATA_DIR: dataDir(),
    });
    expect(message).toMatch(/created user dave .* in the local platform at http:\/\/127\.0\.0\.1:3999/);
    const users = new DynamoDbUserStore({ client, tableName });
    await expect(
      new CredentialService({ users }).authenticate('dave', 'local secret'),
    ).resolves.toMatchObject({ scope: 'profile' });
  });

  test('says so when no local platform runs for that LOCAL_DATA_DIR', async () => {
    const failure = () =>
      createUser(['--local', '--username', 'erin'], {
        HYBRID_AUTH_PASSWORD: 'x',
        LOCAL_DATA_DIR: dataDir(),
      }).then(
        () => '',
        (error: Error) => error.message,
      );
    const expectNoPlatform = (message: string) => {
      expect(message).toContain('no local platform is running');
      expect(message).toContain(join(dataDir(), 'platform.json'));
      expect(message).toContain('npm start');
      expect(message).toContain('LOCAL_DATA_DIR');
    };
    expectNoPlatform(await failure());
    // A platform.json left behind by a platform that is gone (its pid no longer runs).
    const gone = spawnSync(process.execPath, ['-e', '']).pid;
    await platformFile(gone);
    expectNoPlatform(await failure());
  });

  test('takes the table and endpoint only from the running platform', async () => {
    await platformFile(process.pid);
    await expect(
      createUser(['--local', '--table', 'other', '--username', 'frank'], {
        HYBRID_AUTH_PASSWORD: 'x',
        LOCAL_DATA_DIR: dataDir(),
      }),
    ).rejects.toThrow(/--local .* drop --table/);
  });
});
