import type { LogItem } from '@aws-lambda-powertools/logger';
import { Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger';
import type { Context } from 'aws-lambda';

/** A structured log field value: no nested objects, so nothing (an event, a header) is logged wholesale. */
export type LogValue = string | number | boolean | null | undefined;

/**
 * The messages of the log lines that CloudWatch metric filters match (lib/auth-alarms.ts): the `message`
 * field of the line, with the fields each one carries.
 */
export const LOG_MESSAGES = {
  /** Issuer, one per request: `route` (`METHOD /path` of the route table), `status`, `latencyMs`. */
  issuerRequest: 'issuer request',
  /** Authorizer, one per decision: `route`, `decision` (allow, deny, unauthorized, error), `reason`, ... */
  authorizerDecision: 'authorizer decision',
  /** Issuer, one per security event (refresh-token reuse): `type`, `sid`, `sub`, `clientId`, generations. */
  securityEvent: 'security event',
  /**
   * Issuer, one per security event its event bus did not take (the PutEvents call failed or timed out, or the
   * entry came back with an `ErrorCode`): `type`, `sid`, `reason` (the error code). The event itself is in the
   * `security event` line before it.
   */
  securityEventNotPublished: 'security event not published',
  /**
   * Issuer, one per request it cannot serve because it is not ready: `cause` (the signing keys are still the
   * deployment placeholder or unreadable, or the table is unavailable). Answered 503 with `Retry-After`.
   */
  issuerNotReady: 'issuer not ready',
  /**
   * Issuer, one per refused login (wrong credentials, or throttled before any password work): `reason`
   * (`invalid_credentials`, `source_throttled`, `account_backoff`), `source` (the address), `userHash` (a
   * keyed hash of the normalised username, never the name), `knownDevice`, `retryAfterSeconds`.
   */
  loginRefused: 'login refused',
  /** Rotation function, one per replica region whose copy of the secret it cannot confirm in sync: `region`, `status`. */
  signingKeysReplicaStale: 'signing keys replica stale',
} as const;

/** One structured JSON log line per call. */
export interface Logger {
  info(message: string, fields?: Readonly<Record<string, LogValue>>): void;
  warn(message: string, fields?: Readonly<Record<string, LogValue>>): void;
  error(message: string, fields?: Readonly<Record<string, LogValue>>): void;
  /**
   * Adds the invocation's facts to every line until the next call: the Lambda context (`function_request_id`,
   * `cold_start`, ...) and the API Gateway request id as `correlation_id`, so a line finds its request.
   */
  forRequest(context: Context | undefined, correlationId: string | undefined): void;
}

/** Field names that never reach a log line, whatever a caller passes. */
const REDACTED = /token|secret|password|authorization|cookie|^d$|key$/i;

/** One line to stdout: CloudWatch Logs in Lambda, the terminal on one machine. */
const toStdout = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

/**
 * Powertools' logger printing each line with one call of `write`, every level to the same place: the same
 * printing in Lambda, on one machine and in tests. Powertools' own printing goes through a `console` of its
 * own (WARN and ERROR to stderr) and a JSON replacer that flat fields do not need (about 1 us more a line,
 * measured here); the line itself is the same (empty keys dropped, one line).
 */
class LineLogger extends PowertoolsLogger {
  /**
   * Where the logger under construction writes: Powertools prints the lines it logs while it is constructed
   * (its debug-sampling line with `POWERTOOLS_LOGGER_SAMPLE_RATE`, its warnings) from inside `super()`, before
   * `this` can hold anything. Construction is synchronous, so one module slot serves.
   */
  private static constructing: ((line: string) => void) | undefined;

  private write: ((line: string) => void) | undefined;

  public constructor(serviceName: string, write: (line: string) => void) {
    LineLogger.constructing = write;
    try {
      super({ serviceName });
    } finally {
      LineLogger.constructing = undefined;
    }
    this.write = write;
  }

  protected override printLog(_logLevel: number, log: LogItem): void {
    log.prepareForPrint();
    (this.write ?? LineLogger.constructing ?? toStdout)(JSON.stringify(log.getAttributes()));
  }
}

/**
 * The one logger of the runtime code, on Powertools for AWS Lambda's Logger: JSON lines with `level`,
 * `message`, `timestamp`, `service` and the caller's flat fields as top-level keys (what Logs Insights and
 * the metric filters read), the level from `POWERTOOLS_LOG_LEVEL` (default INFO). Flat fields only, with a
 * last-line defence that redacts any field whose name suggests a credential.
 *
 * @param write where lines go, one call per line. @default stdout (CloudWatch Logs in Lambda)
 */
export function createLogger(service: string, write: (line: string) => void = toStdout): Logger {
  const logger = new LineLogger(service, write);
  const clean = (fields: Readonly<Record<string, LogValue>> = {}) => {
    const kept: Record<string, string | number | boolean | null> = {};
    for (const [name, value] of Object.entries(fields)) {
      if (value !== undefined) kept[name] = REDACTED.test(name) ? '[redacted]' : value;
    }
    return kept;
  };
  return {
    info: (message, fields) => logger.info(message, clean(fields)),
    warn: (message, fields) => logger.warn(message, clean(fields)),
    error: (message, fields) => logger.error(message, clean(fields)),
    forRequest: (context, correlationId) => {
      logger.resetKeys();
      if (context !== undefined) logger.addContext(context);
      if (correlationId !== undefined) logger.setCorrelationId(correlationId);
    },
  };
}
