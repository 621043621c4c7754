import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDbSessionStore } from '../../lambda/adapters/dynamodb-session-store';
import { DynamoDbSubjectStore } from '../../lambda/adapters/dynamodb-subject-store';
import { DynamoDbUserStore } from '../../lambda/adapters/dynamodb-user-store';
import { CredentialService } from '../../lambda/core/credentials';
import { GrantError } from '../../lambda/core/errors';
import { generateKeySet, type KeySet } from '../../lambda/core/keys';
import { SessionService } from '../../lambda/core/session-service';
import { disableUser, enableUser } from '../../scripts/disable-user';
import { localModeDataDir, withLocalCredentials, writePlatformFile } from '../support/aws-environment';
import { freshTable } from '../support/dynamodb';
import { AUDIENCE, ISSUER } from '../support/fixtures';
import { runPackageScript } from '../support/package-scripts';

let client: DynamoDBClient;
let tableName: string;
let keys: KeySet;

beforeAll(async () => {
  ({ client, tableName } = await freshTable());
  keys = await generateKeySet({ now: Date.now() });
});

afterAll(() => client.destroy());

// The scripts take credentials from the default chain.
withLocalCredentials();

const endpoint = () => process.env.DYNAMODB_LOCAL_ENDPOINT ?? '';
const base = () => ['--table', tableName, '--region', 'us-east-1', '--endpoint', endpoint()];

function sessions(): SessionService {
  return new SessionService({
    store: new DynamoDbSessionStore({ client, tableName }),
    subjects: new DynamoDbSubjectStore({ client, tableName }),
    keys: async () => keys,
    profile: { issuer: ISSUER, audience: AUDIENCE, ttlSeconds: 300 },
    policy: { revocationClockMarginSeconds: 0 },
  });
}

async function newUser(username: string): Promise<string> {
  const credentials = new CredentialService({
    users: new DynamoDbUserStore({ client, tableName }),
    scrypt: { N: 2 ** 10 },
  });
  const created = await credentials.createUser({ username, password: 'a long enough password' });
  if (created === undefined) throw new Error('user exists');
  return created.userId;
}

const grantCode = (promise: Promise<unknown>) =>
  promise.then(
    () => 'accepted',
    (error: unknown) => (error instanceof GrantError ? error.code : String(error)),
  );

describe('npm run disable-user / enable-user', () => {
  test('disable refuses login and refresh; enable allows login again, never the old sessions', async () => {
    const sub = await newUser('Harriet');
    const service = sessions();
    const before = await service.login({ sub, clientId: 'native', scope: '' });

    const disabled = await disableUser([...base(), '--username', 'HARRIET'], {});
    expect(disabled).toBe(
      `disabled harriet (subject ${sub}): login refused now; every session refused within the revocation budget`,
    );
    const subject = await new DynamoDbSubjectStore({ client, tableName }).get(sub, { consistent: true });
    expect(subject).toMatchObject({ sub, disabled: true });
    expect(subject?.notBefore).toBeGreaterThanOrEqual(Date.now());
    expect(await grantCode(service.login({ sub, clientId: 'native', scope: '' }))).toBe('subject_disabled');
    expect(await grantCode(service.refresh(before.refreshToken, 'native'))).toBe('subject_disabled');

    const enabled = await enableUser([...base(), '--username', 'harriet'], {});
    expect(enabled).toMatch(
      /^enabled harriet \(subject .*\): login allowed; sessions from before stay ended$/,
    );
    expect(
      (await new DynamoDbSubjectStore({ client, tableName }).get(sub, { consistent: true }))?.disabled,
    ).toBe(undefined);
    // The watermark (1 s ahead of the disable, the default margin) stays: wait it out, then log in again.
    await new Promise((resolve) =>
      setTimeout(resolve, Math.max(0, (subject?.notBefore ?? 0) - Date.now() + 5)),
    );
    const after = await service.login({ sub, clientId: 'native', scope: '' });
    expect(await grantCode(service.refresh(after.refreshToken, 'native'))).toBe('accepted');
    expect(await grantCode(service.refresh(before.refreshToken, 'native'))).not.toBe('accepted');
  });

  test('refuses an unknown user and a bad margin setting, writing nothing', async () => {
    await expect(disableUser([...base(), '--username', 'nobody'], {})).rejects.toThrow(/no user nobody/);
    await newUser('ivan');
    await expect(
      disableUser([...base(), '--username', 'ivan'], { REVOCATION_CLOCK_MARGIN_SECONDS: '600' }),
    ).rejects.toThrow(/REVOCATION_CLOCK_MARGIN_SECONDS must be an integer from 0 to 60/);
    await expect(disableUser(['--username', 'ivan'], {})).rejects.toThrow(/--region/);
  });
});

describe('npm run disable-user -- --local', () => {
  // No AWS credentials, profile or region anywhere: local mode must not need any.
  const dataDir = localModeDataDir('hybrid-auth-disable-user-');

  test("disables and enables in the running platform's table with built-in dummy credentials", async () => {
    writePlatformFile(dataDir(), tableName);
    const sub = await newUser('judy');
    const env = { LOCAL_DATA_DIR: dataDir() };
    expect(await disableUser(['--local', '--username', 'judy'], env)).toMatch(
      /^disabled judy .* in the local platform at http:\/\/127\.0\.0\.1:3999/,
    );
    expect(await grantCode(sessions().login({ sub, clientId: 'native', scope: '' }))).toBe(
      'subject_disabled',
    );
    expect(await enableUser(['--local', '--username', 'judy'], env)).toMatch(/^enabled judy /);
    expect(
      (await new DynamoDbSubjectStore({ client, tableName }).get(sub, { consistent: true }))?.disabled,
    ).toBeUndefined();
  });

  test('the npm scripts run their commands: create-user, disable-user, enable-user and unlock-user as package.json names them', () => {
    writePlatformFile(dataDir(), tableName);
    const run = (name: string) =>
      runPackageScript(name, ['--local', '--username', 'kim'], {
        LOCAL_DATA_DIR: dataDir(),
        HYBRID_AUTH_PASSWORD: 'kim-password-1',
      });
    for (const [name, output] of [
      ['create-user', /^created user kim /],
      ['disable-user', /^disabled kim /],
      ['enable-user', /^enabled kim /],
      ['unlock-user', /^unlocked kim: cleared 0 login throttle counters /],
    ] as const) {
      const result = run(name);
      expect({ name, status: result.status, stderr: result.stderr }).toEqual({ name, status: 0, stderr: '' });
      expect(result.stdout).toMatch(output);
    }
  }, 120_000);
});
