import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { DynamoDbLiteError } from '../adapters/dynamodb-lite-client';
import { LOG_MESSAGES, type Logger } from '../adapters/logger';
import type { BearerAuthenticator } from '../core/bearer-authenticator';
import type { ClientConfig, ClientRegistry, RefreshTokenDelivery } from '../core/clients';
import {
  AccountLockedError,
  GrantError,
  InvalidRequestError,
  NotReadyError,
  type NotReadyPart,
  TokenError,
} from '../core/errors';
import { LOGIN_THROTTLE_DEFAULTS } from '../core/login-throttle';
import { isSessionId } from '../core/refresh-token';
import type { SessionService, TokenSet } from '../core/session-service';
import {
  cookie,
  errorResponse,
  HttpError,
  header,
  json,
  noContent,
  parseBody,
  publicDocumentHeaders,
} from './http';
import { HEALTH_PATH } from './routes';

/** Name of the web client's refresh-token cookie. */
export const REFRESH_COOKIE = 'refresh_token';
/** The cookie's `Path`: only the endpoints that consume it. */
export const REFRESH_COOKIE_PATH = '/auth';
/**
 * Name of the device cookie (login-throttle.ts device tokens): sent only to the login route, it exempts a
 * browser that has logged in before from the account-wide back-off.
 */
export const DEVICE_COOKIE = 'login_device';
/** The device cookie's `Path`: the login route only. */
export const DEVICE_COOKIE_PATH = '/auth/login';

/**
 * `Retry-After` of a not-ready 503, seconds: long enough for a first rotation or a replica to catch up to be
 * worth waiting for, short enough that a region that becomes ready serves again soon. The issuer also
 * remembers a failed key-set read this long (create-issuer.ts), so it reads no more often than it asks
 * clients to retry.
 */
export const NOT_READY_RETRY_AFTER_SECONDS = 5;

/**
 * What the health route checks: each resolves when its part of this region can serve, and rejects with a
 * {@link NotReadyError} naming why when it cannot.
 */
export interface IssuerReadiness {
  /** The signing keys load (from the issuer's key cache), are not the placeholder and have a current key. */
  signingKeys(): Promise<void>;
  /** This region's table answers and holds the published JWKS. */
  table(): Promise<void>;
}

/** Collaborators of the issuer handler. */
export interface IssuerDeps {
  readonly sessions: SessionService;
  readonly credentials: {
    authenticate(
      username: string,
      password: string,
      attempt?: { readonly source?: string; readonly deviceToken?: string },
    ): Promise<{ readonly userId: string; readonly scope: string; readonly deviceToken?: string }>;
    changePassword(
      userId: string,
      currentPassword: string,
      newPassword: string,
      attempt?: { readonly source?: string },
    ): Promise<unknown>;
  };
  readonly authenticator: BearerAuthenticator;
  /** The published public JWKS. */
  readonly publicJwks: () => Promise<unknown>;
  readonly clients: ClientRegistry;
  /** The issuer URL (`iss`), also the base of the discovery document's endpoints. */
  readonly issuer: string;
  /** The health route's checks (`GET /health`). */
  readonly readiness: IssuerReadiness;
  /**
   * Lifetime of the refresh cookie, seconds (the absolute session lifetime); each cookie is capped at its
   * session's remaining life.
   */
  readonly refreshCookieMaxAgeSeconds: number;
  /** @default the system clock */
  readonly clock?: () => number;
  readonly logger: Logger;
}

type Route = (event: APIGatewayProxyEvent) => Promise<APIGatewayProxyResult>;

/**
 * The token issuer as an API Gateway REST proxy handler: login, refresh (RFC 6749 section 6), logout,
 * logout everywhere, password change, session listing and revocation, RFC 7009 revocation, JWKS and discovery. Every body
 * is validated, every error is mapped to an OAuth-style JSON body in one place ({@link toHttpError}).
 */
