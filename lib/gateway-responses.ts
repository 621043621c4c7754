import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import { GATEWAY_ERRORS, type GatewayError } from '../lambda/gateway-errors';

/** Headers on every gateway response: an error is never cached, and its type is never sniffed. */
const ERROR_HEADERS = {
  'Cache-Control': "'no-store'",
  'X-Content-Type-Options': "'nosniff'",
} as const;

/** The OAuth-style JSON body of an error (RFC 6749 section 5.2 shape): `{"error", "error_description"}`. */
export function oauthErrorBody(error: string, description: string): string {
  return JSON.stringify({ error, error_description: description });
}

/**
 * A gateway response body whose description is API Gateway's own message. `$context.error.messageString` is
 * already a quoted, escaped JSON string, so the template stays valid JSON whatever the message.
 */
function errorBodyWithMessage(error: string): string {
  return `{"error":${JSON.stringify(error)},"error_description":$context.error.messageString}`;
}

/** One gateway response: status (absent: keep the status of the error), extra headers, JSON body. */
interface GatewayResponseSpec {
  readonly id: string;
  readonly type: apigateway.ResponseType;
  readonly statusCode?: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body: string;
}

/** A gateway response for one of the answers declared in lambda/gateway-errors.ts. */
function fromGatewayError(
  id: string,
  type: apigateway.ResponseType,
  answer: GatewayError,
): GatewayResponseSpec {
  return {
    id,
    type,
    statusCode: String(answer.status),
    // Response header values are mapping expressions: a literal value is single-quoted.
    headers: Object.fromEntries(Object.entries(answer.headers).map(([name, value]) => [name, `'${value}'`])),
    body: oauthErrorBody(answer.error, answer.description),
  };
}

/**
 * Every error API Gateway answers itself, as the local platform answers them (both from
 * lambda/gateway-errors.ts): an OAuth-style JSON body, `Cache-Control: no-store`, and the right status.
 */
const GATEWAY_RESPONSES: readonly GatewayResponseSpec[] = [
  // The authorizer threw 'Unauthorized' (bad or missing token, dead session), or the header is missing.
  fromGatewayError('Unauthorized', apigateway.ResponseType.UNAUTHORIZED, GATEWAY_ERRORS.unauthorized),
  // The authorizer's policy denies the route.
  fromGatewayError('AccessDenied', apigateway.ResponseType.ACCESS_DENIED, GATEWAY_ERRORS.accessDenied),
  // The authorizer threw anything else (its session store is unavailable): closed and loud, but retryable.
  fromGatewayError(
    'AuthorizerFailure',
    apigateway.ResponseType.AUTHORIZER_FAILURE,
    GATEWAY_ERRORS.authorizerFailure,
  ),
  // API Gateway could not invoke the authorizer, or it answered something that is not a policy.
  fromGatewayError(
    'AuthorizerConfigurationError',
    apigateway.ResponseType.AUTHORIZER_CONFIGURATION_ERROR,
    GATEWAY_ERRORS.authorizerFailure,
  ),
  fromGatewayError('Throttled', apigateway.ResponseType.THROTTLED, GATEWAY_ERRORS.throttled),
  fromGatewayError('BadRequestBody', apigateway.ResponseType.BAD_REQUEST_BODY, GATEWAY_ERRORS.badRequestBody),
  fromGatewayError(
    'BadRequestParameters',
    apigateway.ResponseType.BAD_REQUEST_PARAMETERS,
    GATEWAY_ERRORS.badRequestParameters,
  ),
  // API Gateway's answer to a path or a method no resource declares (its message: "Missing Authentication
  // Token"). The local platform answers 405 for a known path with another method; this answers 404.
  fromGatewayError(
    'MissingAuthenticationToken',
    apigateway.ResponseType.MISSING_AUTHENTICATION_TOKEN,
    GATEWAY_ERRORS.notFound,
  ),
  // AWS WAF blocked the request (a managed rule group). The rate-based rules answer 429 themselves.
  fromGatewayError('WafFiltered', apigateway.ResponseType.WAF_FILTERED, GATEWAY_ERRORS.wafFiltered),
  {
    // Every other 4XX keeps its status (413, 415, ...) and gets a JSON body.
    id: 'Default4XX',
    type: apigateway.ResponseType.DEFAULT_4XX,
    body: errorBodyWithMessage('invalid_request'),
  },
  {
    // Every other 5XX (integration failure or time-out, ...) keeps its status and gets a JSON body.
    id: 'Default5XX',
    type: apigateway.ResponseType.DEFAULT_5XX,
    body: errorBodyWithMessage('server_error'),
  },
];

/**
 * Gives `api` a gateway response for every error API Gateway answers itself, as the issuer and the local
 * platform answer them: an OAuth-style JSON body (`invalid_token` with `WWW-Authenticate: Bearer` on 401,
 * `insufficient_scope` on 403, `temporarily_unavailable` with `Retry-After` on an authorizer failure, 429
 * on throttling, 400 for a bad body or parameter, 404 for an unknown route), `Cache-Control: no-store` and
 * `X-Content-Type-Options: nosniff`. Each response is a child of the API with a stable ID (`Unauthorized`,
 * `AccessDenied`, ...), so its logical ID does not depend on who calls this.
 *
 * @example
 * addGatewayResponses(authApi.restApi);
 */
export function addGatewayResponses(api: apigateway.RestApi): apigateway.GatewayResponse[] {
  return GATEWAY_RESPONSES.map((spec) =>
    api.addGatewayResponse(spec.id, {
      type: spec.type,
      ...(spec.statusCode === undefined ? {} : { statusCode: spec.statusCode }),
      responseHeaders: { ...ERROR_HEADERS, ...spec.headers },
      templates: { 'application/json': spec.body },
    }),
  );
}
