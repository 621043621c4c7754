import { DynamoDbSubjectStore } from '../lambda/adapters/dynamodb-subject-store';
import { DynamoDbUserStore } from '../lambda/adapters/dynamodb-user-store';
import { normalizeUsername } from '../lambda/core/credentials';
import { watermarkAt } from '../lambda/core/subject';
import { SETTINGS, type SettingSpec } from '../lambda/settings';
import { parseArgs, resolveTarget } from './create-user';

/**
 * Disables or enables one account (docs/operations.md "Disable and enable an account"): one write to the
 * subject's watermark item (`SUBJECT#<subject key>`, lambda/core/subject.ts).
 *
 *     npm run disable-user -- --table hybrid-auth-sessions --region us-east-1 --username alice [--endpoint URL]
 *     npm run disable-user -- --local --username alice
 *     npm run enable-user -- --table hybrid-auth-sessions --region us-east-1 --username alice
 *
 * Disable sets `disabled` and moves the watermark to now plus the revocation clock margin
 * (REVOCATION_CLOCK_MARGIN_SECONDS, lambda/settings.ts): login is refused at once, and every session (and so
 * every refresh and every call) is refused as soon as the item has replicated and the verifiers' caches
 * have expired (the revocation budget). Enable removes `disabled` only: the watermark stays, so the
 * sessions that existed before the disable stay dead and the user logs in again. The password and the
 * login throttle are untouched. The global table replicates the write to every region: run it once.
 *
 * Needs `dynamodb:GetItem` on `USER#*` and `SUBJECT#*` and `dynamodb:UpdateItem` on `SUBJECT#*`. The optional
 * environment variables REVOCATION_CLOCK_MARGIN_SECONDS and SESSION_ABSOLUTE_LIFETIME_SECONDS should match
 * the deployment's when it does not use the defaults.
 */
export async function disableUser(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<string> {
  return setDisabled(argv, env, true);
}

/** Enables an account disabled by {@link disableUser} (`npm run enable-user`, the same arguments). */
export async function enableUser(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<string> {
  return setDisabled(argv, env, false);
}

async function setDisabled(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  disabled: boolean,
): Promise<string> {
  const { args, text } = parseArgs(argv);
  // Enforced as at login (RFC 8265), so the name typed here is the account that logs in.
  const username = normalizeUsername(text('username'));
  const marginSeconds = setting(env, SETTINGS.revocationClockMarginSeconds);
  const sessionLifetimeSeconds = setting(env, SETTINGS.sessionAbsoluteLifetimeSeconds);
  const target = await resolveTarget(args, text, env);
  try {
    const { client, tableName } = target;
    const user = await new DynamoDbUserStore({ client, tableName }).getUser(username);
    if (user === undefined) throw new Error(`no user ${username}${target.where}`);
    const subjects = new DynamoDbSubjectStore({ client, tableName, sessionLifetimeSeconds });
    const now = Date.now();
    await subjects.setDisabled(user.userId, disabled, watermarkAt(now, marginSeconds * 1000), now);
    return disabled
      ? `disabled ${username} (subject ${user.userId}): login refused now; every session refused within the ` +
          `revocation budget${target.where}`
      : `enabled ${username} (subject ${user.userId}): login allowed; sessions from before stay ended${target.where}`;
  } finally {
    target.client.destroy();
  }
}

/** A numeric setting from the environment, validated, or its default. */
function setting(env: NodeJS.ProcessEnv, spec: SettingSpec): number {
  const raw = env[spec.env];
  if (raw === undefined || raw === '') return spec.default;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < spec.min || value > spec.max) {
    throw new Error(
      `${spec.env} must be an integer from ${spec.min} to ${spec.max}, got ${JSON.stringify(raw)}`,
    );
  }
  return value;
}

/** Runs one of the two commands as a script. */
export function main(command: typeof disableUser, name: string): void {
  command(process.argv.slice(2), process.env).then(
    (message) => process.stdout.write(`${message}\n`),
    (error: unknown) => {
      process.stderr.write(`${name} failed: ${(error as Error)?.message ?? String(error)}\n`);
      process.exit(1);
    },
  );
}

if (require.main === module) main(disableUser, 'disable-user');
