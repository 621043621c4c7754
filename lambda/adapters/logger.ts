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
} as const;

/** One structured JSON log line per call. */
export interface Logger {
  info(message: string, fields?: Readonly<Record<string, LogValue>>): void;
  warn(message: string, fields?: Readonly<Record<string, LogValue>>): void;
  error(message: string, fields?: Readonly<Record<string, LogValue>>): void;
}

/** Field names that never reach a log line, whatever a caller passes. */
const REDACTED = /token|secret|password|authorization|cookie|^d$|key$/i;

/**
 * The one logger of the runtime code: JSON lines on stdout (CloudWatch Logs in Lambda), flat fields only,
 * with a last-line defence that drops any field whose name suggests a credential.
 */
export function createLogger(
  service: string,
  write: (line: string) => void = (line) => process.stdout.write(`${line}\n`),
): Logger {
  const log = (level: string, message: string, fields: Readonly<Record<string, LogValue>> = {}) => {
    const line: Record<string, LogValue> = { level, service, message, time: new Date().toISOString() };
    for (const [name, value] of Object.entries(fields)) {
      if (value !== undefined) line[name] = REDACTED.test(name) ? '[redacted]' : value;
    }
    write(JSON.stringify(line));
  };
  return {
    info: (message, fields) => log('info', message, fields),
    warn: (message, fields) => log('warn', message, fields),
    error: (message, fields) => log('error', message, fields),
  };
}
