import 'aws-cdk-lib/testhelpers/jest-autoclean';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, CfnElement, Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { MockIntegration, RestApi } from 'aws-cdk-lib/aws-apigateway';
import { AttributeType, TableV2 } from 'aws-cdk-lib/aws-dynamodb';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Code, Function as LambdaFunction, Runtime } from 'aws-cdk-lib/aws-lambda';
import { LogGroup } from 'aws-cdk-lib/aws-logs';
import { createLogger, LOG_MESSAGES } from '../../lambda/adapters/logger';
import { createMetrics, METRIC_NAMES, type MetricUnit, SERVICES } from '../../lambda/adapters/metrics';
import { AuthAlarms, type AuthAlarmsProps } from '../../lib/auth-alarms';
import { AuthWebAcl } from '../../lib/auth-web-acl';

type Overrides = Partial<AuthAlarmsProps> & {
  readonly withRotation?: boolean;
  /** Run CDK's built-in CloudFormation validation on synth (about a second per stack). */
  readonly validate?: boolean;
};

interface Synthesized {
  readonly template: Template;
  readonly alarms: AuthAlarms;
  readonly stack: Stack;
  readonly webAcl: AuthWebAcl;
}

/**
 * A stack with stand-ins for the issuer, authorizer, rotation function, table, API and log groups, and the
 * platform's web ACL, whose name the alarms are given (as the stack gives them the API's).
 */
function synth(overrides: Overrides = {}): Synthesized {
  const { withRotation = true, validate = false, ...props } = overrides;
  const app = new App({ builtinCloudFormationValidation: validate });
  const stack = new Stack(app, 'Test', { env: { account: '111111111111', region: 'us-east-1' } });
  const fn = (id: string) =>
    new LambdaFunction(stack, id, {
      runtime: Runtime.NODEJS_24_X,
      handler: 'index.handler',
      code: Code.fromInline('exports.handler = async () => ({});'),
    });
  const api = new RestApi(stack, 'Api');
  api.root.addMethod('GET', new MockIntegration());
  const webAcl = new AuthWebAcl(stack, 'WebAcl', { stageName: 'v1' });
  const alarms = new AuthAlarms(stack, 'Alarms', {
    issuerFunction: fn('Issuer'),
    authorizerFunction: fn('Authorizer'),
    ...(withRotation ? { rotationFunction: fn('Rotation') } : {}),
    issuerLogGroup: new LogGroup(stack, 'IssuerLogs'),
    authorizerLogGroup: new LogGroup(stack, 'AuthorizerLogs'),
    table: new TableV2(stack, 'Table', { partitionKey: { name: 'pk', type: AttributeType.STRING } }),
    api,
    webAclName: webAcl.name,
    keyRotationInterval: Duration.days(30),
    ...props,
  });
  return { template: Template.fromStack(stack), alarms, stack, webAcl };
}

type MetricDataQuery = {
  readonly Id: string;
  readonly Expression?: string;
  readonly MetricStat?: { readonly Metric: { readonly MetricName: string } };
};

/** The metric math of an alarm: its one expression and the ids of the metrics the expression reads. */
function mathOf(result: Synthesized, name: string): { expression: string; metricIds: string[] } {
  const queries = (alarmProps(result, name).Metrics ?? []) as MetricDataQuery[];
  const expressions = queries.flatMap((query) => (query.Expression === undefined ? [] : [query.Expression]));
  expect(expressions).toHaveLength(1);
  return {
    expression: expressions[0] ?? '',
    metricIds: queries.filter((query) => query.MetricStat !== undefined).map((query) => query.Id),
  };
}

/** The logical ID of the alarm with the given construct ID. */
function alarmId(result: Synthesized, name: string): string {
  const resource = result.alarms.node.findChild(name).node.defaultChild;
  if (!(resource instanceof CfnElement)) throw new Error(`no alarm ${name}`);
  return result.stack.getLogicalId(resource);
}

