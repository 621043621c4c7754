import { DynamoDbUserStore } from '../lambda/adapters/dynamodb-user-store';
import { parseArgs, resolveTarget, runScript } from './create-user';

/**
 * Writes the `USERID#<userId>` item of every user that has none (docs/data-model.md): users created before
 * those items existed cannot change their password (the issuer finds the user from the token's subject
 * through that item, and answers 400 `invalid_request` without it). Nothing else changes.
 *
 *     npm run backfill-user-ids -- --table hybrid-auth-sessions --region us-east-1 [--endpoint URL]
 *     npm run backfill-user-ids -- --local
 *
 * Each write is conditional on the item being absent, so it can run again at any time and changes nothing
 * that is there. A subject two users share (`create-user --user-id` allows it), or whose `USERID#` item names
 * another user, gets nothing and is listed: which user owns it is an operator's decision.
 * Run it in one region: the global table replicates the writes. It scans the whole table (one read of every
 * item); needs `dynamodb:Scan`, `dynamodb:GetItem` and `dynamodb:PutItem` on the table.
 */
export async function backfillUserIds(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<string> {
  const { args, text } = parseArgs(argv);
  const target = await resolveTarget(args, text, env);
  try {
    const store = new DynamoDbUserStore({ client: target.client, tableName: target.tableName });
    const { written, present, conflicts, incomplete } = await store.backfillUserIds();
    const lines = [
      `wrote ${written.length} USERID# item${written.length === 1 ? '' : 's'}${
        written.length === 0 ? '' : ` (${written.join(', ')})`
      }; ${present} already there${target.where}`,
      ...conflicts.map(({ userId, usernames, namedUser }) =>
        usernames.length > 1
          ? `left subject ${userId}: users ${[...usernames].sort().join(', ')} share it${
              namedUser === undefined ? '' : ` (its USERID# item names ${namedUser})`
            }; keep one (create-user --overwrite the others with their own subject)`
          : `left subject ${userId} of ${usernames.join(', ')}: its USERID# item names ${
              namedUser ?? 'no user'
            }`,
      ),
      ...(incomplete === 0
        ? []
        : [`skipped ${incomplete} user item${incomplete === 1 ? '' : 's'} without a username or userId`]),
    ];
    return lines.join('\n');
  } finally {
    target.client.destroy();
  }
}

if (require.main === module) runScript(backfillUserIds, 'backfill-user-ids');
