/**
 * The errors API Gateway answers itself, before or instead of a function: their status, OAuth-style body
 * (RFC 6749 section 5.2 shape) and headers, declared once. The CDK `AuthApi` turns them into gateway
 * responses and the local platform answers with them, so a client sees the same error on one machine and
 * in AWS. The issuer's own errors are mapped in `lambda/issuer/http.ts`.
 */

/** One error answer. */
export interface GatewayError {
  readonly status: number;
  /** The OAuth error code (`error`). */
  readonly error: string;
  /** The human-readable `error_description`. */
  readonly description: string;
  /** Extra response headers. */
  readonly headers: Readonly<Record<string, string>>;
}

/** Every error answer the API gives without a function. */
export const GATEWAY_ERRORS = {
  /** The authorizer refused the token or its session (or the header is missing). */
  unauthorized: {
    status: 401,
    error: 'invalid_token',
    description: 'the access token is missing or invalid',
    headers: { 'WWW-Authenticate': 'Bearer error="invalid_token"' },
  },
  /** The authorizer's policy denies the route. */
  accessDenied: {
    status: 403,
    error: 'insufficient_scope',
    description: 'the token does not allow this route',
    headers: { 'WWW-Authenticate': 'Bearer error="insufficient_scope"' },
  },
  /** The authorizer could not decide (its session store is unavailable): closed and loud, but retryable. */
  authorizerFailure: {
    status: 503,
    error: 'temporarily_unavailable',
    description: 'the authorizer could not decide',
    headers: { 'Retry-After': '1' },
  },
  /** A stage or WAF rate limit. */
  throttled: {
    status: 429,
    error: 'too_many_requests',
    description: 'too many requests, try again shortly',
    headers: { 'Retry-After': '1' },
  },
  /** A body the API's request model refuses. */
  badRequestBody: {
    status: 400,
    error: 'invalid_request',
    description: 'the request body is invalid',
    headers: {},
  },
  /** A required request parameter is missing. */
  badRequestParameters: {
    status: 400,
    error: 'invalid_request',
    description: 'a required request parameter is missing',
    headers: {},
  },
  /** No route has this path. */
  notFound: { status: 404, error: 'not_found', description: 'no such route', headers: {} },
  /** AWS WAF blocked the request (a managed rule group). */
  wafFiltered: { status: 403, error: 'access_denied', description: 'the request was blocked', headers: {} },
} as const satisfies Record<string, GatewayError>;
