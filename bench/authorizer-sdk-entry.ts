/**
 * The authorizer as it was deployed before the minimal DynamoDB client: the same wiring and the same init work
 * as `lambda/authorizer/index.ts`, reading through the AWS SDK's `DynamoDBClient` (with the same time limits).
 * Bundled by the cold-start benchmark only, so that the one run measures the bundle before and after.
 */

import { createDynamoDbClient } from '../lambda/adapters/dynamodb-client';
import { DynamoDbJwksStore } from '../lambda/adapters/dynamodb-jwks-store';
import { sdkSessionSubjectReader } from '../lambda/adapters/dynamodb-sdk-batch-get';
import { Env } from '../lambda/adapters/env';
import { createLogger } from '../lambda/adapters/logger';
import { SERVICES } from '../lambda/adapters/metrics';
import { authorizerSettingsFromEnv, createAuthorizer } from '../lambda/authorizer/create-authorizer';
import { PROTECTED_ROUTES } from '../lambda/protected-routes';

export const initTimings = { codeLoadedMs: performance.now(), warmedUpMs: Number.NaN };

const env = new Env();
const tableName = env.string('TABLE_NAME');
const client = createDynamoDbClient();

export const handler = createAuthorizer(authorizerSettingsFromEnv(env), {
  sessions: sdkSessionSubjectReader(client, tableName),
  loadPublicJwks: () => new DynamoDbJwksStore(client, tableName).load(),
  routes: PROTECTED_ROUTES,
  logger: createLogger(SERVICES.authorizer),
});

await handler.warmUp();
initTimings.warmedUpMs = performance.now();
