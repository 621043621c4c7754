import { join, resolve } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDbUserStore } from '../lambda/adapters/dynamodb-user-store';
import { CredentialService } from '../lambda/core/credentials';
import { localClient } from '../local/dynamodb-local';
import { PLATFORM_STATE_FILE } from '../local/platform';
import { dataDirSetting, findRunningPlatform } from '../local/rotate-keys';

/**
 * Creates (or with --overwrite replaces) a user in a deployed table: the issuer never creates users.
 *
 *     HYBRID_AUTH_PASSWORD=... npm run create-user -- --table hybrid-auth-sessions --region us-east-1 \
 *       --username alice --scope "profile admin" [--user-id ID] [--overwrite] [--endpoint URL]
 *
 * The password comes from the HYBRID_AUTH_PASSWORD environment variable (never an argument: arguments show
 * in process lists and shell history). It is hashed here with the platform's scrypt parameters; only the
 * hash is written. The global table replicates the user to every region.
 *
 *     HYBRID_AUTH_PASSWORD=... npm run create-user -- --local --username alice --scope "profile"
 *
 * `--local` writes to the platform `npm start` runs with the same LOCAL_DATA_DIR (`.local` when unset),
 * found through its `platform.json`: its DynamoDB Local and table, with the platform's built-in dummy
 * credentials, so no AWS account or credentials are needed. DynamoDB Local runs in memory: the user lasts
 * until that platform stops.
 */
export async function createUser(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<string> {
  const { args, text } = parseArgs(argv);
  const password = env.HYBRID_AUTH_PASSWORD;
  if (password === undefined || password === '') throw new Error('set the password in HYBRID_AUTH_PASSWORD');
  const target = await resolveTarget(args, text, env);
  const { client } = target;
  try {
    const credentials = new CredentialService({
      users: new DynamoDbUserStore({ client, tableName: target.tableName }),
    });
    const userId = text('user-id', false);
    // The username is enforced (RFC 8265 UsernameCaseMapped, lambda/core/username.ts) exactly as at login.
    const created = await credentials.createUser(
      {
        username: text('username') as string,
        password,
        scope: text('scope', false) ?? '',
        ...(userId === undefined ? {} : { userId }),
      },
      { overwrite: args.get('overwrite') === true },
    );
    if (created === undefined) throw new Error('that username exists; pass --overwrite to replace it');
    return `created user ${created.username} (subject ${created.userId}, scope "${created.scope}")${target.where}`;
  } finally {
    client.destroy();
  }
}

/** `--name value` and `--flag` arguments, shared with scripts/unlock-user.ts. */
export function parseArgs(argv: readonly string[]): {
  args: Map<string, string | true>;
  text: (name: string, required?: boolean) => string | undefined;
} {
  const args = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i];
    if (name === undefined || !name.startsWith('--')) throw new Error(`unexpected argument ${name}`);
    const value = argv[i + 1];
    if (value === undefined || value.startsWith('--')) args.set(name.slice(2), true);
    else {
      args.set(name.slice(2), value);
      i += 1;
    }
  }
  const text = (name: string, required = true): string | undefined => {
    const value = args.get(name);
    if (typeof value === 'string') return value;
    if (required) throw new Error(`--${name} is required`);
    return undefined;
  };
  return { args, text };
}

/** The table to write to: a deployed one (--table, --region, AWS credentials), or the local platform's. */
export async function resolveTarget(
  args: ReadonlyMap<string, string | true>,
  text: (name: string, required?: boolean) => string | undefined,
  env: NodeJS.ProcessEnv,
): Promise<{ client: DynamoDBClient; tableName: string; where: string }> {
  const local = args.get('local');
  if (local === undefined) {
    const endpoint = text('endpoint', false);
    const client = new DynamoDBClient({
      region: text('region') as string,
      ...(endpoint === undefined ? {} : { endpoint }),
    });
    return { client, tableName: text('table') as string, where: '' };
  }
  if (local !== true) throw new Error(`--local takes no value (got ${JSON.stringify(local)})`);
  for (const name of ['table', 'region', 'endpoint']) {
    if (args.has(name)) {
      throw new Error(`--local takes the table and endpoint from the running local platform: drop --${name}`);
    }
  }
  const platform = await runningLocalPlatform(env);
  return {
    client: localClient(platform.dynamoDbEndpoint),
    tableName: platform.tableName,
    where: ` in the local platform at ${platform.url} (until it stops: DynamoDB Local runs in memory)`,
  };
}

/**
 * The platform `npm start` runs with this environment's LOCAL_DATA_DIR (`.local` when unset), for a command's
 * `--local` mode; an error saying how to start one when none runs.
 */
export async function runningLocalPlatform(env: NodeJS.ProcessEnv) {
  const dataDir = env.LOCAL_DATA_DIR || '.local';
  const platform = await findRunningPlatform(dataDir);
  if (platform === undefined) {
    throw new Error(
      `no local platform is running for ${dataDirSetting(dataDir)}: no live ` +
        `${resolve(join(dataDir, PLATFORM_STATE_FILE))}. Start one with \`npm start\`, and give this command ` +
        'the LOCAL_DATA_DIR given to npm start.',
    );
  }
  return platform;
}

/**
 * Runs one of the user commands as a script: its message on stdout, or `<name> failed: <why>` on stderr and
 * exit code 1.
 */
export function runScript(
  command: (argv: readonly string[], env: NodeJS.ProcessEnv) => Promise<string>,
  name: string,
): void {
  command(process.argv.slice(2), process.env).then(
    (message) => process.stdout.write(`${message}\n`),
    (error: unknown) => {
      process.stderr.write(`${name} failed: ${(error as Error)?.message ?? String(error)}\n`);
      process.exit(1);
    },
  );
}

if (require.main === module) runScript(createUser, 'create-user');
