import { randomUUID } from 'node:crypto';
import { AwsJsonError, serveAwsJson } from './aws-json-server';

/** One event an event bus of the stand-in took, as a rule would see it (EventBridge's event envelope). */
export interface RecordedEvent {
  readonly id: string;
  readonly 'detail-type': string;
  readonly source: string;
  readonly account: string;
  /** ISO 8601: the entry's `Time`, or when the stand-in took it. */
  readonly time: string;
  readonly region: string;
  readonly resources: readonly string[];
  readonly detail: Record<string, unknown>;
  /** The bus that took it (not part of EventBridge's envelope). */
  readonly eventBusName: string;
}

/** Settings of {@link serveEventBridge}. */
export interface EventBridgeServerOptions {
  /** The buses that exist besides `default`. @default none */
  readonly eventBuses?: readonly string[];
  /** The region and account the events say they come from. @default 'us-east-1', '000000000000' */
  readonly region?: string;
  readonly account?: string;
  /** Called with each event a bus takes, after it is recorded (the local platform writes it to a file). */
  readonly onEvent?: (event: RecordedEvent) => void;
  /** How many events {@link EventBridgeServer.events} keeps; older ones are dropped from it. @default 1000 */
  readonly maxEvents?: number;
}

/** A running EventBridge endpoint. */
export interface EventBridgeServer {
  /** The URL for `AWS_ENDPOINT_URL_EVENTBRIDGE` (or a client's `endpoint`). */
  readonly endpoint: string;
  /** The events taken so far, oldest first: the last `maxEvents` of them. */
  readonly events: readonly RecordedEvent[];
  /** Fails the next `count` entries (whatever their content) with `errorCode`, as an entry fails in AWS. */
  failNextEntries(errorCode: string, count?: number): void;
  /** Answers nothing to the next `count` requests (holds them open): a bus that does not answer. */
  holdNextRequests(count?: number): void;
  close(): Promise<void>;
}

/**
 * PutEvents limits, from the API reference and the user guide: at most 10 entries a request; the entries'
 * total size, counted as EventBridge counts it (Time 14 bytes when given; Source, DetailType, Detail and each
 * Resource their UTF-8 bytes), under 256 KB; DetailType at most 128 characters.
 * https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEvents.html
 * https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-putevent-size.html
 */
const PUT_EVENTS_LIMITS = {
  maxEntries: 10,
  maxTotalBytes: 256 * 1024,
  maxDetailTypeLength: 128,
} as const;

interface Entry {
  readonly Source?: unknown;
  readonly DetailType?: unknown;
  readonly Detail?: unknown;
  readonly EventBusName?: unknown;
  readonly Resources?: unknown;
  readonly Time?: unknown;
}

type ResultEntry = { EventId: string } | { ErrorCode: string; ErrorMessage: string };

/**
 * A stateful stand-in for Amazon EventBridge's PutEvents, served over HTTP with the service's wire protocol
 * (AWS JSON 1.1: `POST /`, `X-Amz-Target: AWSEvents.PutEvents`, JSON in and out, `Time` as epoch seconds,
 * errors as `{"__type", "message"}` with status 400), so that code which builds its own `EventBridgeClient`
 * (a synthesized Lambda bundle) runs unchanged against it through `AWS_ENDPOINT_URL_EVENTBRIDGE`.
 *
 * It validates as the API does: the request fails whole (`ValidationException`) with no entries, more than
 * 10, or entries over 256 KB in total, and when no entry has all of Source, DetailType and Detail; an entry
 * without one of them fails alone (`InvalidArgument`), as does a Detail that is not a JSON object
 * (`MalformedDetail`), each with an `ErrorCode` in its place of `Entries` and counted in `FailedEntryCount`
 * (https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEventsRequestEntry.html; the entry codes
 * are those of https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEventsResultEntry.html, and
 * the request's `ValidationException` and its size message are what EventBridge answers, as reported in
 * https://github.com/awslabs/aws-service-catalog-puppet/issues/563).
 *
 * An entry for a bus that does not exist is accepted and dropped, as EventBridge does: it answers with an
 * `EventId` and `FailedEntryCount` 0, and the event reaches no rule (reported against the SDKs and the CLI
 * from 2022 to 2025: https://github.com/aws/aws-sdk/issues/186, https://github.com/aws/aws-cli/issues/9186).
 * So a wrong bus name is a quiet failure that no answer shows; the stand-in does not pretend otherwise.
 * Rules and targets are not modelled: every event a bus that exists takes is recorded. Requests are not
 * authenticated: it listens on the loopback only.
 */
