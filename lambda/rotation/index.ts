import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DynamoDbJwksStore } from '../adapters/dynamodb-jwks-store';
import { Env } from '../adapters/env';
import { createLogger } from '../adapters/logger';
import { createMetrics, SERVICES } from '../adapters/metrics';
import { SIGNING_ALGS } from '../core/keys';
import { SETTINGS } from '../settings';
import { createRotationHandler } from './handler';
import { parseReplicaRegions, REPLICA_REGIONS_ENV } from './replica-regions';

// Configuration is read and validated once, at cold start.
const env = new Env();
const replicaRegions = parseReplicaRegions(process.env[REPLICA_REGIONS_ENV]);

/** The Lambda entry point: the Secrets Manager rotation function, built from the environment. */
export const handler = createRotationHandler({
  secrets: new SecretsManagerClient({}),
  jwks: new DynamoDbJwksStore(new DynamoDBClient({}), env.string('TABLE_NAME')),
  policy: {
    alg: env.oneOf('SIGNING_ALG', SIGNING_ALGS, 'ES256'),
    accessTokenTtlSeconds: env.setting(SETTINGS.accessTokenTtlSeconds),
    clockSkewSeconds: env.setting(SETTINGS.clockSkewSeconds),
    issuerKeyCacheSeconds: env.setting(SETTINGS.issuerKeyCacheTtlSeconds),
    sessionLifetimeSeconds: env.setting(SETTINGS.sessionAbsoluteLifetimeSeconds),
  },
  logger: createLogger(SERVICES.rotation),
  // The service dimension `rotation`: the alarms on SigningKeyAgeSeconds and SigningKeysReplicaStale select it.
  metric: createMetrics(SERVICES.rotation),
  replicaRegions,
});