export function createIssuerHandler(
  deps: IssuerDeps,
): (event: APIGatewayProxyEvent, context?: Context) => Promise<APIGatewayProxyResult> {
  const routes: Record<string, Route> = {
    'POST /auth/login': (event) => login(deps, event),
    'POST /auth/token': (event) => token(deps, event),
    'POST /auth/logout': (event) => logout(deps, event),
    'POST /auth/logout-all': async (event) => {
      const { claims } = await bearer(deps, event);
      await deps.sessions.logoutAll(claims.sub);
      return noContent();
    },
    'POST /auth/password': (event) => changePassword(deps, event),
    'GET /auth/sessions': (event) => listSessions(deps, event),
    'DELETE /auth/sessions/{id}': async (event) => {
      const { claims } = await bearer(deps, event);
      const id = event.pathParameters?.id;
      // Only a well-formed session id reaches the table: an id over DynamoDB's key size limit would be a
      // ValidationException there, and a 503 for what is bad input.
      const revoked = isSessionId(id) && (await deps.sessions.logout(id, claims.sub, 'revoked_by_user'));
      if (!revoked) throw new HttpError(404, 'not_found', 'no such session');
      return noContent();
    },
    'POST /auth/revoke': (event) => revoke(deps, event),
    'GET /.well-known/jwks.json': async () => json(200, await deps.publicJwks(), publicDocumentHeaders(60)),
    'GET /.well-known/openid-configuration': async () =>
      json(200, discovery(deps.issuer), publicDocumentHeaders(300)),
    'GET /.well-known/oauth-authorization-server': async () =>
      json(200, discovery(deps.issuer), publicDocumentHeaders(300)),
  };
  routes[`GET ${HEALTH_PATH}`] = () => health(deps.readiness);
  /** Resource path -> the methods it answers, for 405 and its `Allow` header (RFC 9110 section 15.5.6). */
  const allowedMethods = new Map<string, string[]>();
  for (const key of Object.keys(routes)) {
    const [method = '', resource = ''] = key.split(' ');
    allowedMethods.set(resource, [...(allowedMethods.get(resource) ?? []), method]);
  }

  return async (event, context) => {
    deps.logger.forRequest(context, event.requestContext?.requestId);
    const started = Date.now();
    const key = `${event.httpMethod} ${event.resource}`;
    let result: APIGatewayProxyResult;
    let reason: string | undefined;
    try {
      const route = routes[key];
      if (route === undefined) {
        const allowed = allowedMethods.get(event.resource);
        throw allowed === undefined
          ? new HttpError(404, 'not_found', 'no such route')
          : new HttpError(405, 'invalid_request', `method ${event.httpMethod} is not allowed here`, {
              Allow: allowed.join(', '),
            });
      }
      result = await route(event);
    } catch (error) {
      const mapped = toHttpError(error, key);
      reason = 'code' in Object(error) ? String((error as { code: unknown }).code) : mapped.error;
      if (error instanceof NotReadyError) {
        deps.logger.error(LOG_MESSAGES.issuerNotReady, {
          route: key,
          cause: error.reason,
          error: error.cause instanceof Error ? error.cause.name : undefined,
        });
      } else if (mapped.status >= 500) {
        deps.logger.error('issuer dependency failed', {
          route: key,
          error: (error as Error)?.name ?? 'unknown',
        });
      }
      result = errorResponse(mapped);
    }
    deps.logger.info(LOG_MESSAGES.issuerRequest, {
      route: key,
      status: result.statusCode,
      reason,
      latencyMs: Date.now() - started,
    });
    return result;
  };
}

/** Maps every error to an HTTP error, in one place. */
export function toHttpError(error: unknown, route: string): HttpError {
  if (error instanceof HttpError) return error;
  if (error instanceof InvalidRequestError) return new HttpError(400, 'invalid_request', error.message);
  if (error instanceof AccountLockedError) {
    return new HttpError(429, 'too_many_requests', 'too many failed attempts', {
      'Retry-After': String(error.retryAfterSeconds),
    });
  }
  if (error instanceof GrantError) {
    // Login answers 401 alike for a wrong password and an unknown user, and the password change for a wrong
    // current password; the token endpoint answers 400.
    if (route === PASSWORD_ROUTE) {
      return new HttpError(401, 'invalid_grant', 'the current password is wrong');
    }
    const status = route === 'POST /auth/login' ? 401 : 400;
    const description =
      error.code === 'invalid_credentials' ? 'invalid username or password' : 'invalid grant';
    return new HttpError(status, 'invalid_grant', description);
  }
  if (error instanceof TokenError) return invalidToken();
  if (error instanceof NotReadyError) {
    return new HttpError(503, 'temporarily_unavailable', NOT_READY_DESCRIPTIONS[error.part], {
      'Retry-After': String(NOT_READY_RETRY_AFTER_SECONDS),
    });
  }
  if (isDependencyFailure(error)) {
    return new HttpError(503, 'temporarily_unavailable', 'try again shortly', { 'Retry-After': '1' });
  }
  return new HttpError(500, 'server_error', 'unexpected error');
}

