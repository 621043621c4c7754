import { Metrics, MetricUnit as PowertoolsUnit } from '@aws-lambda-powertools/metrics';

/** A CloudWatch metric unit this platform uses. */
export type MetricUnit = 'Seconds' | 'Milliseconds' | 'Count';

const POWERTOOLS_UNITS = {
  Seconds: PowertoolsUnit.Seconds,
  Milliseconds: PowertoolsUnit.Milliseconds,
  Count: PowertoolsUnit.Count,
} as const;

/** The CloudWatch namespace of every metric the platform publishes. */
export const METRICS_NAMESPACE = 'HybridAuth';

/**
 * The Powertools `service` of each function: the `service` key of its log lines and the `service` dimension
 * of the metrics it publishes (alarms select by it).
 */
export const SERVICES = { issuer: 'issuer', authorizer: 'authorizer', rotation: 'rotation' } as const;

/**
 * The name of every custom metric in {@link METRICS_NAMESPACE}: those the functions publish in Embedded
 * Metric Format, and those the alarms derive from log lines with metric filters (lib/auth-alarms.ts).
 */
export const METRIC_NAMES = {
  /** EMF, issuer (on each key-set load) and rotation function (after each rotation); Seconds, dimension `service`. */
  signingKeyAge: 'SigningKeyAgeSeconds',
  /** EMF, issuer, one per detected reuse; Count, dimension `service`. */
  refreshTokenReuse: 'RefreshTokenReuse',
  /** EMF, issuer, one per security event its event bus did not take (`security event not published`); Count, dimension `service`. */
  securityEventsUnpublished: 'SecurityEventsUnpublished',
  /** Metric filter on the issuer log: `POST /auth/login` answered 401. */
  loginFailures: 'LoginFailures',
  /** Metric filter on the issuer log: any response with status >= 500. */
  issuerServerErrors: 'IssuerServerErrors',
  /** Metric filter on the authorizer log: one per decision line, dimension `Decision` (allow/deny/unauthorized/error). */
  authorizerDecisions: 'AuthorizerDecisions',
  /**
   * Metric filter on the issuer log: one per `login refused` line whose reason is a throttle
   * (`source_throttled`, `account_backoff`): logins answered 429 before any password check.
   */
  loginThrottled: 'LoginThrottled',
  /** Metric filter on the issuer log: one per `issuer not ready` line (a 503 for want of keys or table). */
  issuerNotReady: 'IssuerNotReady',
  /** EMF, rotation function, one per replica region not confirmed in sync after a rotation; Count, dimension `service`. */
  signingKeysReplicaStale: 'SigningKeysReplicaStale',
} as const;

/** Publishes one metric now. */
export type MetricEmitter = (name: string, value: number, unit: MetricUnit) => void;

/**
 * Metrics on Powertools for AWS Lambda's Metrics: CloudWatch Embedded Metric Format, one JSON line per metric
 * published at once (no API call, no extra latency), validated by Powertools (names, units, values), in
 * {@link METRICS_NAMESPACE} with the Powertools `service` dimension (the function: `issuer`, `rotation`).
 *
 * @param write where the EMF lines go. @default stdout, which CloudWatch Logs turns into metrics in Lambda
 */
export function createMetrics(
  service: string,
  write: (line: string) => void = (line) => process.stdout.write(`${line}\n`),
): MetricEmitter {
  const metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: service });
  return (name, value, unit) => {
    metrics.addMetric(name, POWERTOOLS_UNITS[unit], value);
    write(JSON.stringify(metrics.serializeMetrics()));
    metrics.clearMetrics();
  };
}
