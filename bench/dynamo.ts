import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDbJwksStore } from '../lambda/adapters/dynamodb-jwks-store';
import { DynamoDbLiteClient } from '../lambda/adapters/dynamodb-lite-client';
import { DynamoDbSessionStore } from '../lambda/adapters/dynamodb-session-store';
import type { PublicJwks } from '../lambda/core/keys';
import type { SessionRecord } from '../lambda/core/session';
import { createTable, type DynamoDbLocal, localClient, startDynamoDbLocal } from '../local/dynamodb-local';

/** DynamoDB Local with the platform's table, shared by the benchmarks that need one. */
export interface BenchDynamo {
  readonly local: DynamoDbLocal;
  readonly client: DynamoDBClient;
  /** The minimal client on the same endpoint, with the functions' time limits (the authorizer's, the issuer's refresh). */
  readonly lite: DynamoDbLiteClient;
  readonly tableName: string;
  readonly sessions: DynamoDbSessionStore;
  seedSession(sid: string, sub: string): Promise<SessionRecord>;
  publishJwks(jwks: PublicJwks): Promise<void>;
  stop(): Promise<void>;
}

export const BENCH_TABLE = 'hybrid-auth-bench';

export async function startBenchDynamo(): Promise<BenchDynamo> {
  const local = await startDynamoDbLocal();
  const client = localClient(local.endpoint);
  const lite = new DynamoDbLiteClient({
    endpoint: local.endpoint,
    region: 'us-east-1',
    credentials: () => ({ accessKeyId: 'local', secretAccessKey: 'local' }),
  });
  await createTable(client, BENCH_TABLE);
  const sessions = new DynamoDbSessionStore({ client, tableName: BENCH_TABLE });
  return {
    local,
    client,
    lite,
    tableName: BENCH_TABLE,
    sessions,
    seedSession: async (sid, sub) => {
      const now = Date.now();
      const session: SessionRecord = {
        sid,
        sub,
        clientId: 'native',
        scope: 'profile',
        createdAt: now,
        authenticatedAt: now,
        lastUsedAt: now,
        absoluteExpiresAt: now + 86_400_000,
        idleExpiresAt: now + 3_600_000,
        generation: 0,
        salt: 'c2FsdHNhbHRzYWx0c2FsdA',
        rotatedAt: now,
        userAgent: 'bench',
        ip: '127.0.0.1',
      };
      await sessions.create(session);
      return session;
    },
    publishJwks: (jwks) => new DynamoDbJwksStore(client, BENCH_TABLE).publish(jwks, Date.now()),
    stop: async () => {
      client.destroy();
      lite.destroy();
      await local.stop();
    },
  };
}
