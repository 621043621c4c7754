import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDbJwksStore } from '../adapters/dynamodb-jwks-store';
import { DynamoDbSessionStore } from '../adapters/dynamodb-session-store';
import { Env } from '../adapters/env';
import { createLogger } from '../adapters/logger';
import { AccessTokenVerifier } from '../core/access-token';
import { Authorizer } from '../core/authorizer';
import { BearerAuthenticator } from '../core/bearer-authenticator';
import { JwksCache } from '../core/jwks-cache';
import { validateRouteTable } from '../core/route-matching';
import { SessionCache } from '../core/session-cache';
import { PROTECTED_ROUTES } from '../protected-routes';
import { createAuthorizerHandler } from './handler';

// Everything below runs once per cold start: configuration is validated here and fails fast.
const env = new Env();
const tableName = env.string('TABLE_NAME');
const logger = createLogger('authorizer');
validateRouteTable(PROTECTED_ROUTES);

// The function's own region's replica; a short time-out so that a slow table fails closed quickly.
const client = new DynamoDBClient({ maxAttempts: 2 });
const jwks = new JwksCache({
  load: () => new DynamoDbJwksStore(client, tableName).load(),
  ttlMs: env.int('JWKS_CACHE_TTL_SECONDS', 60, 1, 3600) * 1000,
  onRejected: (kid, reason) => logger.warn('published key refused', { kid: String(kid), reason }),
});
const verifier = new AccessTokenVerifier({
  issuer: env.string('ISSUER'),
  audience: env.string('AUDIENCE'),
  ttlSeconds: env.int('ACCESS_TOKEN_TTL_SECONDS', 300, 1, 86_400),
  clockSkewSeconds: env.int('CLOCK_SKEW_SECONDS', 30, 0, 300),
  keys: jwks.get,
});
const sessions = new SessionCache({
  store: new DynamoDbSessionStore({ client, tableName }),
  ttlMs: env.int('SESSION_CACHE_TTL_SECONDS', 1, 0, 300) * 1000,
  consistentRead: env.bool('CONSISTENT_READ', false),
});

/** The Lambda entry point: the REQUEST authorizer, built from the environment. */
export const handler = createAuthorizerHandler({
  authorizer: new Authorizer(new BearerAuthenticator({ verifier, jwks, sessions }), PROTECTED_ROUTES),
  logger,
});
