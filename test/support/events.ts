import type { APIGatewayProxyEvent } from 'aws-lambda';

export const JSON_TYPE = { 'Content-Type': 'application/json' } as const;
export const FORM_TYPE = { 'Content-Type': 'application/x-www-form-urlencoded' } as const;

/** An API Gateway REST proxy event. */
export function proxyEvent(
  method: string,
  resource: string,
  options: {
    readonly body?: string | null;
    readonly headers?: Record<string, string>;
    readonly base64?: boolean;
    readonly path?: Record<string, string> | null;
  } = {},
): APIGatewayProxyEvent {
  return {
    httpMethod: method,
    resource,
    path: resource,
    headers: options.headers ?? {},
    body: options.body ?? null,
    isBase64Encoded: options.base64 ?? false,
    pathParameters: options.path ?? null,
    requestContext: { identity: { sourceIp: '203.0.113.5' } },
  } as unknown as APIGatewayProxyEvent;
}
