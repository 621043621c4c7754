import { DynamoDbUserStore } from '../lambda/adapters/dynamodb-user-store';
import { normalizeUsername } from '../lambda/core/credentials';
import { parseArgs, resolveTarget, runScript } from './create-user';

/**
 * Lifts the login throttle of one account (docs/operations.md "Login throttle"): deletes its account-wide
 * failure counter and back-off slot and the counters of every source (address or device) for it, so the
 * user's next login is checked at once. Nothing else changes: the password and the sessions stay.
 *
 *     npm run unlock-user -- --table hybrid-auth-sessions --region us-east-1 --username alice [--endpoint URL]
 *     npm run unlock-user -- --local --username alice
 *
 * The username is enforced as at login (RFC 8265), so the name typed here is the account the throttle
 * counted. Run it in each region whose counters should go: the counters are per region until replication
 * merges them, and the deletes replicate like any other write. Needs `dynamodb:Scan` and
 * `dynamodb:DeleteItem` on the table.
 */
export async function unlockUser(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<string> {
  const { args, text } = parseArgs(argv);
  const username = normalizeUsername(text('username'));
  const target = await resolveTarget(args, text, env);
  try {
    const store = new DynamoDbUserStore({ client: target.client, tableName: target.tableName });
    const cleared = await store.clearAll(username);
    return `unlocked ${username}: cleared ${cleared} login throttle counter${cleared === 1 ? '' : 's'}${target.where}`;
  } finally {
    target.client.destroy();
  }
}

if (require.main === module) runScript(unlockUser, 'unlock-user');
