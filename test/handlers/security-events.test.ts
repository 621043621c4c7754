import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { DynamoDbJwksStore } from '../../lambda/adapters/dynamodb-jwks-store';
import { sdkSessionSubjectReader } from '../../lambda/adapters/dynamodb-sdk-batch-get';
import { DynamoDbSessionStore } from '../../lambda/adapters/dynamodb-session-store';
import { DynamoDbSubjectStore } from '../../lambda/adapters/dynamodb-subject-store';
import { DynamoDbUserStore } from '../../lambda/adapters/dynamodb-user-store';
import { createLogger, LOG_MESSAGES } from '../../lambda/adapters/logger';
import { METRIC_NAMES } from '../../lambda/adapters/metrics';
import {
  createEventBridgeClient,
  EVENTBRIDGE_TIMEOUTS,
  eventBridgeSecurityEventPublisher,
  SECURITY_EVENT_DETAIL_TYPES,
  type SecurityEventPublisher,
} from '../../lambda/adapters/security-events';
import { CredentialService } from '../../lambda/core/credentials';
import { generateKeySet, type KeySet, toPublicJwks } from '../../lambda/core/keys';
import type { SecurityEvent } from '../../lambda/core/session-service';
import { createIssuer } from '../../lambda/issuer/create-issuer';
import { SETTINGS } from '../../lambda/settings';
import { type EventBridgeServer, serveEventBridge } from '../../local/eventbridge-server';
import { freshTable } from '../support/dynamodb';
import { proxyEvent as event, FORM_TYPE, JSON_TYPE } from '../support/events';
import { AUDIENCE, ISSUER } from '../support/fixtures';

/**
 * Refresh-token reuse, published: the issuer as the Lambda entry point wires it (createIssuer), over DynamoDB
 * Local, with the real EventBridge publisher and client talking HTTP to the EventBridge stand-in. Whatever the
 * bus does (takes the event, fails the entry, refuses the request, never answers, is not there), the reuse is
 * answered the same; a publication that fails is a log line and a metric, and never waits for long.
 */
let dynamo: DynamoDBClient;
let tableName: string;
let keys: KeySet;
let bus: EventBridgeServer;
let eventBridge: EventBridgeClient;