export async function serveEventBridge(options: EventBridgeServerOptions = {}): Promise<EventBridgeServer> {
  const region = options.region ?? 'us-east-1';
  const account = options.account ?? '000000000000';
  const buses = new Set(['default', ...(options.eventBuses ?? [])]);
  const events: RecordedEvent[] = [];
  const maxEvents = options.maxEvents ?? 1000;
  const failures: string[] = [];
  let held = 0;

  const putEvents = (input: unknown): { FailedEntryCount: number; Entries: ResultEntry[] } => {
    const entries = (input as { Entries?: unknown } | null)?.Entries;
    if (!Array.isArray(entries) || entries.length < 1 || entries.length > PUT_EVENTS_LIMITS.maxEntries) {
      throw new AwsJsonError(
        'ValidationException',
        `1 validation error detected: Value at 'entries' failed to satisfy constraint: Member must have length between 1 and ${PUT_EVENTS_LIMITS.maxEntries}`,
      );
    }
    const typed = entries as Entry[];
    const total = typed.reduce((sum, entry) => sum + entrySize(entry), 0);
    if (total >= PUT_EVENTS_LIMITS.maxTotalBytes) {
      throw new AwsJsonError(
        'ValidationException',
        'Total size of the entries in the request is over the limit.',
      );
    }
    if (!typed.some(complete)) {
      throw new AwsJsonError(
        'ValidationException',
        'Parameters Source, DetailType and Detail are required in at least one entry.',
      );
    }
    const results = typed.map((entry): ResultEntry => {
      const failure = failures.shift();
      if (failure !== undefined) return { ErrorCode: failure, ErrorMessage: 'failed by the stand-in' };
      if (!complete(entry)) {
        return {
          ErrorCode: 'InvalidArgument',
          ErrorMessage: 'Parameter(s) Source, DetailType or Detail is missing.',
        };
      }
      if ((entry.DetailType as string).length > PUT_EVENTS_LIMITS.maxDetailTypeLength) {
        return { ErrorCode: 'InvalidArgument', ErrorMessage: 'Parameter DetailType is not valid.' };
      }
      const detail = jsonObject(entry.Detail as string);
      if (detail === undefined) return { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' };
      const event: RecordedEvent = {
        id: randomUUID(),
        'detail-type': entry.DetailType as string,
        source: entry.Source as string,
        account,
        time: new Date(typeof entry.Time === 'number' ? entry.Time * 1000 : Date.now()).toISOString(),
        region,
        resources: Array.isArray(entry.Resources) ? entry.Resources.map(String) : [],
        detail,
        eventBusName: busName(entry.EventBusName),
      };
      if (!buses.has(event.eventBusName)) return { EventId: event.id }; // accepted, and dropped
      events.push(event);
      if (events.length > maxEvents) events.splice(0, events.length - maxEvents);
      options.onEvent?.(event);
      return { EventId: event.id };
    });
    return { FailedEntryCount: results.filter((result) => 'ErrorCode' in result).length, Entries: results };
  };

  const { endpoint, close } = await serveAwsJson({
    targetPrefix: 'AWSEvents',
    operations: { PutEvents: putEvents },
    internalErrorType: 'InternalException',
    hold: () => {
      if (held === 0) return false;
      held--;
      return true;
    },
  });
  return {
    endpoint,
    events,
    failNextEntries: (errorCode, count = 1) => {
      for (let i = 0; i < count; i++) failures.push(errorCode);
    },
    holdNextRequests: (count = 1) => {
      held += count;
    },
    close,
  };
}

/** Whether an entry has all three of Source, DetailType and Detail, as non-empty strings. */
function complete(entry: Entry): boolean {
  return [entry.Source, entry.DetailType, entry.Detail].every(
    (value) => typeof value === 'string' && value !== '',
  );
}

/** An entry's size as EventBridge counts it (user guide, "Calculating PutEvents event entry size"). */
function entrySize(entry: Entry): number {
  const bytes = (value: unknown) => (typeof value === 'string' ? Buffer.byteLength(value, 'utf8') : 0);
  const resources = Array.isArray(entry.Resources) ? entry.Resources : [];
  return (
    (entry.Time === undefined ? 0 : 14) +
    bytes(entry.Source) +
    bytes(entry.DetailType) +
    bytes(entry.Detail) +
    resources.reduce((sum: number, resource: unknown) => sum + bytes(resource), 0)
  );
}

/** The bus an entry names (a name or an ARN `...:event-bus/<name>`), `default` when it names none. */
function busName(value: unknown): string {
  if (typeof value !== 'string' || value === '') return 'default';
  const arn = /^arn:[^:]+:events:[^:]*:[^:]*:event-bus\/(.+)$/.exec(value);
  return arn?.[1] ?? value;
}

/** The JSON object a Detail holds, or `undefined` when it is not JSON or not an object. */
function jsonObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}
