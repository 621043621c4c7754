import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DynamoDbJwksStore } from '../lambda/adapters/dynamodb-jwks-store';
import { createLogger } from '../lambda/adapters/logger';
import type { RotationPolicy } from '../lambda/core/key-rotation';
import { parseKeySet, serializeKeySet } from '../lambda/core/key-set-format';
import type { KeySet, PublicJwks } from '../lambda/core/keys';
import { createRotationHandler, type JwksPublisher } from '../lambda/rotation/handler';
import { localClient } from './dynamodb-local';
import { readKeySet, writeKeySet } from './keys-file';
import { KEY_CACHE_SECONDS, PLATFORM_STATE_FILE } from './platform';
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
 */
export async function rotateLocalKeys(options: {
  readonly dataDir: string;
  readonly policy: RotationPolicy;
  readonly revokeKid?: string;
  readonly write?: (line: string) => void;
}): Promise<LocalRotationResult> {
  const keysPath = join(options.dataDir, 'keys.json');
  const before = await readKeySet(keysPath);
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

/** The running platform's JWKS item, or an in-memory one when no platform runs (`npm start` publishes). */
async function jwksPublisher(
  dataDir: string,
): Promise<{ publisher: JwksPublisher; published: boolean; close: () => void }> {
  let state: { dynamoDbEndpoint?: unknown; tableName?: unknown; pid?: unknown } | undefined;
  try {
    state = JSON.parse(await readFile(join(dataDir, PLATFORM_STATE_FILE), 'utf8')) as typeof state;
  } catch {
    state = undefined;
  }
  const running = typeof state?.pid === 'number' && isAlive(state.pid);
  if (running && typeof state?.dynamoDbEndpoint === 'string' && typeof state.tableName === 'string') {
    const client = localClient(state.dynamoDbEndpoint);
    return {
      publisher: new DynamoDbJwksStore(client, state.tableName),
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
  } catch {
    return false;
  }
}

async function main(): Promise<void> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const args = process.argv.slice(2);
  const revokeAt = args.indexOf('--revoke');
  const revokeKid = revokeAt === -1 ? undefined : args[revokeAt + 1];
  if (revokeAt !== -1 && (revokeKid === undefined || revokeKid.startsWith('--'))) {
    throw new Error('usage: npm run rotate-keys [-- --revoke <kid>]');
  }
  const ttl = Number(process.env.ACCESS_TOKEN_TTL_SECONDS || 300);
  const result = await rotateLocalKeys({
    dataDir: process.env.LOCAL_DATA_DIR || '.local',
    policy: {
      accessTokenTtlSeconds: ttl,
      clockSkewSeconds: 30,
      issuerKeyCacheSeconds: KEY_CACHE_SECONDS,
      sessionLifetimeSeconds: 604_800,
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
        ? '  the JWKS is published to the running platform, which signs with the new key within 2 s'
        : '  no platform is running: the next `npm start` publishes the JWKS',
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
