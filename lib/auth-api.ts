import { Duration, Names, Validations } from 'aws-cdk-lib';
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
import {
  type ProtectedRoute,
  policyName,
  policyReads,
  type RequestFact,
  requestFactsOf,
} from '../lambda/policies';
import { PROTECTED_ROUTES } from '../lambda/protected-routes';
import { AuthWebAcl, STAGE_NAME_PATTERN, WAF_RATE_LIMIT_RANGE } from './auth-web-acl';
import { addGatewayResponses } from './gateway-responses';
import {
  DescribedValue,
  InvalidValueError,
  requireDuration,
  requireInteger,
  requireMatch,
  requirePositiveNumber,
} from './validation';

/** The sample backends: protected routes that echo the authorizer context when `sampleBackends` is on. */
export const SAMPLE_ROUTES: readonly RoutePattern[] = [
  { method: 'GET', path: '/api/me' },
  { method: 'GET', path: '/api/admin' },
];

/** The longest authorizer result cache API Gateway accepts. */
export const MAX_AUTHORIZER_CACHE_TTL = Duration.hours(1);

/**
 * The REQUEST authorizer identity source of each request fact a policy can read (`PolicyContext.request`):
 * API Gateway keys its authorizer result cache on the identity sources, so a route table whose policies
 * read a fact gets that fact's identity source next to the `Authorization` header, and a cached decision
 * never outlives a change of the fact. A REST API REQUEST authorizer takes header, query string, stage
 * variable and context identity sources, and derives the cache key from all of them
 * (https://docs.aws.amazon.com/apigateway/latest/developerguide/configure-api-gateway-lambda-authorization.html);
 * a context variable is written `context.<name>`
 * (https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/sam-property-api-lambdarequestauthorizationidentity.html,
 * https://docs.aws.amazon.com/cdk/api/v2/docs/aws-cdk-lib.aws_apigateway.IdentitySource.html), here
 * `context.identity.sourceIp`, the `$context.identity.sourceIp` the access log records too. API Gateway
 * answers 401 without calling the authorizer when an identity source is missing or empty (same page); the
 * source IP of a request is always set.
 */
export const REQUEST_FACT_IDENTITY_SOURCES: { readonly [F in RequestFact]-?: string } = {
  sourceIp: apigateway.IdentitySource.context('identity.sourceIp'),
};

/** Properties of {@link AuthApi}. */
export interface AuthApiProps {
  /** The token issuer (API Gateway REST proxy integration). */
  readonly issuerFunction: lambda.IFunction;
  /**
   * The REQUEST authorizer function. Its identity sources (the result cache key) are the `Authorization`
   * header and the identity source of each request fact the route table's policies read
   * ({@link REQUEST_FACT_IDENTITY_SOURCES}). The API's authorizer is created with the first protected method
   * (see {@link AuthApi.authorizer}).
   */
  readonly authorizerFunction: lambda.IFunction;
  /**
   * The authorizer result cache TTL. Required: never silently the 5-minute API Gateway default, because it
   * is part of the revocation latency budget. At most 1 hour, whole seconds; 0 disables caching.
   */
  readonly authorizerCacheTtl: Duration;
  /**
   * The protected route table the authorizer decides. It must be the table bundled into the authorizer
   * function: the policies run in that function; CDK takes the (method, path) pairs and the request facts the
   * policies declare they read, whose identity sources it adds to the authorizer.
   * @default PROTECTED_ROUTES of lambda/protected-routes.ts
   */
  readonly routes?: readonly ProtectedRoute[];
  /**
   * Deploy the sample backends: `GET /api/me` and `GET /api/admin` (those of them the route table declares),
   * each a mock integration that echoes `sub`, `sid`, `scope` and `clientId` from the authorizer context as
   * JSON. Other routes of the table get their methods from {@link AuthApi.addProtectedRoute}.
   * @default true
   */
  readonly sampleBackends?: boolean;
  /**
   * Stage throttling (every method): steady-state requests per second.
   * @default 500
   */
  readonly throttlingRateLimit?: number;
  /**
   * Stage throttling (every method): the burst, in requests.
   * @default 1000
   */
  readonly throttlingBurstLimit?: number;
  /**
   * AWS WAF rate limit on `/auth/login`, requests per source IP per 5 minutes, from 10 to 2,000,000,000.
   * @default 100
   */
  readonly wafLoginLimit?: number;
  /**
   * AWS WAF rate limit on every `/auth/*` request (the login requests included), requests per source IP per
   * 5 minutes, from 10 to 2,000,000,000.
   * @default 1000
   */
  readonly wafAuthLimit?: number;
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

/** Whose props the validation errors name. */
const OWNER = 'AuthApi';

const JSON_MEDIA_TYPE = 'application/json';

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
  public readonly restApi: apigateway.RestApi;
  /** The web ACL associated with the API's stage. */
  public readonly webAcl: wafv2.CfnWebACL;
  /** The web ACL's CloudWatch metric name: the `WebACL` dimension of its AWS/WAFV2 metrics. */
  public readonly webAclMetricName: string;
  /** The access log (one JSON line per request). */
  public readonly accessLogGroup: logs.LogGroup;
  /** API Gateway's execution log of the stage (errors only), created here to give it a retention. */
  public readonly executionLogGroup: logs.LogGroup;

