import type { APIGatewayAuthorizerResult, APIGatewayRequestAuthorizerEvent, Context } from 'aws-lambda';
import type { Env } from '../adapters/env';
import type { Logger } from '../adapters/logger';
import { AccessTokenVerifier } from '../core/access-token';
import { Authorizer } from '../core/authorizer';
import { BearerAuthenticator } from '../core/bearer-authenticator';
import type { Clock } from '../core/clock';
import { JwksCache } from '../core/jwks-cache';
import { SessionCache, type SessionSubjectReader } from '../core/session-cache';
import type { ProtectedRoute } from '../policies';
import { SETTINGS } from '../settings';
import { createAuthorizerHandler } from './handler';

/** What an authorizer is configured with: the same values in Lambda (its environment) and on one machine. */
export interface AuthorizerSettings {
  /** The exact `iss` of every token. */
  readonly issuer: string;
  /** The exact `aud` of every token. */
  readonly audience: string;
  readonly accessTokenTtlSeconds: number;
  readonly clockSkewSeconds: number;
  /** The in-memory session cache (a term of the revocation budget). */
  readonly sessionCacheTtlSeconds: number;
  readonly jwksCacheTtlSeconds: number;
  /** Read sessions strongly consistently (MRSC). */
  readonly consistentRead: boolean;
  /**
   * How long after `iat` a valid token is accepted while its session item has not reached this region (the
   * expected replication lag; 0 turns it off). @default 0
   */
  readonly expectedReplicationLagSeconds?: number;
}

/** Where an authorizer's state lives and what it decides. */
export interface AuthorizerAdapters {
  /**
   * Reads a session and its subject's watermark in one request (`BatchGetItem`): one round trip per
   * session-cache miss.
   */
  readonly sessions: SessionSubjectReader;
  /** Reads the published public JWKS (the table's `JWKS` item). */
  readonly loadPublicJwks: () => Promise<unknown>;
  /** The protected route table (`lambda/protected-routes.ts`); validated here. */
  readonly routes: readonly ProtectedRoute[];
  readonly logger: Logger;
  readonly clock?: Clock;
}

/** The authorizer's settings from its environment (the variables `TokenAuthorizer` sets), validated. */
export function authorizerSettingsFromEnv(env: Env): AuthorizerSettings {
  return {
    issuer: env.string('ISSUER'),
    audience: env.string('AUDIENCE'),
    accessTokenTtlSeconds: env.setting(SETTINGS.accessTokenTtlSeconds),
    clockSkewSeconds: env.setting(SETTINGS.clockSkewSeconds),
    sessionCacheTtlSeconds: env.setting(SETTINGS.sessionCacheTtlSeconds),
    jwksCacheTtlSeconds: env.setting(SETTINGS.jwksCacheTtlSeconds),
    consistentRead: env.bool('CONSISTENT_READ', false),
    expectedReplicationLagSeconds: env.setting(SETTINGS.expectedReplicationLagSeconds),
  };
}

/** The authorizer's Lambda handler, with the work of its first request that can be done before one. */
export interface AuthorizerFunction {
  (event: APIGatewayRequestAuthorizerEvent, context?: Context): Promise<APIGatewayAuthorizerResult>;
  /**
   * Loads the published JWKS into the cache (which also opens the connection to DynamoDB that the first
   * session read reuses). Never throws: a failure is logged, and the first request loads it again.
   */
  warmUp(): Promise<void>;
}

/**
 * The one wiring of the REQUEST authorizer: the Lambda entry point (`index.ts`) and the local platform both
 * build it here, so the local platform decides exactly as the deployed authorizer does.
 */
export function createAuthorizer(
  settings: AuthorizerSettings,
  adapters: AuthorizerAdapters,
): AuthorizerFunction {
  const { logger } = adapters;
  const clock = adapters.clock ?? Date.now;
  const jwks = new JwksCache({
    load: adapters.loadPublicJwks,
    ttlMs: settings.jwksCacheTtlSeconds * 1000,
    onRejected: (kid, reason) => logger.warn('published key refused', { kid: String(kid), reason }),
    clock,
  });
  const verifier = new AccessTokenVerifier({
    issuer: settings.issuer,
    audience: settings.audience,
    ttlSeconds: settings.accessTokenTtlSeconds,
    clockSkewSeconds: settings.clockSkewSeconds,
    keys: jwks.get,
    clock,
  });
  const sessions = new SessionCache({
    reader: adapters.sessions,
    ttlMs: settings.sessionCacheTtlSeconds * 1000,
    consistentRead: settings.consistentRead,
    clock,
  });
  const authenticator = new BearerAuthenticator({
    verifier,
    jwks,
    sessions,
    clock,
    replicationLagBoundMs: (settings.expectedReplicationLagSeconds ?? 0) * 1000,
  });
  const handler = createAuthorizerHandler({
    authorizer: new Authorizer(authenticator, adapters.routes),
    logger,
  });
  const warmUp = async (): Promise<void> => {
    try {
      await jwks.ensureFresh();
    } catch (error) {
      logger.warn('warm-up failed; the first request loads the JWKS', {
        error: (error as Error)?.name ?? 'Error',
      });
    }
  };
  return Object.assign(handler, { warmUp });
}
