import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DynamoDbJwksStore } from '../lambda/adapters/dynamodb-jwks-store';
import { Env } from '../lambda/adapters/env';
import { createLogger } from '../lambda/adapters/logger';
import type { RotationPolicy } from '../lambda/core/key-rotation';
import { parseKeySet, serializeKeySet } from '../lambda/core/key-set-format';
import type { KeySet, PublicJwks } from '../lambda/core/keys';
import { createRotationHandler, type JwksPublisher } from '../lambda/rotation/handler';
import { SETTINGS } from '../lambda/settings';
import { localClient } from './dynamodb-local';
import { readKeySet, writeKeySet } from './keys-file';
import { KEY_CACHE_SECONDS, PLATFORM_STATE_FILE } from './platform';
import { parseRegions } from './regions';
import { SecretsManagerStandIn } from './secrets-manager-stand-in';

/** What `npm run rotate-keys` did. */
export interface LocalRotationResult {
  readonly before: KeySet;
  readonly after: KeySet;
  /** Whether the JWKS went to a running platform's table (else the next `npm start` publishes it). */
  readonly published: boolean;
}

/**
 * Runs the real rotation function (lambda/rotation) against the local key set: `keys.json` seeds a
 * stateful Secrets Manager stand-in as its AWSCURRENT version, the four steps run (publishing the JWKS to
 * the running platform's table when one is running), and the new AWSCURRENT is written back to `keys.json`.
 * With `revokeKid`, the emergency path removes that key at once.
 *
 * With several regions (`REGIONS=... npm start`) `dataDir` is the primary region's (`<LOCAL_DATA_DIR>/<primary>`):
 * rotation writes the primary's secret and publishes to the primary's table, and the running platform's
 * replication carries both to the other regions, as Secrets Manager and the global table do.
 */
