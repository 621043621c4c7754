import { Duration } from 'aws-cdk-lib';
import type { RestApiBase } from 'aws-cdk-lib/aws-apigateway';
import { type IMetric, MathExpression, Metric, Stats } from 'aws-cdk-lib/aws-cloudwatch';
import type { ITableV2, Operation } from 'aws-cdk-lib/aws-dynamodb';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { METRIC_NAMES, METRICS_NAMESPACE, SERVICES } from '../lambda/adapters/metrics';

/**
 * Names of the custom metrics the platform publishes or derives from its logs (namespace `HybridAuth`),
 * declared with the code that publishes them (lambda/adapters/metrics.ts).
 */
export const AUTH_METRIC_NAMES = METRIC_NAMES;

/** The `Decision` dimension of the authorizer decision metric: the `decision` of a decision log line. */
export type AuthorizerDecision = 'allow' | 'deny' | 'unauthorized' | 'error';

/** The period of every count and latency the alarms and the dashboard read (the key age is hourly). */
export const METRIC_PERIOD = Duration.minutes(5);

/** What {@link AuthMetrics} reads its metrics from. */
export interface AuthMetricsSources {
  /** The token issuer function. */
  readonly issuerFunction: IFunction;
  /** The REQUEST authorizer function. */
  readonly authorizerFunction: IFunction;
  /** The Secrets Manager rotation function. @default none: no rotation metric */
  readonly rotationFunction?: IFunction;
  /** The session table. */
  readonly table: ITableV2;
  /** The DynamoDB operations summed by the table throttle and system-error metrics (at most 10). */
  readonly tableOperations: readonly Operation[];
  /** The REST API (its `ApiName` dimension). */
  readonly api: RestApiBase;
  /**
   * The `WebACL` dimension of the web ACL's `AWS/WAFV2` metrics: the web ACL's name, which `AuthWebAcl` also
   * gives as its CloudWatch metric name ({@link AuthWebAcl.name}).
   */
  readonly webAclName: string;
  /** The region of the web ACL (the `Region` dimension of its metrics): the stack's. */
  readonly region: string;
}

/**
 * Every metric the platform's alarms and dashboard read, defined once: the L2 `metricXxx()` helpers of the
 * functions, the table and the API, the web ACL's `AWS/WAFV2` metrics, and the custom `HybridAuth` metrics
 * ({@link AUTH_METRIC_NAMES}). Counts are 5-minute sums.
 *
 * @example
 * const metrics = new AuthMetrics({ issuerFunction, authorizerFunction, table, tableOperations, api, webAclName, region });
 * new Alarm(this, 'ReuseAlarm', { metric: metrics.refreshTokenReuse, threshold: 1, evaluationPeriods: 1 });
 */
