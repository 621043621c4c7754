import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import type { Env } from '../adapters/env';
import { LOG_MESSAGES, type Logger } from '../adapters/logger';
import { createMetrics, METRIC_NAMES, SERVICES } from '../adapters/metrics';
import type { SecurityEventPublisher } from '../adapters/security-events';
import { AccessTokenVerifier } from '../core/access-token';
import { BearerAuthenticator } from '../core/bearer-authenticator';
import { type ClientConfig, ClientRegistry } from '../core/clients';
import type { Clock } from '../core/clock';
import { CredentialService, type UserStore } from '../core/credentials';
import { NotReadyError } from '../core/errors';
import { JwksCache } from '../core/jwks-cache';
import { signingKeyAgeSeconds } from '../core/key-rotation';
import { cachedKeySource, usableKeySetLoader } from '../core/key-source';
import type { KeySet } from '../core/keys';
import type { SessionStore } from '../core/session';
import { SessionCache, type SessionSubjectReader } from '../core/session-cache';
import { SessionService } from '../core/session-service';
import type { SubjectStore } from '../core/subject';
import { SETTINGS } from '../settings';
import { createIssuerHandler, type IssuerReadiness, NOT_READY_RETRY_AFTER_SECONDS } from './handler';

/** What an issuer is configured with: the same values in Lambda (its environment) and on one machine. */
export interface IssuerSettings {
  /** The exact `iss` of every token. */
  readonly issuer: string;
  /** The exact `aud` of every token. */
  readonly audience: string;
  /** The registered clients (ids, refresh-token delivery, allowed origins). */
  readonly clients: readonly ClientConfig[];
  readonly accessTokenTtlSeconds: number;
  readonly sessionIdleTimeoutSeconds: number;
  readonly sessionAbsoluteLifetimeSeconds: number;
  readonly refreshGraceSeconds: number;
  readonly issuerKeyCacheTtlSeconds: number;
  readonly jwksCacheTtlSeconds: number;
  /** How far ahead of the clock a subject watermark is set. @default 1 (lambda/settings.ts) */
  readonly revocationClockMarginSeconds?: number;
}

/** Where an issuer's state lives: DynamoDB and Secrets Manager in Lambda, DynamoDB Local and a file locally. */
export interface IssuerAdapters {
  readonly sessions: SessionStore;
  /** The subjects' revocation watermarks. */
  readonly subjects: SubjectStore;
  /** The bearer routes' session check: a session and its subject's watermark in one `BatchGetItem`. */
  readonly sessionReader: SessionSubjectReader;
  readonly users: UserStore;
  /** Reads the private key set (Secrets Manager AWSCURRENT, or the local key file); cached here. */
  readonly loadKeySet: () => Promise<KeySet>;
  /** Reads the published public JWKS (the table's `JWKS` item). */
  readonly loadPublicJwks: () => Promise<unknown>;
  /**
   * The health route's table probe: resolves whether this region's table answers and holds the published
   * JWKS item (`DynamoDbJwksStore.probe`, one strongly consistent `GetItem`); rejects when it does not answer.
   */
  readonly probeTable: () => Promise<boolean>;
  readonly logger: Logger;
  /**
   * Puts each security event on an event bus (EventBridge in Lambda, the stand-in on one machine), after its
   * log line and before the refusal is answered; a publication that fails is logged and counted, never the
   * refresh's outcome. @default none: the events are logged and counted only
   */
  readonly publishSecurityEvent?: SecurityEventPublisher;
  /** Where metric lines go. @default stdout, as Lambda's Embedded Metric Format expects */
  readonly writeMetric?: (line: string) => void;
  readonly clock?: Clock;
}

/** The issuer's settings from its environment (the variables `TokenIssuer` sets), validated: fails fast. */
export function issuerSettingsFromEnv(env: Env): IssuerSettings {
  return {
    issuer: env.string('ISSUER'),
    audience: env.string('AUDIENCE'),
    clients: JSON.parse(env.string('CLIENTS')) as ClientConfig[],
    accessTokenTtlSeconds: env.setting(SETTINGS.accessTokenTtlSeconds),
    sessionIdleTimeoutSeconds: env.setting(SETTINGS.sessionIdleTimeoutSeconds),
    sessionAbsoluteLifetimeSeconds: env.setting(SETTINGS.sessionAbsoluteLifetimeSeconds),
    refreshGraceSeconds: env.setting(SETTINGS.refreshGraceSeconds),
    issuerKeyCacheTtlSeconds: env.setting(SETTINGS.issuerKeyCacheTtlSeconds),
    jwksCacheTtlSeconds: env.setting(SETTINGS.jwksCacheTtlSeconds),
    revocationClockMarginSeconds: env.setting(SETTINGS.revocationClockMarginSeconds),
  };
}

/**
 * The one wiring of the token issuer: the Lambda entry point (`index.ts`) and the local platform both build
 * it here, from settings and adapters, so what runs on one machine is what runs in Lambda.
 */
