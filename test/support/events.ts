import type { APIGatewayProxyEvent, APIGatewayRequestAuthorizerEvent } from 'aws-lambda';

/** The API stage whose method ARNs the authorizer tests use. */
export const TEST_API = 'arn:aws:execute-api:eu-west-1:123456789012:abcdef1234/prod';

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

/** A REQUEST authorizer event for `GET <path>` with the given `Authorization` header. */
export function authorizerEvent(
  authorization: string | undefined,
  path = '/api/me',
): APIGatewayRequestAuthorizerEvent {
  return {
    type: 'REQUEST',
    methodArn: `${TEST_API}/GET${path}`,
    resource: path,
    path,
    httpMethod: 'GET',
    headers: authorization === undefined ? {} : { Authorization: authorization },
    requestContext: { identity: { sourceIp: '198.51.100.7' } },
  } as unknown as APIGatewayRequestAuthorizerEvent;
}
