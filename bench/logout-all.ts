import {
  ConditionalCheckFailedException,
  type DynamoDBClient,
  paginateQuery,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { DynamoDbSessionStore } from '../lambda/adapters/dynamodb-session-store';
import { DynamoDbSubjectStore } from '../lambda/adapters/dynamodb-subject-store';
import { KEY_PREFIX, TABLE_SCHEMA } from '../lambda/adapters/table-schema';
import { generateKeySet } from '../lambda/core/keys';
import { sessionStatus } from '../lambda/core/session';
import { SessionService } from '../lambda/core/session-service';
import { localClient } from '../local/dynamodb-local';
import type { BenchDynamo } from './dynamo';
import { AUDIENCE, ISSUER, TTL_SECONDS } from './fixtures';
import { type Figure, median, progress, round3 } from './harness';

/** The session counts the issue asks for. */
const SESSION_COUNTS = [1, 10, 100] as const;

/** A DynamoDB client on the bench's DynamoDB Local that counts the write requests it sends. */
function countingClient(dynamo: BenchDynamo): { client: DynamoDBClient; writes: () => number } {
  const client = localClient(dynamo.local.endpoint);
  let writes = 0;
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (
        /^(UpdateItem|PutItem|DeleteItem|TransactWriteItems|BatchWriteItem)Command$/.test(
          context.commandName ?? '',
        )
      ) {
        writes++;
      }
      return next(args);
    },
    { step: 'initialize', name: 'countWrites' },
  );
  return { client, writes: () => writes };
}

/**
 * What "log out everywhere" did before the subject watermark, with the same calls the store made: list the
 * subject's sessions through the `bySubject` index, then one conditional revoke per live session.
 */
async function logoutAllThroughIndex(client: DynamoDBClient, tableName: string, sub: string): Promise<void> {
  const index = TABLE_SCHEMA.bySubjectIndex;
  const sids: string[] = [];
  for await (const page of paginateQuery(
    { client },
    {
      TableName: tableName,
      IndexName: index.name,
      KeyConditionExpression: '#sub = :sub',
      ExpressionAttributeNames: { '#sub': index.partitionKey },
      ExpressionAttributeValues: { ':sub': { S: sub } },
    },
  )) {
    for (const item of page.Items ?? []) if (item.revokedAt === undefined) sids.push(String(item.sid?.S));
  }
  const now = Date.now();
  await Promise.all(
    sids.map(async (sid) => {
      try {
        await client.send(
          new UpdateItemCommand({
            TableName: tableName,
            Key: { [TABLE_SCHEMA.partitionKey]: { S: KEY_PREFIX.session + sid } },
            UpdateExpression: 'SET revokedAt = :at, revokedReason = :reason',
            ConditionExpression: 'attribute_exists(#pk) AND attribute_not_exists(revokedAt) AND #sub = :sub',
            ExpressionAttributeNames: { '#pk': TABLE_SCHEMA.partitionKey, '#sub': 'sub' },
            ExpressionAttributeValues: {
              ':at': { N: String(now) },
              ':reason': { S: 'logout_all' },
              ':sub': { S: sub },
            },
          }),
        );
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException)) throw error;
      }
    }),
  );
}

/**
 * Benchmark 7: the cost of "log out everywhere" with 1, 10 and 100 sessions, in one run: the subject
 * watermark (one write whatever the count) against the per-session revocation it replaced (a `Query` and one
 * write per session). Each round logs the subject in `n` times, then logs out everywhere, then checks that
 * every session is refused.
 */
export async function benchLogoutAll(dynamo: BenchDynamo, options: { rounds: number }): Promise<Figure[]> {
  const bench = '7 logout-all';
  const keySet = await generateKeySet({ alg: 'ES256', now: Date.now() });
  const counting = countingClient(dynamo);
  const sessions = new DynamoDbSessionStore({ client: counting.client, tableName: dynamo.tableName });
  const subjects = new DynamoDbSubjectStore({ client: counting.client, tableName: dynamo.tableName });
  const service = new SessionService({
    store: sessions,
    subjects,
    keys: async () => keySet,
    profile: { issuer: ISSUER, audience: AUDIENCE, ttlSeconds: TTL_SECONDS },
  });
  const figures: Figure[] = [];
  try {
    for (const count of SESSION_COUNTS) {
      progress(`logout-all with ${count} session(s), ${options.rounds} rounds each way`);
      const watermark = { ms: [] as number[], writes: [] as number[] };
      const indexed = { ms: [] as number[], writes: [] as number[] };
      for (let round = 0; round < options.rounds; round++) {
        for (const [way, result] of [
          ['watermark', watermark],
          ['index', indexed],
        ] as const) {
          const sub = `bench-logout-all-${count}-${way}-${round}`;
          const created = await Promise.all(
            Array.from({ length: count }, () => service.login({ sub, clientId: 'native', scope: 'profile' })),
          );
          const before = counting.writes();
          const started = performance.now();
          if (way === 'watermark') await service.logoutAll(sub);
          else await logoutAllThroughIndex(counting.client, dynamo.tableName, sub);
          result.ms.push(performance.now() - started);
          result.writes.push(counting.writes() - before);
          // Every session is refused afterwards, whichever way ended it.
          const subject = await subjects.get(sub, { consistent: true });
          for (const tokens of created) {
            const session = await sessions.get(tokens.sid, { consistent: true });
            if (session === undefined || sessionStatus(session, Date.now(), subject) === 'active') {
              throw new Error(`a session survived logout-all (${way}, ${count} sessions)`);
            }
          }
        }
      }
      const writes = median(watermark.writes);
      figures.push(
        {
          bench,
          name: `logout-all, ${count} session(s): write requests`,
          value: writes,
          unit: 'writes',
          target: '== 1',
          pass: writes === 1 && watermark.writes.every((value) => value === 1),
        },
        {
          bench,
          name: `logout-all, ${count} session(s): latency median`,
          value: round3(median(watermark.ms)),
          unit: 'ms',
        },
        {
          bench,
          name: `before (Query bySubject + a revoke per session), ${count} session(s): write requests`,
          value: median(indexed.writes),
          unit: 'writes',
        },
        {
          bench,
          name: `before (Query bySubject + a revoke per session), ${count} session(s): latency median`,
          value: round3(median(indexed.ms)),
          unit: 'ms',
        },
      );
    }
  } finally {
    counting.client.destroy();
  }
  return figures;
}