/** What a not-ready 503 says: which part of the region is unusable, never why in detail. */
const NOT_READY_DESCRIPTIONS: Readonly<Record<NotReadyPart, string>> = {
  keys: 'the signing keys are not ready; try again shortly',
  table: 'the session table is unavailable; try again shortly',
};

/**
 * The health route, for the Route 53 health check: 200 `{"status":"ok"}` when this region can serve (its
 * table answers and its signing keys are usable), else the not-ready 503 naming the unusable part (the
 * table when both are). Both checks run at once; the keys come from the issuer's key cache.
 *
 * A Route 53 HTTPS health checker counts an endpoint healthy only for a 2xx or 3xx status received within
 * 2 seconds of connecting, so a 503 (or no answer in time) takes the region out of DNS answers
 * (https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/dns-failover-determining-health-of-endpoints.html).
 */
async function health(readiness: IssuerReadiness): Promise<APIGatewayProxyResult> {
  const [table, keys] = await Promise.allSettled([readiness.table(), readiness.signingKeys()]);
  if (table.status === 'rejected') throw table.reason;
  if (keys.status === 'rejected') throw keys.reason;
  return json(200, { status: 'ok' });
}

/**
 * AWS SDK service errors, the minimal DynamoDB client's errors (the refresh requests), time-outs and network
 * failures: the store is unavailable, not the input bad.
 */
function isDependencyFailure(error: unknown): boolean {
  if (error instanceof DynamoDbLiteError) return true;
  if (typeof error !== 'object' || error === null) return false;
  const candidate = error as { $metadata?: unknown; code?: unknown; name?: unknown };
  return (
    candidate.$metadata !== undefined ||
    (typeof candidate.code === 'string' && /^E[A-Z]+$/.test(candidate.code)) ||
    candidate.name === 'TimeoutError'
  );
}

function invalidToken(): HttpError {
  return new HttpError(401, 'invalid_token', 'the access token is missing or invalid', {
    'WWW-Authenticate': 'Bearer error="invalid_token"',
  });
}

/** RFC 6750 section 3.1: a request without credentials gets the challenge without an error code. */
function missingToken(): HttpError {
  return new HttpError(401, 'invalid_request', 'an access token is required', {
    'WWW-Authenticate': 'Bearer',
  });
}

/**
 * The client a request names, or the one it implies when it names none (see {@link ClientRegistry.implied}):
 * the cookie client when `delivery` is `cookie`, else the body client.
 */
function client(
  deps: IssuerDeps,
  clientId: string | undefined,
  delivery: RefreshTokenDelivery = 'body',
): ClientConfig {
  if (clientId === undefined) {
    const implied = deps.clients.implied(delivery);
    if (implied === undefined) throw new InvalidRequestError('client_id is required');
    return implied;
  }
  const found = deps.clients.get(clientId);
  if (found === undefined) throw new HttpError(400, 'invalid_client', 'unknown client_id');
  return found;
}

function refreshCookie(value: string, maxAge: number): string {
  return `${REFRESH_COOKIE}=${value}; Path=${REFRESH_COOKIE_PATH}; Max-Age=${maxAge}; HttpOnly; Secure; SameSite=Strict`;
}

/** The token response (RFC 6749 section 5.1); the refresh token goes where the client's registration says. */
function tokenResponse(
  deps: IssuerDeps,
  registered: ClientConfig,
  tokens: TokenSet,
  /** A login's new device token: a body field beside the refresh token, or a cookie beside it. */
  deviceToken?: string,
): APIGatewayProxyResult {
  const inBody = registered.refreshTokenDelivery === 'body';
  const body = {
    access_token: tokens.accessToken,
    token_type: 'Bearer',
    expires_in: tokens.expiresIn,
    scope: tokens.scope,
    ...(inBody ? { refresh_token: tokens.refreshToken } : {}),
    ...(inBody && deviceToken !== undefined ? { device_token: deviceToken } : {}),
  };
  // The cookie lives as long as the session may: never past its absolute expiry, which refresh never moves.
  const remainingSeconds = Math.max(
    0,
    Math.floor((tokens.sessionExpiresAt - (deps.clock ?? Date.now)()) / 1000),
  );
  const cookies = inBody
    ? []
    : [
        refreshCookie(tokens.refreshToken, Math.min(deps.refreshCookieMaxAgeSeconds, remainingSeconds)),
        ...(deviceToken === undefined ? [] : [deviceCookie(deviceToken)]),
      ];
  return json(200, body, {}, cookies);
}

