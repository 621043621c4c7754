import type { BatchGetItem } from '../adapters/dynamodb-session-subject-reader';
import { DynamoDbSessionSubjectReader } from '../adapters/dynamodb-session-subject-reader';
import type { Env } from '../adapters/env';
import { createLogger } from '../adapters/logger';
import { SERVICES } from '../adapters/metrics';
import { PROTECTED_ROUTES } from '../protected-routes';
import { type AuthorizerFunction, authorizerSettingsFromEnv, createAuthorizer } from './create-authorizer';

/**
 * The Lambda entry point's wiring (`index.ts`), in a module of its own so that the entry point can send its
 * first request before this code (and the Powertools logger) is evaluated.
 */
export function createLambdaAuthorizer(
  env: Env,
  adapters: {
    readonly batchGetItem: BatchGetItem;
    readonly tableName: string;
    readonly loadPublicJwks: () => Promise<unknown>;
  },
): AuthorizerFunction {
  return createAuthorizer(authorizerSettingsFromEnv(env), {
    sessions: new DynamoDbSessionSubjectReader({
      batchGetItem: adapters.batchGetItem,
      tableName: adapters.tableName,
    }),
    loadPublicJwks: adapters.loadPublicJwks,
    routes: PROTECTED_ROUTES,
    logger: createLogger(SERVICES.authorizer),
  });
}