export class AuthMetrics {
  /** Authorizer invocations. */
  public readonly authorizerInvocations: IMetric;
  /** Authorizer invocation errors (Lambda `Errors`: also every deliberate `Unauthorized` throw). */
  public readonly authorizerErrors: IMetric;
  /** Throttled authorizer invocations. */
  public readonly authorizerThrottles: IMetric;
  /** Authorizer duration, p50. */
  public readonly authorizerP50Duration: IMetric;
  /** Authorizer duration, p99. */
  public readonly authorizerP99Duration: IMetric;
  /** Issuer invocations. */
  public readonly issuerInvocations: IMetric;
  /** Issuer invocation errors (crashes, time-outs). */
  public readonly issuerErrors: IMetric;
  /** Issuer responses with status >= 500 (from the issuer log). */
  public readonly issuerServerErrors: IMetric;
  /** Failed password logins, `POST /auth/login` answered 401 (from the issuer log). */
  public readonly loginFailures: IMetric;
  /** Logins refused by the login throttle, 5-minute sum. */
  public readonly loginThrottled: IMetric;
  /** Requests the issuer could not serve because it was not ready, each answered 503 (from the issuer log). */
  public readonly issuerNotReady: IMetric;
  /** Detected refresh-token reuses. */
  public readonly refreshTokenReuse: IMetric;
  /** Security events the issuer could not put on its event bus. */
  public readonly securityEventsUnpublished: IMetric;
  /** The age of the current signing key in seconds, hourly maximum. */
  public readonly signingKeyAge: IMetric;
  /** Rotation function errors, if there is a rotation function. */
  public readonly rotationErrors?: IMetric;
  /**
   * Replica regions whose copy of the signing keys the rotation function could not confirm in sync after a
   * rotation, if there is a rotation function (it publishes them).
   */
  public readonly signingKeysReplicaStale?: IMetric;
  /** Throttled requests on the session table, summed over the table operations, each FILLed with 0. */
  public readonly tableThrottles: IMetric;
  /** DynamoDB system errors on the session table, summed over the table operations, each FILLed with 0. */
  public readonly tableSystemErrors: IMetric;
  /** API requests. */
  public readonly apiRequests: IMetric;
  /** API 4XX responses. */
  public readonly apiClientErrors: IMetric;
  /** API 5XX responses. */
  public readonly apiServerErrors: IMetric;
  /** API latency, p99. */
  public readonly apiP99Latency: IMetric;
  /** API integration latency, p99. */
  public readonly apiP99IntegrationLatency: IMetric;
  /** Requests the web ACL blocked, all rules. */
  public readonly wafBlockedRequests: IMetric;
  /** Requests the web ACL allowed, all rules. */
  public readonly wafAllowedRequests: IMetric;

  private readonly table: ITableV2;

  public constructor(sources: AuthMetricsSources) {
    const sum = { statistic: Stats.SUM, period: METRIC_PERIOD };
    const p = (percentile: number) => ({ statistic: Stats.p(percentile), period: METRIC_PERIOD });
    const { authorizerFunction, issuerFunction, api, table } = sources;
    this.table = table;
    this.authorizerInvocations = authorizerFunction.metricInvocations(sum);
    this.authorizerErrors = authorizerFunction.metricErrors(sum);
    this.authorizerThrottles = authorizerFunction.metricThrottles(sum);
    this.authorizerP50Duration = authorizerFunction.metricDuration(p(50));
    this.authorizerP99Duration = authorizerFunction.metricDuration(p(99));
    this.issuerInvocations = issuerFunction.metricInvocations(sum);
    this.issuerErrors = issuerFunction.metricErrors(sum);
    this.issuerServerErrors = custom(AUTH_METRIC_NAMES.issuerServerErrors, Stats.SUM, METRIC_PERIOD);
    this.loginFailures = custom(AUTH_METRIC_NAMES.loginFailures, Stats.SUM, METRIC_PERIOD);
    this.loginThrottled = custom(AUTH_METRIC_NAMES.loginThrottled, Stats.SUM, METRIC_PERIOD);
    this.issuerNotReady = custom(AUTH_METRIC_NAMES.issuerNotReady, Stats.SUM, METRIC_PERIOD);
    // Published in EMF by the issuer through Powertools, whose `service` dimension names the function. Every
    // region's issuer publishes the key age on each key-set load, so it is the series that never goes quiet.
    const issuer = { service: SERVICES.issuer };
    this.refreshTokenReuse = custom(AUTH_METRIC_NAMES.refreshTokenReuse, Stats.SUM, METRIC_PERIOD, issuer);
    this.securityEventsUnpublished = custom(
      AUTH_METRIC_NAMES.securityEventsUnpublished,
      Stats.SUM,
      METRIC_PERIOD,
      issuer,
    );
    this.signingKeyAge = custom(AUTH_METRIC_NAMES.signingKeyAge, Stats.MAXIMUM, Duration.hours(1), issuer);
    if (sources.rotationFunction !== undefined) {
      this.rotationErrors = sources.rotationFunction.metricErrors(sum);
      // Published in EMF by the rotation function, so only in the region where it runs (the primary).
      this.signingKeysReplicaStale = custom(
        AUTH_METRIC_NAMES.signingKeysReplicaStale,
        Stats.SUM,
        METRIC_PERIOD,
        {
          service: SERVICES.rotation,
        },
      );
    }
    // One series per operation (dimensions TableName and Operation), any of which can have no data point in a
    // period: every term is FILLed (the L2 `metric...ForOperations()` helpers add them bare).
    // https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/metrics-dimensions.html
    const perOperation = (metricName: string) =>
      Object.fromEntries(
        sources.tableOperations.map((operation) => [
          operation.toLowerCase(),
          table.metric(metricName, {
            ...sum,
            dimensionsMap: { TableName: table.tableName, Operation: operation },
          }),
        ]),
      );
    this.tableThrottles = sumOfFilled(
      perOperation('ThrottledRequests'),
      'Throttled requests, all operations',
    );
    this.tableSystemErrors = sumOfFilled(perOperation('SystemErrors'), 'System errors, all operations');
    this.apiRequests = api.metricCount(sum);
    this.apiClientErrors = api.metricClientError(sum);
    this.apiServerErrors = api.metricServerError(sum);
    this.apiP99Latency = api.metricLatency(p(99));
    this.apiP99IntegrationLatency = api.metricIntegrationLatency(p(99));
    this.wafBlockedRequests = wafMetric(sources.webAclName, 'BlockedRequests', sources.region);
    this.wafAllowedRequests = wafMetric(sources.webAclName, 'AllowedRequests', sources.region);
  }

