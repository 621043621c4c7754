import { Duration, Names, Token, Validations } from 'aws-cdk-lib';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as wafv2 from 'aws-cdk-lib/aws-wafv2';
import { Construct } from 'constructs';
import { MAX_USERNAME_LENGTH } from '../lambda/core/credentials';
import { MAX_PASSWORD_LENGTH } from '../lambda/core/password-hashing';
import type { HttpMethod } from '../lambda/core/route-matching';
import { type RoutePattern, validateRouteTable } from '../lambda/core/route-matching';
import { ISSUER_ROUTES } from '../lambda/issuer/routes';
import { PROTECTED_ROUTES } from '../lambda/protected-routes';

/** The sample backends: protected routes that echo the authorizer context when `sampleBackends` is on. */
export const SAMPLE_ROUTES: readonly RoutePattern[] = [
  { method: 'GET', path: '/api/me' },
  { method: 'GET', path: '/api/admin' },
];

/** The longest authorizer result cache API Gateway accepts. */
export const MAX_AUTHORIZER_CACHE_TTL = Duration.hours(1);

/** The smallest rate limit AWS WAF accepts in a rate-based rule, requests per evaluation window. */
export const MIN_WAF_RATE_LIMIT = 10;
/** The largest rate limit AWS WAF accepts in a rate-based rule. */
export const MAX_WAF_RATE_LIMIT = 2_000_000_000;

/** The names of the web ACL's rules (also the CloudWatch metric name of each rule). */
export const WAF_RULE_NAMES = {
  ipReputation: 'AWSManagedRulesAmazonIpReputationList',
  loginRateLimit: 'LoginRateLimit',
  authRateLimit: 'AuthRateLimit',
  knownBadInputs: 'AWSManagedRulesKnownBadInputsRuleSet',
  commonRuleSet: 'AWSManagedRulesCommonRuleSet',
} as const;

/** Properties of {@link AuthApi}. */
export interface AuthApiProps {
  /** The token issuer (API Gateway REST proxy integration). */
  readonly issuerFunction: lambda.IFunction;
  /** The REQUEST authorizer; its identity source is the `Authorization` header. */
  readonly authorizerFunction: lambda.IFunction;
  /**
   * The authorizer result cache TTL. Required: never silently the 5-minute API Gateway default, because it
   * is part of the revocation latency budget. At most 1 hour, whole seconds; 0 disables caching.
   */
  readonly authorizerCacheTtl: Duration;
  /**
   * The protected route table the authorizer decides. It must be the table bundled into the authorizer
   * function: the policies are code in that function, so CDK only mirrors the (method, path) pairs.
   * @default PROTECTED_ROUTES of lambda/protected-routes.ts
   */
  readonly routes?: readonly RoutePattern[];
  /**
   * Deploy the sample backends: `GET /api/me` and `GET /api/admin` (those of them the route table declares),
   * each a mock integration that echoes `sub`, `sid`, `scope` and `clientId` from the authorizer context as
   * JSON. Other routes of the table get their methods from {@link AuthApi.addProtectedRoute}.
   * @default true
   */
  readonly sampleBackends?: boolean;
  /**
   * Stage throttling (every method): steady-state requests per second and burst.
   * @default { rateLimit: 500, burstLimit: 1000 }
   */
  readonly throttling?: { readonly rateLimit: number; readonly burstLimit: number };
  /**
   * AWS WAF rate limits, requests per source IP per 5 minutes: `loginLimit` on `/auth/login`, `authLimit`
   * on every `/auth/*` request (the login requests included). From 10 to 2,000,000,000 each.
   * @default { loginLimit: 100, authLimit: 1000 }
   */
  readonly waf?: { readonly loginLimit: number; readonly authLimit: number };
  /**
   * Retention of the access log, and of the execution (error) log.
   * @default RetentionDays.ONE_YEAR
   */
  readonly accessLogRetention?: logs.RetentionDays;
  /**
   * The stage name (the first segment of every path on the `execute-api` endpoint).
   * @default 'v1'
   */
  readonly stageName?: string;
  /**
   * Whether the stage sends X-Ray traces. The access log already records the authorizer's and the
   * integration's latency of every request; turn tracing on to follow a request into the functions.
   * @default false
   */
  readonly tracingEnabled?: boolean;
}

