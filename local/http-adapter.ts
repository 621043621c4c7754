import type { IncomingMessage, ServerResponse } from 'node:http';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import type { GatewayError } from '../lambda/gateway-errors';

/** Reads a request body up to `limit` bytes; `undefined` when it is larger (the caller answers 413). */
export async function readBody(request: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  const declared = Number(request.headers['content-length'] ?? 0);
  if (declared > limit) return undefined;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > limit) return undefined;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** Flattens Node's headers into API Gateway's single-value `headers` (repeated headers joined by `, `). */
export function singleValueHeaders(request: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return headers;
}

/** Builds the REST API proxy event API Gateway would hand the integration. */
export function toProxyEvent(
  request: IncomingMessage,
  options: {
    readonly resource: string;
    readonly path: string;
    readonly pathParameters: Readonly<Record<string, string>>;
    readonly body: Buffer;
    readonly sourceIp: string;
    readonly authorizer?: Readonly<Record<string, string>>;
  },
): APIGatewayProxyEvent {
  const headers = singleValueHeaders(request);
  const url = new URL(request.url ?? '/', 'http://local');
  const query: Record<string, string> = {};
  for (const [name, value] of url.searchParams) query[name] = value;
  return {
    resource: options.resource,
    path: options.path,
    httpMethod: request.method ?? 'GET',
    headers,
    multiValueHeaders: {},
    queryStringParameters: Object.keys(query).length === 0 ? null : query,
    multiValueQueryStringParameters: null,
    pathParameters: Object.keys(options.pathParameters).length === 0 ? null : { ...options.pathParameters },
    stageVariables: null,
    body: options.body.length === 0 ? null : options.body.toString('utf8'),
    isBase64Encoded: false,
    requestContext: {
      identity: { sourceIp: options.sourceIp, userAgent: headers['user-agent'] ?? null },
      authorizer: options.authorizer ?? null,
    } as unknown as APIGatewayProxyEvent['requestContext'],
  };
}

/** Writes an integration's result as the HTTP response. */
export function sendResult(response: ServerResponse, result: APIGatewayProxyResult): void {
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(result.headers ?? {})) headers[name] = String(value);
  for (const [name, values] of Object.entries(result.multiValueHeaders ?? {})) {
    headers[name] = values.map((value) => String(value));
  }
  response.writeHead(result.statusCode, headers);
  response.end(result.isBase64Encoded === true ? Buffer.from(result.body, 'base64') : result.body);
}

/** A JSON error response in the OAuth style, with the headers every response carries. */
export function sendError(
  response: ServerResponse,
  status: number,
  error: string,
  description: string,
  headers: Readonly<Record<string, string>> = {},
): void {
  sendResult(response, {
    statusCode: status,
    headers: { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', ...headers },
    body: JSON.stringify({ error, error_description: description }),
  });
}

/** Answers one of the errors API Gateway answers itself (lambda/gateway-errors.ts), as the deployed API does. */
export function sendGatewayError(response: ServerResponse, answer: GatewayError): void {
  sendError(response, answer.status, answer.error, answer.description, answer.headers);
}

/** Reads a request body up to `limit` bytes, or answers 413 and gives `undefined` (the request is then answered). */
export async function readBodyOr413(
  request: IncomingMessage,
  response: ServerResponse,
  limit: number,
): Promise<Buffer | undefined> {
  const body = await readBody(request, limit);
  if (body === undefined)
    sendError(response, 413, 'invalid_request', `request body is larger than ${limit} bytes`);
  return body;
}
