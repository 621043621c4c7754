import { connect, type Socket } from 'node:net';
import { ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { localClient } from '../../local/dynamodb-local';
import { type FaultProxy, startFaultProxy } from '../../local/fault-proxy';

// The fault proxy in front of the run's DynamoDB Local (a real DynamoDB API server): what one region's table
// looks like to its platform and to the replicator when the fault control takes it down and brings it up.

let proxy: FaultProxy;

beforeAll(async () => {
  const target = process.env.DYNAMODB_LOCAL_ENDPOINT;
  if (target === undefined) throw new Error('DYNAMODB_LOCAL_ENDPOINT is not set: run the tests through jest');
  proxy = await startFaultProxy({ target });
});

afterAll(async () => {
  await proxy?.close();
});

/** One DynamoDB call through the proxy on a fresh client: the socket error's code, or 'ok'. */
async function listTables(): Promise<string> {
  const client = localClient(proxy.endpoint);
  try {
    await client.send(new ListTablesCommand({}));
    return 'ok';
  } catch (error) {
    // Under jest the SDK wraps Node's socket error ("AWS SDK error wrapper for ..."): read the code off the message.
    return /\b(E[A-Z]+)\b/.exec(String((error as Error).message))?.[1] ?? (error as Error).name;
  } finally {
    client.destroy();
  }
}

function openConnection(): Promise<Socket> {
  const url = new URL(proxy.endpoint);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname);
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

test('up, DynamoDB calls pass through to the table', async () => {
  expect(proxy.state).toBe('up');
  expect(await listTables()).toBe('ok');
});

test('fails every DynamoDB call at once while down, and passes them again once up', async () => {
  proxy.down();
  try {
    expect(proxy.state).toBe('down');
    const started = Date.now();
    expect(await listTables()).toBe('ECONNRESET');
    // Refused as the connection is accepted: no time-out to wait for.
    expect(Date.now() - started).toBeLessThan(2000);
  } finally {
    proxy.up();
  }
  expect(await listTables()).toBe('ok');
});

test('going down destroys the connections already open (a kept-alive client cannot keep using one)', async () => {
  const socket = await openConnection();
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.on('error', () => {});
  proxy.down();
  await closed;
  expect(socket.destroyed).toBe(true);
  proxy.up();
});

test('a kept-alive client fails its next call after the table goes down', async () => {
  const client = localClient(proxy.endpoint);
  try {
    await client.send(new ListTablesCommand({}));
    proxy.down();
    await expect(client.send(new ListTablesCommand({}))).rejects.toThrow(/ECONNRESET|socket hang up/);
    proxy.up();
    await expect(client.send(new ListTablesCommand({}))).resolves.toBeDefined();
  } finally {
    proxy.up();
    client.destroy();
  }
});
