import {
  EventBridgeClient,
  type EventBridgeClientConfig,
  PutEventsCommand,
} from '@aws-sdk/client-eventbridge';
import type { Clock } from '../core/clock';
import type { SecurityEvent } from '../core/session-service';

/** The events' `source` unless configured: the default `name` of the platform (lib/config.ts). */
export const DEFAULT_SECURITY_EVENT_SOURCE = 'hybrid-auth';

/**
 * The `detail-type` of each security event on the bus, by the event's `type`: what an EventBridge rule
 * matches on (with the `source`, the configured `name`). A fork that adds an event type adds its name here.
 */
export const SECURITY_EVENT_DETAIL_TYPES = {
  refresh_token_reuse: 'Refresh token reuse detected',
} as const satisfies Record<SecurityEvent['type'], string>;

/**
 * The `detail` of a security event on the bus: the event as the session service reports it (never a token),
 * with the region whose issuer saw it and when (ISO 8601). The event's `sub` and `sid` are what a response
 * acts on: lock the account, move its watermark, end the session's siblings.
 */
export interface SecurityEventDetail extends SecurityEvent {
  /** The AWS region of the issuer that detected the event. */
  readonly region: string;
  /** When the issuer detected it, ISO 8601 (the event's `time` on the bus too). */
  readonly time: string;
}

/** What one publication came to; a publisher never rejects. */
export type PublishOutcome =
  | { readonly published: true; readonly eventId: string }
  | {
      readonly published: false;
      /** The service's error code (an entry's `ErrorCode`, or the request's error name). */
      readonly reason: string;
    };

/** Puts one security event on the bus; resolves with the outcome, never rejects. */
export type SecurityEventPublisher = (event: SecurityEvent) => Promise<PublishOutcome>;

/**
 * The time limits of the one PutEvents call a detected reuse makes. The refresh it belongs to waits for it
 * (a Lambda function's environment is frozen once it answers, so a publication left running could be lost),
 * so it is short: a regional PutEvents answers in tens of milliseconds; a connection not up in 500 ms or an
 * answer not back in 1 s is not coming, and one retry (the SDK's standard retry strategy) bounds the wait at
 * about 2 s. A time-out is a failed publication (logged, counted, alarmed), never a failed refresh.
 */
export const EVENTBRIDGE_TIMEOUTS = {
  connectionTimeoutMs: 500,
  requestTimeoutMs: 1000,
  maxAttempts: 2,
} as const;

/**
 * Per-entry error codes that the PutEvents reference lists as retryable; an entry that failed with one is
 * sent once more. https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEventsResultEntry.html
 */
const RETRYABLE_ENTRY_ERRORS: ReadonlySet<string> = new Set(['InternalFailure', 'ThrottlingException']);

/** What a caller may set on the client: where it points, never its time limits. */
export type EventBridgeClientOptions = Pick<EventBridgeClientConfig, 'endpoint' | 'region' | 'credentials'>;

/**
 * The issuer's EventBridge client, with {@link EVENTBRIDGE_TIMEOUTS} (the short form of the request handler
 * and `throwOnRequestTimeout`, as `createDynamoDbClient` explains). In Lambda it points at the region's
 * endpoint, or at `AWS_ENDPOINT_URL_EVENTBRIDGE` when that is set (the SDK's service-specific endpoint
 * variable for the service id `EventBridge`:
 * https://docs.aws.amazon.com/sdkref/latest/guide/ss-endpoints-table.html): the artifact test's stand-in.
 */
export function createEventBridgeClient(options: EventBridgeClientOptions = {}): EventBridgeClient {
  return new EventBridgeClient({
    ...options,
    maxAttempts: EVENTBRIDGE_TIMEOUTS.maxAttempts,
    requestHandler: {
      connectionTimeout: EVENTBRIDGE_TIMEOUTS.connectionTimeoutMs,
      requestTimeout: EVENTBRIDGE_TIMEOUTS.requestTimeoutMs,
      throwOnRequestTimeout: true,
    },
  });
}

/** Settings of {@link eventBridgeSecurityEventPublisher}. */
export interface EventBridgePublisherOptions {
  readonly client: EventBridgeClient;
  /** The bus's name or ARN (`default`: the account's default bus in the client's region). */
  readonly eventBusName: string;
  /** The events' `source`: the configured `name` (`hybrid-auth` unless a fork renames it). */
  readonly source: string;
  /** The region the events say they come from (the issuer's). */
  readonly region: string;
  readonly clock?: Clock;
}

/**
 * Publishes security events to an EventBridge bus with PutEvents, one entry per event: `source` the platform's
 * name, `detail-type` from {@link SECURITY_EVENT_DETAIL_TYPES}, `detail` a {@link SecurityEventDetail}.
 *
 * PutEvents can succeed as a request and still fail the entry: the answer then carries a `FailedEntryCount`
 * and the entry an `ErrorCode` instead of an `EventId` ("You must detect unsuccessful entries",
 * https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-putevents.html). Both kinds of failure are an
 * outcome here, `published: false` with the code; an entry failed with a retryable code is sent once more.
 */
export function eventBridgeSecurityEventPublisher(
  options: EventBridgePublisherOptions,
): SecurityEventPublisher {
  const clock = options.clock ?? Date.now;
  return async (event) => {
    const at = new Date(clock());
    const detail: SecurityEventDetail = { ...event, region: options.region, time: at.toISOString() };
    const command = new PutEventsCommand({
      Entries: [
        {
          EventBusName: options.eventBusName,
          Source: options.source,
          DetailType: SECURITY_EVENT_DETAIL_TYPES[event.type],
          Detail: JSON.stringify(detail),
          Time: at,
        },
      ],
    });
    let reason = 'unknown';
    for (let attempt = 1; attempt <= 2; attempt++) {
      try {
        const output = await options.client.send(command);
        const [entry] = output.Entries ?? [];
        if ((output.FailedEntryCount ?? 0) === 0 && entry?.EventId !== undefined) {
          return { published: true, eventId: entry.EventId };
        }
        reason = entry?.ErrorCode ?? 'NoEventId';
        if (!RETRYABLE_ENTRY_ERRORS.has(reason)) break;
      } catch (error) {
        // The SDK has already retried what it retries (time-outs, throttling, 5xx) within its attempts.
        return { published: false, reason: (error as Error)?.name ?? 'Error' };
      }
    }
    return { published: false, reason };
  };
}
