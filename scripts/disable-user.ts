import { DynamoDbSubjectStore } from '../lambda/adapters/dynamodb-subject-store';
import { DynamoDbUserStore } from '../lambda/adapters/dynamodb-user-store';
import { Env } from '../lambda/adapters/env';
import { normalizeUsername } from '../lambda/core/credentials';
import { watermarkAt } from '../lambda/core/subject';
import { SETTINGS } from '../lambda/settings';
import { parseArgs, resolveTarget, runScript } from './create-user';

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
  const settings = new Env(env);
  const marginSeconds = settings.setting(SETTINGS.revocationClockMarginSeconds);
  const sessionLifetimeSeconds = settings.setting(SETTINGS.sessionAbsoluteLifetimeSeconds);
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

if (require.main === module) runScript(disableUser, 'disable-user');
