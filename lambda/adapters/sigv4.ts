/**
 * AWS Signature Version 4 for one JSON `POST` to a service endpoint, with node:crypto only: what the
 * authorizer's DynamoDB client signs its requests with instead of the AWS SDK's signer (whose import is most of
 * the authorizer's cold start, docs/performance.md "Cold start").
 *
 * The steps and formats are those of "Create a signed AWS API request"
 * (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html): a canonical
 * request (method, URI, empty query, lower-cased sorted headers with trimmed values, signed header names,
 * hex SHA-256 of the payload), the string to sign over its hash and the credential scope, and the signature
 * with the key derived from the secret, date, region and service. Temporary credentials add
 * `X-Amz-Security-Token`, signed with the other headers
 * (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-signing-elements.html).
 * test/adapters/sigv4.test.ts checks it against the SDK's signer (`@smithy/signature-v4`).
 */
import { createHash, createHmac } from 'node:crypto';

/** The credentials a request is signed with (the Lambda runtime sets them in the environment). */
export interface SigV4Credentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** Temporary credentials' session token. */
  readonly sessionToken?: string;
}

/** One request to sign. */
export interface SigV4Request {
  readonly method: string;
  /** The `Host` header: host name, and `:port` when not the scheme's default. */
  readonly host: string;
  /** The absolute path, already URI-encoded (`/` for DynamoDB). */
  readonly path: string;
  /** Headers to sign besides `host`, `x-amz-date` and `x-amz-security-token` (added here). */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
  readonly region: string;
  readonly service: string;
  readonly credentials: SigV4Credentials;
  /** When the request is signed. */
  readonly at: Date;
}

const ALGORITHM = 'AWS4-HMAC-SHA256';

const sha256Hex = (data: string): string => createHash('sha256').update(data, 'utf8').digest('hex');
const hmac = (key: Buffer | string, data: string): Buffer =>
  createHmac('sha256', key).update(data, 'utf8').digest();

/** `YYYYMMDD'T'HHMMSS'Z'` (ISO 8601 basic, UTC). */
function amzDate(at: Date): string {
  return at
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
}

/** The derived signing key of one day, region and service, kept for the next request of the same scope. */
let cachedKey: { readonly secret: string; readonly scope: string; readonly key: Buffer } | undefined;

function signingKey(secret: string, date: string, region: string, service: string): Buffer {
  const scope = `${date}/${region}/${service}`;
  if (cachedKey?.secret === secret && cachedKey.scope === scope) return cachedKey.key;
  const key = hmac(hmac(hmac(hmac(`AWS4${secret}`, date), region), service), 'aws4_request');
  cachedKey = { secret, scope, key };
  return key;
}

/**
 * Signs a request: the headers to send with it (the request's own, `host`, `x-amz-date`,
 * `x-amz-security-token` for temporary credentials, and `authorization`).
 */
export function signRequest(request: SigV4Request): Record<string, string> {
  const dateTime = amzDate(request.at);
  const date = dateTime.slice(0, 8);
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) headers[name.toLowerCase()] = value;
  headers.host = request.host;
  headers['x-amz-date'] = dateTime;
  if (request.credentials.sessionToken !== undefined) {
    headers['x-amz-security-token'] = request.credentials.sessionToken;
  }
  const names = Object.keys(headers).sort();
  const canonicalHeaders = names
    .map((name) => `${name}:${(headers[name] ?? '').trim().replace(/\s+/g, ' ')}\n`)
    .join('');
  const signedHeaders = names.join(';');
  const canonicalRequest = [
    request.method,
    request.path,
    '',
    canonicalHeaders,
    signedHeaders,
    sha256Hex(request.body),
  ].join('\n');
  const scope = `${date}/${request.region}/${request.service}/aws4_request`;
  const stringToSign = [ALGORITHM, dateTime, scope, sha256Hex(canonicalRequest)].join('\n');
  const key = signingKey(request.credentials.secretAccessKey, date, request.region, request.service);
  const signature = createHmac('sha256', key).update(stringToSign, 'utf8').digest('hex');
  headers.authorization = `${ALGORITHM} Credential=${request.credentials.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`;
  return headers;
}
