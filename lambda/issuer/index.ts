import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { createDynamoDbClient } from '../adapters/dynamodb-client';
import { DynamoDbJwksStore } from '../adapters/dynamodb-jwks-store';
import { liteClientFromEnv } from '../adapters/dynamodb-lite-client';
import { DynamoDbSessionStore } from '../adapters/dynamodb-session-store';
import { liteSessionSubjectReader } from '../adapters/dynamodb-session-subject-reader';
import { DynamoDbSubjectStore } from '../adapters/dynamodb-subject-store';
import { DynamoDbUserStore } from '../adapters/dynamodb-user-store';
import { Env } from '../adapters/env';
import { createLogger } from '../adapters/logger';
import { SERVICES } from '../adapters/metrics';
import { secretsManagerKeySetLoader } from '../adapters/secrets-manager-key-source';
import { createEventBridgeClient, eventBridgeSecurityEventPublisher } from '../adapters/security-events';
import { SETTINGS } from '../settings';
import { createIssuer, issuerSettingsFromEnv } from './create-issuer';

// Everything below runs once per cold start: configuration is validated here and fails fast.
const env = new Env();
const tableName = env.string('TABLE_NAME');
// This region's replica, with connection and request time-outs (DYNAMODB_TIMEOUTS): a table that does not
// answer is a 503 in about two seconds, not a request held until the function times out.
const dynamo = createDynamoDbClient();
// The refresh write, the watermark reads and the bearer routes' session read go through the minimal client (the
// authorizer's): the SDK's per-request CPU is more than DynamoDB takes to serve a read (docs/performance.md
// "Refresh").
const lite = liteClientFromEnv();
const jwksStore = new DynamoDbJwksStore(dynamo, tableName);

/** The Lambda entry point: the token issuer, built from the environment. */
export const handler = createIssuer(issuerSettingsFromEnv(env), {
  sessions: new DynamoDbSessionStore({ client: dynamo, liteClient: lite, tableName }),
  subjects: new DynamoDbSubjectStore({
    client: dynamo,
    liteClient: lite,
    tableName,
    sessionLifetimeSeconds: env.setting(SETTINGS.sessionAbsoluteLifetimeSeconds),
  }),
  // The bearer routes' session-and-watermark read: one BatchGetItem through the minimal client, as the authorizer's.
  sessionReader: liteSessionSubjectReader(lite, tableName),
  users: new DynamoDbUserStore({ client: dynamo, tableName }),
  loadKeySet: secretsManagerKeySetLoader(new SecretsManagerClient({}), env.string('SIGNING_KEYS_SECRET_ID')),
  loadPublicJwks: () => jwksStore.load(),
  probeTable: () => jwksStore.probe(),
  logger: createLogger(SERVICES.issuer),
  // Security events (refresh-token reuse) to this region's event bus, for a team's rules to act on.
  publishSecurityEvent: eventBridgeSecurityEventPublisher({
    client: createEventBridgeClient(),
    eventBusName: env.string('SECURITY_EVENT_BUS'),
    source: env.string('SECURITY_EVENT_SOURCE'),
    region: env.string('AWS_REGION'),
  }),
});
