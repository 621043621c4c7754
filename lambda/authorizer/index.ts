import { createDynamoDbClient } from '../adapters/dynamodb-client';
import { DynamoDbJwksStore } from '../adapters/dynamodb-jwks-store';
import { DynamoDbSessionStore } from '../adapters/dynamodb-session-store';
import { Env } from '../adapters/env';
import { createLogger } from '../adapters/logger';
import { SERVICES } from '../adapters/metrics';
import { PROTECTED_ROUTES } from '../protected-routes';
import { authorizerSettingsFromEnv, createAuthorizer } from './create-authorizer';

// Everything below runs once per cold start: configuration is validated here and fails fast.
const env = new Env();
const tableName = env.string('TABLE_NAME');

// The function's own region's replica, with connection and request time-outs and one retry, so that a slow
// table fails closed well inside the function's timeout (DYNAMODB_TIMEOUTS says how the values were chosen).
const client = createDynamoDbClient();

/** The Lambda entry point: the REQUEST authorizer, built from the environment. */
export const handler = createAuthorizer(authorizerSettingsFromEnv(env), {
  sessions: new DynamoDbSessionStore({ client, tableName }),
  loadPublicJwks: () => new DynamoDbJwksStore(client, tableName).load(),
  routes: PROTECTED_ROUTES,
  logger: createLogger(SERVICES.authorizer),
});
