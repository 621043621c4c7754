import { EventBridgeClient, PutEventsCommand, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { type EventBridgeServer, type RecordedEvent, serveEventBridge } from '../../local/eventbridge-server';

let server: EventBridgeServer;
let client: EventBridgeClient;
const taken: RecordedEvent[] = [];

beforeAll(async () => {
  server = await serveEventBridge({
    eventBuses: ['security'],
    region: 'eu-west-1',
    account: '123456789012',
    onEvent: (event) => taken.push(event),
  });
  // A client of its own, as a Lambda bundle builds it: only the endpoint says where the service is.
  client = new EventBridgeClient({
    endpoint: server.endpoint,
    region: 'eu-west-1',
    credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
    maxAttempts: 1,
  });
});

afterAll(async () => {
  client.destroy();
  await server.close();
});

const entry = (overrides: Partial<PutEventsRequestEntry> = {}): PutEventsRequestEntry => ({
  Source: 'hybrid-auth',
  DetailType: 'Refresh token reuse detected',
  Detail: JSON.stringify({ sid: 's-1', sub: 'u-1' }),
  ...overrides,
});

const put = (entries: PutEventsRequestEntry[]) => client.send(new PutEventsCommand({ Entries: entries }));

test('takes an event over HTTP: an EventId back, the event recorded with its envelope and time', async () => {
  const before = server.events.length;
  const time = new Date(Date.UTC(2026, 11, 1, 12, 0, 0));
  const output = await put([entry({ Time: time, Resources: ['arn:aws:lambda:eu-west-1:1:function:f'] })]);
  expect(output.FailedEntryCount).toBe(0);
  expect(output.Entries).toHaveLength(1);
  const recorded = server.events[before];
  expect(output.Entries?.[0]?.EventId).toBe(recorded?.id);
  expect(recorded).toEqual({
    id: expect.any(String),
    'detail-type': 'Refresh token reuse detected',
    source: 'hybrid-auth',
    account: '123456789012',
    time: '2026-12-01T12:00:00.000Z',
    region: 'eu-west-1',
    resources: ['arn:aws:lambda:eu-west-1:1:function:f'],
    detail: { sid: 's-1', sub: 'u-1' },
    eventBusName: 'default',
  });
  expect(taken.at(-1)).toEqual(recorded);
});

test('takes events for a bus that exists, by name or ARN; accepts and drops one for a bus that does not', async () => {
  const output = await put([
    entry({ EventBusName: 'security' }),
    entry({ EventBusName: 'arn:aws:events:eu-west-1:123456789012:event-bus/security' }),
  ]);
  expect(output.FailedEntryCount).toBe(0);
  expect(server.events.slice(-2).map((event) => event.eventBusName)).toEqual(['security', 'security']);
  const before = server.events.length;
  const takenBefore = taken.length;
  const dropped = await put([entry({ EventBusName: 'nope' }), entry()]);
  // As EventBridge answers: success with an EventId for both, and the first event reaches nothing.
  expect(dropped.FailedEntryCount).toBe(0);
  expect(dropped.Entries?.map((result) => typeof result.EventId)).toEqual(['string', 'string']);
  expect(server.events.slice(before).map((event) => event.eventBusName)).toEqual(['default']);
  expect(taken.slice(takenBefore).map((event) => event.id)).toEqual([dropped.Entries?.[1]?.EventId]);
});

test('keeps the last maxEvents events only', async () => {
  const small = await serveEventBridge({ maxEvents: 3 });
  const smallClient = new EventBridgeClient({
    endpoint: small.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
    maxAttempts: 1,
  });
  try {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const output = await smallClient.send(
        new PutEventsCommand({ Entries: [entry({ Detail: JSON.stringify({ n: i }) })] }),
      );
      ids.push(output.Entries?.[0]?.EventId ?? '');
    }
    expect(small.events.map((event) => event.id)).toEqual(ids.slice(2));
    expect(small.events.map((event) => event.detail)).toEqual([{ n: 2 }, { n: 3 }, { n: 4 }]);
  } finally {
    smallClient.destroy();
    await small.close();
  }
});

test('fails an entry alone (partial failure): a missing field, a Detail that is not a JSON object', async () => {
  const before = server.events.length;
  const output = await put([
    entry(),
    entry({ Detail: undefined }),
    entry({ Source: undefined }),
    entry({ Detail: '[1, 2]' }),
    entry({ Detail: '{"unterminated": ' }),
    entry({ DetailType: 'x'.repeat(129) }),
  ]);
  expect(output.FailedEntryCount).toBe(5);
  expect(output.Entries?.map((result) => result.ErrorCode ?? 'ok')).toEqual([
    'ok',
    'InvalidArgument',
    'InvalidArgument',
    'MalformedDetail',
    'MalformedDetail',
    'InvalidArgument',
  ]);
  expect(output.Entries?.[0]?.EventId).toEqual(expect.any(String));
  expect(server.events.length).toBe(before + 1);
});

test.each([
  ['no entries', () => []],
  ['11 entries', () => Array.from({ length: 11 }, () => entry())],
  ['entries of 256 KB in total', () => [entry({ Detail: JSON.stringify({ pad: 'x'.repeat(256 * 1024) }) })]],
  ['no entry with Source, DetailType and Detail', () => [entry({ Detail: undefined })]],
])('refuses the whole request with %s (ValidationException), taking nothing', async (_what, entries) => {
  const before = server.events.length;
  await expect(put(entries())).rejects.toMatchObject({ name: 'ValidationException' });
  expect(server.events.length).toBe(before);
});

test('takes 10 entries just under 256 KB in total', async () => {
  // Each entry: Source (11 bytes) + DetailType (28) + Detail; 10 of them stay under 262,144 bytes.
  const detail = JSON.stringify({ pad: 'x'.repeat(26_000) });
  const output = await put(Array.from({ length: 10 }, () => entry({ Detail: detail })));
  expect(output.FailedEntryCount).toBe(0);
});

test('fails the next entries with a chosen error code when told to', async () => {
  server.failNextEntries('ThrottlingException');
  const output = await put([entry(), entry()]);
  expect(output.FailedEntryCount).toBe(1);
  expect(output.Entries?.[0]?.ErrorCode).toBe('ThrottlingException');
  expect(output.Entries?.[1]?.EventId).toEqual(expect.any(String));
});

test('answers another operation with an error, not a 500', async () => {
  const response = await fetch(server.endpoint, {
    method: 'POST',
    headers: { 'X-Amz-Target': 'AWSEvents.PutRule', 'Content-Type': 'application/x-amz-json-1.1' },
    body: '{}',
  });
  expect(response.status).toBe(400);
  expect(await response.json()).toMatchObject({ __type: 'UnknownOperationException' });
  const malformed = await fetch(server.endpoint, {
    method: 'POST',
    headers: { 'X-Amz-Target': 'AWSEvents.PutEvents', 'Content-Type': 'application/x-amz-json-1.1' },
    body: '{"Entries": [',
  });
  expect(malformed.status).toBe(400);
  expect(await malformed.json()).toMatchObject({ __type: 'SerializationException' });
});
