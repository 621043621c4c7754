import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDbUserStore } from '../lambda/adapters/dynamodb-user-store';
import { CredentialService } from '../lambda/core/credentials';

/**
 * Creates (or with --overwrite replaces) a user in a deployed table: the issuer never creates users.
 *
 *     HYBRID_AUTH_PASSWORD=... npm run create-user -- --table hybrid-auth-sessions --region us-east-1 \
 *       --username alice --scope "profile admin" [--user-id ID] [--overwrite] [--endpoint URL]
 *
 * The password comes from the HYBRID_AUTH_PASSWORD environment variable (never an argument: arguments show
 * in process lists and shell history). It is hashed here with the platform's scrypt parameters; only the
 * hash is written. The global table replicates the user to every region.
 */
export async function createUser(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<string> {
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
  const password = env.HYBRID_AUTH_PASSWORD;
  if (password === undefined || password === '') throw new Error('set the password in HYBRID_AUTH_PASSWORD');
  const endpoint = text('endpoint', false);
  const client = new DynamoDBClient({
    region: text('region') as string,
    ...(endpoint === undefined ? {} : { endpoint }),
  });
  try {
    const credentials = new CredentialService({
      users: new DynamoDbUserStore({ client, tableName: text('table') as string }),
    });
    const userId = text('user-id', false);
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
    return `created user ${created.username} (subject ${created.userId}, scope "${created.scope}")`;
  } finally {
    client.destroy();
  }
}

if (require.main === module) {
  createUser(process.argv.slice(2), process.env).then(
    (message) => process.stdout.write(`${message}\n`),
    (error: unknown) => {
      process.stderr.write(`create-user failed: ${(error as Error)?.message ?? String(error)}\n`);
      process.exit(1);
    },
  );
}
