/** A CloudWatch metric unit this platform uses. */
export type MetricUnit = 'Seconds' | 'Milliseconds' | 'Count';

/** The CloudWatch namespace of every metric the platform publishes. */
export const METRICS_NAMESPACE = 'HybridAuth';

/**
 * The name of every custom metric in {@link METRICS_NAMESPACE}: those the functions publish in Embedded
 * Metric Format, and those the alarms derive from log lines with metric filters (lib/auth-alarms.ts).
 */
export const METRIC_NAMES = {
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

/**
 * Publishes one metric in CloudWatch Embedded Metric Format: a JSON line on stdout that CloudWatch Logs
 * turns into a metric, with no API call and no extra latency. Dimensions are flat strings.
 */
export function emitMetric(
  name: string,
  value: number,
  unit: MetricUnit,
  dimensions: Readonly<Record<string, string>> = {},
  write: (line: string) => void = (line) => process.stdout.write(`${line}\n`),
): void {
  write(
    JSON.stringify({
      _aws: {
        Timestamp: Date.now(),
        CloudWatchMetrics: [
          {
            Namespace: METRICS_NAMESPACE,
            Dimensions: [Object.keys(dimensions)],
            Metrics: [{ Name: name, Unit: unit }],
          },
        ],
      },
      ...dimensions,
      [name]: value,
    }),
  );
}