export async function rotateLocalKeys(options: {
  readonly dataDir: string;
  /** How `dataDir` was chosen, for messages. @default {@link dataDirSetting} of `dataDir` */
  readonly setting?: string;
  readonly policy: RotationPolicy;
  readonly revokeKid?: string;
  readonly write?: (line: string) => void;
}): Promise<LocalRotationResult> {
  const keysPath = join(options.dataDir, 'keys.json');
  const before = await readKeySet(keysPath).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOENT') throw error;
    throw new Error(
      `no keys file at ${resolve(keysPath)} (${options.setting ?? dataDirSetting(options.dataDir)}). LOCAL_DATA_DIR must be the ` +
        'one given to `npm start`: run `LOCAL_DATA_DIR=<that directory> npm run rotate-keys`, or run ' +
        '`npm start` once to create the keys. PORT plays no part: the running platform is found through the ' +
        'platform.json it writes in that directory.',
    );
  });
  const { publisher, published, close } = await jwksPublisher(options.dataDir);
  const standIn = new SecretsManagerStandIn();
  const secretId = standIn.createSecret('hybrid-auth/local/signing-keys', serializeKeySet(before), {
    rotationEnabled: true,
  });
  const client = new SecretsManagerClient({
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  const mock = standIn.attach(client);
  try {
    const handler = createRotationHandler({
      secrets: client,
      jwks: publisher,
      policy: options.policy,
      logger: createLogger('rotate-keys', options.write),
      metric: () => {},
    });
    if (options.revokeKid === undefined) {
      await standIn.rotate(secretId, handler);
    } else {
      await handler({
        action: 'revoke',
        SecretId: secretId,
        kid: options.revokeKid,
        ClientRequestToken: randomUUID(),
      });
    }
    const after = parseKeySet(standIn.current(secretId), 'rotated key set');
    await writeKeySet(keysPath, after);
    return { before, after, published };
  } finally {
    mock.restore();
    client.destroy();
    close();
  }
}

/** The data directory as the setting that chose it, for messages: `LOCAL_DATA_DIR=.local, the default`. */
export function dataDirSetting(dataDir: string): string {
  return `LOCAL_DATA_DIR=${dataDir}${dataDir === '.local' ? ', the default' : ''}`;
}

/** What a running `npm start` writes to `$LOCAL_DATA_DIR/platform.json` (local/platform.ts). */
export interface RunningPlatform {
  readonly url: string;
  readonly dynamoDbEndpoint: string;
  readonly tableName: string;
  readonly pid: number;
  /** With `REGIONS=... npm start`: the regions, the primary first (the table above is the primary's). */
  readonly regions?: readonly string[];
}

/**
 * The platform that `npm start` runs with this data directory, or undefined when none does: no
 * `platform.json`, or one left behind by a process that is gone.
 */
export async function findRunningPlatform(dataDir: string): Promise<RunningPlatform | undefined> {
  let state: Partial<Record<keyof RunningPlatform, unknown>>;
  try {
    state = JSON.parse(await readFile(join(dataDir, PLATFORM_STATE_FILE), 'utf8')) as typeof state;
  } catch {
    return undefined;
  }
  if (typeof state !== 'object' || state === null) return undefined;
  const { url, dynamoDbEndpoint, tableName, pid, regions } = state;
  if (typeof pid !== 'number' || !isAlive(pid)) return undefined;
  if (typeof url !== 'string' || typeof dynamoDbEndpoint !== 'string' || typeof tableName !== 'string') {
    return undefined;
  }
  const named =
    Array.isArray(regions) && regions.length > 0 && regions.every((region) => typeof region === 'string')
      ? { regions: regions as string[] }
      : {};
  return { url, dynamoDbEndpoint, tableName, pid, ...named };
}

/** The running platform's JWKS item, or an in-memory one when no platform runs (`npm start` publishes). */
async function jwksPublisher(
  dataDir: string,
): Promise<{ publisher: JwksPublisher; published: boolean; close: () => void }> {
  const running = await findRunningPlatform(dataDir);
  if (running !== undefined) {
    const client = localClient(running.dynamoDbEndpoint);
    return {
      publisher: new DynamoDbJwksStore(client, running.tableName),
      published: true,
      close: () => client.destroy(),
    };
  }
  let jwks: PublicJwks = { keys: [] };
  return {
    publisher: {
      publish: async (value) => {
        jwks = value;
      },
      load: async () => jwks,
    },
    published: false,
    close: () => {},
  };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it runs, as another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const revokeAt = args.indexOf('--revoke');
  const revokeKid = revokeAt === -1 ? undefined : args[revokeAt + 1];
  if (revokeAt !== -1 && (revokeKid === undefined || revokeKid.startsWith('--'))) {
    throw new Error('usage: npm run rotate-keys [-- --revoke <kid>]');
  }
  const env = new Env();
  const baseDir = process.env.LOCAL_DATA_DIR || '.local';
  // With REGIONS (or a running `REGIONS=... npm start` on this directory), the secret is the primary's.
  const regions = parseRegions(process.env.REGIONS) ?? (await findRunningPlatform(baseDir))?.regions;
  const primary = regions?.[0];
  const dataDir = primary === undefined ? baseDir : join(baseDir, primary);
  const setting =
    regions === undefined
      ? dataDirSetting(baseDir)
      : `${dataDirSetting(baseDir)}, REGIONS=${regions.join(',')}`;
  const result = await rotateLocalKeys({
    dataDir,
    setting,
    policy: {
      // The platform's own settings: the same environment as `npm start`, the same defaults as Lambda.
      accessTokenTtlSeconds: env.setting(SETTINGS.accessTokenTtlSeconds),
      clockSkewSeconds: SETTINGS.clockSkewSeconds.default,
      issuerKeyCacheSeconds: KEY_CACHE_SECONDS,
      sessionLifetimeSeconds: SETTINGS.sessionAbsoluteLifetimeSeconds.default,
    },
    ...(revokeKid === undefined ? {} : { revokeKid }),
    write: () => {},
  });
  const describe = (set: KeySet) =>
    set.signingKeys.map((key) => `    ${key.state.padEnd(8)} ${key.kid} (${key.alg})`).join('\n');
  process.stdout.write(
    [
      revokeKid === undefined ? 'rotated the signing keys' : `revoked key ${revokeKid}`,
      '  before:',
      describe(result.before),
      '  after:',
      describe(result.after),
      result.published
        ? primary === undefined
          ? '  the JWKS is published to the running platform, which signs with the new key within 2 s'
          : `  the JWKS is published to the primary region's (${primary}) table; the replication carries it and ` +
            'the new key set to the other regions, which sign with the new key within 2 s of receiving it'
        : `  no platform is running with ${setting}: the next \`npm start\` with it publishes the JWKS`,
      '',
    ].join('\n'),
  );
}

if (require.main === module) {
  main().catch((error: unknown) => {
    process.stderr.write(`rotate-keys failed: ${(error as Error)?.message ?? String(error)}\n`);
    process.exit(1);
  });
}
