import 'aws-cdk-lib/testhelpers/jest-autoclean';
import { App, type CfnElement, Duration, Names, Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ISSUER_ROUTES } from '../../lambda/issuer/routes';
import {
  allOf,
  authenticated,
  definePolicy,
  type RequestFact,
  requestFactsOf,
  requireScope,
  sourceIpAllowList,
} from '../../lambda/policies';
import { PROTECTED_ROUTES } from '../../lambda/protected-routes';
import { AuthApi, type AuthApiProps, REQUEST_FACT_IDENTITY_SOURCES } from '../../lib/auth-api';
import { AuthWebAcl, COMMON_RULE_SET_BODY_RULES, WAF_RULE_NAMES } from '../../lib/auth-web-acl';

type Props = Partial<Omit<AuthApiProps, 'issuerFunction' | 'authorizerFunction'>>;

interface Fixture {
  readonly stack: Stack;
  readonly authApi: AuthApi;
  readonly issuerId: string;
  readonly authorizerFunctionId: string;
}

/** A stack with stand-in functions (inline code: no bundling) and an AuthApi. */
function build(props: Props = {}): Fixture {
  const stack = new Stack(new App(), 'Test', { env: { account: '111111111111', region: 'us-east-1' } });
  const standIn = (id: string) =>
    new lambda.Function(stack, id, {
      runtime: lambda.Runtime.NODEJS_22_X,
      handler: 'index.handler',
      code: lambda.Code.fromInline('exports.handler = async () => ({ statusCode: 200, body: "" });'),
    });
  const issuer = standIn('Issuer');
  const authorizer = standIn('Authorizer');
  const authApi = new AuthApi(stack, 'AuthApi', {
    issuerFunction: issuer,
    authorizerFunction: authorizer,
    authorizerCacheTtl: Duration.seconds(2),
    ...props,
  });
  const logicalIdOf = (fn: lambda.Function) => stack.getLogicalId(fn.node.defaultChild as CfnElement);
  return { stack, authApi, issuerId: logicalIdOf(issuer), authorizerFunctionId: logicalIdOf(authorizer) };
}

function synth(props: Props = {}): Template {
  return Template.fromStack(build(props).stack);
}

type Resource = { readonly Properties: Record<string, unknown> };

/** The logical id of the AWS::ApiGateway::Resource at a full path, by walking the ParentId references. */
function resourceId(template: Template, path: string): string {
  const resources = template.findResources('AWS::ApiGateway::Resource') as Record<string, Resource>;
  const pathOf = (id: string): string => {
    const properties = resources[id]?.Properties ?? {};
    const parent = (properties.ParentId as { Ref?: string }).Ref;
    return `${parent === undefined ? '' : pathOf(parent)}/${String(properties.PathPart)}`;
  };
  const found = Object.keys(resources).find((id) => pathOf(id) === path);
  if (found === undefined) throw new Error(`no resource at ${path}`);
  return found;
}

/** Asserts that the method at (method, path) exists with these properties. */
function expectMethod(template: Template, method: string, path: string, properties: object): void {
  template.hasResourceProperties('AWS::ApiGateway::Method', {
    HttpMethod: method,
    ResourceId: { Ref: resourceId(template, path) },
    ...properties,
  });
}

function singleLogicalId(template: Template, type: string): string {
  const ids = Object.keys(template.findResources(type));
  expect(ids).toHaveLength(1);
  return ids[0] ?? '';
}

function gatewayResponse(template: Template, type: string): Record<string, unknown> {
  const found = Object.values(
    template.findResources('AWS::ApiGateway::GatewayResponse', { Properties: { ResponseType: type } }),
  ) as Resource[];
  expect(found).toHaveLength(1);
  return found[0]?.Properties ?? {};
}

function wafRule(template: Template, name: string): Record<string, unknown> {
  const [acl] = Object.values(template.findResources('AWS::WAFv2::WebACL')) as Resource[];
  const rules = (acl?.Properties.Rules ?? []) as Record<string, unknown>[];
  const found = rules.find((candidate) => candidate.Name === name);
  if (found === undefined) throw new Error(`no WAF rule ${name}`);
  return found;
}

function accessLogFormat(template: Template): string {
  const [stage] = Object.values(template.findResources('AWS::ApiGateway::Stage')) as Resource[];
  const setting = stage?.Properties.AccessLogSetting as { Format?: string } | undefined;
  return setting?.Format ?? '';
}