  private readonly routes: readonly RoutePattern[];
  private readonly authorizerProps: apigateway.RequestAuthorizerProps;
  private requestAuthorizer?: apigateway.RequestAuthorizer;

  public constructor(scope: Construct, id: string, props: AuthApiProps) {
    super(scope, id);
    const routes = props.routes ?? PROTECTED_ROUTES;
    validateRoutes(routes);
    const factSources = identitySourcesOf(routes);
    const stageName = requireMatch(
      OWNER,
      'stageName',
      props.stageName ?? 'v1',
      STAGE_NAME_PATTERN,
      '1 to 128 letters, digits, _ and -',
    );
    requireDuration(OWNER, 'authorizerCacheTtl', props.authorizerCacheTtl, {
      min: 0,
      max: MAX_AUTHORIZER_CACHE_TTL.toSeconds(),
      whole: true,
    });
    const rateLimit = requirePositiveNumber(
      OWNER,
      'throttlingRateLimit',
      props.throttlingRateLimit ?? 500,
      'requests per second',
    );
    const burstLimit = requireInteger(OWNER, 'throttlingBurstLimit', props.throttlingBurstLimit ?? 1000, {
      min: 1,
      unit: 'requests',
    });
    const wafLoginLimit = requireInteger(
      OWNER,
      'wafLoginLimit',
      props.wafLoginLimit ?? 100,
      WAF_RATE_LIMIT_RANGE,
    );
    const wafAuthLimit = requireInteger(
      OWNER,
      'wafAuthLimit',
      props.wafAuthLimit ?? 1000,
      WAF_RATE_LIMIT_RANGE,
    );
    const retention = props.accessLogRetention ?? logs.RetentionDays.ONE_YEAR;
    this.routes = routes;

    this.accessLogGroup = new logs.LogGroup(this, 'AccessLogs', { retention });
    this.restApi = new apigateway.RestApi(this, 'Api', {
      restApiName: Names.uniqueResourceName(this, { maxLength: 128, separator: '-' }),
      description: 'hybrid-auth: token issuer and protected routes',
      endpointTypes: [apigateway.EndpointType.REGIONAL],
      disableExecuteApiEndpoint: false,
      // Both the access log and the execution log need API Gateway's account-level CloudWatch Logs role.
      cloudWatchRole: true,
      deployOptions: {
        stageName,
        throttlingRateLimit: rateLimit,
        throttlingBurstLimit: burstLimit,
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
      logGroupName: `API-Gateway-Execution-Logs_${this.restApi.restApiId}/${stageName}`,
      retention,
    });
    this.restApi.deploymentStage.node.addDependency(this.executionLogGroup);
    Validations.of(this.restApi).acknowledge({
      id: 'AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
      reason:
        "API Gateway's account-level logging role: the AWS managed policy is the one AWS documents for it, and " +
        'it grants only CloudWatch Logs writes.',
    });

    addGatewayResponses(this.restApi);
    this.addIssuerRoutes(props.issuerFunction);

    // The authorizer is created with the first protected method, which attaches it to the API: API Gateway
    // has no use for an authorizer that no method uses, and CDK fails synth on one.
    this.authorizerProps = {
      handler: props.authorizerFunction,
      identitySources: [apigateway.IdentitySource.header('Authorization'), ...factSources],
      resultsCacheTtl: props.authorizerCacheTtl,
    };
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

    // The web ACL and its association keep the construct IDs (and so the logical IDs and the metric name)
    // they had when this construct created them itself.
    const webAcl = new AuthWebAcl(this, 'WebAcl', {
      stageName,
      loginRateLimit: wafLoginLimit,
      authRateLimit: wafAuthLimit,
      name: Names.uniqueId(this),
    });
    this.webAcl = webAcl.webAcl;
    this.webAclMetricName = webAcl.metricName;
    new wafv2.CfnWebACLAssociation(this, 'WebAclAssociation', {
      resourceArn: this.restApi.deploymentStage.stageArn,
      webAclArn: this.webAcl.attrArn,
    });
  }

  /**
   * The REQUEST authorizer every protected method uses, on the `Authorization` header and the identity
   * sources of the request facts the route table reads. It exists once a
   * protected method does (a sample backend or {@link AuthApi.addProtectedRoute}); until then it is
   * `undefined`, and the API has no authorizer.
   */
  public get authorizer(): apigateway.RequestAuthorizer | undefined {
    return this.requestAuthorizer;
  }

  /**
   * Adds a protected method: the REQUEST authorizer runs first, and the route's policy decides. The
   * (method, path) must be declared, exactly so, in the authorizer's route table (lambda/protected-routes.ts), where
   * its policy lives: the policy is code bundled into the authorizer, so CDK cannot carry it. The first
   * protected method creates the API's authorizer.
   *
   * @param path an API Gateway resource path, e.g. `/api/items/{id}`.
   * @param options method options; the authorizer and authorization type are this API's and cannot be
   * overridden.
   * @throws {InvalidValueError} when the route is not in the route table, or the options name another
   * authorizer or authorization type.
   */
  public addProtectedRoute(
    method: HttpMethod,
    path: string,
    integration: apigateway.Integration,
    options: apigateway.MethodOptions = {},
  ): apigateway.Method {
    const route = { method, path };
    if (!this.routes.some((declared) => sameRoute(declared, route))) {
      throw new InvalidValueError(
        OWNER,
        'the protected route',
        new DescribedValue(describeRoute(route)),
        'a route declared with its policy in lambda/protected-routes.ts (PROTECTED_ROUTES): ' +
          (this.routes.map(describeRoute).join(', ') || 'none yet'),
      );
    }
    if (options.authorizer !== undefined && options.authorizer !== this.requestAuthorizer) {
      throw new InvalidValueError(
        OWNER,
        `the authorizer of ${describeRoute(route)}`,
        new DescribedValue('another authorizer'),
        "the API's own (leave it out)",
      );
    }
    if (
      options.authorizationType !== undefined &&
      options.authorizationType !== apigateway.AuthorizationType.CUSTOM
    ) {
      throw new InvalidValueError(
        OWNER,
        `the authorizationType of ${describeRoute(route)}`,
        options.authorizationType,
        'CUSTOM (or leave it out)',
      );
    }
    this.requestAuthorizer ??= new apigateway.RequestAuthorizer(this, 'Authorizer', this.authorizerProps);
    const added = this.restApi.root.resourceForPath(path).addMethod(method, integration, {
      ...options,
      authorizer: this.requestAuthorizer,
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
    const validator = this.restApi.addRequestValidator('RequestValidator', {
      validateRequestBody: true,
      validateRequestParameters: true,
    });
    // The issuer validates every body itself; this model answers the cheapest abuse (a wrong shape, an
    // oversized credential) before a Lambda runs. Its errors are the issuer's: 400 invalid_request.
    // Only bodies sent as application/json are checked; the issuer answers 415 to any other.
    const loginModel = this.restApi.addModel('LoginRequest', {
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
      const added = this.restApi.root.resourceForPath(route.path).addMethod(route.method, integration, {
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
 * The protected route table: valid on its own (no two routes that match the same request, and no route whose
 * method-ARN pattern matches another's requests: see validateRouteTable), and no route that an issuer route
 * would match too.
 */
function validateRoutes(routes: readonly RoutePattern[]): void {
  try {
    validateRouteTable(routes);
  } catch (error) {
    throw new InvalidValueError(
      OWNER,
      'routes',
      new DescribedValue(`a table in which ${(error as Error).message}`),
      'routes with an HTTP method and a path pattern, no two of which match the same request and none of ' +
        "whose method-ARN patterns matches another route's requests",
    );
  }
  routes.forEach((route, index) => {
    try {
      // Issuer routes do not use the authorizer: only the routes' shapes are compared.
      validateRouteTable([...ISSUER_ROUTES, route], { onePolicy: false });
    } catch {
      throw new InvalidValueError(
        OWNER,
        `routes[${index}]`,
        new DescribedValue(describeRoute(route)),
        `a route that no issuer route matches (${ISSUER_ROUTES.map(describeRoute).join(', ')})`,
      );
    }
  });
}

/**
 * The identity sources of the request facts the table's policies read, in fact order.
 *
 * @throws {InvalidValueError} naming the first route whose policy reads a fact with no identity source.
 */
function identitySourcesOf(routes: readonly ProtectedRoute[]): string[] {
  const sources: Partial<Record<string, string>> = REQUEST_FACT_IDENTITY_SOURCES;
  routes.forEach((route, index) => {
    const missing = policyReads(route.policy).find((fact) => !Object.hasOwn(sources, fact));
    if (missing !== undefined) {
      throw new InvalidValueError(
        OWNER,
        `the request fact the policy ${policyName(route.policy)} of routes[${index}] (${describeRoute(route)}) reads`,
        missing,
        `a request fact with an identity source, so that the authorizer cache is keyed on it: ${Object.keys(
          sources,
        ).join(', ')} (add others to REQUEST_FACT_IDENTITY_SOURCES in lib/auth-api.ts)`,
      );
    }
  });
  return requestFactsOf(routes).map((fact) => REQUEST_FACT_IDENTITY_SOURCES[fact]);
}