  /** Authorizer decision log lines with this `decision`. */
  public authorizerDecisions(decision: AuthorizerDecision): Metric {
    return custom(AUTH_METRIC_NAMES.authorizerDecisions, Stats.SUM, METRIC_PERIOD, { Decision: decision });
  }

  /** Average replication latency of the session table from this region to `receivingRegion`, in ms. */
  public replicationLatency(receivingRegion: string): IMetric {
    return this.table.metric('ReplicationLatency', {
      dimensionsMap: { TableName: this.table.tableName, ReceivingRegion: receivingRegion },
      statistic: Stats.AVERAGE,
      period: METRIC_PERIOD,
    });
  }
}

/** A custom metric of the platform (namespace `HybridAuth`). */
function custom(
  metricName: string,
  statistic: string,
  period: Duration,
  dimensionsMap?: Record<string, string>,
): Metric {
  return new Metric({
    namespace: METRICS_NAMESPACE,
    metricName,
    statistic,
    period,
    ...(dimensionsMap ? { dimensionsMap } : {}),
  });
}

/**
 * `FILL(a, 0) + FILL(b, 0) + ...`: the sum of the given series, each missing value counted as 0, so that a
 * period in which only some (or none) of the series has data still has a value. CloudWatch metric math FILL
 * "fills the missing values of a time series".
 * https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/using-metric-math.html
 */
export function sumOfFilled(usingMetrics: Record<string, IMetric>, label: string): MathExpression {
  return new MathExpression({
    expression: Object.keys(usingMetrics)
      .map((id) => `FILL(${id}, 0)`)
      .join(' + '),
    usingMetrics,
    label,
    period: METRIC_PERIOD,
  });
}

/**
 * A regional web ACL metric over all its rules: dimensions `Region`, `Rule` (`ALL`) and `WebACL`, the
 * combination AWS WAF publishes for a regional web ACL.
 * https://docs.aws.amazon.com/waf/latest/developerguide/waf-metrics.html
 */
function wafMetric(webAclName: string, metricName: string, region: string): Metric {
  return new Metric({
    namespace: 'AWS/WAFV2',
    metricName,
    dimensionsMap: { WebACL: webAclName, Region: region, Rule: 'ALL' },
    statistic: Stats.SUM,
    period: METRIC_PERIOD,
  });
}