const JSON_MEDIA_TYPE = 'application/json';

/** Headers on every gateway response: an error is never cached, and its type is never sniffed. */
const ERROR_HEADERS = {
  'Cache-Control': "'no-store'",
  'X-Content-Type-Options': "'nosniff'",
} as const;

/** The OAuth-style JSON body of a gateway response (RFC 6749 section 5.2 shape). */
function errorBody(error: string, description: string): string {
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

/**
 * Every error API Gateway answers itself, as the local platform and the issuer answer them: an OAuth-style
 * JSON body, `Cache-Control: no-store`, and the right status.
 */
const GATEWAY_RESPONSES: readonly GatewayResponseSpec[] = [
  {
    // The authorizer threw 'Unauthorized' (bad or missing token, dead session), or the header is missing.
    id: 'Unauthorized',
    type: apigateway.ResponseType.UNAUTHORIZED,
    statusCode: '401',
    headers: { 'WWW-Authenticate': `'Bearer error="invalid_token"'` },
    body: errorBody('invalid_token', 'the access token is missing or invalid'),
  },
  {
    // The authorizer's policy denies the route.
    id: 'AccessDenied',
    type: apigateway.ResponseType.ACCESS_DENIED,
    statusCode: '403',
    headers: { 'WWW-Authenticate': `'Bearer error="insufficient_scope"'` },
    body: errorBody('insufficient_scope', 'the token does not allow this route'),
  },
  {
    // The authorizer threw anything else (its session store is unavailable): closed and loud, but retryable.
    id: 'AuthorizerFailure',
    type: apigateway.ResponseType.AUTHORIZER_FAILURE,
    statusCode: '503',
    headers: { 'Retry-After': "'1'" },
    body: errorBody('temporarily_unavailable', 'the authorizer could not decide'),
  },
  {
    // API Gateway could not invoke the authorizer, or it answered something that is not a policy.
    id: 'AuthorizerConfigurationError',
    type: apigateway.ResponseType.AUTHORIZER_CONFIGURATION_ERROR,
    statusCode: '503',
    headers: { 'Retry-After': "'1'" },
    body: errorBody('temporarily_unavailable', 'the authorizer could not decide'),
  },
  {
    id: 'Throttled',
    type: apigateway.ResponseType.THROTTLED,
    statusCode: '429',
    headers: { 'Retry-After': "'1'" },
    body: errorBody('too_many_requests', 'too many requests, try again shortly'),
  },
  {
    id: 'BadRequestBody',
    type: apigateway.ResponseType.BAD_REQUEST_BODY,
    statusCode: '400',
    body: errorBody('invalid_request', 'the request body is invalid'),
  },
  {
    id: 'BadRequestParameters',
    type: apigateway.ResponseType.BAD_REQUEST_PARAMETERS,
    statusCode: '400',
    body: errorBody('invalid_request', 'a required request parameter is missing'),
  },
  {
    // API Gateway's answer to a path or a method no resource declares (its message: "Missing Authentication
    // Token"). The local platform answers 405 for a known path with another method; this answers 404.
    id: 'MissingAuthenticationToken',
    type: apigateway.ResponseType.MISSING_AUTHENTICATION_TOKEN,
    statusCode: '404',
    body: errorBody('not_found', 'no such route'),
  },
  {
    // AWS WAF blocked the request (a managed rule group). The rate-based rules answer 429 themselves.
    id: 'WafFiltered',
    type: apigateway.ResponseType.WAF_FILTERED,
    statusCode: '403',
    body: errorBody('access_denied', 'the request was blocked'),
  },
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
 * The access log: one JSON line per request, with the caller's IP, the route, the outcome, and the
 * authorizer's verdict and latency. Never a header (no `Authorization`, no user agent, no cookie), never
 * the concrete path (it can carry a session id), never a body.
 */
const ACCESS_LOG_FIELDS: Readonly<Record<string, string>> = {
  requestId: apigateway.AccessLogField.contextRequestId(),
  requestTime: apigateway.AccessLogField.contextRequestTimeEpoch(),
  ip: apigateway.AccessLogField.contextIdentitySourceIp(),
  httpMethod: apigateway.AccessLogField.contextHttpMethod(),
  resourcePath: apigateway.AccessLogField.contextResourcePath(),
  protocol: apigateway.AccessLogField.contextProtocol(),
  status: apigateway.AccessLogField.contextStatus(),
  responseLength: apigateway.AccessLogField.contextResponseLength(),
  responseLatency: apigateway.AccessLogField.contextResponseLatency(),
  integrationStatus: apigateway.AccessLogField.contextIntegrationStatus(),
  integrationLatency: apigateway.AccessLogField.contextIntegrationLatency(),
  errorResponseType: apigateway.AccessLogField.contextErrorResponseType(),
  errorMessage: apigateway.AccessLogField.contextErrorMessage(),
  authorizerPrincipalId: apigateway.AccessLogField.contextAuthorizerPrincipalId(),
  authorizerStatus: apigateway.AccessLogField.contextAuthorizerStatus(),
  authorizerError: apigateway.AccessLogField.contextAuthorizerError(),
  authorizerLatency: apigateway.AccessLogField.contextAuthorizerLatency(),
  authorizerIntegrationLatency: apigateway.AccessLogField.contextAuthorizerIntegrationLatency(),
  wafResponseCode: apigateway.AccessLogField.contextWafResponseCode(),
  xrayTraceId: apigateway.AccessLogField.contextXrayTraceId(),
};

/**
 * The sample backend's response: the authorizer context the integration sees. Each value goes through
 * `$util.escapeJavaScript` (with its `\'` undone, which JSON does not allow), so the body stays valid JSON.
 * `policy` and `reason` are left out: with the result cache on, they explain the route that filled the
 * cache, not necessarily this one.
 */
function sampleBackendTemplate(route: RoutePattern): string {
  const value = (key: string) =>
    `"$util.escapeJavaScript($context.authorizer.${key}).replaceAll("\\\\'","'")"`;
  return [
    '{',
    `  "route": ${JSON.stringify(`${route.method} ${route.path}`)},`,
    '  "authorizer": {',
    `    "sub": ${value('sub')},`,
    `    "sid": ${value('sid')},`,
    `    "scope": ${value('scope')},`,
    `    "clientId": ${value('clientId')}`,
    '  }',
    '}',
  ].join('\n');
}

const STAGE_NAME = /^[A-Za-z0-9_-]{1,128}$/;

function sameRoute(a: RoutePattern, b: RoutePattern): boolean {
  return a.method === b.method && a.path === b.path;
}

function describeRoute(route: RoutePattern): string {
  return `${route.method} ${route.path}`;
}

/**
 * The platform's REST API (v1, regional): the token issuer's routes on a Lambda proxy integration, the
 * protected routes behind a Lambda REQUEST authorizer, OAuth-style JSON bodies for every error API Gateway
 * answers itself, stage throttling, a JSON access log without headers, and an AWS WAF web ACL (rate limits
 * on login and on all of `/auth/*`, AWS managed rule groups) on the stage.
 *
 * A protected route's policy is code bundled into the authorizer (lambda/protected-routes.ts); this construct only
 * creates the methods of routes that table declares, and fails synth for any other.
 *
 * @example
 * const api = new AuthApi(this, 'Api', {
 *   issuerFunction: issuer.function,
 *   authorizerFunction: authorizer.function,
 *   authorizerCacheTtl: Duration.seconds(2),
 * });
 * // lambda/protected-routes.ts declares { method: 'GET', path: '/api/orders', policy: requireScope('orders') }
 * api.addProtectedRoute('GET', '/api/orders', new apigateway.LambdaIntegration(ordersFunction));
 */
export class AuthApi extends Construct {
  /** The REST API. */
  public readonly api: apigateway.RestApi;
  /** The REQUEST authorizer every protected method uses. */
  public readonly authorizer: apigateway.RequestAuthorizer;
  /** The web ACL associated with the API's stage. */
  public readonly webAcl: wafv2.CfnWebACL;
  /** The web ACL's CloudWatch metric name: the `WebACL` dimension of its AWS/WAFV2 metrics. */
  public readonly webAclMetricName: string;
  /** The access log (one JSON line per request). */
  public readonly accessLogGroup: logs.LogGroup;
  /** API Gateway's execution log of the stage (errors only), created here to give it a retention. */
  public readonly executionLogGroup: logs.LogGroup;

  private readonly routes: readonly RoutePattern[];

  public constructor(scope: Construct, id: string, props: AuthApiProps) {
    super(scope, id);
    const routes = props.routes ?? PROTECTED_ROUTES.map(({ method, path }) => ({ method, path }));
    const stageName = props.stageName ?? 'v1';
    const throttling = props.throttling ?? { rateLimit: 500, burstLimit: 1000 };
    const waf = props.waf ?? { loginLimit: 100, authLimit: 1000 };
    const retention = props.accessLogRetention ?? logs.RetentionDays.ONE_YEAR;
    validateRoutes(routes);
    validateCacheTtl(props.authorizerCacheTtl);
    validateStageName(stageName);
    validateThrottling(throttling);
    validateWafLimit('waf.loginLimit', waf.loginLimit);
    validateWafLimit('waf.authLimit', waf.authLimit);
    this.routes = routes;

    this.accessLogGroup = new logs.LogGroup(this, 'AccessLogs', { retention });
    this.api = new apigateway.RestApi(this, 'Api', {
      restApiName: Names.uniqueResourceName(this, { maxLength: 128, separator: '-' }),
      description: 'hybrid-auth: token issuer and protected routes',
      endpointTypes: [apigateway.EndpointType.REGIONAL],
      disableExecuteApiEndpoint: false,
      // Both the access log and the execution log need API Gateway's account-level CloudWatch Logs role.
      cloudWatchRole: true,
      deployOptions: {
        stageName,
        throttlingRateLimit: throttling.rateLimit,
        throttlingBurstLimit: throttling.burstLimit,
        metricsEnabled: true,
        // Errors only, and never the full request or response: those would log the Authorization header.
        loggingLevel: apigateway.MethodLoggingLevel.ERROR,
        dataTraceEnabled: false,
        tracingEnabled: props.tracingEnabled ?? false,
        accessLogDestination: new apigateway.LogGroupLogDestination(this.accessLogGroup),
        accessLogFormat: apigateway.AccessLogFormat.custom(JSON.stringify(ACCESS_LOG_FIELDS)),
      },
    });
    // API Gateway writes the execution log to this fixed name and would create it without a retention.
    this.executionLogGroup = new logs.LogGroup(this, 'ExecutionLogs', {
      logGroupName: `API-Gateway-Execution-Logs_${this.api.restApiId}/${stageName}`,
      retention,
    });
    this.api.deploymentStage.node.addDependency(this.executionLogGroup);
    Validations.of(this.api).acknowledge({
      id: 'AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
      reason:
        "API Gateway's account-level logging role: the AWS managed policy is the one AWS documents for it, and " +
        'it grants only CloudWatch Logs writes.',
    });

    for (const spec of GATEWAY_RESPONSES) {
      this.api.addGatewayResponse(spec.id, {
        type: spec.type,
        ...(spec.statusCode === undefined ? {} : { statusCode: spec.statusCode }),
        responseHeaders: { ...ERROR_HEADERS, ...spec.headers },
        templates: { [JSON_MEDIA_TYPE]: spec.body },
      });
    }

    this.addIssuerRoutes(props.issuerFunction);

    this.authorizer = new apigateway.RequestAuthorizer(this, 'Authorizer', {
      handler: props.authorizerFunction,
      identitySources: [apigateway.IdentitySource.header('Authorization')],
      resultsCacheTtl: props.authorizerCacheTtl,
    });
    // Attach it now: a method attaches it too, but without one (no sample backends, no protected route
    // added yet) an unattached authorizer fails synth.
    this.authorizer._attachToApi(this.api);

    if (props.sampleBackends ?? true) {
      for (const route of SAMPLE_ROUTES.filter((sample) => routes.some((r) => sameRoute(r, sample)))) {
        this.addProtectedRoute(route.method, route.path, sampleBackendIntegration(route), {
          methodResponses: [
            {
              statusCode: '200',
              responseParameters: { 'method.response.header.Cache-Control': true },
              responseModels: { [JSON_MEDIA_TYPE]: apigateway.Model.EMPTY_MODEL },
            },
          ],
        });
      }
    }

    this.webAclMetricName = Names.uniqueId(this);
    this.webAcl = this.createWebAcl(stageName, waf);
    new wafv2.CfnWebACLAssociation(this, 'WebAclAssociation', {
      resourceArn: this.api.deploymentStage.stageArn,
      webAclArn: this.webAcl.attrArn,
    });
  }

  /**
   * Adds a protected method: the REQUEST authorizer runs first, and the route's policy decides. The
   * (method, path) must be declared, exactly so, in the authorizer's route table (lambda/protected-routes.ts), where
   * its policy lives: the policy is code bundled into the authorizer, so CDK cannot carry it.
   *
   * @param path an API Gateway resource path, e.g. `/api/items/{id}`.
   * @param options method options; the authorizer and authorization type are this API's and cannot be
   * overridden.
   * @throws when the route is not in the route table, or the options name another authorizer or
   * authorization type.
   */
  public addProtectedRoute(
    method: HttpMethod,
    path: string,
    integration: apigateway.Integration,
    options: apigateway.MethodOptions = {},
  ): apigateway.Method {
    const route = { method, path };
    if (!this.routes.some((declared) => sameRoute(declared, route))) {
      throw new Error(
        `AuthApi: ${describeRoute(route)} is not in the authorizer's route table; declare it with its policy ` +
          `in lambda/protected-routes.ts (PROTECTED_ROUTES) first. Declared: ${this.routes.map(describeRoute).join(', ') || 'none'}`,
      );
    }
    if (options.authorizer !== undefined && options.authorizer !== this.authorizer) {
      throw new Error(`AuthApi: ${describeRoute(route)} must use the API's authorizer, not another one`);
    }
    if (
      options.authorizationType !== undefined &&
      options.authorizationType !== apigateway.AuthorizationType.CUSTOM
    ) {
      throw new Error(
        `AuthApi: ${describeRoute(route)} has authorizationType ${options.authorizationType}; allowed: CUSTOM`,
      );
    }
    const added = this.api.root.resourceForPath(path).addMethod(method, integration, {
      ...options,
      authorizer: this.authorizer,
      authorizationType: apigateway.AuthorizationType.CUSTOM,
    });
    Validations.of(added).acknowledge({
      id: 'AwsSolutions::AwsSolutions-COG4',
      reason:
        "Protected by the platform's Lambda REQUEST authorizer (JWT, session and policy checks); the platform " +
        'is its own token issuer and uses no Cognito user pool.',
    });
    return added;
  }

  private addIssuerRoutes(issuerFunction: lambda.IFunction): void {
    const integration = new apigateway.LambdaIntegration(issuerFunction, { proxy: true });
    const validator = this.api.addRequestValidator('RequestValidator', {
      validateRequestBody: true,
      validateRequestParameters: true,
    });
    // The issuer validates every body itself; this model answers the cheapest abuse (a wrong shape, an
    // oversized credential) before a Lambda runs. Its errors are the issuer's: 400 invalid_request.
    // Only bodies sent as application/json are checked; the issuer answers 415 to any other.
    const loginModel = this.api.addModel('LoginRequest', {
      contentType: JSON_MEDIA_TYPE,
      description: 'POST /auth/login body',
      schema: {
        schema: apigateway.JsonSchemaVersion.DRAFT4,
        title: 'LoginRequest',
        type: apigateway.JsonSchemaType.OBJECT,
        required: ['username', 'password'],
        properties: {
          // The username is checked after Unicode normalization, which can shorten it: allow the raw bound.
          username: {
            type: apigateway.JsonSchemaType.STRING,
            minLength: 1,
            maxLength: 8 * MAX_USERNAME_LENGTH,
          },
          password: { type: apigateway.JsonSchemaType.STRING, minLength: 1, maxLength: MAX_PASSWORD_LENGTH },
          client_id: { type: apigateway.JsonSchemaType.STRING },
        },
        // The issuer accepts other members but only as strings.
        additionalProperties: { type: apigateway.JsonSchemaType.STRING },
      },
    });
    for (const route of ISSUER_ROUTES) {
      const parameters = [...route.path.matchAll(/\{([^}+]+)\}/g)].map(([, name]) => name);
      const isLogin = route.method === 'POST' && route.path === '/auth/login';
      const added = this.api.root.resourceForPath(route.path).addMethod(route.method, integration, {
        authorizationType: apigateway.AuthorizationType.NONE,
        ...(isLogin || parameters.length > 0 ? { requestValidator: validator } : {}),
        ...(isLogin ? { requestModels: { [JSON_MEDIA_TYPE]: loginModel } } : {}),
        ...(parameters.length > 0
          ? {
              requestParameters: Object.fromEntries(
                parameters.map((name) => [`method.request.path.${name}`, true]),
              ),
            }
          : {}),
      });
      const reason =
        'A public endpoint of the token issuer: it is where a client gets a token (login, refresh), or it ' +
        'authenticates the caller itself (bearer token, refresh token or RFC 7009 client), or it publishes ' +
        'public documents (JWKS, discovery).';
      Validations.of(added).acknowledge(
        { id: 'AwsSolutions::AwsSolutions-APIG4', reason },
        { id: 'AwsSolutions::AwsSolutions-COG4', reason },
      );
    }
  }

  private createWebAcl(
    stageName: string,
    waf: { readonly loginLimit: number; readonly authLimit: number },
  ): wafv2.CfnWebACL {
    const visibility = (metricName: string): wafv2.CfnWebACL.VisibilityConfigProperty => ({
      cloudWatchMetricsEnabled: true,
      sampledRequestsEnabled: true,
      metricName,
    });
    const tooManyRequests = 'too_many_requests';
    const rateRule = (
      name: string,
      priority: number,
      limit: number,
      prefix: string,
    ): wafv2.CfnWebACL.RuleProperty => ({
      name,
      priority,
      action: {
        block: {
          customResponse: {
            responseCode: 429,
            customResponseBodyKey: tooManyRequests,
            responseHeaders: [
              { name: 'Cache-Control', value: 'no-store' },
              { name: 'Retry-After', value: '60' },
            ],
          },
        },
      },
      statement: {
        rateBasedStatement: {
          aggregateKeyType: 'IP',
          limit,
          evaluationWindowSec: 300,
          scopeDownStatement: pathStartsWith(stageName, prefix),
        },
      },
      visibilityConfig: visibility(name),
    });
    const managedRule = (name: string, priority: number): wafv2.CfnWebACL.RuleProperty => ({
      name,
      priority,
      overrideAction: { none: {} },
      statement: { managedRuleGroupStatement: { vendorName: 'AWS', name } },
      visibilityConfig: visibility(name),
    });
    return new wafv2.CfnWebACL(this, 'WebAcl', {
      scope: 'REGIONAL',
      defaultAction: { allow: {} },
      description: 'hybrid-auth API: rate limits on the auth endpoints and AWS managed rule groups',
      visibilityConfig: visibility(this.webAclMetricName),
      customResponseBodies: {
        [tooManyRequests]: {
          contentType: 'APPLICATION_JSON',
          content: errorBody('too_many_requests', 'rate limit exceeded, try again later'),
        },
      },
      rules: [
        // Known-bad IPs first: their requests are not worth counting.
        managedRule(WAF_RULE_NAMES.ipReputation, 0),
        rateRule(WAF_RULE_NAMES.loginRateLimit, 1, waf.loginLimit, '/auth/login'),
        rateRule(WAF_RULE_NAMES.authRateLimit, 2, waf.authLimit, '/auth/'),
        managedRule(WAF_RULE_NAMES.knownBadInputs, 3),
        // Note: it blocks bodies over 8 KB (SizeRestrictions_BODY); no issuer request needs that much.
        managedRule(WAF_RULE_NAMES.commonRuleSet, 4),
      ],
    });
  }
}

/** The sample backend: a mock integration that answers 200 with the authorizer context. */
function sampleBackendIntegration(route: RoutePattern): apigateway.MockIntegration {
  return new apigateway.MockIntegration({
    // A request with another content type gets 415 rather than a body the mock cannot read.
    passthroughBehavior: apigateway.PassthroughBehavior.NEVER,
    requestTemplates: { [JSON_MEDIA_TYPE]: '{"statusCode": 200}' },
    integrationResponses: [
      {
        statusCode: '200',
        responseParameters: { 'method.response.header.Cache-Control': "'no-store'" },
        responseTemplates: { [JSON_MEDIA_TYPE]: sampleBackendTemplate(route) },
      },
    ],
  });
}

/**
 * A WAF statement: the URI path starts with `prefix`, on the `execute-api` endpoint (where every path starts
 * with the stage, `/v1/auth/login`) or on a custom domain mapped to the stage without a base path
 * (`/auth/login`). Percent-encoding and `//` or `/./` are undone first, so they cannot slip past the rule.
 */
function pathStartsWith(stageName: string, prefix: string): wafv2.CfnWebACL.StatementProperty {
  const startsWith = (searchString: string): wafv2.CfnWebACL.StatementProperty => ({
    byteMatchStatement: {
      fieldToMatch: { uriPath: {} },
      positionalConstraint: 'STARTS_WITH',
      searchString,
      textTransformations: [
        { priority: 0, type: 'URL_DECODE' },
        { priority: 1, type: 'NORMALIZE_PATH' },
      ],
    },
  });
  return { orStatement: { statements: [startsWith(`/${stageName}${prefix}`), startsWith(prefix)] } };
}

function validateRoutes(routes: readonly RoutePattern[]): void {
  try {
    validateRouteTable(routes);
  } catch (error) {
    throw new Error(`AuthApi: the route table is invalid: ${(error as Error).message}`);
  }
  for (const route of routes) {
    try {
      validateRouteTable([...ISSUER_ROUTES, route]);
    } catch {
      throw new Error(
        `AuthApi: the protected route ${describeRoute(route)} collides with an issuer route; allowed: ` +
          `routes outside ${ISSUER_ROUTES.map(describeRoute).join(', ')}`,
      );
    }
  }
}

function validateCacheTtl(ttl: Duration): void {
  if (ttl.isUnresolved()) return;
  const millis = ttl.toMilliseconds();
  if (millis < 0 || millis > MAX_AUTHORIZER_CACHE_TTL.toMilliseconds() || millis % 1000 !== 0) {
    throw new Error(
      `AuthApi: authorizerCacheTtl is ${millis / 1000} s; allowed: whole seconds from 0 (no cache) to ` +
        `${MAX_AUTHORIZER_CACHE_TTL.toSeconds()} s`,
    );
  }
}

function validateStageName(stageName: string): void {
  if (Token.isUnresolved(stageName)) return;
  if (!STAGE_NAME.test(stageName)) {
    throw new Error(
      `AuthApi: stageName is ${JSON.stringify(stageName)}; allowed: 1 to 128 letters, digits, _ and -`,
    );
  }
}

function validateThrottling(throttling: { readonly rateLimit: number; readonly burstLimit: number }): void {
  const { rateLimit, burstLimit } = throttling;
  if (!Token.isUnresolved(rateLimit) && !(Number.isFinite(rateLimit) && rateLimit > 0)) {
    throw new Error(
      `AuthApi: throttling.rateLimit is ${rateLimit}; allowed: a number of requests per second above 0`,
    );
  }
  if (!Token.isUnresolved(burstLimit) && !(Number.isInteger(burstLimit) && burstLimit > 0)) {
    throw new Error(`AuthApi: throttling.burstLimit is ${burstLimit}; allowed: an integer above 0`);
  }
}

function validateWafLimit(name: string, limit: number): void {
  if (Token.isUnresolved(limit)) return;
  if (!Number.isInteger(limit) || limit < MIN_WAF_RATE_LIMIT || limit > MAX_WAF_RATE_LIMIT) {
    throw new Error(
      `AuthApi: ${name} is ${limit}; allowed: an integer from ${MIN_WAF_RATE_LIMIT} to ${MAX_WAF_RATE_LIMIT} ` +
        'requests per source IP per 5 minutes',
    );
  }
}
