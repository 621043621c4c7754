import { ArnFormat, Duration, RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import type { RestApiBase } from 'aws-cdk-lib/aws-apigateway';
import {
  Alarm,
  AlarmStatusWidget,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  type IMetric,
  type IWidget,
  MathExpression,
  Metric,
  Stats,
  TreatMissingData,
  Unit,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { type ITableV2, Operation } from 'aws-cdk-lib/aws-dynamodb';
import { Effect, PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { type IKey, Key } from 'aws-cdk-lib/aws-kms';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import {
  FilterPattern,
  type IFilterPattern,
  type ILogGroup,
  type JsonPattern,
  MetricFilter,
} from 'aws-cdk-lib/aws-logs';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import { METRICS_NAMESPACE } from '../lambda/adapters/metrics';

/**
 * Alarm thresholds. Every count is "per 5-minute period" unless its name says otherwise; every field is
 * optional and falls back to {@link AUTH_ALARM_DEFAULTS}.
 */
export interface AuthAlarmThresholds {
  /**
   * Authorizer invocations that failed without logging a decision (crashes, time-outs, init failures), per
   * 5 minutes, in 2 of 3 periods. (Lambda's `Errors` also counts every deliberate `Unauthorized` throw, so the
   * alarm subtracts the logged rejections.)
   * @default 1
   */
  readonly authorizerErrors?: number;
  /** Throttled authorizer invocations per 5 minutes (each one is a failed API request). @default 1 */
  readonly authorizerThrottles?: number;
  /** p99 authorizer duration in milliseconds, sustained for 3 consecutive 5-minute periods. @default 200 */
  readonly authorizerP99LatencyMs?: number;
  /** Authorizer `decision: "error"` lines (a session-store failure, answered 503) per 5 minutes. @default 5 */
  readonly authorizerFailures?: number;
  /** Issuer responses with status >= 500 plus issuer invocation errors (crashes, time-outs) per 5 minutes. @default 1 */
  readonly issuer5xx?: number;
  /** API Gateway 5XXError responses per 5 minutes, whatever their source (includes the authorizer's 503s). @default 5 */
  readonly api5xx?: number;
  /** Failed logins (`POST /auth/login` answered 401) per 5 minutes: credential stuffing or a broken client. @default 100 */
  readonly loginFailuresPer5Min?: number;
  /** Detected refresh-token reuses per 5 minutes. Any reuse is a possible token theft. @default 1 */
  readonly refreshTokenReuse?: number;
  /** Throttled DynamoDB requests on the session table per 5 minutes. @default 1 */
  readonly dynamoThrottles?: number;
  /** DynamoDB system errors (HTTP 500s) on the session table per 5 minutes. @default 1 */
  readonly dynamoSystemErrors?: number;
  /** Average replication latency to each replica, in milliseconds, for 3 consecutive 5-minute periods. @default 10000 */
  readonly replicationLatencyMs?: number;
  /** Rotation function errors per 5 minutes (a failed rotation step; Secrets Manager retries it). @default 1 */
  readonly rotationErrors?: number;
  /**
   * How much older than `keyRotationInterval` the signing key may get before the key-age alarm fires (covers
   * the Secrets Manager rotation window and the issuers' key cache).
   * @default Duration.days(2)
   */
  readonly signingKeyAgeGrace?: Duration;
  /** Requests blocked by the web ACL (all rules) per 5 minutes: an attack, or a client caught by a rate rule. @default 1000 */
  readonly wafBlocksPer5Min?: number;
}

/** The documented default of every threshold in {@link AuthAlarmThresholds}. */
export const AUTH_ALARM_DEFAULTS: Readonly<Required<AuthAlarmThresholds>> = {
  authorizerErrors: 1,
  authorizerThrottles: 1,
  authorizerP99LatencyMs: 200,
  authorizerFailures: 5,
  issuer5xx: 1,
  api5xx: 5,
  loginFailuresPer5Min: 100,
  refreshTokenReuse: 1,
  dynamoThrottles: 1,
  dynamoSystemErrors: 1,
  replicationLatencyMs: 10_000,
  rotationErrors: 1,
  signingKeyAgeGrace: Duration.days(2),
  wafBlocksPer5Min: 1000,
};

/** The DynamoDB operations the runtime issues against the session table (lambda/adapters). */
export const SESSION_TABLE_OPERATIONS: readonly Operation[] = [
  Operation.GET_ITEM,
  Operation.PUT_ITEM,
  Operation.UPDATE_ITEM,
  Operation.DELETE_ITEM,
  Operation.QUERY,
];

/** A metric math alarm may reference at most 10 metrics (a hard CloudWatch limit). */
const MAX_ALARM_METRICS = 10;

/** Names of the custom metrics the platform publishes or derives from its logs (namespace `HybridAuth`). */
export const AUTH_METRIC_NAMES = {
  /** EMF, issuer (on each key-set load) and rotation function (after each rotation); Seconds, no dimensions. */
  signingKeyAge: 'SigningKeyAgeSeconds',
  /** EMF, issuer, one per detected reuse; Count, no dimensions. */
  refreshTokenReuse: 'RefreshTokenReuse',
  /** Metric filter on the issuer log: `POST /auth/login` answered 401. */
  loginFailures: 'LoginFailures',
  /** Metric filter on the issuer log: any response with status >= 500. */
  issuerServerErrors: 'IssuerServerErrors',
  /** Metric filter on the authorizer log: one per decision line, dimension `Decision` (allow/deny/unauthorized/error). */
  authorizerDecisions: 'AuthorizerDecisions',
} as const;

/** The name (and construct ID) of each alarm; one `ReplicationLatency-<region>` per replica region. */
export type AuthAlarmName =
  | 'AuthorizerErrors'
  | 'AuthorizerThrottles'
  | 'AuthorizerLatency'
  | 'AuthorizerFailures'
  | 'IssuerServerErrors'
  | 'ApiServerErrors'
  | 'LoginFailures'
  | 'RefreshTokenReuse'
  | 'TableThrottles'
  | 'TableSystemErrors'
  | 'RotationErrors'
  | 'SigningKeyAge'
  | 'WafBlockedRequests'
  | `ReplicationLatency-${string}`;

/** Properties of {@link AuthAlarms}. */
export interface AuthAlarmsProps {
  /** The token issuer function. */
  readonly issuerFunction: IFunction;
  /** The REQUEST authorizer function. */
  readonly authorizerFunction: IFunction;
  /**
   * The Secrets Manager rotation function; it exists only in the primary region, where the secret rotates.
   * @default none: no rotation alarm
   */
  readonly rotationFunction?: IFunction;
  /** The issuer's log group: source of the login-failure and issuer-5xx metric filters. */
  readonly issuerLogGroup: ILogGroup;
  /** The authorizer's log group: source of the authorizer-decision metric filter. */
  readonly authorizerLogGroup: ILogGroup;
  /** The session table (global table). */
  readonly table: ITableV2;
  /**
   * The global table's other regions. DynamoDB publishes `ReplicationLatency` in the region a write comes
   * from, with `ReceivingRegion` naming the destination, and an alarm can only read its own region's
   * metrics: so each region alarms on replication from itself to every region listed here, and the stacks of
   * all regions together cover every direction. The stack's own region is not allowed.
   * @default [] (a single-region table: no replication alarm)
   */
  readonly replicaRegions?: readonly string[];
  /**
   * DynamoDB operations summed by the table throttle and system-error alarms (at most 10, a CloudWatch limit
   * for metric math alarms). A fork that adds an operation adds it here.
   * @default SESSION_TABLE_OPERATIONS (GetItem, PutItem, UpdateItem, DeleteItem, Query)
   */
  readonly tableOperations?: readonly Operation[];
  /** The REST API (its `ApiName` dimension). */
  readonly api: RestApiBase;
  /**
   * The `WebACL` dimension of the regional web ACL's `AWS/WAFV2` metrics: the ACL's CloudWatch metric name
   * (`visibilityConfig.metricName`), not its ID or ARN.
   */
  readonly webAclName: string;
  /** The signing-key rotation interval: the key-age alarm fires at `keyRotationInterval + signingKeyAgeGrace`. */
  readonly keyRotationInterval: Duration;
  /**
   * An e-mail address subscribed to the alarm topic (the subscription must be confirmed from the mail).
   * @default none: the topic exists with no subscriber
   */
  readonly alarmEmail?: string;
  /**
   * KMS key that encrypts the alarm topic. CloudWatch must be able to use it: its key policy must allow
   * `cloudwatch.amazonaws.com` `kms:Decrypt` and `kms:GenerateDataKey*` (the AWS managed `alias/aws/sns` key
   * cannot, so alarms could not publish to a topic encrypted with it).
   * @default a new customer managed key with rotation on, whose key policy allows CloudWatch
   */
  readonly topicEncryptionKey?: IKey;
  /** Alarm thresholds. @default AUTH_ALARM_DEFAULTS, field by field */
  readonly thresholds?: AuthAlarmThresholds;
}

const FIVE_MINUTES = Duration.minutes(5);
const RUNBOOK = 'Runbook: docs/operations.md';
const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;

/**
 * The platform's alarms and dashboard for one region: every quiet failure of the token system (a signing key
 * that stops rotating, a stolen refresh token being replayed, an authorizer that fails closed with 503s,
 * replication that lags behind the revocation budget) becomes an alarm on one SNS topic, with a notification
 * on ALARM and on OK. Each alarm says what it means and where to look; thresholds are props with defaults.
 *
 * @example
 * const alarms = new AuthAlarms(this, 'Alarms', {
 *   issuerFunction: issuer.function,
 *   authorizerFunction: authorizer.function,
 *   rotationFunction: keys.rotationFunction,
 *   issuerLogGroup: issuer.logGroup,
 *   authorizerLogGroup: authorizer.logGroup,
 *   table: sessions.table,
 *   replicaRegions: ['us-east-2', 'us-west-2'],
 *   api: api.restApi,
 *   webAclName: api.webAclName,
 *   keyRotationInterval: Duration.days(30),
 *   alarmEmail: 'oncall@example.com',
 *   thresholds: { loginFailuresPer5Min: 500 },
 * });
 * alarms.alarms.RefreshTokenReuse?.addAlarmAction(new SnsAction(securityTopic));
 */
export class AuthAlarms extends Construct {
  /** The topic every alarm notifies, on ALARM and on OK (encrypted, TLS-only). */
  public readonly topic: Topic;
  /** One dashboard with a widget per concern and the state of every alarm. */
  public readonly dashboard: Dashboard;
  /** Every alarm by name, for tests and for forks that add actions. */
  public readonly alarms: Readonly<Partial<Record<AuthAlarmName, Alarm>>>;

  public constructor(scope: Construct, id: string, props: AuthAlarmsProps) {
    super(scope, id);
    const thresholds = resolveThresholds(props.thresholds ?? {});
    const replicaRegions = validateReplicaRegions(props.replicaRegions ?? [], Stack.of(this).region);
    const operations = validateOperations(props.tableOperations ?? SESSION_TABLE_OPERATIONS);
    assertPositiveDuration('keyRotationInterval', props.keyRotationInterval);
    if (
      props.alarmEmail !== undefined &&
      !Token.isUnresolved(props.alarmEmail) &&
      !EMAIL.test(props.alarmEmail)
    ) {
      throw new Error(`AuthAlarms: alarmEmail must be an e-mail address (given: "${props.alarmEmail}")`);
    }

    this.topic = this.createTopic(props.topicEncryptionKey);
    if (props.alarmEmail !== undefined) this.topic.addSubscription(new EmailSubscription(props.alarmEmail));
    const action = new SnsAction(this.topic);
    const alarms: Partial<Record<AuthAlarmName, Alarm>> = {};
    const alarm = (name: AuthAlarmName, options: AlarmOptions): Alarm => {
      const created = new Alarm(this, name, {
        metric: options.metric,
        threshold: options.threshold,
        comparisonOperator: options.comparison ?? ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: options.evaluationPeriods ?? 1,
        datapointsToAlarm: options.datapointsToAlarm ?? options.evaluationPeriods ?? 1,
        treatMissingData: options.treatMissingData ?? TreatMissingData.NOT_BREACHING,
        alarmDescription: `${options.description} ${RUNBOOK}, "${name.replace(/-.*$/, '')}".`,
      });
      created.addAlarmAction(action);
      created.addOkAction(action);
      alarms[name] = created;
      return created;
    };

    // --- Metrics -------------------------------------------------------------------------------------------
    const sum = { statistic: Stats.SUM, period: FIVE_MINUTES };
    const custom = (
      metricName: string,
      statistic: string,
      period: Duration,
      dimensionsMap?: Record<string, string>,
    ) =>
      new Metric({
        namespace: METRICS_NAMESPACE,
        metricName,
        statistic,
        period,
        ...(dimensionsMap ? { dimensionsMap } : {}),
      });

    new MetricFilter(this, 'LoginFailuresFilter', {
      logGroup: props.issuerLogGroup,
      filterPattern: issuerRequestPattern(
        FilterPattern.stringValue('$.route', '=', 'POST /auth/login'),
        FilterPattern.numberValue('$.status', '=', 401),
      ),
      metricNamespace: METRICS_NAMESPACE,
      metricName: AUTH_METRIC_NAMES.loginFailures,
      metricValue: '1',
      unit: Unit.COUNT,
    });
    new MetricFilter(this, 'IssuerServerErrorsFilter', {
      logGroup: props.issuerLogGroup,
      filterPattern: issuerRequestPattern(FilterPattern.numberValue('$.status', '>=', 500)),
      metricNamespace: METRICS_NAMESPACE,
      metricName: AUTH_METRIC_NAMES.issuerServerErrors,
      metricValue: '1',
      unit: Unit.COUNT,
    });
    new MetricFilter(this, 'AuthorizerDecisionsFilter', {
      logGroup: props.authorizerLogGroup,
      filterPattern: FilterPattern.stringValue('$.message', '=', 'authorizer decision'),
      metricNamespace: METRICS_NAMESPACE,
      metricName: AUTH_METRIC_NAMES.authorizerDecisions,
      metricValue: '1',
      dimensions: { Decision: '$.decision' },
      unit: Unit.COUNT,
    });
    const decisions = (decision: 'allow' | 'deny' | 'unauthorized' | 'error') =>
      custom(AUTH_METRIC_NAMES.authorizerDecisions, Stats.SUM, FIVE_MINUTES, { Decision: decision });

    const authorizerErrors = props.authorizerFunction.metricErrors(sum);
    const authorizerThrottles = props.authorizerFunction.metricThrottles(sum);
    const authorizerP99 = props.authorizerFunction.metricDuration({
      statistic: Stats.p(99),
      period: FIVE_MINUTES,
    });
    const issuerErrors = props.issuerFunction.metricErrors(sum);
    const issuerServerErrors = custom(AUTH_METRIC_NAMES.issuerServerErrors, Stats.SUM, FIVE_MINUTES);
    const loginFailures = custom(AUTH_METRIC_NAMES.loginFailures, Stats.SUM, FIVE_MINUTES);
    const reuse = custom(AUTH_METRIC_NAMES.refreshTokenReuse, Stats.SUM, FIVE_MINUTES);
    const keyAge = custom(AUTH_METRIC_NAMES.signingKeyAge, Stats.MAXIMUM, Duration.hours(1));
    const tableThrottles = props.table.metricThrottledRequestsForOperations({
      ...sum,
      operations: [...operations],
    });
    const tableSystemErrors = props.table.metricSystemErrorsForOperations({
      ...sum,
      operations: [...operations],
    });
    const api5xx = props.api.metricServerError(sum);
    const wafBlocked = wafMetric(props.webAclName, 'BlockedRequests', Stack.of(this).region);

    // --- Authorizer ----------------------------------------------------------------------------------------
    // Lambda Errors also counts every deliberate throw: API Gateway's 'Unauthorized' (401) and the dependency
    // failure (503), each preceded by a decision line (lambda/authorizer/authorizer.ts). What remains is the
    // failures that never decided. 2 of 3 periods, because the log-derived counts can trail the Lambda metric.
    alarm('AuthorizerErrors', {
      metric: new MathExpression({
        expression: 'errors - FILL(unauthorized, 0) - FILL(failures, 0)',
        usingMetrics: {
          errors: authorizerErrors,
          unauthorized: decisions('unauthorized'),
          failures: decisions('error'),
        },
        label: 'Authorizer errors without a decision line',
        period: FIVE_MINUTES,
      }),
      threshold: thresholds.authorizerErrors,
      evaluationPeriods: 3,
      datapointsToAlarm: 2,
      description:
        'The authorizer is failing without deciding: invocations that ended in an error but logged no ' +
        '"authorizer decision" line (crash, time-out, out of memory, init failure). Lambda Errors minus the ' +
        'logged unauthorized/error decisions, which are thrown on purpose. Clients get 5xx on every protected ' +
        'route. Look at the authorizer log group for "Task timed out" and runtime errors, and at recent deploys.',
    });
    alarm('AuthorizerThrottles', {
      metric: authorizerThrottles,
      threshold: thresholds.authorizerThrottles,
      description:
        'Authorizer invocations are being throttled: each one is a failed request on a protected route. ' +
        'Check the account concurrency limit and any reserved concurrency on the authorizer function.',
    });
    alarm('AuthorizerLatency', {
      metric: authorizerP99,
      threshold: thresholds.authorizerP99LatencyMs,
      comparison: ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 3,
      description:
        'Authorizer p99 duration stayed above the threshold (ms) for 15 minutes; it adds to every API request. ' +
        'Check DynamoDB SuccessfulRequestLatency, the session cache hit rate in the decision log, cold starts.',
    });
    alarm('AuthorizerFailures', {
      metric: decisions('error'),
      threshold: thresholds.authorizerFailures,
      description:
        'The authorizer could not read sessions (decision "error": a DynamoDB failure) and failed closed: ' +
        'clients got 503. Look at the TableThrottles and TableSystemErrors alarms and the authorizer log ' +
        '(filter decision = "error", field "error").',
    });

    // --- Issuer and API ------------------------------------------------------------------------------------
    alarm('IssuerServerErrors', {
      metric: new MathExpression({
        expression: 'FILL(responses, 0) + FILL(crashes, 0)',
        usingMetrics: { responses: issuerServerErrors, crashes: issuerErrors },
        label: 'Issuer 5xx responses and invocation errors',
        period: FIVE_MINUTES,
      }),
      threshold: thresholds.issuer5xx,
      description:
        'The issuer answered 5xx (a dependency failed: DynamoDB or Secrets Manager) or crashed or timed out. ' +
        'Logins and refreshes are failing. Look at the issuer log for "issuer dependency failed" lines and ' +
        'for runtime errors, and at the TableSystemErrors and TableThrottles alarms.',
    });
    alarm('ApiServerErrors', {
      metric: api5xx,
      threshold: thresholds.api5xx,
      description:
        'The REST API returned 5xx, from any source: authorizer 503s (see AuthorizerFailures), issuer or ' +
        'backend errors, integration time-outs, or misconfigured Lambda permissions (500 with no invocation). ' +
        'Check the API execution and access logs for the failing resource.',
    });
    alarm('LoginFailures', {
      metric: loginFailures,
      threshold: thresholds.loginFailuresPer5Min,
      description:
        'Many failed password logins (POST /auth/login answered 401): credential stuffing, a password ' +
        'spraying run, or a broken client. Look at WAF sampled requests and the issuer log (route ' +
        '"POST /auth/login", status 401) for source patterns; consider lowering the WAF login rate limit.',
    });
    alarm('RefreshTokenReuse', {
      metric: reuse,
      threshold: thresholds.refreshTokenReuse,
      description:
        'A refresh token was replayed after rotation (reuse detection): a likely stolen token. The session ' +
        'family has been revoked already. Find the "security event" line in the issuer log (sub, sid) and ' +
        'investigate the account; consider "log out everywhere" and a password reset.',
    });

    // --- Session table -------------------------------------------------------------------------------------
    alarm('TableThrottles', {
      metric: tableThrottles,
      threshold: thresholds.dynamoThrottles,
      description:
        'Requests to the session table were throttled: session reads in the authorizer fail closed (503) and ' +
        'logins and refreshes fail. Check the table and GSI throttle metrics, hot keys and account limits.',
    });
    alarm('TableSystemErrors', {
      metric: tableSystemErrors,
      threshold: thresholds.dynamoSystemErrors,
      description:
        'DynamoDB returned system errors (HTTP 500) for the session table: a service-side problem in this ' +
        'region. Check the AWS Health Dashboard; consider shifting traffic to another region.',
    });
    for (const receivingRegion of replicaRegions) {
      alarm(`ReplicationLatency-${receivingRegion}`, {
        metric: props.table.metric('ReplicationLatency', {
          dimensionsMap: { TableName: props.table.tableName, ReceivingRegion: receivingRegion },
          statistic: Stats.AVERAGE,
          period: FIVE_MINUTES,
        }),
        threshold: thresholds.replicationLatencyMs,
        comparison: ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 3,
        description:
          `Replication of the session table from this region to ${receivingRegion} stayed slower than the ` +
          'threshold (ms) for 15 minutes: revocations made here reach that region late, beyond the ' +
          'revocation budget. Check the AWS Health Dashboard for both regions and the table throttles.',
      });
    }

    // --- Keys ----------------------------------------------------------------------------------------------
    if (props.rotationFunction !== undefined) {
      alarm('RotationErrors', {
        metric: props.rotationFunction.metricErrors(sum),
        threshold: thresholds.rotationErrors,
        description:
          'A signing-key rotation step failed. Secrets Manager retries, but a rotation that keeps failing ' +
          'leaves the signing key to age (see SigningKeyAge). Look at the rotation log for the failing step ' +
          'and at the secret rotation status (describe-secret, the AWSPENDING version).',
      });
    }
    const keyAgeLimit = props.keyRotationInterval.plus(thresholds.signingKeyAgeGrace);
    alarm('SigningKeyAge', {
      metric: keyAge,
      threshold: keyAgeLimit.toSeconds({ integral: false }),
      comparison: ComparisonOperator.GREATER_THAN_THRESHOLD,
      // A gauge, reported only when an issuer loads the key set or a rotation finishes: an hour with no report
      // says nothing about the key, so the alarm keeps its state (a quiet night neither pages nor clears it).
      treatMissingData: TreatMissingData.IGNORE,
      description:
        `The signing key is older than the rotation interval plus its grace (${keyAgeLimit.toHumanString()}): ` +
        'rotation has stopped and tokens are still signed with an aging key. Check the RotationErrors alarm, ' +
        "the secret's rotation schedule and status, and the rotation function log.",
    });

    // --- Edge ----------------------------------------------------------------------------------------------
    alarm('WafBlockedRequests', {
      metric: wafBlocked,
      threshold: thresholds.wafBlocksPer5Min,
      description:
        'The web ACL blocked many requests: an attack on the auth endpoints, or a legitimate client caught by ' +
        'a rate-based rule. Look at the web ACL sampled requests and the per-rule BlockedRequests metrics.',
    });

    this.alarms = alarms;

    // --- Dashboard -----------------------------------------------------------------------------------------
    const graph = (title: string, left: IMetric[], annotated: Alarm[] = [], width = 8): GraphWidget =>
      new GraphWidget({
        title,
        left,
        leftAnnotations: annotated.map((a) => a.toAnnotation()),
        width,
        height: 6,
      });
    const pick = (...names: AuthAlarmName[]): Alarm[] =>
      names.map((name) => alarms[name]).filter((a): a is Alarm => a !== undefined);
    const replicationAlarms = pick(
      ...replicaRegions.map((region): AuthAlarmName => `ReplicationLatency-${region}`),
    );
    const rows: IWidget[][] = [
      [
        new AlarmStatusWidget({
          title: 'Alarms',
          alarms: Object.values(alarms).filter((a): a is Alarm => a !== undefined),
          width: 24,
          height: 4,
        }),
      ],
      [
        graph(
          'Authorizer decisions',
          (['allow', 'deny', 'unauthorized', 'error'] as const).map((d) => decisions(d).with({ label: d })),
          pick('AuthorizerFailures'),
        ),
        graph(
          'Authorizer invocations, errors, throttles',
          [props.authorizerFunction.metricInvocations(sum), authorizerErrors, authorizerThrottles],
          pick('AuthorizerThrottles'),
        ),
        graph(
          'Authorizer duration (ms)',
          [
            props.authorizerFunction.metricDuration({ statistic: Stats.p(50), period: FIVE_MINUTES }),
            authorizerP99,
          ],
          pick('AuthorizerLatency'),
        ),
      ],
      [
        graph(
          'Issuer invocations, 5xx, errors',
          [props.issuerFunction.metricInvocations(sum), issuerServerErrors, issuerErrors],
          pick('IssuerServerErrors'),
        ),
        graph('Login failures (401)', [loginFailures], pick('LoginFailures')),
        graph('Refresh-token reuse', [reuse], pick('RefreshTokenReuse')),
      ],
      [
        graph(
          'API requests and errors',
          [props.api.metricCount(sum), props.api.metricClientError(sum), api5xx],
          pick('ApiServerErrors'),
        ),
        graph('API latency p99 (ms)', [
          props.api.metricLatency({ statistic: Stats.p(99), period: FIVE_MINUTES }),
          props.api.metricIntegrationLatency({ statistic: Stats.p(99), period: FIVE_MINUTES }),
        ]),
        graph(
          'WAF requests',
          [wafBlocked, wafMetric(props.webAclName, 'AllowedRequests', Stack.of(this).region)],
          pick('WafBlockedRequests'),
        ),
      ],
      [
        graph('Session table throttles', [tableThrottles], pick('TableThrottles'), 6),
        graph('Session table system errors', [tableSystemErrors], pick('TableSystemErrors'), 6),
        ...(replicationAlarms.length > 0
          ? [
              graph(
                'Replication latency from this region (ms)',
                replicationAlarms.map((a) => a.metric),
                replicationAlarms.slice(0, 1),
                6,
              ),
            ]
          : []),
        new GraphWidget({
          title: 'Signing key age (s), rotation errors',
          left: [keyAge],
          leftAnnotations: pick('SigningKeyAge').map((a) => a.toAnnotation()),
          right: props.rotationFunction ? [props.rotationFunction.metricErrors(sum)] : [],
          width: 6,
          height: 6,
        }),
      ],
    ];
    this.dashboard = new Dashboard(this, 'Dashboard', { defaultInterval: Duration.hours(12), widgets: rows });
  }

  /** The alarm topic: encrypted with a key CloudWatch may use, TLS-only, publishable by this account's alarms. */
  private createTopic(encryptionKey: IKey | undefined): Topic {
    const key =
      encryptionKey ??
      new Key(this, 'TopicKey', {
        description: 'Encrypts the hybrid-auth alarm topic',
        enableKeyRotation: true,
        // Alarm notifications are transient: nothing encrypted with this key outlives the stack.
        removalPolicy: RemovalPolicy.DESTROY,
      });
    key.grant(new ServicePrincipal('cloudwatch.amazonaws.com'), 'kms:Decrypt', 'kms:GenerateDataKey*');
    const topic = new Topic(this, 'Topic', {
      displayName: 'Hybrid auth alarms',
      masterKey: key,
      enforceSSL: true,
    });
    // A topic policy replaces the default access policy, so CloudWatch alarms need an explicit grant.
    const stack = Stack.of(this);
    topic.addToResourcePolicy(
      new PolicyStatement({
        sid: 'AllowCloudWatchAlarmsToPublish',
        effect: Effect.ALLOW,
        principals: [new ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [topic.topicArn],
        conditions: {
          ArnLike: {
            'aws:SourceArn': stack.formatArn({
              service: 'cloudwatch',
              resource: 'alarm',
              resourceName: '*',
              arnFormat: ArnFormat.COLON_RESOURCE_NAME,
            }),
          },
        },
      }),
    );
    return topic;
  }
}

/** What one alarm needs; everything else is common to all. */
interface AlarmOptions {
  readonly metric: IMetric;
  readonly threshold: number;
  readonly description: string;
  /** @default GREATER_THAN_OR_EQUAL_TO_THRESHOLD */
  readonly comparison?: ComparisonOperator;
  /** @default 1 */
  readonly evaluationPeriods?: number;
  /** @default evaluationPeriods */
  readonly datapointsToAlarm?: number;
  /** @default NOT_BREACHING: no data means no events (counts) or no traffic (latencies) */
  readonly treatMissingData?: TreatMissingData;
}

/** `{ $.message = "issuer request" && ... }`: one issuer request line matching every condition. */
function issuerRequestPattern(...conditions: JsonPattern[]): IFilterPattern {
  return FilterPattern.all(FilterPattern.stringValue('$.message', '=', 'issuer request'), ...conditions);
}

/** A regional web ACL metric over all its rules. */
function wafMetric(webAclName: string, metricName: string, region: string): Metric {
  return new Metric({
    namespace: 'AWS/WAFV2',
    metricName,
    dimensionsMap: { WebACL: webAclName, Region: region, Rule: 'ALL' },
    statistic: Stats.SUM,
    period: FIVE_MINUTES,
  });
}

/** Merges the given thresholds over the defaults and checks each one. */
function resolveThresholds(given: AuthAlarmThresholds): Required<AuthAlarmThresholds> {
  const resolved = { ...AUTH_ALARM_DEFAULTS, ...definedOnly(given) };
  for (const [name, value] of Object.entries(resolved)) {
    if (typeof value === 'number') assertPositiveNumber(`thresholds.${name}`, value);
    else assertPositiveDuration(`thresholds.${name}`, value);
  }
  return resolved;
}

/** Drops explicitly `undefined` fields so that they fall back to the defaults. */
function definedOnly(given: AuthAlarmThresholds): AuthAlarmThresholds {
  return Object.fromEntries(Object.entries(given).filter(([, value]) => value !== undefined));
}

/** Throws unless a resolved number is finite and greater than 0. */
function assertPositiveNumber(name: string, value: number): void {
  if (Token.isUnresolved(value)) return;
  if (!Number.isFinite(value) || value <= 0) {
    throw new Error(`AuthAlarms: ${name} must be a finite number greater than 0 (given: ${value})`);
  }
}

/** Throws unless a resolved duration is longer than 0. */
function assertPositiveDuration(name: string, value: Duration): void {
  if (value.isUnresolved()) return;
  if (!(value.toMilliseconds() > 0)) {
    throw new Error(`AuthAlarms: ${name} must be a duration longer than 0 (given: ${value.toHumanString()})`);
  }
}

/** Replica regions name alarms: literal, distinct, and never the stack's own region. */
function validateReplicaRegions(regions: readonly string[], ownRegion: string): readonly string[] {
  const seen = new Set<string>();
  for (const region of regions) {
    if (Token.isUnresolved(region)) {
      throw new Error('AuthAlarms: replicaRegions must be literal region names (they name alarms)');
    }
    if (!Token.isUnresolved(ownRegion) && region === ownRegion) {
      throw new Error(
        `AuthAlarms: replicaRegions must not include the stack's own region (given: ${region}; allowed: the global table's other regions)`,
      );
    }
    if (seen.has(region)) throw new Error(`AuthAlarms: replicaRegions lists ${region} twice`);
    seen.add(region);
  }
  return regions;
}

/** The table alarms sum one metric per operation: 1 to 10 of them. */
function validateOperations(operations: readonly Operation[]): readonly Operation[] {
  if (operations.length < 1 || operations.length > MAX_ALARM_METRICS) {
    throw new Error(
      `AuthAlarms: tableOperations must list 1 to ${MAX_ALARM_METRICS} operations (given: ${operations.length}: ${operations.join(', ')})`,
    );
  }
  return operations;
}