/** The device cookie: as long-lived as the token (login-throttle.ts `deviceTokenLifetimeSeconds`). */
function deviceCookie(token: string): string {
  return `${DEVICE_COOKIE}=${token}; Path=${DEVICE_COOKIE_PATH}; Max-Age=${LOGIN_THROTTLE_DEFAULTS.deviceTokenLifetimeSeconds}; HttpOnly; Secure; SameSite=Strict`;
}

function clearCookie(): string {
  return refreshCookie('', 0);
}

async function login(deps: IssuerDeps, event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> {
  const body = parseBody(event, 'json');
  const registered = client(deps, body.client_id);
  const { username, password } = body;
  if (username === undefined || password === undefined) {
    throw new InvalidRequestError('username and password are required');
  }
  // The device token: the cookie of a browser, or the `device_token` field of a client without cookies.
  const presentedDevice = body.device_token ?? cookie(event, DEVICE_COOKIE);
  const source = event.requestContext?.identity?.sourceIp;
  const user = await deps.credentials.authenticate(username, password, {
    ...(typeof source === 'string' && source !== '' ? { source } : {}),
    ...(presentedDevice === undefined ? {} : { deviceToken: presentedDevice }),
  });
  const tokens = await deps.sessions.login({
    sub: user.userId,
    clientId: registered.clientId,
    scope: user.scope,
    ...optionalRequestFacts(event),
  });
  return tokenResponse(deps, registered, tokens, user.deviceToken);
}

function optionalRequestFacts(event: APIGatewayProxyEvent): { userAgent?: string; ip?: string } {
  const userAgent = header(event, 'user-agent');
  const ip = event.requestContext?.identity?.sourceIp;
  return { ...(userAgent === undefined ? {} : { userAgent }), ...(typeof ip === 'string' ? { ip } : {}) };
}

/**
 * The refresh token of a request: from the body for `body` clients; for `cookie` clients only from the
 * cookie, and only with an allowed `Origin` (a cross-site request cannot spend the cookie).
 */
function presentedRefreshToken(
  event: APIGatewayProxyEvent,
  registered: ClientConfig,
  fromBody: string | undefined,
): string | undefined {
  if (registered.refreshTokenDelivery === 'body') return fromBody;
  if (fromBody !== undefined)
    throw new InvalidRequestError('this client sends its refresh token in a cookie');
  const origin = header(event, 'origin');
  if (origin === undefined || !(registered.allowedOrigins ?? []).includes(origin)) {
    throw new HttpError(403, 'invalid_request', 'Origin is not allowed for this client');
  }
  return cookie(event, REFRESH_COOKIE);
}

async function token(deps: IssuerDeps, event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> {
  const body = parseBody(event, 'form');
  if (body.grant_type === undefined) throw new InvalidRequestError('grant_type is required');
  if (body.grant_type !== 'refresh_token') {
    throw new HttpError(400, 'unsupported_grant_type', 'only the refresh_token grant is supported');
  }
  const registered = client(deps, body.client_id);
  const refreshToken = presentedRefreshToken(event, registered, body.refresh_token);
  if (refreshToken === undefined || refreshToken === '')
    throw new InvalidRequestError('refresh_token is required');
  if (body.scope !== undefined) throw new InvalidRequestError('scope cannot be changed on refresh');
  const tokens = await deps.sessions.refresh(refreshToken, registered.clientId);
  return tokenResponse(deps, registered, tokens);
}

async function bearer(deps: IssuerDeps, event: APIGatewayProxyEvent) {
  if (header(event, 'authorization') === undefined) throw missingToken();
  const result = await deps.authenticator.authenticate(header(event, 'authorization'));
  if (result.outcome === 'unauthorized') throw invalidToken();
  return result;
}

async function logout(deps: IssuerDeps, event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> {
  if (header(event, 'authorization') !== undefined) {
    const { claims } = await bearer(deps, event);
    await deps.sessions.logout(claims.sid, claims.sub);
    return noContent([clearCookie()]);
  }
  const hasBody = (event.body ?? '') !== '';
  const body = hasBody ? parseBody(event, 'form') : {};
  // Without a client_id, a request that carries the refresh cookie comes from the cookie (web) client.
  const registered = client(
    deps,
    body.client_id,
    cookie(event, REFRESH_COOKIE) === undefined ? 'body' : 'cookie',
  );
  const refreshToken = presentedRefreshToken(event, registered, body.refresh_token);
  if (refreshToken === undefined)
    throw new InvalidRequestError('a bearer token or a refresh token is required');
  await deps.sessions.revokeByRefreshToken(refreshToken, registered.clientId, 'logout');
  return noContent(registered.refreshTokenDelivery === 'cookie' ? [clearCookie()] : []);
}

const PASSWORD_ROUTE = 'POST /auth/password';

/**
 * `POST /auth/password` (JSON `current_password`, `new_password`, with the bearer token): the caller's
 * session must be live and not behind its subject's watermark; the credential service checks the new
 * password's policy and the current password (throttled as login) and stores the new hash; then every other
 * session of the subject ends (one watermark write) and the caller's is kept. 204.
 *
 * The hash is written only after every check passed, the watermark only after the hash. If the hash write
 * succeeded and the session write failed, the answer is 503: the new password works, the other sessions
 * have not ended yet, and the same request with the new password as `current_password` completes it
 * (docs/design.md "Password change").
 */
async function changePassword(deps: IssuerDeps, event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> {
  // The bearer check reads the subject's watermark too (strongly consistent): a session ended by "log out
  // everywhere" or a disable is refused here and never revived by marking it re-authenticated below.
  const { claims } = await bearer(deps, event);
  const body = parseBody(event, 'json');
  const { current_password: current, new_password: next } = body;
  if (current === undefined || next === undefined) {
    throw new InvalidRequestError('current_password and new_password are required');
  }
  const source = event.requestContext?.identity?.sourceIp;
  await deps.credentials.changePassword(claims.sub, current, next, {
    ...(typeof source === 'string' && source !== '' ? { source } : {}),
  });
  try {
    // False: the caller's session was revoked meanwhile; every session ends then, the caller's was already.
    if (!(await deps.sessions.endOtherSessions(claims.sub, claims.sid))) {
      await deps.sessions.logoutAll(claims.sub);
    }
  } catch (error) {
    deps.logger.error('password changed, other sessions not ended', {
      route: PASSWORD_ROUTE,
      error: (error as Error)?.name ?? 'unknown',
    });
    throw new HttpError(
      503,
      'temporarily_unavailable',
      'the password was changed but other sessions may not have ended; repeat the request with the new ' +
        'password as current_password',
      { 'Retry-After': '1' },
    );
  }
  return noContent();
}

async function listSessions(deps: IssuerDeps, event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> {
  const { claims } = await bearer(deps, event);
  const sessions = await deps.sessions.listSessions(claims.sub);
  return json(200, {
    sessions: sessions.map((session) => ({
      id: session.sid,
      createdAt: new Date(session.createdAt).toISOString(),
      lastUsedAt: new Date(session.lastUsedAt).toISOString(),
      current: session.sid === claims.sid,
      userAgent: session.userAgent ?? null,
      ip: session.ip ?? null,
    })),
  });
}

/**
 * RFC 7009: revokes the session of a refresh token or of an access token, and answers 200 whatever the
 * token was (an invalid token is not an error, section 2.2).
 */
async function revoke(deps: IssuerDeps, event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> {
  const body = parseBody(event, 'form');
  const registered = client(deps, body.client_id);
  const presented = body.token;
  if (presented === undefined || presented === '') throw new InvalidRequestError('token is required');
  // token_type_hint is only a hint (RFC 7009 section 2.1): every token type is searched whatever it says.
  const revokedRefresh = await deps.sessions.revokeByRefreshToken(
    presented,
    registered.clientId,
    'token_revocation',
  );
  if (revokedRefresh === undefined) {
    const result = await deps.authenticator.authenticate(`Bearer ${presented}`);
    if (result.outcome === 'authenticated' && result.claims.client_id === registered.clientId) {
      await deps.sessions.logout(result.claims.sid, result.claims.sub, 'token_revocation');
    }
  }
  return json(200, {});
}

/**
 * RFC 8414 authorization server metadata, served at `/.well-known/oauth-authorization-server` and, identical,
 * at `/.well-known/openid-configuration`. There is no authorization endpoint (login is this API's own
 * `POST /auth/login`), so `response_types_supported` is empty: no response type of the authorization
 * endpoint is supported.
 */
function discovery(issuer: string) {
  return {
    issuer,
    jwks_uri: `${issuer}/.well-known/jwks.json`,
    token_endpoint: `${issuer}/auth/token`,
    revocation_endpoint: `${issuer}/auth/revoke`,
    response_types_supported: [],
    grant_types_supported: ['refresh_token'],
    token_endpoint_auth_methods_supported: ['none'],
    revocation_endpoint_auth_methods_supported: ['none'],
  };
}
