import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { decodeUtf8, parseJsonObject } from '../core/encoding';
import { InvalidRequestError } from '../core/errors';

/** Largest request body accepted, bytes. */
export const MAX_BODY_BYTES = 16 * 1024;

/** A response that says why, OAuth style (RFC 6749 section 5.2). */
export class HttpError extends Error {
  public constructor(
    public readonly status: number,
    public readonly error: string,
    public readonly description: string,
    public readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(description);
  }
}

/** Headers on every issuer response: token responses must never be cached (RFC 6749 section 5.1). */
const BASE_HEADERS = {
  'Cache-Control': 'no-store',
  Pragma: 'no-cache',
  'X-Content-Type-Options': 'nosniff',
} as const;

/**
 * Headers of the public, cacheable documents (JWKS, discovery metadata): cacheable by anyone for `maxAge`
 * seconds (no `Pragma: no-cache`, which would say the opposite) and readable from any origin, as they hold
 * only public data.
 */
export function publicDocumentHeaders(maxAge: number): Record<string, string> {
  return { 'Cache-Control': `public, max-age=${maxAge}`, 'Access-Control-Allow-Origin': '*' };
}

/** A JSON response with the base headers. */
export function json(
  status: number,
  body: unknown,
  headers: Readonly<Record<string, string>> = {},
  cookies: readonly string[] = [],
): APIGatewayProxyResult {
  return {
    statusCode: status,
    headers: withoutPragmaIfPublic({ ...BASE_HEADERS, 'Content-Type': 'application/json', ...headers }),
    ...(cookies.length === 0 ? {} : { multiValueHeaders: { 'Set-Cookie': [...cookies] } }),
    body: body === undefined ? '' : JSON.stringify(body),
  };
}

/** `Pragma: no-cache` only goes with `no-store`: a public document must not say both. */
function withoutPragmaIfPublic(headers: Record<string, string>): Record<string, string> {
  if (!headers['Cache-Control']?.startsWith('public')) return headers;
  const { Pragma: _dropped, ...rest } = headers;
  return rest;
}

/** An empty response (204). */
export function noContent(cookies: readonly string[] = []): APIGatewayProxyResult {
  return {
    statusCode: 204,
    headers: { ...BASE_HEADERS },
    ...(cookies.length === 0 ? {} : { multiValueHeaders: { 'Set-Cookie': [...cookies] } }),
    body: '',
  };
}

/** The OAuth-style error response for an {@link HttpError}. */
export function errorResponse(error: HttpError): APIGatewayProxyResult {
  return json(error.status, { error: error.error, error_description: error.description }, error.headers);
}

/** A header by case-insensitive name. */
export function header(event: APIGatewayProxyEvent, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(event.headers ?? {})) {
    if (key.toLowerCase() === wanted && typeof value === 'string') return value;
  }
  return undefined;
}

/** A cookie of the request by name. */
export function cookie(event: APIGatewayProxyEvent, name: string): string | undefined {
  for (const part of (header(event, 'cookie') ?? '').split(';')) {
    const [key, ...rest] = part.trim().split('=');
    if (key === name) return rest.join('=');
  }
  return undefined;
}

/**
 * Parses the request body as the route expects: `json` (an object) or `form`
 * (`application/x-www-form-urlencoded`). Checks content type and size first; every parameter comes back as a
 * string or is absent (a repeated form parameter is an error, RFC 6749 section 3.1).
 */
export function parseBody(event: APIGatewayProxyEvent, kind: 'json' | 'form'): Record<string, string> {
  const raw = event.body ?? '';
  const bytes = event.isBase64Encoded ? Buffer.from(raw, 'base64') : Buffer.from(raw, 'utf8');
  if (bytes.length > MAX_BODY_BYTES) {
    throw new HttpError(413, 'invalid_request', `request body is larger than ${MAX_BODY_BYTES} bytes`);
  }
  const contentType = (header(event, 'content-type') ?? '').split(';')[0]?.trim().toLowerCase();
  const expected = kind === 'json' ? 'application/json' : 'application/x-www-form-urlencoded';
  if (contentType !== expected)
    throw new HttpError(415, 'invalid_request', `Content-Type must be ${expected}`);
  // Invalid UTF-8 is refused, never decoded with replacement characters (as on the token path).
  const text = decodeUtf8(bytes);
  if (text === undefined) throw new InvalidRequestError('body is not valid UTF-8');
  const params: Record<string, string> = Object.create(null);
  if (kind === 'json') {
    const object = parseJsonObject(text);
    if (object === undefined) throw new InvalidRequestError('body must be a JSON object');
    for (const [name, value] of Object.entries(object)) {
      if (typeof value !== 'string') throw new InvalidRequestError(`${name} must be a string`);
      params[name] = value;
    }
    return params;
  }
  for (const [name, value] of new URLSearchParams(text)) {
    if (name in params) throw new InvalidRequestError(`parameter ${name} is repeated`);
    params[name] = value;
  }
  return params;
}
