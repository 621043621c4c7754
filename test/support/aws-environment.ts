import { writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PLATFORM_STATE_FILE } from '../../local/platform';

/**
 * Takes every `AWS_*` variable out of `process.env` (but the SDK's own `AWS_SDK_JS_*` switches) and points the
 * shared config and credentials files at nothing under `dir`: a script's local mode must need no AWS
 * credentials, profile or region. Call the returned function to put the environment back.
 */
export function withoutAwsEnvironment(dir: string): () => void {
  const saved: Record<string, string | undefined> = {};
  for (const name of Object.keys(process.env)) {
    if (name.startsWith('AWS_') && !name.startsWith('AWS_SDK_JS')) {
      saved[name] = process.env[name];
      delete process.env[name];
    }
  }
  process.env.AWS_CONFIG_FILE = join(dir, 'no-aws-config');
  process.env.AWS_SHARED_CREDENTIALS_FILE = join(dir, 'no-aws-credentials');
  return () => {
    delete process.env.AWS_CONFIG_FILE;
    delete process.env.AWS_SHARED_CREDENTIALS_FILE;
    for (const [name, value] of Object.entries(saved)) if (value !== undefined) process.env[name] = value;
  };
}

/**
 * For a `describe` of a script's local mode: a fresh data directory per test, with no AWS environment
 * ({@link withoutAwsEnvironment}) while it runs. Returns the directory of the current test.
 */
export function localModeDataDir(prefix: string): () => string {
  let dir = '';
  let restore: () => void = () => undefined;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), prefix));
    restore = withoutAwsEnvironment(dir);
  });
  afterEach(async () => {
    restore();
    await rm(dir, { recursive: true, force: true });
  });
  return () => dir;
}

/**
 * For a suite that runs the scripts against DynamoDB Local by `--endpoint`: gives their default credential
 * chain the dummy keys DynamoDB Local takes (it keeps tables per access key, so they must be the keys the
 * suite's own client uses) while the suite runs, and puts the environment back after.
 */
export function withLocalCredentials(): void {
  const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
  beforeAll(() => {
    process.env.AWS_ACCESS_KEY_ID = 'local';
    process.env.AWS_SECRET_ACCESS_KEY = 'local';
  });
  afterAll(() => {
    for (const [name, value] of [
      ['AWS_ACCESS_KEY_ID', saved.id],
      ['AWS_SECRET_ACCESS_KEY', saved.secret],
    ] as const) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  });
}

/**
 * Writes the `platform.json` a running `npm start` leaves in its data directory (its URL
 * `http://127.0.0.1:3999`), pointing the scripts' local mode at `tableName` on the run's DynamoDB Local.
 */
export function writePlatformFile(dataDir: string, tableName: string, pid = process.pid): void {
  const state = {
    url: 'http://127.0.0.1:3999',
    dynamoDbEndpoint: process.env.DYNAMODB_LOCAL_ENDPOINT,
    tableName,
    pid,
  };
  writeFileSync(join(dataDir, PLATFORM_STATE_FILE), `${JSON.stringify(state)}\n`);
}
