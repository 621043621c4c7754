import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DynamoDbJwksStore } from '../adapters/dynamodb-jwks-store';
import { Env } from '../adapters/env';
import { createLogger } from '../adapters/logger';
import { emitMetric } from '../adapters/metrics';
import { SIGNING_ALGS } from '../core/keys';
import { createRotationHandler } from './handler';

// Configuration is read and validated once, at cold start.
const env = new Env();

/** The Lambda entry point: the Secrets Manager rotation function, built from the environment. */
export const handler = createRotationHandler({
  secrets: new SecretsManagerClient({}),
  jwks: new DynamoDbJwksStore(new DynamoDBClient({}), env.string('TABLE_NAME')),
  policy: {
    alg: env.oneOf('SIGNING_ALG', SIGNING_ALGS, 'ES256'),
    accessTokenTtlSeconds: env.int('ACCESS_TOKEN_TTL_SECONDS', 300, 1, 86_400),
    clockSkewSeconds: env.int('CLOCK_SKEW_SECONDS', 30, 0, 300),
    issuerKeyCacheSeconds: env.int('KEY_CACHE_TTL_SECONDS', 300, 1, 3600),
    sessionLifetimeSeconds: env.int('SESSION_ABSOLUTE_LIFETIME_SECONDS', 604_800, 3600, 31_536_000),
  },
  logger: createLogger('rotation'),
  metric: (name, value) => emitMetric(name, value, 'Seconds'),
});
