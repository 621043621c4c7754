import { Duration } from 'aws-cdk-lib';
import {
  type Alarm,
  AlarmStatusWidget,
  Dashboard,
  GraphWidget,
  type IMetric,
  type IWidget,
} from 'aws-cdk-lib/aws-cloudwatch';
import type { Construct } from 'constructs';
import type { AuthAlarmName } from './auth-alarms';
import type { AuthMetrics } from './auth-metrics';

/** Properties of {@link AuthDashboard}. */
export interface AuthDashboardProps {
  /** The metrics to graph. */
  readonly metrics: AuthMetrics;
  /** The alarms: their states in the first row, and each one's threshold on the graph of its metric. */
  readonly alarms: Readonly<Partial<Record<AuthAlarmName, Alarm>>>;
  /**
   * The regions replication is graphed to (the `ReplicationLatency-<region>` alarms' regions).
   * @default [] (no replication graph)
   */
  readonly replicaRegions?: readonly string[];
  /**
   * The time range the dashboard opens with.
   * @default Duration.hours(12)
   */
  readonly defaultInterval?: Duration;
}

/**
 * The platform's dashboard for one region: the state of every alarm, then one row per concern (authorizer;
 * issuer, its not-ready answers, login failures and refresh-token reuse; API and WAF; session table and
 * replication; signing keys and, where the rotation function runs, replicas of them not in sync), each graph
 * annotated with the threshold of its alarm.
 *
 * @example
 * new AuthDashboard(this, 'Dashboard', { metrics, alarms: authAlarms.alarms, replicaRegions: ['us-east-2'] });
 */
export class AuthDashboard extends Dashboard {
  public constructor(scope: Construct, id: string, props: AuthDashboardProps) {
    super(scope, id, {
      defaultInterval: props.defaultInterval ?? Duration.hours(12),
      widgets: rows(props),
    });
  }
}

function rows(props: AuthDashboardProps): IWidget[][] {
  const { metrics, alarms } = props;
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
    ...(props.replicaRegions ?? []).map((region): AuthAlarmName => `ReplicationLatency-${region}`),
  );
  return [
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
        (['allow', 'deny', 'unauthorized', 'error'] as const).map((d) =>
          metrics.authorizerDecisions(d).with({ label: d }),
        ),
        pick('AuthorizerFailures'),
      ),
      graph(
        'Authorizer invocations, errors, throttles',
        [metrics.authorizerInvocations, metrics.authorizerErrors, metrics.authorizerThrottles],
        pick('AuthorizerThrottles'),
      ),
      graph(
        'Authorizer duration (ms)',
        [metrics.authorizerP50Duration, metrics.authorizerP99Duration],
        pick('AuthorizerLatency'),
      ),
    ],
    [
      graph(
        'Issuer invocations, 5xx, errors',
        [metrics.issuerInvocations, metrics.issuerServerErrors, metrics.issuerErrors],
        pick('IssuerServerErrors'),
        6,
      ),
      graph('Issuer not ready (503)', [metrics.issuerNotReady], pick('IssuerNotReady'), 6),
      graph('Login failures (401)', [metrics.loginFailures], pick('LoginFailures'), 6),
      graph('Logins throttled (429)', [metrics.loginThrottled], pick('LoginThrottled'), 6),
      graph('Refresh-token reuse', [metrics.refreshTokenReuse], pick('RefreshTokenReuse'), 6),
    ],
    [
      graph(
        'API requests and errors',
        [metrics.apiRequests, metrics.apiClientErrors, metrics.apiServerErrors],
        pick('ApiServerErrors'),
      ),
      graph('API latency p99 (ms)', [metrics.apiP99Latency, metrics.apiP99IntegrationLatency]),
      graph(
        'WAF requests',
        [metrics.wafBlockedRequests, metrics.wafAllowedRequests],
        pick('WafBlockedRequests'),
      ),
    ],
    [
      graph('Session table throttles', [metrics.tableThrottles], pick('TableThrottles')),
      graph('Session table system errors', [metrics.tableSystemErrors], pick('TableSystemErrors')),
      ...(replicationAlarms.length > 0
        ? [
            graph(
              'Replication latency from this region (ms)',
              replicationAlarms.map((a) => a.metric),
              replicationAlarms.slice(0, 1),
            ),
          ]
        : []),
    ],
    [
      new GraphWidget({
        title: 'Signing key age (s), rotation errors',
        left: [metrics.signingKeyAge],
        leftAnnotations: pick('SigningKeyAge').map((a) => a.toAnnotation()),
        right: metrics.rotationErrors ? [metrics.rotationErrors] : [],
        width: 12,
        height: 6,
      }),
      ...(metrics.signingKeysReplicaStale
        ? [
            graph(
              'Signing-key replicas not in sync',
              [metrics.signingKeysReplicaStale],
              pick('SigningKeysReplicaStale'),
              12,
            ),
          ]
        : []),
    ],
  ];
}