/** The synthesized properties of one alarm. */
function alarmProps(result: Synthesized, name: string): Record<string, unknown> {
  const resource = result.template.toJSON().Resources[alarmId(result, name)];
  if (resource === undefined) throw new Error(`no alarm ${name}`);
  return resource.Properties;
}

describe('AuthAlarms', () => {
  // Two syntheses serve the read-only assertions: the defaults (with CDK's CloudFormation validation on), and
  // a variant with every optional part switched the other way.
  let defaults: Synthesized;
  let variant: Synthesized;
  beforeAll(() => {
    defaults = synth({ validate: true });
    variant = synth({
      withRotation: false,
      replicaRegions: ['us-east-2', 'us-west-2'],
      alarmEmail: 'oncall@example.com',
      keyRotationInterval: Duration.days(7),
      signingKeyAgeGrace: Duration.hours(12),
      loginFailuresPer5Min: 500,
      authorizerP99LatencyMs: 350,
      refreshTokenReuse: 2,
      operationsGuideUrl: 'https://github.com/example/hybrid-auth/blob/main/docs/operations.md',
    });
  });

  describe('alarm per concern', () => {
    test('authorizer errors subtract the deliberately thrown decisions from Lambda Errors', () => {
      const props = alarmProps(defaults, 'AuthorizerErrors');
      expect(props).toMatchObject({
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        EvaluationPeriods: 3,
        DatapointsToAlarm: 2,
        TreatMissingData: 'notBreaching',
      });
      expect(props.Metrics).toEqual(
        expect.arrayContaining([
          expect.objectContaining({
            Expression: 'FILL(errors, 0) - FILL(unauthorized, 0) - FILL(failures, 0)',
          }),
          expect.objectContaining({
            Id: 'errors',
            MetricStat: expect.objectContaining({
              Metric: expect.objectContaining({ Namespace: 'AWS/Lambda', MetricName: 'Errors' }),
              Stat: 'Sum',
              Period: 300,
            }),
          }),
          expect.objectContaining({
            Id: 'unauthorized',
            MetricStat: expect.objectContaining({
              Metric: {
                Namespace: 'HybridAuth',
                MetricName: 'AuthorizerDecisions',
                Dimensions: [{ Name: 'Decision', Value: 'unauthorized' }],
              },
            }),
          }),
          expect.objectContaining({
            Id: 'failures',
            MetricStat: expect.objectContaining({
              Metric: {
                Namespace: 'HybridAuth',
                MetricName: 'AuthorizerDecisions',
                Dimensions: [{ Name: 'Decision', Value: 'error' }],
              },
            }),
          }),
        ]),
      );
    });

    test('authorizer throttles alarm on the Lambda Throttles sum', () => {
      expect(alarmProps(defaults, 'AuthorizerThrottles')).toMatchObject({
        Namespace: 'AWS/Lambda',
        Dimensions: [{ Name: 'FunctionName', Value: { Ref: expect.stringMatching(/^Authorizer/) } }],
        MetricName: 'Throttles',
        Statistic: 'Sum',
        Period: 300,
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        TreatMissingData: 'notBreaching',
      });
    });

    test('authorizer latency alarms on a sustained p99 Duration above 200 ms', () => {
      expect(alarmProps(defaults, 'AuthorizerLatency')).toMatchObject({
        Namespace: 'AWS/Lambda',
        Dimensions: [{ Name: 'FunctionName', Value: { Ref: expect.stringMatching(/^Authorizer/) } }],
        MetricName: 'Duration',
        ExtendedStatistic: 'p99',
        Threshold: 200,
        ComparisonOperator: 'GreaterThanThreshold',
        EvaluationPeriods: 3,
        DatapointsToAlarm: 3,
      });
    });

    test('authorizer failures (503s) alarm on error decisions from the decision log', () => {
      defaults.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'HybridAuth',
        MetricName: 'AuthorizerDecisions',
        Dimensions: [{ Name: 'Decision', Value: 'error' }],
        Statistic: 'Sum',
        Threshold: 5,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      });
    });

    test('issuer 5xx adds logged 5xx responses to issuer invocation errors', () => {
      const props = alarmProps(defaults, 'IssuerServerErrors');
      expect(props).toMatchObject({
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        // Any 5xx in either of the last 2 periods: a late data point of a FILLed expression is still seen.
        EvaluationPeriods: 2,
        DatapointsToAlarm: 1,
      });
      expect(props.Metrics).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ Expression: 'FILL(responses, 0) + FILL(crashes, 0)' }),
          expect.objectContaining({
            Id: 'responses',
            MetricStat: expect.objectContaining({
              Metric: { Namespace: 'HybridAuth', MetricName: 'IssuerServerErrors' },
              Stat: 'Sum',
            }),
          }),
          expect.objectContaining({
            Id: 'crashes',
            MetricStat: expect.objectContaining({
              Metric: expect.objectContaining({ Namespace: 'AWS/Lambda', MetricName: 'Errors' }),
            }),
          }),
        ]),
      );
    });

    test('API server errors alarm on the API Gateway 5XXError sum', () => {
      defaults.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/ApiGateway',
        MetricName: '5XXError',
        Dimensions: [{ Name: 'ApiName', Value: 'Api' }],
        Statistic: 'Sum',
        Threshold: 5,
      });
    });

    test('throttled logins alarm at 50 per 5 minutes', () => {
      defaults.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'HybridAuth',
        MetricName: 'LoginThrottled',
        Statistic: 'Sum',
        Period: 300,
        Threshold: 50,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      });
    });

    test('login failures alarm at 100 per 5 minutes', () => {
      defaults.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'HybridAuth',
        MetricName: 'LoginFailures',
        Statistic: 'Sum',
        Period: 300,
        Threshold: 100,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      });
    });

    test('refresh-token reuse alarms on any single occurrence', () => {
      defaults.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'HybridAuth',
        MetricName: 'RefreshTokenReuse',
        Dimensions: [{ Name: 'service', Value: 'issuer' }],
        Statistic: 'Sum',
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        EvaluationPeriods: 1,
        TreatMissingData: 'notBreaching',
      });
    });

    test('an unpublished security event alarms on any single occurrence', () => {
      expect(alarmProps(defaults, 'SecurityEventsUnpublished')).toMatchObject({
        Namespace: 'HybridAuth',
        MetricName: 'SecurityEventsUnpublished',
        Dimensions: [{ Name: 'service', Value: 'issuer' }],
        Statistic: 'Sum',
        Period: 300,
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        EvaluationPeriods: 1,
        TreatMissingData: 'notBreaching',
      });
    });

    test('table throttles sum ThrottledRequests over the operations the runtime uses', () => {
      const props = alarmProps(defaults, 'TableThrottles');
      expect(props).toMatchObject({
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        EvaluationPeriods: 2,
        DatapointsToAlarm: 1,
      });
      const metrics = props.Metrics as {
        MetricStat?: { Metric: { MetricName: string; Dimensions: unknown } };
      }[];
      const operations = metrics
        .flatMap((m) => (m.MetricStat ? [m.MetricStat.Metric] : []))
        .map((metric) => {
          expect(metric.MetricName).toBe('ThrottledRequests');
          return (metric.Dimensions as { Name: string; Value: string }[]).find((d) => d.Name === 'Operation')
            ?.Value;
        });
      expect(operations.sort()).toEqual(['DeleteItem', 'GetItem', 'PutItem', 'Query', 'UpdateItem']);
    });

    test('table system errors sum SystemErrors', () => {
      const props = alarmProps(defaults, 'TableSystemErrors');
      expect(props).toMatchObject({ Threshold: 1, EvaluationPeriods: 2, DatapointsToAlarm: 1 });
      expect(props.Metrics).toEqual(
        expect.arrayContaining([
          expect.objectContaining({
            MetricStat: expect.objectContaining({
              Metric: expect.objectContaining({ Namespace: 'AWS/DynamoDB', MetricName: 'SystemErrors' }),
            }),
          }),
        ]),
      );
    });

    test('WAF alarms on BlockedRequests of the web ACL over all rules in this region', () => {
      expect(alarmProps(defaults, 'WafBlockedRequests')).toMatchObject({
        Namespace: 'AWS/WAFV2',
        MetricName: 'BlockedRequests',
        Dimensions: [
          { Name: 'Region', Value: 'us-east-1' },
          { Name: 'Rule', Value: 'ALL' },
          { Name: 'WebACL', Value: defaults.webAcl.name },
        ],
        Statistic: 'Sum',
        Threshold: 1000,
      });
    });

    test("the WAF alarm's WebACL dimension is the web ACL's Name and its metric name in the template", () => {
      const [acl, ...others] = Object.values(defaults.template.findResources('AWS::WAFv2::WebACL'));
      expect(others).toEqual([]);
      const { Name, VisibilityConfig } = (acl?.Properties ?? { VisibilityConfig: {} }) as {
        Name?: unknown;
        VisibilityConfig: { MetricName?: unknown };
      };
      const dimensions = alarmProps(defaults, 'WafBlockedRequests').Dimensions as {
        Name: string;
        Value: unknown;
      }[];
      const webAclDimension = dimensions.find((dimension) => dimension.Name === 'WebACL')?.Value;
      expect(typeof Name).toBe('string');
      expect(webAclDimension).toBe(Name);
      expect(webAclDimension).toBe(VisibilityConfig.MetricName);
    });

    test('issuer not ready alarms on not-ready answers in each of 3 consecutive 5-minute periods', () => {
      expect(alarmProps(defaults, 'IssuerNotReady')).toMatchObject({
        Namespace: 'HybridAuth',
        MetricName: 'IssuerNotReady',
        Statistic: 'Sum',
        Period: 300,
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        // The first rotation after a deployment answers 503 for up to a minute: at most 2 periods.
        EvaluationPeriods: 3,
        DatapointsToAlarm: 3,
        TreatMissingData: 'notBreaching',
      });
    });

    test('signing-key replicas not in sync alarm on any single occurrence, from the rotation function', () => {
      expect(alarmProps(defaults, 'SigningKeysReplicaStale')).toMatchObject({
        Namespace: 'HybridAuth',
        MetricName: 'SigningKeysReplicaStale',
        Dimensions: [{ Name: 'service', Value: 'rotation' }],
        Statistic: 'Sum',
        Period: 300,
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        EvaluationPeriods: 1,
        TreatMissingData: 'notBreaching',
      });
    });

    test('rotation errors alarm on the rotation function Errors', () => {
      const props = alarmProps(defaults, 'RotationErrors');
      expect(props).toMatchObject({
        Namespace: 'AWS/Lambda',
        MetricName: 'Errors',
        Dimensions: [{ Name: 'FunctionName', Value: { Ref: expect.stringMatching(/^Rotation/) } }],
        Threshold: 1,
      });
    });
  });

  describe('metric math', () => {
    // Every alarm on an expression, by kind; a new one must be added here, so that its terms are checked.
    const MATH_ALARMS = ['AuthorizerErrors', 'IssuerServerErrors', 'TableThrottles', 'TableSystemErrors'];

    test('these are the only alarms on an expression', () => {
      for (const result of [defaults, variant]) {
        const math = Object.keys(result.alarms.alarms).filter(
          (name) => alarmProps(result, name).Metrics !== undefined,
        );
        expect(math.sort()).toEqual([...MATH_ALARMS].sort());
      }
    });

    test.each(MATH_ALARMS)('%s FILLs every term with 0', (name) => {
      const { expression, metricIds } = mathOf(defaults, name);
      expect(metricIds.length).toBeGreaterThan(0);
      for (const id of metricIds) expect(expression).toContain(`FILL(${id}, 0)`);
      // Nothing but FILLed terms, operators and numbers: no metric is read bare.
      expect(expression.replace(/FILL\([a-z][A-Za-z0-9_]*, 0\)/g, '')).toMatch(/^[\s+\-*/()0-9.]*$/);
    });
  });

  describe('the series the functions publish', () => {
    /** The metric an EMF line of a function's metrics adapter defines, as CloudWatch reads it. */
    function published(name: string, unit: MetricUnit, service: string = SERVICES.issuer) {
      const lines: string[] = [];
      createMetrics(service, (line) => lines.push(line))(name, 1, unit);
      const emf = JSON.parse(lines[0] ?? '{}') as {
        _aws: {
          CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string }[] }[];
        };
        [key: string]: unknown;
      };
      const [directive] = emf._aws.CloudWatchMetrics;
      return {
        Namespace: directive?.Namespace,
        MetricName: directive?.Metrics[0]?.Name,
        Dimensions: (directive?.Dimensions[0] ?? []).map((dimension) => ({
          Name: dimension,
          Value: emf[dimension],
        })),
      };
    }

    test.each([
      ['RefreshTokenReuse', METRIC_NAMES.refreshTokenReuse, 'Count', SERVICES.issuer],
      ['SecurityEventsUnpublished', METRIC_NAMES.securityEventsUnpublished, 'Count', SERVICES.issuer],
      ['SigningKeyAge', METRIC_NAMES.signingKeyAge, 'Seconds', SERVICES.issuer],
      ['SigningKeysReplicaStale', METRIC_NAMES.signingKeysReplicaStale, 'Count', SERVICES.rotation],
    ] as const)(
      'the %s alarm reads the namespace, name and dimensions the function publishes',
      (alarm, name, unit, service) => {
        expect(alarmProps(defaults, alarm)).toMatchObject(published(name, unit, service));
      },
    );

    test("the issuer-not-ready filter matches the message of the issuer logger's not-ready line", () => {
      const lines: string[] = [];
      createLogger(SERVICES.issuer, (line) => lines.push(line)).warn(LOG_MESSAGES.issuerNotReady, {
        cause: 'placeholder_keys',
      });
      const line = JSON.parse(lines[0] ?? '{}') as { message?: unknown };
      defaults.template.hasResourceProperties('AWS::Logs::MetricFilter', {
        FilterPattern: `{ $.message = ${JSON.stringify(line.message)} }`,
        MetricTransformations: [
          {
            MetricNamespace: 'HybridAuth',
            MetricName: METRIC_NAMES.issuerNotReady,
            MetricValue: '1',
            Unit: 'Count',
          },
        ],
        LogGroupName: { Ref: Match.stringLikeRegexp('^IssuerLogs') },
      });
    });
  });

  describe('signing key age', () => {
    test('alarms when the maximum age exceeds the rotation interval plus the 2-day grace, in seconds', () => {
      expect(alarmProps(defaults, 'SigningKeyAge')).toMatchObject({
        Namespace: 'HybridAuth',
        MetricName: 'SigningKeyAgeSeconds',
        Dimensions: [{ Name: 'service', Value: 'issuer' }],
        Statistic: 'Maximum',
        Period: 3600,
        Threshold: 32 * 86_400,
        ComparisonOperator: 'GreaterThanThreshold',
      });
    });

    test('keeps its state through periods without a report', () => {
      expect(alarmProps(defaults, 'SigningKeyAge')).toMatchObject({ TreatMissingData: 'ignore' });
    });

    test('follows the rotation interval and a custom grace', () => {
      const result = synth({
        keyRotationInterval: Duration.days(7),
        signingKeyAgeGrace: Duration.hours(12),
      });
      expect(alarmProps(result, 'SigningKeyAge')).toMatchObject({ Threshold: 7 * 86_400 + 12 * 3600 });
    });
  });

  describe('replication', () => {
    test('adds one alarm per replica region on ReplicationLatency into that region', () => {
      for (const region of ['us-east-2', 'us-west-2']) {
        expect(alarmProps(variant, `ReplicationLatency-${region}`)).toMatchObject({
          Namespace: 'AWS/DynamoDB',
          MetricName: 'ReplicationLatency',
          Dimensions: expect.arrayContaining([{ Name: 'ReceivingRegion', Value: region }]),
          Statistic: 'Average',
          Threshold: 10_000,
          ComparisonOperator: 'GreaterThanThreshold',
        });
      }
      expect(
        Object.keys(variant.alarms.alarms).filter((name) => name.startsWith('ReplicationLatency')),
      ).toHaveLength(2);
    });

    test('adds no replication alarm without replicas', () => {
      defaults.template.resourcePropertiesCountIs(
        'AWS::CloudWatch::Alarm',
        { MetricName: 'ReplicationLatency' },
        0,
      );
    });

    test('fails when a replica region is the stack region', () => {
      expect(() => synth({ replicaRegions: ['us-east-1'] })).toThrow(
        /^AuthAlarms: replicaRegions\[0\] is "us-east-1"; allowed: one of the global table's other regions/,
      );
    });

    test('fails when a replica region is listed twice', () => {
      expect(() => synth({ replicaRegions: ['us-east-2', 'us-east-2'] })).toThrow(
        /replicaRegions\[1\] is "us-east-2"; allowed: each region once/,
      );
    });
  });

  describe('optional parts', () => {
    test('has no rotation alarm without a rotation function', () => {
      expect(variant.alarms.alarms.RotationErrors).toBeUndefined();
      expect(variant.alarms.alarms.SigningKeysReplicaStale).toBeUndefined();
      variant.template.resourcePropertiesCountIs(
        'AWS::CloudWatch::Alarm',
        { MetricName: METRIC_NAMES.signingKeysReplicaStale },
        0,
      );
      variant.template.resourcePropertiesCountIs(
        'AWS::CloudWatch::Alarm',
        { Dimensions: [{ Name: 'FunctionName', Value: { Ref: Match.stringLikeRegexp('^Rotation') } }] },
        0,
      );
    });

    test('subscribes the alarm e-mail when given', () => {
      variant.template.hasResourceProperties('AWS::SNS::Subscription', {
        Protocol: 'email',
        Endpoint: 'oncall@example.com',
        TopicArn: Match.anyValue(),
      });
    });

    test('subscribes nobody without an alarm e-mail', () => {
      defaults.template.resourceCountIs('AWS::SNS::Subscription', 0);
    });
  });

  describe('notifications', () => {
    test('every alarm notifies the topic on ALARM and on OK', () => {
      const topicRef = defaults.stack.resolve(defaults.alarms.topic.topicArn);
      const alarms = defaults.template.findResources('AWS::CloudWatch::Alarm');
      expect(Object.keys(alarms)).toHaveLength(Object.keys(defaults.alarms.alarms).length);
      for (const alarm of Object.values(alarms)) {
        expect(alarm.Properties).toMatchObject({ AlarmActions: [topicRef], OKActions: [topicRef] });
      }
    });

    test('every alarm description is one sentence and a link to its section of docs/operations.md', () => {
      for (const result of [defaults, variant]) {
        for (const name of Object.keys(result.alarms.alarms)) {
          const description = String(alarmProps(result, name).AlarmDescription);
          const [sentence = '', link, ...rest] = description.split(' See ');
          expect(rest).toEqual([]);
          expect(sentence).toMatch(/^[A-Z].*\.$/);
          expect(sentence.slice(0, -1)).not.toMatch(/[.!?](\s|$)/);
          expect(link).toMatch(new RegExp(`operations\\.md#${name.replace(/-.*$/, '').toLowerCase()}$`));
        }
      }
    });

    test('links each alarm to a section that docs/operations.md has, by its GitHub heading anchor', () => {
      const guide = readFileSync(join(__dirname, '../../docs/operations.md'), 'utf8');
      const anchors = [...guide.matchAll(/^#{2,6} (.+)$/gm)].map(([, heading]) =>
        (heading ?? '')
          .trim()
          .toLowerCase()
          .replace(/[^\p{L}\p{N} _-]/gu, '')
          .replace(/ /g, '-'),
      );
      for (const result of [defaults, variant]) {
        for (const name of Object.keys(result.alarms.alarms)) {
          const section = String(alarmProps(result, name).AlarmDescription).replace(/^.*#/, '');
          expect(anchors).toContain(section);
        }
      }
    });

    test('links to the operations guide at the address given', () => {
      expect(alarmProps(variant, 'LoginFailures').AlarmDescription).toMatch(
        / See https:\/\/github\.com\/example\/hybrid-auth\/blob\/main\/docs\/operations\.md#loginfailures$/,
      );
    });

    test('encrypts the topic with a rotating customer managed key that CloudWatch may use', () => {
      defaults.template.hasResourceProperties('AWS::SNS::Topic', {
        KmsMasterKeyId: { 'Fn::GetAtt': [Match.stringLikeRegexp('^AlarmsTopicKey'), 'Arn'] },
      });
      defaults.template.hasResourceProperties('AWS::KMS::Key', {
        EnableKeyRotation: true,
        KeyPolicy: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Principal: { Service: 'cloudwatch.amazonaws.com' },
              Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
              Effect: 'Allow',
            }),
          ]),
        },
      });
    });

    test('uses a given topic key instead of creating one', () => {
      const { template } = synth({
        topicEncryptionKey: Key.fromKeyArn(
          new Stack(),
          'Given',
          'arn:aws:kms:us-east-1:111111111111:key/11111111-2222-3333-4444-555555555555',
        ),
      });
      template.resourceCountIs('AWS::KMS::Key', 0);
      template.hasResourceProperties('AWS::SNS::Topic', {
        KmsMasterKeyId: 'arn:aws:kms:us-east-1:111111111111:key/11111111-2222-3333-4444-555555555555',
      });
    });

    test('refuses plain-HTTP publishing and lets this account\u2019s alarms publish', () => {
      defaults.template.hasResourceProperties('AWS::SNS::TopicPolicy', {
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Effect: 'Deny',
              Condition: { Bool: { 'aws:SecureTransport': 'false' } },
            }),
            Match.objectLike({
              Effect: 'Allow',
              Principal: { Service: 'cloudwatch.amazonaws.com' },
              Action: 'sns:Publish',
              Condition: {
                ArnLike: { 'aws:SourceArn': Match.objectLike({ 'Fn::Join': Match.anyValue() }) },
              },
            }),
          ]),
        },
      });
    });
  });

  describe('metric filters', () => {
    test('count failed logins from the issuer request log', () => {
      defaults.template.hasResourceProperties('AWS::Logs::MetricFilter', {
        FilterPattern:
          '{ ($.message = "issuer request") && ($.route = "POST /auth/login") && ($.status = 401) }',
        MetricTransformations: [
          { MetricNamespace: 'HybridAuth', MetricName: 'LoginFailures', MetricValue: '1', Unit: 'Count' },
        ],
        LogGroupName: { Ref: Match.stringLikeRegexp('^IssuerLogs') },
      });
    });

    test('count logins the throttle refused from the login refused log lines', () => {
      defaults.template.hasResourceProperties('AWS::Logs::MetricFilter', {
        FilterPattern:
          '{ ($.message = "login refused") && (($.reason = "source_throttled") || ($.reason = "account_backoff")) }',
        MetricTransformations: [
          { MetricNamespace: 'HybridAuth', MetricName: 'LoginThrottled', MetricValue: '1', Unit: 'Count' },
        ],
        LogGroupName: { Ref: Match.stringLikeRegexp('^IssuerLogs') },
      });
    });

    test('count issuer 5xx responses from the issuer request log', () => {
      defaults.template.hasResourceProperties('AWS::Logs::MetricFilter', {
        FilterPattern: '{ ($.message = "issuer request") && ($.status >= 500) }',
        MetricTransformations: [Match.objectLike({ MetricName: 'IssuerServerErrors', MetricValue: '1' })],
      });
    });

    test('count authorizer decisions by decision from the authorizer log', () => {
      defaults.template.hasResourceProperties('AWS::Logs::MetricFilter', {
        FilterPattern: '{ $.message = "authorizer decision" }',
        MetricTransformations: [
          Match.objectLike({
            MetricName: 'AuthorizerDecisions',
            Dimensions: [{ Key: 'Decision', Value: '$.decision' }],
          }),
        ],
        LogGroupName: { Ref: Match.stringLikeRegexp('^AuthorizerLogs') },
      });
    });
  });

  describe('thresholds', () => {
    test('custom thresholds override the defaults', () => {
      expect(alarmProps(variant, 'LoginFailures')).toMatchObject({ Threshold: 500 });
      expect(alarmProps(variant, 'AuthorizerLatency')).toMatchObject({ Threshold: 350 });
      expect(alarmProps(variant, 'RefreshTokenReuse')).toMatchObject({ Threshold: 2 });
    });

    test.each([0, -1, Number.NaN, Number.POSITIVE_INFINITY])('fails for a threshold of %p', (value) => {
      expect(() => synth({ authorizerFailures: value })).toThrow(
        new RegExp(`^AuthAlarms: authorizerFailures is ${value}; allowed: a finite number above 0$`),
      );
    });

    test('fails for a zero key-age grace', () => {
      expect(() => synth({ signingKeyAgeGrace: Duration.seconds(0) })).toThrow(
        /^AuthAlarms: signingKeyAgeGrace is 0 s; allowed: a duration longer than 0$/,
      );
    });

    test('fails for more table operations than a metric math alarm allows', () => {
      expect(() => synth({ tableOperations: Array.from({ length: 11 }, () => 'GetItem' as never) })).toThrow(
        /tableOperations is 11 operations \(GetItem, .*\); allowed: 1 to 10 operations/,
      );
    });

    test('fails for an alarm e-mail that is not an address', () => {
      expect(() => synth({ alarmEmail: 'oncall' })).toThrow(
        /^AuthAlarms: alarmEmail is "oncall"; allowed: an e-mail address$/,
      );
    });
  });

  test('builds one dashboard with the alarm states and a widget per concern', () => {
    defaults.template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
    const body = JSON.stringify(defaults.template.findResources('AWS::CloudWatch::Dashboard'));
    for (const title of [
      'Alarms',
      'Authorizer decisions',
      'Authorizer invocations, errors, throttles',
      'Authorizer duration (ms)',
      'Issuer invocations, 5xx, errors',
      'Issuer not ready (503)',
      'Login failures (401)',
      'Refresh-token reuse',
      'API requests and errors',
      'API latency p99 (ms)',
      'WAF requests',
      'Session table throttles',
      'Session table system errors',
      'Signing key age (s), rotation errors',
      'Signing-key replicas not in sync',
    ]) {
      expect(body).toContain(`\\"title\\":\\"${title}\\"`);
    }
  });

  test('graphs signing-key replicas not in sync only where the rotation function runs', () => {
    const title = 'Signing-key replicas not in sync';
    expect(JSON.stringify(variant.template.findResources('AWS::CloudWatch::Dashboard'))).not.toContain(title);
  });

  test('graphs replication latency only when there are replicas', () => {
    const title = 'Replication latency from this region (ms)';
    expect(JSON.stringify(variant.template.findResources('AWS::CloudWatch::Dashboard'))).toContain(title);
    expect(JSON.stringify(defaults.template.findResources('AWS::CloudWatch::Dashboard'))).not.toContain(
      title,
    );
  });
});