beforeAll(async () => {
  ({ client: dynamo, tableName } = await freshTable());
  keys = await generateKeySet({ now: Date.now() });
  await new CredentialService({
    users: new DynamoDbUserStore({ client: dynamo, tableName }),
    scrypt: { N: 2 ** 10 },
  }).createUser({ username: 'alice', password: 'alice-password', scope: 'profile', userId: 'u-alice' });
  await new DynamoDbJwksStore(dynamo, tableName).publish(toPublicJwks(keys), Date.now());
  bus = await serveEventBridge({ region: 'eu-west-1', eventBuses: ['security'] });
  eventBridge = createEventBridgeClient({
    endpoint: bus.endpoint,
    region: 'eu-west-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
});

afterAll(async () => {
  eventBridge.destroy();
  await bus.close();
  dynamo.destroy();
});

type Line = Record<string, unknown>;

function issuer(publishSecurityEvent?: SecurityEventPublisher) {
  const lines: string[] = [];
  const metrics: string[] = [];
  const jwksStore = new DynamoDbJwksStore(dynamo, tableName);
  const handler = createIssuer(
    {
      issuer: ISSUER,
      audience: AUDIENCE,
      clients: [{ clientId: 'native', refreshTokenDelivery: 'body' }],
      accessTokenTtlSeconds: 300,
      sessionIdleTimeoutSeconds: SETTINGS.sessionIdleTimeoutSeconds.default,
      sessionAbsoluteLifetimeSeconds: SETTINGS.sessionAbsoluteLifetimeSeconds.default,
      // Strict rotation: the second use of a refresh token is a reuse at once.
      refreshGraceSeconds: 0,
      issuerKeyCacheTtlSeconds: 60,
      jwksCacheTtlSeconds: 60,
    },
    {
      sessions: new DynamoDbSessionStore({ client: dynamo, tableName }),
      subjects: new DynamoDbSubjectStore({ client: dynamo, tableName }),
      sessionReader: sdkSessionSubjectReader(dynamo, tableName),
      users: new DynamoDbUserStore({ client: dynamo, tableName }),
      loadKeySet: async () => keys,
      loadPublicJwks: () => jwksStore.load(),
      probeTable: () => jwksStore.probe(),
      logger: createLogger('issuer', (line) => lines.push(line)),
      writeMetric: (line) => metrics.push(line),
      ...(publishSecurityEvent === undefined ? {} : { publishSecurityEvent }),
    },
  );
  return {
    handler,
    lines: () => lines.map((line) => JSON.parse(line) as Line),
    output: () => [...lines, ...metrics].join('\n'),
    /** The EMF metric names published so far. */
    metricNames: () =>
      metrics.flatMap((line) =>
        (
          JSON.parse(line) as { _aws: { CloudWatchMetrics: { Metrics: { Name: string }[] }[] } }
        )._aws.CloudWatchMetrics.flatMap((set) => set.Metrics.map((metric) => metric.Name)),
      ),
  };
}

const publisher = (eventBusName = 'default') =>
  eventBridgeSecurityEventPublisher({
    client: eventBridge,
    eventBusName,
    source: 'hybrid-auth',
    region: 'eu-west-1',
  });

const refresh = (refreshToken: string) =>
  event('POST', '/auth/token', {
    headers: FORM_TYPE,
    body: `grant_type=refresh_token&client_id=native&refresh_token=${encodeURIComponent(refreshToken)}`,
  });

/** Logs in, refreshes once, presents the first refresh token again: the reuse's answer, and how long it took. */
async function reuse(wired: ReturnType<typeof issuer>) {
  const login = await wired.handler(
    event('POST', '/auth/login', {
      headers: JSON_TYPE,
      body: JSON.stringify({ username: 'alice', password: 'alice-password', client_id: 'native' }),
    }),
  );
  expect(login.statusCode).toBe(200);
  const first = JSON.parse(login.body) as { refresh_token: string; access_token: string };
  expect((await wired.handler(refresh(first.refresh_token))).statusCode).toBe(200);
  const started = performance.now();
  const answer = await wired.handler(refresh(first.refresh_token));
  return { answer, ms: performance.now() - started, tokens: first };
}

const notPublished = (wired: ReturnType<typeof issuer>) =>
  wired.lines().filter((line) => line.message === LOG_MESSAGES.securityEventNotPublished);

describe('a detected reuse', () => {
  let baseline: { statusCode: number; body: string };

  beforeAll(async () => {
    // The answer to a reuse with no publisher at all: every case below must answer exactly this.
    const { answer } = await reuse(issuer());
    baseline = { statusCode: answer.statusCode, body: answer.body };
    expect(baseline.statusCode).toBe(400);
    expect(JSON.parse(baseline.body)).toMatchObject({ error: 'invalid_grant' });
  });

  test('puts one event on the bus: source, detail-type, the event with region and time, never a token', async () => {
    const wired = issuer(publisher());
    const before = bus.events.length;
    const { answer, tokens } = await reuse(wired);
    expect({ statusCode: answer.statusCode, body: answer.body }).toEqual(baseline);
    expect(bus.events.length).toBe(before + 1);
    const published = bus.events[before];
    const reuseLine = wired.lines().find((line) => line.message === LOG_MESSAGES.securityEvent);
    expect(published).toMatchObject({
      source: 'hybrid-auth',
      'detail-type': SECURITY_EVENT_DETAIL_TYPES.refresh_token_reuse,
      eventBusName: 'default',
      detail: {
        type: 'refresh_token_reuse',
        sid: reuseLine?.sid,
        sub: 'u-alice',
        clientId: 'native',
        presentedGeneration: expect.any(Number),
        currentGeneration: expect.any(Number),
        region: 'eu-west-1',
        time: published?.time,
      },
    });
    const detail = published?.detail as unknown as SecurityEvent;
    expect(detail.currentGeneration).toBe(detail.presentedGeneration + 1);
    expect(JSON.stringify(published)).not.toContain(tokens.refresh_token);
    expect(JSON.stringify(published)).not.toContain(tokens.access_token);
    expect(notPublished(wired)).toEqual([]);
    expect(wired.metricNames()).not.toContain(METRIC_NAMES.securityEventsUnpublished);
  });

  test.each([
    [
      'the entry fails (AccessDeniedException in Entries)',
      'AccessDeniedException',
      () => bus.failNextEntries('AccessDeniedException'),
    ],
    [
      'the entry fails twice with a retryable code',
      'InternalFailure',
      () => bus.failNextEntries('InternalFailure', 2),
    ],
  ])('answers the same when %s, and logs and counts the failure', async (_what, reason, arrange) => {
    const wired = issuer(publisher());
    const before = bus.events.length;
    arrange();
    const { answer } = await reuse(wired);
    expect({ statusCode: answer.statusCode, body: answer.body }).toEqual(baseline);
    expect(bus.events.length).toBe(before);
    expect(notPublished(wired)).toEqual([
      expect.objectContaining({
        level: 'ERROR',
        type: 'refresh_token_reuse',
        reason,
        sid: expect.any(String),
      }),
    ]);
    expect(wired.metricNames()).toContain(METRIC_NAMES.securityEventsUnpublished);
  });

  test('sends an entry failed with a retryable code once more, and publishes it', async () => {
    const wired = issuer(publisher());
    const before = bus.events.length;
    bus.failNextEntries('ThrottlingException');
    await reuse(wired);
    expect(bus.events.length).toBe(before + 1);
    expect(notPublished(wired)).toEqual([]);
  });

  test('answers the same when the bus does not exist; EventBridge drops the event quietly, the log line stays', async () => {
    // EventBridge accepts an entry for a bus that does not exist and drops it (local/eventbridge-server.ts):
    // no answer shows it, so the `security event` line written before the PutEvents is the record.
    const wired = issuer(publisher('no-such-bus'));
    const before = bus.events.length;
    const { answer } = await reuse(wired);
    expect({ statusCode: answer.statusCode, body: answer.body }).toEqual(baseline);
    expect(bus.events.length).toBe(before);
    expect(notPublished(wired)).toEqual([]);
    expect(wired.lines().filter((line) => line.message === LOG_MESSAGES.securityEvent)).toEqual([
      expect.objectContaining({ type: 'refresh_token_reuse', sub: 'u-alice' }),
    ]);
  });

  test('answers the same, within the time limits, when the bus never answers', async () => {
    const wired = issuer(publisher());
    bus.holdNextRequests(EVENTBRIDGE_TIMEOUTS.maxAttempts);
    const { answer, ms } = await reuse(wired);
    expect({ statusCode: answer.statusCode, body: answer.body }).toEqual(baseline);
    expect(notPublished(wired)).toEqual([expect.objectContaining({ reason: 'TimeoutError' })]);
    // Each attempt ends at the request time-out; the SDK's back-off between them is well under a second.
    expect(ms).toBeLessThan(EVENTBRIDGE_TIMEOUTS.maxAttempts * EVENTBRIDGE_TIMEOUTS.requestTimeoutMs + 1000);
  }, 15_000);

  test('answers the same when nothing listens at the endpoint, and when the publisher throws', async () => {
    const closed = await serveEventBridge();
    await closed.close();
    const unreachable = createEventBridgeClient({
      endpoint: closed.endpoint,
      region: 'eu-west-1',
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    });
    try {
      const wired = issuer(
        eventBridgeSecurityEventPublisher({
          client: unreachable,
          eventBusName: 'default',
          source: 'hybrid-auth',
          region: 'eu-west-1',
        }),
      );
      const { answer } = await reuse(wired);
      expect({ statusCode: answer.statusCode, body: answer.body }).toEqual(baseline);
      expect(notPublished(wired)).toHaveLength(1);
    } finally {
      unreachable.destroy();
    }
    const throwing = issuer(async () => {
      throw new RangeError('a bug in a fork publisher');
    });
    const { answer } = await reuse(throwing);
    expect({ statusCode: answer.statusCode, body: answer.body }).toEqual(baseline);
    expect(notPublished(throwing)).toEqual([expect.objectContaining({ reason: 'RangeError' })]);
  });
});
