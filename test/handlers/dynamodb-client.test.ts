import type { AddressInfo } from 'node:net';
import { createServer, type Server, type Socket } from 'node:net';
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { createDynamoDbClient, DYNAMODB_TIMEOUTS } from '../../lambda/adapters/dynamodb-client';

// The client the issuer's and the authorizer's entry points build, against a real socket on 127.0.0.1 that
// accepts connections and never answers: the call must fail within its time limits, not hang.

let server: Server;
let endpoint: string;
const sockets = new Set<Socket>();

beforeAll(async () => {
  server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    // Reads the request and never writes a byte back.
    socket.resume();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

/** The least one call takes against a silent server: every attempt waits its full request time-out. */
const ALL_ATTEMPTS_MS = DYNAMODB_TIMEOUTS.maxAttempts * DYNAMODB_TIMEOUTS.requestTimeoutMs;
/**
 * How long the test waits before calling the client hung: the time-outs, the SDK's back-off and slack for a
 * loaded machine (timers fire late when the CPU is shared). Without time limits the call never ends.
 */
const HUNG_AFTER_MS = ALL_ATTEMPTS_MS + 8000;

test('fails a GetItem against a server that never answers within its time limits', async () => {
  const client = createDynamoDbClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  const started = Date.now();
  let timer: NodeJS.Timeout | undefined;
  // The race is the bound: without time limits the call would hang until this fires.
  const outcome = await Promise.race([
    client.send(new GetItemCommand({ TableName: 't', Key: { pk: { S: 'JWKS' } } })).then(
      () => 'answered',
      (error: Error) => error.name,
    ),
    new Promise<string>((resolve) => {
      timer = setTimeout(() => resolve('still waiting'), HUNG_AFTER_MS);
    }),
  ]);
  clearTimeout(timer);
  const elapsed = Date.now() - started;
  client.destroy();
  expect(outcome).toBe('TimeoutError');
  // Every attempt waited its full request time-out: the limit, not a refused connection, ended it.
  expect(elapsed).toBeGreaterThanOrEqual(ALL_ATTEMPTS_MS - 50);
  expect(elapsed).toBeLessThan(HUNG_AFTER_MS);
});
