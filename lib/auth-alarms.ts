import { ArnFormat, Duration, RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import type { RestApiBase } from 'aws-cdk-lib/aws-apigateway';
import {
  Alarm,
  ComparisonOperator,
  type IMetric,
  MathExpression,
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
import { LOG_MESSAGES } from '../lambda/adapters/logger';
import { METRICS_NAMESPACE } from '../lambda/adapters/metrics';
import type { LoginRefusal } from '../lambda/core/login-throttle';
import { AuthDashboard } from './auth-dashboard';
import { AUTH_METRIC_NAMES, AuthMetrics, METRIC_PERIOD, sumOfFilled } from './auth-metrics';
import {
  DescribedValue,
  InvalidValueError,
  requireMatch,
  requirePositiveDuration,
  requirePositiveNumber,
} from './validation';

/**
 * Alarm thresholds, props of {@link AuthAlarms} (flat: `new AuthAlarms(this, 'Alarms', { ..., loginFailuresPer5Min:
 * 500 })`). Every count is "per 5-minute period" unless its name says otherwise; every field is optional and
 * falls back to {@link AUTH_ALARM_DEFAULTS}.
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
  /**
   * Issuer responses with status >= 500 plus issuer invocation errors (crashes, time-outs) per 5 minutes, in
   * either of the last 2 periods. @default 1
   */
  readonly issuer5xx?: number;
  /**
   * Requests the issuer answered 503 because it was not ready (its signing keys are still the deployment
   * placeholder or unreadable, or its table is unavailable), per 5 minutes, in each of 3 consecutive periods:
   * the first rotation after a deployment (up to a minute of 503s) never fires it.
   * @default 1
   */
  readonly issuerNotReady?: number;
  /** API Gateway 5XXError responses per 5 minutes, whatever their source (includes the authorizer's 503s). @default 5 */
  readonly api5xx?: number;
  /** Failed logins (`POST /auth/login` answered 401) per 5 minutes: credential stuffing or a broken client. @default 100 */
  readonly loginFailuresPer5Min?: number;
  /**
   * Logins refused by the login throttle (per account and address, or the account-wide back-off) per 5
   * minutes: a guessing attack in progress. @default 50
   */
  readonly loginThrottledPer5Min?: number;
  /** Detected refresh-token reuses per 5 minutes. Any reuse is a possible token theft. @default 1 */
  readonly refreshTokenReuse?: number;
  /**
   * Security events (refresh-token reuse) the issuer could not put on its event bus, per 5 minutes: the
   * automated response a team built on them (a page, an account lock) did not run for those. @default 1
   */
  readonly securityEventsUnpublished?: number;
  /** Throttled DynamoDB requests on the session table per 5 minutes, in either of the last 2 periods. @default 1 */
  readonly dynamoThrottles?: number;
  /** DynamoDB system errors (HTTP 500s) on the session table per 5 minutes, in either of the last 2 periods. @default 1 */
  readonly dynamoSystemErrors?: number;
  /** Average replication latency to each replica, in milliseconds, for 3 consecutive 5-minute periods. @default 10000 */
  readonly replicationLatencyMs?: number;
  /** Rotation function errors per 5 minutes (a failed rotation step; Secrets Manager retries it). @default 1 */
  readonly rotationErrors?: number;
  /**
   * Replica regions the rotation function could not confirm in sync after a rotation, per 5 minutes (primary
   * region only). Any one means that region's issuers may be working from an old key set. @default 1
   */
  readonly signingKeysReplicaStale?: number;
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
  issuerNotReady: 1,
  api5xx: 5,
  loginFailuresPer5Min: 100,
  loginThrottledPer5Min: 50,
  refreshTokenReuse: 1,
  securityEventsUnpublished: 1,
  dynamoThrottles: 1,
  dynamoSystemErrors: 1,
  replicationLatencyMs: 10_000,
  rotationErrors: 1,
  signingKeysReplicaStale: 1,
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

/** The name (and construct ID) of each alarm; one `ReplicationLatency-<region>` per replica region. */
export type AuthAlarmName =
  | 'AuthorizerErrors'
  | 'AuthorizerThrottles'
  | 'AuthorizerLatency'
  | 'AuthorizerFailures'
  | 'IssuerServerErrors'
  | 'IssuerNotReady'
  | 'ApiServerErrors'
  | 'LoginFailures'
  | 'LoginThrottled'
  | 'RefreshTokenReuse'
  | 'SecurityEventsUnpublished'
  | 'TableThrottles'
  | 'TableSystemErrors'
  | 'RotationErrors'
  | 'SigningKeysReplicaStale'
  | 'SigningKeyAge'
  | 'WafBlockedRequests'
  | `ReplicationLatency-${string}`;

/** Properties of {@link AuthAlarms}. */
export interface AuthAlarmsProps extends AuthAlarmThresholds {
  /** The token issuer function. */
  readonly issuerFunction: IFunction;
  /** The REQUEST authorizer function. */
  readonly authorizerFunction: IFunction;
  /**
   * The Secrets Manager rotation function; it exists only in the primary region, where the secret rotates.
   * @default none: no rotation-errors and no replica-stale alarm
   */
  readonly rotationFunction?: IFunction;
  /** The issuer's log group: source of the login-failure, issuer-5xx and issuer-not-ready metric filters. */
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
   * The `WebACL` dimension of the regional web ACL's `AWS/WAFV2` metrics: the web ACL's name, not its ID or
   * ARN. `AuthWebAcl` names the web ACL and its metrics with one value ({@link AuthWebAcl.name}, which
   * `AuthApi.webAclMetricName` is), so the dimension is the same whichever of the two AWS WAF reads it from.
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
  /**
   * Where alarm descriptions link to: the address of docs/operations.md. Each description is one sentence
   * and then `See <operationsGuideUrl>#<section>`, the section of that alarm (its name in lower case, the
   * anchor GitHub gives the heading). Set the address of your repository's copy (for example
   * `https://github.com/<owner>/<repo>/blob/main/docs/operations.md`) to make the link open from a
   * notification.
   * @default 'docs/operations.md' (the path in the repository)
   */
  readonly operationsGuideUrl?: string;
}

/** Whose props the validation errors name. */
const OWNER = 'AuthAlarms';

const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;

/**
 * The platform's alarms and dashboard for one region: every quiet failure of the token system (a signing key
 * that stops rotating, a stolen refresh token being replayed, an authorizer that fails closed with 503s,
 * replication that lags behind the revocation budget) becomes an alarm on one SNS topic, with a notification
 * on ALARM and on OK. Each alarm's description says in one sentence what it means and links to its section of
 * docs/operations.md (what to check, what to do); thresholds are props with defaults. The dashboard is an
 * {@link AuthDashboard} over the same metrics ({@link AuthMetrics}).
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
 *   webAclName: api.webAclMetricName,
 *   keyRotationInterval: Duration.days(30),
 *   alarmEmail: 'oncall@example.com',
 *   loginFailuresPer5Min: 500,
 * });
 * alarms.alarms.RefreshTokenReuse?.addAlarmAction(new SnsAction(securityTopic));
 */
export class AuthAlarms extends Construct {
  /** The topic every alarm notifies, on ALARM and on OK (encrypted, TLS-only). */
  public readonly topic: Topic;
  /** One dashboard with a widget per concern and the state of every alarm. */
  public readonly dashboard: AuthDashboard;
  /** Every alarm by name, for tests and for forks that add actions. */
  public readonly alarms: Readonly<Partial<Record<AuthAlarmName, Alarm>>>;
  /** Every metric the alarms and the dashboard read. */
  public readonly metrics: AuthMetrics;

  public constructor(scope: Construct, id: string, props: AuthAlarmsProps) {
    super(scope, id);
    const thresholds = resolveThresholds(props);
    const replicaRegions = validateReplicaRegions(props.replicaRegions ?? [], Stack.of(this).region);
    const operations = validateOperations(props.tableOperations ?? SESSION_TABLE_OPERATIONS);
    requirePositiveDuration(OWNER, 'keyRotationInterval', props.keyRotationInterval);
    if (props.alarmEmail !== undefined) {
      requireMatch(OWNER, 'alarmEmail', props.alarmEmail, EMAIL, 'an e-mail address');
    }
    const guide = props.operationsGuideUrl ?? 'docs/operations.md';

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
        alarmDescription: `${options.description} See ${guide}#${operationsSection(name)}`,
      });
      created.addAlarmAction(action);
      created.addOkAction(action);
      alarms[name] = created;
      return created;
    };

    // --- Metrics -------------------------------------------------------------------------------------------
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
    new MetricFilter(this, 'LoginThrottledFilter', {
      logGroup: props.issuerLogGroup,
      filterPattern: FilterPattern.all(
        FilterPattern.stringValue('$.message', '=', LOG_MESSAGES.loginRefused),
        FilterPattern.any(
          FilterPattern.stringValue('$.reason', '=', 'source_throttled' satisfies LoginRefusal),
          FilterPattern.stringValue('$.reason', '=', 'account_backoff' satisfies LoginRefusal),
        ),
      ),
      metricNamespace: METRICS_NAMESPACE,
      metricName: AUTH_METRIC_NAMES.loginThrottled,
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
    new MetricFilter(this, 'IssuerNotReadyFilter', {
      logGroup: props.issuerLogGroup,
      filterPattern: FilterPattern.stringValue('$.message', '=', LOG_MESSAGES.issuerNotReady),
      metricNamespace: METRICS_NAMESPACE,
      metricName: AUTH_METRIC_NAMES.issuerNotReady,
      metricValue: '1',
      unit: Unit.COUNT,
    });
    new MetricFilter(this, 'AuthorizerDecisionsFilter', {
      logGroup: props.authorizerLogGroup,
      filterPattern: FilterPattern.stringValue('$.message', '=', LOG_MESSAGES.authorizerDecision),
      metricNamespace: METRICS_NAMESPACE,
      metricName: AUTH_METRIC_NAMES.authorizerDecisions,
      metricValue: '1',
      dimensions: { Decision: '$.decision' },
      unit: Unit.COUNT,
    });
    const metrics = new AuthMetrics({
      issuerFunction: props.issuerFunction,
      authorizerFunction: props.authorizerFunction,
      ...(props.rotationFunction === undefined ? {} : { rotationFunction: props.rotationFunction }),
      table: props.table,
      tableOperations: operations,
      api: props.api,
      webAclName: props.webAclName,
      region: Stack.of(this).region,
    });
    this.metrics = metrics;

    // --- Authorizer ----------------------------------------------------------------------------------------
    // Lambda Errors also counts every deliberate throw: API Gateway's 'Unauthorized' (401) and the dependency
    // failure (503), each preceded by a decision line (lambda/authorizer/handler.ts). What remains is the
    // failures that never decided. 2 of 3 periods, because the log-derived counts can trail the Lambda metric.
    // Every term is FILLed with 0: a period without a data point in one series still has a value.
    // https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/using-metric-math.html
    alarm('AuthorizerErrors', {
      metric: new MathExpression({
        expression: 'FILL(errors, 0) - FILL(unauthorized, 0) - FILL(failures, 0)',
        usingMetrics: {
          errors: metrics.authorizerErrors,
          unauthorized: metrics.authorizerDecisions('unauthorized'),
          failures: metrics.authorizerDecisions('error'),
        },
        label: 'Authorizer errors without a decision line',
        period: METRIC_PERIOD,
      }),
      threshold: thresholds.authorizerErrors,
      evaluationPeriods: 3,
      datapointsToAlarm: 2,
      description:
        'The authorizer is failing without logging a decision (a crash, a time-out or an init failure), so ' +
        'protected routes answer 5xx.',
    });
    alarm('AuthorizerThrottles', {
      metric: metrics.authorizerThrottles,
      threshold: thresholds.authorizerThrottles,
      description:
        'Lambda is throttling the authorizer, and each throttled invocation fails a protected request.',
    });
    alarm('AuthorizerLatency', {
      metric: metrics.authorizerP99Duration,
      threshold: thresholds.authorizerP99LatencyMs,
      comparison: ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 3,
      description:
        "The authorizer's p99 duration stayed above the threshold (ms) for 15 minutes, slowing every " +
        'protected request.',
    });
    alarm('AuthorizerFailures', {
      metric: metrics.authorizerDecisions('error'),
      threshold: thresholds.authorizerFailures,
      description: 'The authorizer could not read sessions from DynamoDB and failed closed, answering 503.',
    });

    // --- Issuer and API ------------------------------------------------------------------------------------
    alarm('IssuerServerErrors', {
      metric: sumOfFilled(
        { responses: metrics.issuerServerErrors, crashes: metrics.issuerErrors },
        'Issuer 5xx responses and invocation errors',
      ),
      threshold: thresholds.issuer5xx,
      ...ANY_OF_LAST_TWO,
      description:
        'The issuer answered 5xx (DynamoDB or Secrets Manager failed) or crashed, so logins and refreshes fail.',
    });
    // The first rotation after a deployment replaces the placeholder keys in up to a minute, and the issuer
    // answers 503 "not ready" meanwhile: an expected window, which touches at most 2 of the 5-minute periods.
    // Only 3 consecutive periods with not-ready answers (10 minutes and more) fire; IssuerServerErrors already
    // reports each 503 at once.
    alarm('IssuerNotReady', {
      metric: metrics.issuerNotReady,
      threshold: thresholds.issuerNotReady,
      evaluationPeriods: 3,
      description:
        'The issuer kept answering 503 because its signing keys or its table were not usable, beyond the first ' +
        'rotation after a deployment.',
    });
    alarm('ApiServerErrors', {
      metric: metrics.apiServerErrors,
      threshold: thresholds.api5xx,
      description:
        'The REST API answered 5xx, from the authorizer, the issuer, a backend or API Gateway itself.',
    });
    alarm('LoginFailures', {
      metric: metrics.loginFailures,
      threshold: thresholds.loginFailuresPer5Min,
      description:
        'Many password logins failed (POST /auth/login answered 401): credential stuffing, password spraying ' +
        'or a broken client.',
    });
    alarm('LoginThrottled', {
      metric: metrics.loginThrottled,
      threshold: thresholds.loginThrottledPer5Min,
      description:
        'Many logins were refused by the login throttle before any password check (429): a guessing attack ' +
        'on one or more accounts.',
    });
    alarm('RefreshTokenReuse', {
      metric: metrics.refreshTokenReuse,
      threshold: thresholds.refreshTokenReuse,
      description:
        'A refresh token was presented again after its rotation, a likely theft, and its session is revoked.',
    });
    alarm('SecurityEventsUnpublished', {
      metric: metrics.securityEventsUnpublished,
      threshold: thresholds.securityEventsUnpublished,
      description:
        'The issuer could not put a security event (a refresh-token reuse) on its event bus, so the rules ' +
        'that act on it (a page, an account lock) did not run for it.',
    });

    // --- Session table -------------------------------------------------------------------------------------
    alarm('TableThrottles', {
      metric: metrics.tableThrottles,
      threshold: thresholds.dynamoThrottles,
      ...ANY_OF_LAST_TWO,
      description:
        'DynamoDB throttled requests to the session table, so the authorizer fails closed and logins and ' +
        'refreshes fail.',
    });
    alarm('TableSystemErrors', {
      metric: metrics.tableSystemErrors,
      threshold: thresholds.dynamoSystemErrors,
      ...ANY_OF_LAST_TWO,
      description: 'DynamoDB answered the session table with system errors (HTTP 500) in this region.',
    });
    for (const receivingRegion of replicaRegions) {
      alarm(`ReplicationLatency-${receivingRegion}`, {
        metric: metrics.replicationLatency(receivingRegion),
        threshold: thresholds.replicationLatencyMs,
        comparison: ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 3,
        description:
          `Replication of the session table from this region to ${receivingRegion} stayed slower than the ` +
          'threshold (ms) for 15 minutes, so revocations reach that region beyond the revocation budget.',
      });
    }

    // --- Keys ----------------------------------------------------------------------------------------------
    if (metrics.rotationErrors !== undefined) {
      alarm('RotationErrors', {
        metric: metrics.rotationErrors,
        threshold: thresholds.rotationErrors,
        description:
          'A signing-key rotation step failed, and the signing key ages while Secrets Manager retries.',
      });
    }
    if (metrics.signingKeysReplicaStale !== undefined) {
      alarm('SigningKeysReplicaStale', {
        metric: metrics.signingKeysReplicaStale,
        threshold: thresholds.signingKeysReplicaStale,
        description:
          "After a rotation, a replica region's copy of the signing keys could not be confirmed in sync, so " +
          "that region's issuer may be working from an old key set.",
      });
    }
    const keyAgeLimit = props.keyRotationInterval.plus(thresholds.signingKeyAgeGrace);
    alarm('SigningKeyAge', {
      metric: metrics.signingKeyAge,
      threshold: keyAgeLimit.toSeconds({ integral: false }),
      comparison: ComparisonOperator.GREATER_THAN_THRESHOLD,
      // A gauge, reported only when an issuer loads the key set or a rotation finishes: an hour with no report
      // says nothing about the key, so the alarm keeps its state (a quiet night neither pages nor clears it).
      treatMissingData: TreatMissingData.IGNORE,
      description:
        `The signing key is older than the rotation interval plus its grace (${keyAgeLimit.toHumanString()}), ` +
        'so rotation has stopped.',
    });

    // --- Edge ----------------------------------------------------------------------------------------------
    alarm('WafBlockedRequests', {
      metric: metrics.wafBlockedRequests,
      threshold: thresholds.wafBlocksPer5Min,
      description:
        'The web ACL blocked many requests: an attack on the auth endpoints, or legitimate clients caught by ' +
        'a rate rule.',
    });

    this.alarms = alarms;
    this.dashboard = new AuthDashboard(this, 'Dashboard', { metrics, alarms, replicaRegions });
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

/**
 * Fire when either of the last 2 periods reaches the threshold. For an alarm on a FILLed expression, where a
 * late data point would otherwise be replaced by the FILL value and never evaluated: CloudWatch's
 * documentation of FILL gives "M out of N" as the way around it.
 * https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/using-metric-math.html
 */
const ANY_OF_LAST_TWO = { evaluationPeriods: 2, datapointsToAlarm: 1 } as const;

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
  return FilterPattern.all(
    FilterPattern.stringValue('$.message', '=', LOG_MESSAGES.issuerRequest),
    ...conditions,
  );
}

/**
 * The anchor of an alarm's section in docs/operations.md, as GitHub makes it from the heading (the alarm
 * name without its region): lower case, without punctuation, spaces as hyphens.
 */
export function operationsSection(name: AuthAlarmName): string {
  const heading = name.replace(/-.*$/, '');
  return heading
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-');
}

/** Merges the given thresholds over the defaults and checks each one. */
function resolveThresholds(props: AuthAlarmThresholds): Required<AuthAlarmThresholds> {
  const resolved: Record<string, number | Duration> = {};
  for (const [name, fallback] of Object.entries(AUTH_ALARM_DEFAULTS)) {
    const value = (props as Record<string, number | Duration | undefined>)[name] ?? fallback;
    if (typeof value === 'number') requirePositiveNumber(OWNER, name, value);
    else requirePositiveDuration(OWNER, name, value);
    resolved[name] = value;
  }
  return resolved as unknown as Required<AuthAlarmThresholds>;
}

/** Replica regions name alarms: literal, distinct, and never the stack's own region. */
function validateReplicaRegions(regions: readonly string[], ownRegion: string): readonly string[] {
  const seen = new Set<string>();
  regions.forEach((region, index) => {
    const setting = `replicaRegions[${index}]`;
    if (Token.isUnresolved(region)) {
      throw new InvalidValueError(OWNER, setting, region, 'a literal region name (it names an alarm)');
    }
    if (!Token.isUnresolved(ownRegion) && region === ownRegion) {
      throw new InvalidValueError(
        OWNER,
        setting,
        region,
        `one of the global table's other regions, not the stack's own (${ownRegion})`,
      );
    }
    if (seen.has(region)) throw new InvalidValueError(OWNER, setting, region, 'each region once');
    seen.add(region);
  });
  return regions;
}

/** The table alarms sum one metric per operation: 1 to 10 of them. */
function validateOperations(operations: readonly Operation[]): readonly Operation[] {
  if (operations.length < 1 || operations.length > MAX_ALARM_METRICS) {
    throw new InvalidValueError(
      OWNER,
      'tableOperations',
      new DescribedValue(`${operations.length} operations (${operations.join(', ')})`),
      `1 to ${MAX_ALARM_METRICS} operations (a CloudWatch metric math alarm reads at most ${MAX_ALARM_METRICS} metrics)`,
    );
  }
  return operations;
}
