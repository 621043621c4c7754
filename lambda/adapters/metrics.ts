/** A CloudWatch metric unit this platform uses. */
export type MetricUnit = 'Seconds' | 'Milliseconds' | 'Count';

/** The CloudWatch namespace of every metric the platform publishes. */
export const METRICS_NAMESPACE = 'HybridAuth';

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