const proxyTo = (functionId: string) => ({
  Type: 'AWS_PROXY',
  IntegrationHttpMethod: 'POST',
  Uri: { 'Fn::Join': ['', Match.arrayWith([{ 'Fn::GetAtt': [functionId, 'Arn'] }])] },
});

describe('AuthApi', () => {
  // GIVEN the default props (synthesized once: each test reads one behaviour from it)
  let fixture: Fixture;
  let template: Template;
  beforeAll(() => {
    fixture = build();
    template = Template.fromStack(fixture.stack);
  });

  describe('REST API and stage', () => {
    test('is a regional REST API that keeps its execute-api endpoint', () => {
      template.hasResourceProperties('AWS::ApiGateway::RestApi', {
        EndpointConfiguration: { Types: ['REGIONAL'] },
        DisableExecuteApiEndpoint: false,
      });
    });

    test('sets the account-level CloudWatch role that API Gateway logging needs', () => {
      template.resourceCountIs('AWS::ApiGateway::Account', 1);
    });

    test('deploys stage v1 throttled at 500 rps, burst 1000, with metrics and error-only execution logs', () => {
      template.hasResourceProperties('AWS::ApiGateway::Stage', {
        StageName: 'v1',
        TracingEnabled: false,
        MethodSettings: [
          {
            HttpMethod: '*',
            ResourcePath: '/*',
            ThrottlingRateLimit: 500,
            ThrottlingBurstLimit: 1000,
            MetricsEnabled: true,
            LoggingLevel: 'ERROR',
            DataTraceEnabled: false,
          },
        ],
      });
    });

    test('honours explicit throttling, stage name and tracing', () => {
      // WHEN
      const custom = synth({
        throttlingRateLimit: 50,
        throttlingBurstLimit: 20,
        stageName: 'prod',
        tracingEnabled: true,
      });
      // THEN
      custom.hasResourceProperties('AWS::ApiGateway::Stage', {
        StageName: 'prod',
        TracingEnabled: true,
        MethodSettings: [Match.objectLike({ ThrottlingRateLimit: 50, ThrottlingBurstLimit: 20 })],
      });
    });
  });

  describe('access log', () => {
    test('goes to a log group kept one year by default', () => {
      const logGroup = fixture.stack.getLogicalId(
        fixture.authApi.accessLogGroup.node.defaultChild as CfnElement,
      );
      template.hasResourceProperties('AWS::ApiGateway::Stage', {
        AccessLogSetting: { DestinationArn: { 'Fn::GetAtt': [logGroup, 'Arn'] } },
      });
      template.hasResourceProperties('AWS::Logs::LogGroup', {
        LogGroupName: Match.absent(),
        RetentionInDays: 365,
      });
    });

    test('is one JSON object per request with the route, outcome and authorizer verdict', () => {
      const fields = JSON.parse(accessLogFormat(template)) as Record<string, string>;
      expect(fields).toMatchObject({
        requestId: '$context.requestId',
        ip: '$context.identity.sourceIp',
        httpMethod: '$context.httpMethod',
        resourcePath: '$context.resourcePath',
        status: '$context.status',
        responseLength: '$context.responseLength',
        integrationLatency: '$context.integrationLatency',
        authorizerPrincipalId: '$context.authorizer.principalId',
        authorizerError: '$context.authorizer.error',
        authorizerLatency: '$context.authorizer.latency',
      });
    });

    test('never logs a header, the concrete path or a body', () => {
      const format = accessLogFormat(template);
      expect(format).not.toMatch(/authorization/i);
      expect(format).not.toMatch(/header|cookie|userAgent|\$input|\$context\.path\b/i);
      const identityVariables = format.match(/\$context\.identity\.\w+/g) ?? [];
      expect(new Set(identityVariables)).toEqual(new Set(['$context.identity.sourceIp']));
    });

    test('gives the execution log a retention, created before the stage can write to it', () => {
      const logGroup = fixture.stack.getLogicalId(
        fixture.authApi.executionLogGroup.node.defaultChild as CfnElement,
      );
      template.hasResourceProperties('AWS::Logs::LogGroup', {
        LogGroupName: {
          'Fn::Join': ['', ['API-Gateway-Execution-Logs_', { Ref: Match.anyValue() }, '/v1']],
        },
        RetentionInDays: 365,
      });
      template.hasResource('AWS::ApiGateway::Stage', { DependsOn: Match.arrayWith([logGroup]) });
    });

    test('honours an explicit retention', () => {
      synth({ accessLogRetention: RetentionDays.THREE_MONTHS }).resourcePropertiesCountIs(
        'AWS::Logs::LogGroup',
        { RetentionInDays: 90 },
        2,
      );
    });
  });

  describe('issuer routes', () => {
    test.each(ISSUER_ROUTES.map((route) => [route.method, route.path]))(
      '%s %s is a public Lambda proxy method on the issuer',
      (method, path) => {
        expectMethod(template, method, path, {
          AuthorizationType: 'NONE',
          AuthorizerId: Match.absent(),
          Integration: proxyTo(fixture.issuerId),
        });
      },
    );

    test('validates the login body against a JSON schema model', () => {
      const model = singleLogicalId(template, 'AWS::ApiGateway::Model');
      const validator = singleLogicalId(template, 'AWS::ApiGateway::RequestValidator');
      template.hasResourceProperties('AWS::ApiGateway::RequestValidator', {
        ValidateRequestBody: true,
        ValidateRequestParameters: true,
      });
      expectMethod(template, 'POST', '/auth/login', {
        RequestValidatorId: { Ref: validator },
        RequestModels: { 'application/json': { Ref: model } },
      });
    });

    test('requires a username and a password, strings of bounded length, and only string members', () => {
      template.hasResourceProperties('AWS::ApiGateway::Model', {
        ContentType: 'application/json',
        Schema: {
          type: 'object',
          required: ['username', 'password'],
          properties: {
            username: { type: 'string', minLength: 1, maxLength: 1024 },
            password: { type: 'string', minLength: 1, maxLength: 1024 },
            client_id: { type: 'string' },
          },
          additionalProperties: { type: 'string' },
        },
      });
    });

    test('validates the path parameter of DELETE /auth/sessions/{id}', () => {
      expectMethod(template, 'DELETE', '/auth/sessions/{id}', {
        RequestParameters: { 'method.request.path.id': true },
        RequestValidatorId: { Ref: Match.anyValue() },
      });
    });
  });

  describe('authorizer', () => {
    test('is a REQUEST authorizer with the configured cache TTL', () => {
      template.hasResourceProperties('AWS::ApiGateway::Authorizer', {
        Type: 'REQUEST',
        AuthorizerResultTtlInSeconds: 2,
        AuthorizerUri: {
          'Fn::Join': ['', Match.arrayWith([{ 'Fn::GetAtt': [fixture.authorizerFunctionId, 'Arn'] }])],
        },
      });
    });

    test('keys the cache on the source IP too when a policy of the table reads it', () => {
      // GIVEN a table in which one route's policy reads the source IP, inside a combinator
      const routes = [
        { method: 'GET' as const, path: '/api/me', policy: authenticated() },
        {
          method: 'GET' as const,
          path: '/api/admin',
          policy: allOf(requireScope('admin'), sourceIpAllowList(['10.0.0.0/8'])),
        },
      ];
      // WHEN
      const custom = synth({ routes });
      // THEN the identity sources are the Authorization header and the source IP
      custom.hasResourceProperties('AWS::ApiGateway::Authorizer', {
        Type: 'REQUEST',
        IdentitySource: 'method.request.header.Authorization,context.identity.sourceIp',
      });
      expect(REQUEST_FACT_IDENTITY_SOURCES.sourceIp).toBe('context.identity.sourceIp');
    });

    test('keys the cache on the Authorization header and on each request fact the route table reads', () => {
      // Derived from the route table: the sample table reads no request fact, a fork's may.
      const facts = requestFactsOf(PROTECTED_ROUTES).map((fact) => REQUEST_FACT_IDENTITY_SOURCES[fact]);
      template.hasResourceProperties('AWS::ApiGateway::Authorizer', {
        IdentitySource: ['method.request.header.Authorization', ...facts].join(','),
      });
    });

    test('lets API Gateway invoke the authorizer function', () => {
      template.hasResourceProperties('AWS::Lambda::Permission', {
        Action: 'lambda:InvokeFunction',
        FunctionName: { 'Fn::GetAtt': [fixture.authorizerFunctionId, 'Arn'] },
        Principal: 'apigateway.amazonaws.com',
      });
    });

    test('accepts a cache TTL of 0 (no result cache)', () => {
      synth({ authorizerCacheTtl: Duration.seconds(0) }).hasResourceProperties(
        'AWS::ApiGateway::Authorizer',
        {
          AuthorizerResultTtlInSeconds: 0,
        },
      );
    });

    test('is not created while no method uses it', () => {
      // WHEN no sample backend and no protected route is added
      const { stack, authApi } = build({ sampleBackends: false });
      // THEN the API synthesizes without an authorizer (API Gateway has no use for an unused one)
      const bare = Template.fromStack(stack);
      expect(authApi.authorizer).toBeUndefined();
      bare.resourceCountIs('AWS::ApiGateway::Authorizer', 0);
      bare.resourcePropertiesCountIs('AWS::ApiGateway::Method', { AuthorizationType: 'CUSTOM' }, 0);
    });

    test('is created, once, with the first protected method', () => {
      // GIVEN
      const { stack, authApi } = build({ sampleBackends: false });
      // WHEN
      authApi.addProtectedRoute('GET', '/api/me', new apigateway.MockIntegration());
      authApi.addProtectedRoute('GET', '/api/admin', new apigateway.MockIntegration());
      // THEN
      expect(authApi.authorizer).toBeDefined();
      Template.fromStack(stack).resourceCountIs('AWS::ApiGateway::Authorizer', 1);
    });
  });

  describe('protected routes', () => {
    test.each([
      ['GET', '/api/me'],
      ['GET', '/api/admin'],
    ])('sample backend %s %s runs the custom authorizer', (method, path) => {
      const authorizer = singleLogicalId(template, 'AWS::ApiGateway::Authorizer');
      expectMethod(template, method, path, {
        AuthorizationType: 'CUSTOM',
        AuthorizerId: { Ref: authorizer },
      });
    });

    test('a sample backend is a mock that echoes the authorizer context as JSON, never cached', () => {
      expectMethod(template, 'GET', '/api/me', {
        Integration: {
          Type: 'MOCK',
          PassthroughBehavior: 'NEVER',
          RequestTemplates: { 'application/json': '{"statusCode": 200}' },
          IntegrationResponses: [
            {
              StatusCode: '200',
              ResponseParameters: { 'method.response.header.Cache-Control': "'no-store'" },
              ResponseTemplates: {
                'application/json': Match.stringLikeRegexp(
                  '"route": "GET /api/me"[\\s\\S]*\\$context\\.authorizer\\.sub[\\s\\S]*\\$context\\.authorizer\\.sid' +
                    '[\\s\\S]*\\$context\\.authorizer\\.scope[\\s\\S]*\\$context\\.authorizer\\.clientId',
                ),
              },
            },
          ],
        },
        MethodResponses: [Match.objectLike({ StatusCode: '200' })],
      });
    });

    test('no sample backend without sampleBackends', () => {
      synth({ sampleBackends: false }).resourcePropertiesCountIs(
        'AWS::ApiGateway::Resource',
        { PathPart: 'me' },
        0,
      );
    });

    test('only the sample routes the route table declares get a sample backend', () => {
      // WHEN the table declares /api/me and another route, but not /api/admin
      const custom = synth({
        routes: [
          { method: 'GET', path: '/api/me', policy: authenticated() },
          { method: 'GET', path: '/api/items/{id}', policy: authenticated() },
        ],
      });
      // THEN
      custom.resourcePropertiesCountIs('AWS::ApiGateway::Method', { AuthorizationType: 'CUSTOM' }, 1);
      custom.resourcePropertiesCountIs('AWS::ApiGateway::Resource', { PathPart: 'admin' }, 0);
    });

    test('addProtectedRoute adds a declared route behind the authorizer with its integration', () => {
      // GIVEN
      const { stack, authApi } = build({
        routes: [{ method: 'GET', path: '/api/items/{id}', policy: authenticated() }],
      });
      const backend = new lambda.Function(stack, 'Backend', {
        runtime: lambda.Runtime.NODEJS_22_X,
        handler: 'index.handler',
        code: lambda.Code.fromInline('exports.handler = async () => ({ statusCode: 200, body: "" });'),
      });
      // WHEN
      authApi.addProtectedRoute('GET', '/api/items/{id}', new apigateway.LambdaIntegration(backend));
      // THEN
      const added = Template.fromStack(stack);
      expectMethod(added, 'GET', '/api/items/{id}', {
        AuthorizationType: 'CUSTOM',
        AuthorizerId: { Ref: singleLogicalId(added, 'AWS::ApiGateway::Authorizer') },
        Integration: proxyTo(stack.getLogicalId(backend.node.defaultChild as CfnElement)),
      });
    });
  });

  describe('gateway responses', () => {
    const noStore = {
      'gatewayresponse.header.Cache-Control': "'no-store'",
      'gatewayresponse.header.X-Content-Type-Options': "'nosniff'",
    };
    test.each([
      [
        'UNAUTHORIZED',
        '401',
        { 'gatewayresponse.header.WWW-Authenticate': `'Bearer error="invalid_token"'` },
        { error: 'invalid_token', error_description: 'the access token is missing or invalid' },
      ],
      [
        'ACCESS_DENIED',
        '403',
        { 'gatewayresponse.header.WWW-Authenticate': `'Bearer error="insufficient_scope"'` },
        { error: 'insufficient_scope', error_description: 'the token does not allow this route' },
      ],
      [
        'AUTHORIZER_FAILURE',
        '503',
        { 'gatewayresponse.header.Retry-After': "'1'" },
        { error: 'temporarily_unavailable', error_description: 'the authorizer could not decide' },
      ],
      [
        'AUTHORIZER_CONFIGURATION_ERROR',
        '503',
        { 'gatewayresponse.header.Retry-After': "'1'" },
        { error: 'temporarily_unavailable', error_description: 'the authorizer could not decide' },
      ],
      [
        'THROTTLED',
        '429',
        { 'gatewayresponse.header.Retry-After': "'1'" },
        { error: 'too_many_requests', error_description: 'too many requests, try again shortly' },
      ],
      [
        'BAD_REQUEST_BODY',
        '400',
        {},
        { error: 'invalid_request', error_description: 'the request body is invalid' },
      ],
      [
        'BAD_REQUEST_PARAMETERS',
        '400',
        {},
        { error: 'invalid_request', error_description: 'a required request parameter is missing' },
      ],
      ['MISSING_AUTHENTICATION_TOKEN', '404', {}, { error: 'not_found', error_description: 'no such route' }],
      ['WAF_FILTERED', '403', {}, { error: 'access_denied', error_description: 'the request was blocked' }],
    ])('%s answers %s with its headers and a JSON body', (type, status, headers, body) => {
      const response = gatewayResponse(template, type);
      expect(response.StatusCode).toBe(status);
      expect(response.ResponseParameters).toEqual({ ...noStore, ...headers });
      const templates = response.ResponseTemplates as Record<string, string>;
      expect(Object.keys(templates)).toEqual(['application/json']);
      expect(JSON.parse(templates['application/json'] ?? '')).toEqual(body);
    });

    test.each([
      ['DEFAULT_4XX', 'invalid_request'],
      ['DEFAULT_5XX', 'server_error'],
    ])('%s keeps the status and answers a JSON %s body with API Gateway message', (type, error) => {
      const response = gatewayResponse(template, type);
      expect(response.StatusCode).toBeUndefined();
      expect(response.ResponseParameters).toEqual(noStore);
      const body = (response.ResponseTemplates as Record<string, string>)['application/json'] ?? '';
      // $context.error.messageString is a quoted JSON string: substitute one to parse the template.
      expect(JSON.parse(body.replace('$context.error.messageString', '"Forbidden"'))).toEqual({
        error,
        error_description: 'Forbidden',
      });
    });

    test('quotes every header value as a static value', () => {
      const responses = Object.values(
        template.findResources('AWS::ApiGateway::GatewayResponse'),
      ) as Resource[];
      expect(responses).toHaveLength(11);
      for (const response of responses) {
        for (const value of Object.values(response.Properties.ResponseParameters as Record<string, string>)) {
          expect(value).toMatch(/^'[^']*'$/);
        }
      }
    });
  });

  describe('WAF', () => {
    test('is a regional web ACL that allows by default, with metrics', () => {
      template.hasResourceProperties('AWS::WAFv2::WebACL', {
        Scope: 'REGIONAL',
        DefaultAction: { Allow: {} },
        VisibilityConfig: { CloudWatchMetricsEnabled: true, SampledRequestsEnabled: true },
      });
    });

    test.each([
      [WAF_RULE_NAMES.loginRateLimit, 100, '/auth/login'],
      [WAF_RULE_NAMES.authRateLimit, 1000, '/auth/'],
    ])('%s limits each source IP to %d requests per 5 minutes under %s', (name, limit, prefix) => {
      const rule = wafRule(template, name);
      const startsWith = (searchString: string) => ({
        ByteMatchStatement: {
          FieldToMatch: { UriPath: {} },
          PositionalConstraint: 'STARTS_WITH',
          SearchString: searchString,
          TextTransformations: [
            { Priority: 0, Type: 'URL_DECODE' },
            { Priority: 1, Type: 'NORMALIZE_PATH' },
          ],
        },
      });
      expect(rule.Statement).toEqual({
        RateBasedStatement: {
          AggregateKeyType: 'IP',
          Limit: limit,
          EvaluationWindowSec: 300,
          // On the execute-api endpoint every path starts with the stage; on a custom domain it may not.
          ScopeDownStatement: {
            OrStatement: { Statements: [startsWith(`/v1${prefix}`), startsWith(prefix)] },
          },
        },
      });
    });

    test('a rate-limited request gets 429 with a JSON body', () => {
      const rule = wafRule(template, WAF_RULE_NAMES.loginRateLimit);
      expect(rule.Action).toEqual({
        Block: {
          CustomResponse: {
            ResponseCode: 429,
            CustomResponseBodyKey: 'too_many_requests',
            ResponseHeaders: expect.any(Array),
          },
        },
      });
      template.hasResourceProperties('AWS::WAFv2::WebACL', {
        CustomResponseBodies: {
          too_many_requests: {
            ContentType: 'APPLICATION_JSON',
            Content: JSON.stringify({
              error: 'too_many_requests',
              error_description: 'rate limit exceeded, try again later',
            }),
          },
        },
      });
    });

    test('honours explicit rate limits', () => {
      const custom = synth({ wafLoginLimit: 20, wafAuthLimit: 300 });
      expect(wafRule(custom, WAF_RULE_NAMES.loginRateLimit).Statement).toMatchObject({
        RateBasedStatement: { Limit: 20 },
      });
      expect(wafRule(custom, WAF_RULE_NAMES.authRateLimit).Statement).toMatchObject({
        RateBasedStatement: { Limit: 300 },
      });
    });

    test.each([WAF_RULE_NAMES.ipReputation, WAF_RULE_NAMES.knownBadInputs])(
      'runs the AWS managed rule group %s',
      (name) => {
        const rule = wafRule(template, name);
        expect(rule.Statement).toEqual({ ManagedRuleGroupStatement: { VendorName: 'AWS', Name: name } });
        expect(rule.OverrideAction).toEqual({ None: {} });
      },
    );

    test('runs the AWS common rule set with its body rules counting, blocked after it but on the login path', () => {
      const rule = wafRule(template, WAF_RULE_NAMES.commonRuleSet);
      expect(rule.Statement).toEqual({
        ManagedRuleGroupStatement: {
          VendorName: 'AWS',
          Name: WAF_RULE_NAMES.commonRuleSet,
          RuleActionOverrides: Object.keys(COMMON_RULE_SET_BODY_RULES).map((name) => ({
            Name: name,
            ActionToUse: { Count: {} },
          })),
        },
      });
      expect(rule.OverrideAction).toEqual({ None: {} });
      const outside = wafRule(template, WAF_RULE_NAMES.commonRuleSetBodyOutsideLogin);
      expect(outside.Action).toEqual({ Block: {} });
      expect(outside.Priority).toBe((rule.Priority as number) + 1);
      const exactly = (searchString: string) => ({
        ByteMatchStatement: {
          FieldToMatch: { UriPath: {} },
          PositionalConstraint: 'EXACTLY',
          SearchString: searchString,
          TextTransformations: [{ Priority: 0, Type: 'NONE' }],
        },
      });
      expect(outside.Statement).toEqual({
        AndStatement: {
          Statements: [
            {
              OrStatement: {
                Statements: Object.values(COMMON_RULE_SET_BODY_RULES).map((label) => ({
                  LabelMatchStatement: { Scope: 'LABEL', Key: label },
                })),
              },
            },
            {
              NotStatement: {
                Statement: {
                  OrStatement: { Statements: [exactly('/v1/auth/login'), exactly('/auth/login')] },
                },
              },
            },
          ],
        },
      });
    });

    test('every rule has a unique priority and emits metrics and samples', () => {
      const [acl] = Object.values(template.findResources('AWS::WAFv2::WebACL')) as Resource[];
      const rules = (acl?.Properties.Rules ?? []) as {
        Name: string;
        Priority: number;
        VisibilityConfig: unknown;
      }[];
      expect(rules).toHaveLength(6);
      expect(new Set(rules.map((rule) => rule.Priority)).size).toBe(6);
      for (const rule of rules) {
        expect(rule.VisibilityConfig).toEqual({
          CloudWatchMetricsEnabled: true,
          SampledRequestsEnabled: true,
          MetricName: rule.Name,
        });
      }
    });

    test('is associated with the deployed stage', () => {
      const api = singleLogicalId(template, 'AWS::ApiGateway::RestApi');
      const stage = singleLogicalId(template, 'AWS::ApiGateway::Stage');
      const acl = singleLogicalId(template, 'AWS::WAFv2::WebACL');
      template.hasResourceProperties('AWS::WAFv2::WebACLAssociation', {
        WebACLArn: { 'Fn::GetAtt': [acl, 'Arn'] },
        ResourceArn: {
          'Fn::Join': [
            '',
            [
              'arn:',
              { Ref: 'AWS::Partition' },
              ':apigateway:us-east-1::/restapis/',
              { Ref: api },
              '/stages/',
              { Ref: stage },
            ],
          ],
        },
      });
    });
    test('reports its metric name, the WebACL dimension the alarms read', () => {
      template.hasResourceProperties('AWS::WAFv2::WebACL', {
        VisibilityConfig: Match.objectLike({ MetricName: fixture.authApi.webAclMetricName }),
      });
      expect(fixture.authApi.webAclMetricName).toBe(Names.uniqueId(fixture.authApi));
    });

    test('is named with its metric name, so the WebACL dimension is the same whichever AWS WAF reads', () => {
      template.hasResourceProperties('AWS::WAFv2::WebACL', {
        Name: fixture.authApi.webAclMetricName,
        VisibilityConfig: Match.objectLike({ MetricName: fixture.authApi.webAclMetricName }),
      });
    });

    test('fails, used on its own, with a rate limit out of range', () => {
      expect(() => new AuthWebAcl(new Stack(), 'Acl', { stageName: 'v1', loginRateLimit: 5 })).toThrow(
        /^AuthWebAcl: loginRateLimit is 5; allowed: an integer from 10 to 2000000000/,
      );
    });
  });

  describe('cdk-nag', () => {
    test('passes AwsSolutions with its acknowledgements', () => {
      // GIVEN the API with the sample backends, and the stand-in functions' own findings acknowledged
      const { stack } = build();
      for (const id of ['Issuer', 'Authorizer']) {
        Validations.of(stack.node.findChild(id)).acknowledge(
          {
            id: 'AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
            reason: 'A test stand-in, not the platform function.',
          },
          { id: 'AwsSolutions::AwsSolutions-L1', reason: 'A test stand-in, not the platform function.' },
        );
      }
      const app = stack.node.root as App;
      Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
      // WHEN / THEN
      expect(() => app.synth()).not.toThrow();
    });
  });

  describe('validation', () => {
    test('fails with an authorizer cache TTL above 3600 s', () => {
      expect(() => build({ authorizerCacheTtl: Duration.seconds(3601) })).toThrow(
        /^AuthApi: authorizerCacheTtl is 3601 s; allowed: whole seconds from 0 to 3600$/,
      );
    });

    test('fails with an authorizer cache TTL that is not whole seconds', () => {
      expect(() => build({ authorizerCacheTtl: Duration.millis(1500) })).toThrow(
        /authorizerCacheTtl is 1\.5 s; allowed: whole seconds/,
      );
    });

    test.each([
      [{ wafLoginLimit: 9 }, /wafLoginLimit is 9; allowed: an integer from 10 to 2000000000 requests per/],
      [{ wafAuthLimit: 2.5 }, /wafAuthLimit is 2\.5; allowed: an integer from 10/],
    ])('fails with a WAF limit out of range (%o)', (limits, message) => {
      expect(() => build(limits)).toThrow(message);
    });

    test('fails with a non-positive throttling rate', () => {
      expect(() => build({ throttlingRateLimit: 0 })).toThrow(
        /throttlingRateLimit is 0; allowed: a finite number above 0/,
      );
    });

    test('fails with a throttling burst that is not a positive integer', () => {
      expect(() => build({ throttlingBurstLimit: 0.5 })).toThrow(
        /throttlingBurstLimit is 0\.5; allowed: an integer of at least 1/,
      );
    });

    test('fails with an invalid stage name', () => {
      expect(() => build({ stageName: 'v1/beta' })).toThrow(
        /stageName is "v1\/beta"; allowed: 1 to 128 letters/,
      );
    });

    test('fails to add a protected route the route table does not declare', () => {
      const { authApi } = build();
      expect(() => authApi.addProtectedRoute('GET', '/api/orders', new apigateway.MockIntegration())).toThrow(
        /the protected route is GET \/api\/orders; allowed: a route declared .* in lambda\/protected-routes\.ts .*: GET \/api\/me, GET \/api\/admin/,
      );
    });

    test('fails to add a declared path with an undeclared method', () => {
      const { authApi } = build();
      expect(() => authApi.addProtectedRoute('POST', '/api/me', new apigateway.MockIntegration())).toThrow(
        /the protected route is POST \/api\/me; allowed: a route declared/,
      );
    });

    test('fails to add a protected route with another authorizer', () => {
      const { stack, authApi } = build();
      const other = new apigateway.RequestAuthorizer(stack, 'Other', {
        handler: stack.node.findChild('Authorizer') as lambda.IFunction,
        identitySources: [apigateway.IdentitySource.header('X-Other')],
      });
      expect(() =>
        authApi.addProtectedRoute('GET', '/api/me', new apigateway.MockIntegration(), { authorizer: other }),
      ).toThrow(/the authorizer of GET \/api\/me is another authorizer; allowed: the API's own/);
    });

    test('fails to add a protected route with another authorization type', () => {
      const { authApi } = build({ sampleBackends: false });
      expect(() =>
        authApi.addProtectedRoute('GET', '/api/me', new apigateway.MockIntegration(), {
          authorizationType: apigateway.AuthorizationType.NONE,
        }),
      ).toThrow(/the authorizationType of GET \/api\/me is "NONE"; allowed: CUSTOM/);
    });

    test('fails with a route table that declares one route twice', () => {
      expect(() =>
        build({
          routes: [
            { method: 'GET', path: '/api/items/{id}', policy: authenticated() },
            { method: 'GET', path: '/api/items/{key}', policy: authenticated() },
          ],
        }),
      ).toThrow(/routes is a table in which route 1 \(GET \/api\/items\/\{key\}\) duplicates route 0/);
    });

    test('fails with routes whose method-ARN patterns overlap, naming both', () => {
      // GIVEN /api/items/{id}, whose ARN pattern GET/api/items/* also matches requests to /api/items/mine
      const routes = [
        { method: 'GET' as const, path: '/api/items/{id}', policy: requireScope('items:read') },
        { method: 'GET' as const, path: '/api/items/mine', policy: authenticated() },
      ];
      // THEN
      expect(() => build({ routes })).toThrow(
        /routes is a table in which route 0 \(GET \/api\/items\/\{id\}\) overlaps route 1 \(GET \/api\/items\/mine\) in the authorizer's policy: its method ARN pattern GET\/api\/items\/\* .* matches requests to GET \/api\/items\/mine.*Give the routes paths whose patterns do not overlap/,
      );
    });

    test('accepts a parameter route next to a literal route of another method or prefix', () => {
      const routes = [
        { method: 'GET' as const, path: '/api/items/{id}', policy: authenticated() },
        { method: 'PUT' as const, path: '/api/items/mine', policy: authenticated() },
        { method: 'GET' as const, path: '/api/items', policy: authenticated() },
        { method: 'GET' as const, path: '/api/my-items', policy: authenticated() },
      ];
      expect(() => build({ routes })).not.toThrow();
    });

    test('fails when a policy reads a request fact that has no identity source', () => {
      // GIVEN a custom policy that declares a fact the authorizer cache cannot be keyed on
      const readsUserAgent = definePolicy('readsUserAgent()', () => ({ allow: true, reason: 'ok' }), {
        reads: ['userAgent' as RequestFact],
      });
      const routes = [
        { method: 'GET' as const, path: '/api/me', policy: authenticated() },
        { method: 'GET' as const, path: '/api/agent', policy: allOf(authenticated(), readsUserAgent) },
      ];
      // THEN
      expect(() => build({ routes })).toThrow(
        /AuthApi: the request fact the policy allOf\(authenticated\(\), readsUserAgent\(\)\) of routes\[1\] \(GET \/api\/agent\) reads is "userAgent"; allowed: a request fact with an identity source, so that the authorizer cache is keyed on it: sourceIp/,
      );
    });

    test('fails with a protected route that is an issuer route', () => {
      expect(() =>
        build({ routes: [{ method: 'GET', path: '/auth/sessions', policy: authenticated() }] }),
      ).toThrow(/routes\[0\] is GET \/auth\/sessions; allowed: a route that no issuer route matches/);
    });
  });
});