export function createIssuer(
  settings: IssuerSettings,
  adapters: IssuerAdapters,
): (event: APIGatewayProxyEvent, context?: Context) => Promise<APIGatewayProxyResult> {
  const { logger } = adapters;
  const clock = adapters.clock ?? Date.now;
  const metric = createMetrics(SERVICES.issuer, adapters.writeMetric);
  const profile = {
    issuer: settings.issuer,
    audience: settings.audience,
    ttlSeconds: settings.accessTokenTtlSeconds,
  };
  // A placeholder, unreadable or incomplete key set is a NotReadyError (503, `issuer not ready`); a failed read
  // is remembered for as long as the 503 tells clients to wait, so neither a burst of requests nor the health
  // checkers read the secret more than once per that time.
  const keys = cachedKeySource({
    load: usableKeySetLoader(adapters.loadKeySet),
    ttlMs: settings.issuerKeyCacheTtlSeconds * 1000,
    failureTtlMs: NOT_READY_RETRY_AFTER_SECONDS * 1000,
    clock,
    onLoad: (set) => metric(METRIC_NAMES.signingKeyAge, signingKeyAgeSeconds(set, clock()), 'Seconds'),
  });
  const jwks = new JwksCache({
    load: adapters.loadPublicJwks,
    ttlMs: settings.jwksCacheTtlSeconds * 1000,
    clock,
  });
  const credentials = new CredentialService({
    users: adapters.users,
    clock,
    macKeys: async () => (await keys()).macKeys,
    onRefused: (event) => logger.warn(LOG_MESSAGES.loginRefused, { ...event }),
  });
  // The dummy hash that unknown usernames are checked against, computed now (at cold start) so that the
  // first unknown-name login costs the same work as any other.
  credentials
    .prepare()
    .catch((error: unknown) =>
      logger.error('dummy hash failed', { error: (error as Error)?.name ?? 'unknown' }),
    );
  return createIssuerHandler({
    sessions: new SessionService({
      store: adapters.sessions,
      subjects: adapters.subjects,
      keys,
      profile,
      policy: {
        idleTimeoutSeconds: settings.sessionIdleTimeoutSeconds,
        absoluteLifetimeSeconds: settings.sessionAbsoluteLifetimeSeconds,
        refreshGraceSeconds: settings.refreshGraceSeconds,
        ...(settings.revocationClockMarginSeconds === undefined
          ? {}
          : { revocationClockMarginSeconds: settings.revocationClockMarginSeconds }),
      },
      clock,
      onSecurityEvent: async (event) => {
        logger.warn(LOG_MESSAGES.securityEvent, { ...event });
        metric(METRIC_NAMES.refreshTokenReuse, 1, 'Count');
        if (adapters.publishSecurityEvent === undefined) return;
        // A publisher resolves with its outcome; anything it throws anyway is a failed publication too.
        const outcome = await adapters
          .publishSecurityEvent(event)
          .catch(
            (error: unknown) => ({ published: false, reason: (error as Error)?.name ?? 'Error' }) as const,
          );
        if (outcome.published) return;
        logger.error(LOG_MESSAGES.securityEventNotPublished, {
          type: event.type,
          sid: event.sid,
          reason: outcome.reason,
        });
        metric(METRIC_NAMES.securityEventsUnpublished, 1, 'Count');
      },
    }),
    credentials,
    authenticator: new BearerAuthenticator({
      verifier: new AccessTokenVerifier({ ...profile, keys: jwks.get, clock }),
      jwks,
      // The issuer's own bearer routes (logout everywhere, listing, password change) always read the session
      // and its watermark fresh and strongly consistent: a session a log out everywhere or a disable in this
      // region has ended is refused before the route does anything.
      sessions: new SessionCache({ reader: adapters.sessionReader, ttlMs: 0, consistentRead: true, clock }),
      clock,
    }),
    publicJwks: adapters.loadPublicJwks,
    readiness: issuerReadiness(keys, adapters.probeTable),
    clients: new ClientRegistry(settings.clients),
    issuer: settings.issuer,
    refreshCookieMaxAgeSeconds: settings.sessionAbsoluteLifetimeSeconds,
    clock,
    logger,
  });
}

/**
 * The health route's checks: the signing keys through the issuer's cached key source (a health check reads
 * the secret only when the cache has expired), and one probe of this region's table.
 */
export function issuerReadiness(
  keys: () => Promise<unknown>,
  probeTable: () => Promise<boolean>,
): IssuerReadiness {
  return {
    signingKeys: async () => {
      await keys();
    },
    table: async () => {
      let published: boolean;
      try {
        published = await probeTable();
      } catch (error) {
        throw new NotReadyError('table_unavailable', 'the table does not answer', { cause: error });
      }
      if (!published) throw new NotReadyError('jwks_unpublished', 'the table holds no published JWKS');
    },
  };
}
