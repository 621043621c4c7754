import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DynamoDbJwksStore } from '../adapters/dynamodb-jwks-store';
import { DynamoDbSessionStore } from '../adapters/dynamodb-session-store';
import { DynamoDbUserStore } from '../adapters/dynamodb-user-store';
import { Env } from '../adapters/env';
import { createLogger } from '../adapters/logger';
import { emitMetric } from '../adapters/metrics';
import { secretsManagerKeySetLoader } from '../adapters/secrets-manager-key-source';
import { AccessTokenVerifier } from '../core/access-token';
import { BearerAuthenticator } from '../core/bearer-authenticator';
import { type ClientConfig, ClientRegistry } from '../core/clients';
import { CredentialService } from '../core/credentials';
import { JwksCache } from '../core/jwks-cache';
import { signingKeyAgeSeconds } from '../core/key-rotation';
import { cachedKeySource } from '../core/key-source';
import { SessionCache } from '../core/session-cache';
import { SessionService } from '../core/session-service';
import { createIssuerHandler } from './handler';

// Everything below runs once per cold start: configuration is validated here and fails fast.
const env = new Env();
const tableName = env.string('TABLE_NAME');
const issuer = env.string('ISSUER');
const logger = createLogger('issuer');
const clients = new ClientRegistry(JSON.parse(env.string('CLIENTS')) as ClientConfig[]);
const absoluteLifetimeSeconds = env.int('SESSION_ABSOLUTE_LIFETIME_SECONDS', 604_800, 3600, 31_536_000);

const dynamo = new DynamoDBClient({ maxAttempts: 2 });
const store = new DynamoDbSessionStore({ client: dynamo, tableName });
const profile = {
  issuer,
  audience: env.string('AUDIENCE'),
  ttlSeconds: env.int('ACCESS_TOKEN_TTL_SECONDS', 300, 1, 86_400),
};
const keys = cachedKeySource({
  load: secretsManagerKeySetLoader(new SecretsManagerClient({}), env.string('SIGNING_KEYS_SECRET_ID')),
  ttlMs: env.int('KEY_CACHE_TTL_SECONDS', 300, 1, 3600) * 1000,
  onLoad: (set) => emitMetric('SigningKeyAgeSeconds', signingKeyAgeSeconds(set, Date.now()), 'Seconds'),
});
const jwks = new JwksCache({ load: () => new DynamoDbJwksStore(dynamo, tableName).load() });

/** The Lambda entry point: the token issuer, built from the environment. */
export const handler = createIssuerHandler({
  sessions: new SessionService({
    store,
    keys,
    profile,
    policy: {
      idleTimeoutSeconds: env.int('SESSION_IDLE_TIMEOUT_SECONDS', 86_400, 60, 31_536_000),
      absoluteLifetimeSeconds,
      refreshGraceSeconds: env.int('REFRESH_GRACE_SECONDS', 10, 0, 60),
    },
    onSecurityEvent: (event) => {
      logger.warn('security event', { ...event });
      emitMetric('RefreshTokenReuse', 1, 'Count');
    },
  }),
  credentials: new CredentialService({ users: new DynamoDbUserStore({ client: dynamo, tableName }) }),
  authenticator: new BearerAuthenticator({
    verifier: new AccessTokenVerifier({ ...profile, keys: jwks.get }),
    jwks,
    sessions: new SessionCache({ store, ttlMs: 0 }),
  }),
  publicJwks: () => new DynamoDbJwksStore(dynamo, tableName).load(),
  clients,
  issuer,
  refreshCookieMaxAgeSeconds: absoluteLifetimeSeconds,
  logger,
});
