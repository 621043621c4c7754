import { randomBytes, randomInt } from 'node:crypto';
import { connect, createServer, type Server, type Socket } from 'node:net';
import {
  type AttributeValue,
  DeleteItemCommand,
  DescribeTableCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import {
  type _Record,
  DescribeStreamCommand,
  DynamoDBStreamsClient,
  GetRecordsCommand,
  GetShardIteratorCommand,
} from '@aws-sdk/client-dynamodb-streams';
import { createTable, type DynamoDbLocal, localClient, startDynamoDbLocal } from '../../local/dynamodb-local';
import {
  APPROXIMATE_CREATION_WINDOW_MS,
  classifyRecord,
  compareVersions,
  fingerprintOf,
  type ReplicaTable,
  type Replicator,
  startReplicator,
  TTL_IDENTITY,
  writeTimeOf,
} from '../../local/replicator';

/**
 * Regions on two DynamoDB Local servers (separate Java processes): one started here and the run's own. A third
 * region shares the first one's server (its own table), as cheap as a third server for what is tested here.
 */
let server: DynamoDbLocal | undefined;
let endpoints: string[] = [];
const clients = new Map<string, DynamoDBClient>();
const REGIONS = ['us-east-1', 'us-west-2', 'eu-west-1'] as const;

beforeAll(async () => {
  const shared = process.env.DYNAMODB_LOCAL_ENDPOINT;
  if (shared === undefined) throw new Error('DYNAMODB_LOCAL_ENDPOINT is not set: run the tests through jest');
  server = await startDynamoDbLocal();
  endpoints = [server.endpoint, shared, server.endpoint];
}, 120_000);

afterAll(async () => {
  for (const client of clients.values()) client.destroy();
  await server?.stop();
});

function client(endpoint: string): DynamoDBClient {
  let found = clients.get(endpoint);
  if (found === undefined) {
    found = localClient(endpoint);
    clients.set(endpoint, found);
  }
  return found;
}

/** One region's table as a test sees it: written and read directly, never through the replicator. */
interface Region extends ReplicaTable {
  readonly client: DynamoDBClient;
  readonly direct: string;
}

/** Fresh tables with streams, one per region. */
async function regions(count: 2 | 3, servers = endpoints): Promise<Region[]> {
  const name = `replica-${randomBytes(5).toString('hex')}`;
  return Promise.all(
    REGIONS.slice(0, count).map(async (region, index) => {
      const endpoint = servers[index] as string;
      const tableName = `${name}-${index}`;
      await createTable(client(endpoint), tableName, { stream: true });
      return { region, endpoint, direct: endpoint, tableName, client: client(endpoint) };
    }),
  );
}

const running: Replicator[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((replicator) => replicator.stop()));
});

async function replicate(
  tables: readonly ReplicaTable[],
  options: { lagMs?: number; log?: string[] } = {},
): Promise<Replicator> {
  const replicator = await startReplicator({
    tables,
    lagMs: options.lagMs ?? 50,
    pollMs: 20,
    log: (line) => options.log?.push(line),
  });
  running.push(replicator);
  return replicator;
}

function key(name: string): Record<string, AttributeValue> {
  return { pk: { S: name } };
}

async function put(region: Region, item: Record<string, AttributeValue>): Promise<void> {
  await region.client.send(new PutItemCommand({ TableName: region.tableName, Item: item }));
}

async function get(region: Region, name: string): Promise<Record<string, AttributeValue> | undefined> {
  const out = await region.client.send(
    new GetItemCommand({ TableName: region.tableName, Key: key(name), ConsistentRead: true }),
  );
  return out.Item;
}

/** Every record of a table's stream (all shards, from the start). */
async function streamRecords(region: Region): Promise<_Record[]> {
  const streams = new DynamoDBStreamsClient({
    endpoint: region.direct,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  try {
    const described = await region.client.send(new DescribeTableCommand({ TableName: region.tableName }));
    const streamArn = described.Table?.LatestStreamArn as string;
    const stream = await streams.send(new DescribeStreamCommand({ StreamArn: streamArn }));
    const records: _Record[] = [];
    for (const shard of stream.StreamDescription?.Shards ?? []) {
      let iterator = (
        await streams.send(
          new GetShardIteratorCommand({
            StreamArn: streamArn,
            ShardId: shard.ShardId,
            ShardIteratorType: 'TRIM_HORIZON',
          }),
        )
      ).ShardIterator;
      while (iterator !== undefined) {
        const page = await streams.send(new GetRecordsCommand({ ShardIterator: iterator }));
        records.push(...(page.Records ?? []));
        if ((page.Records ?? []).length === 0) break;
        iterator = page.NextShardIterator;
      }
    }
    return records;
  } finally {
    streams.destroy();
  }
}

function recordsFor(records: _Record[], name: string): _Record[] {
  return records.filter((record) => record.dynamodb?.Keys?.pk?.S === name);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A TCP proxy in front of a region's server: what makes the region unreachable and reachable again, or (with
 * {@link TcpProxy.refuseStreams}) its stream unreadable while its table still takes writes.
 */
class TcpProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  /** Cuts every connection that carries a DynamoDB Streams request (its `X-Amz-Target` header names the API). */
  public refuseStreams = false;

  private constructor(
    private readonly targetPort: number,
    public readonly port: number,
  ) {}

  public static async start(targetEndpoint: string): Promise<TcpProxy> {
    const probe = createServer();
    const port = await new Promise<number>((resolve) =>
      probe.listen(0, '127.0.0.1', () => resolve((probe.address() as { port: number }).port)),
    );
    await new Promise((resolve) => probe.close(resolve));
    const proxy = new TcpProxy(Number(new URL(targetEndpoint).port), port);
    await proxy.up();
    return proxy;
  }

  public get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  public async up(): Promise<void> {
    const server = createServer((inbound) => {
      const outbound = connect(this.targetPort, '127.0.0.1');
      for (const socket of [inbound, outbound]) {
        this.sockets.add(socket);
        socket.on('close', () => this.sockets.delete(socket));
        socket.on('error', () => {
          inbound.destroy();
          outbound.destroy();
        });
      }
      inbound.on('data', (chunk: Buffer) => {
        if (this.refuseStreams && chunk.includes('DynamoDBStreams_20120810')) {
          inbound.destroy();
          outbound.destroy();
          return;
        }
        outbound.write(chunk);
      });
      outbound.pipe(inbound);
    });
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.server = server;
  }

  /** Refuses new connections and cuts the open ones. */
  public async down(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const socket of this.sockets) socket.destroy();
    if (server !== undefined) await new Promise((resolve) => server.close(resolve));
  }
}

describe('record classification and ordering', () => {
  const base = { eventVersion: '1.1', eventSource: 'aws:dynamodb' };

  test('a REMOVE by the TTL process is a TTL deletion; a client REMOVE is a write', () => {
    const body = { Keys: key('k'), OldImage: key('k'), SequenceNumber: '7' };
    const ttl = classifyRecord({ ...base, eventName: 'REMOVE', dynamodb: body, userIdentity: TTL_IDENTITY });
    expect(ttl).toMatchObject({ kind: 'delete', cause: 'ttl', keys: key('k'), sequenceNumber: '7' });
    expect(classifyRecord({ ...base, eventName: 'REMOVE', dynamodb: body })).toMatchObject({
      kind: 'delete',
      cause: 'write',
    });
    // Another service's identity is not the TTL process.
    const other = { Type: 'Service', PrincipalId: 'example.amazonaws.com' };
    expect(classifyRecord({ ...base, eventName: 'REMOVE', dynamodb: body, userIdentity: other }).cause).toBe(
      'write',
    );
  });

  test('INSERT and MODIFY are puts of the whole new image', () => {
    const image = { ...key('k'), a: { N: '1' } };
    for (const eventName of ['INSERT', 'MODIFY'] as const) {
      expect(
        classifyRecord({
          ...base,
          eventName,
          dynamodb: { Keys: key('k'), NewImage: image, SequenceNumber: '1' },
        }),
      ).toMatchObject({ kind: 'put', cause: 'write', image });
    }
  });

  test('fails to classify a record without a new image (a KEYS_ONLY stream) or without a key', () => {
    expect(() =>
      classifyRecord({ ...base, eventName: 'MODIFY', dynamodb: { Keys: key('k'), SequenceNumber: '1' } }),
    ).toThrow(/without NewImage/);
    expect(() => classifyRecord({ ...base, eventName: 'INSERT', dynamodb: { SequenceNumber: '1' } })).toThrow(
      /without Keys/,
    );
  });

  test('the write time is the time received, kept inside the approximate creation time window', () => {
    const minute = new Date(Date.UTC(2026, 0, 1, 12, 0, 0));
    expect(writeTimeOf(minute.getTime() + 1234, minute)).toBe(minute.getTime() + 1234);
    // Read late (the region's stream was unreadable): no later than the record's own minute allows.
    expect(writeTimeOf(minute.getTime() + 10 * 60_000, minute)).toBe(
      minute.getTime() + APPROXIMATE_CREATION_WINDOW_MS - 1,
    );
    expect(writeTimeOf(minute.getTime() - 5, minute)).toBe(minute.getTime());
    expect(writeTimeOf(42)).toBe(42);
  });

  test('versions order by time, then region name, then sequence number (numerically)', () => {
    const v = (time: number, region: string, sequenceNumber: string) => ({ time, region, sequenceNumber });
    expect(compareVersions(v(1, 'us-west-2', '1'), v(2, 'eu-west-1', '1'))).toBeLessThan(0);
    expect(compareVersions(v(2, 'us-west-2', '1'), v(2, 'eu-west-1', '9'))).toBeGreaterThan(0);
    expect(compareVersions(v(2, 'a', '100000000000000000000'), v(2, 'a', '99'))).toBeGreaterThan(0);
    expect(compareVersions(v(2, 'a', '5'), v(2, 'a', '5'))).toBe(0);
  });

  test('an item fingerprint ignores attribute and set element order', () => {
    expect(fingerprintOf({ a: { N: '1' }, b: { SS: ['x', 'y'] } })).toBe(
      fingerprintOf({ b: { SS: ['y', 'x'] }, a: { N: '1' } }),
    );
    expect(fingerprintOf({ a: { N: '1' } })).not.toBe(fingerprintOf({ a: { S: '1' } }));
    expect(fingerprintOf(undefined)).toBe('delete');
  });
});

describe('startReplicator', () => {
  test('fails to start with fewer than two tables, two of one region, or a negative lag', async () => {
    // Checked before anything is called: nothing listens on these endpoints.
    const a = { region: 'us-east-1', endpoint: 'http://127.0.0.1:9', tableName: 'sessions' };
    const b = { ...a, region: 'us-west-2' };
    await expect(startReplicator({ tables: [a] })).rejects.toThrow(
      /^startReplicator: tables is \["us-east-1"\]; allowed: two or more, one per region$/,
    );
    await expect(startReplicator({ tables: [a, { ...b, region: 'us-east-1' }] })).rejects.toThrow(
      /allowed: one table per region/,
    );
    await expect(startReplicator({ tables: [a, b], lagMs: -1 })).rejects.toThrow(/lagMs is -1; allowed/);
    await expect(startReplicator({ tables: [a, { ...b, tableName: '' }] })).rejects.toThrow(
      /tables\[1\]\.tableName is ""; allowed: a non-empty string/,
    );
  });

  test('fails to start on a table without a stream', async () => {
    const [a, b] = await regions(2);
    const plain = `plain-${randomBytes(5).toString('hex')}`;
    await createTable((b as Region).client, plain);
    await expect(
      startReplicator({ tables: [a as Region, { ...(b as Region), tableName: plain }] }),
    ).rejects.toThrow(/the stream of table plain-\w+ \(us-west-2\) is "off"; allowed: NEW_AND_OLD_IMAGES/);
  });
});

describe('replication between regions', () => {
  test('a put in one region appears in the other no sooner than the lag, whole, within a bound', async () => {
    const [a, b] = (await regions(2)) as [Region, Region];
    // Longer than the replicator takes without a lag, even on a loaded machine.
    const lagMs = 2_500;
    const replicator = await replicate([a, b], { lagMs });
    // Both streams read once: what is timed below is the lag, not the replicator's start.
    await replicator.settled();
    const item = {
      ...key('lagged'),
      n: { N: '1' },
      tags: { SS: ['x', 'y'] },
      m: { M: { z: { BOOL: true } } },
    };
    const writtenAt = Date.now();
    await put(a, item);
    let seenAt: number | undefined;
    while (Date.now() - writtenAt < 15_000) {
      if ((await get(b, 'lagged')) !== undefined) {
        seenAt = Date.now();
        break;
      }
      await sleep(10);
    }
    expect(seenAt).toBeDefined();
    expect((seenAt as number) - writtenAt).toBeGreaterThanOrEqual(lagMs);
    expect((seenAt as number) - writtenAt).toBeLessThan(lagMs + 10_000);
    expect(await get(b, 'lagged')).toEqual(item);
  });

  test('an update and a delete replicate, as whole items, both ways', async () => {
    const [a, b] = (await regions(2)) as [Region, Region];
    const replicator = await replicate([a, b]);
    await put(a, { ...key('doc'), a: { N: '1' }, b: { S: 'x' } });
    await replicator.settled();
    await b.client.send(
      new UpdateItemCommand({
        TableName: b.tableName,
        Key: key('doc'),
        UpdateExpression: 'SET a = :two REMOVE b',
        ExpressionAttributeValues: { ':two': { N: '2' } },
      }),
    );
    await replicator.settled();
    expect(await get(a, 'doc')).toEqual({ ...key('doc'), a: { N: '2' } });
    await a.client.send(new DeleteItemCommand({ TableName: a.tableName, Key: key('doc') }));
    await replicator.settled();
    expect(await get(b, 'doc')).toBeUndefined();
  });

  test('concurrent conflicting writes converge to one identical item in every region', async () => {
    const all = (await regions(3)) as Region[];
    const replicator = await replicate(all, { lagMs: 30 });
    for (let round = 0; round < 4; round += 1) {
      const name = `contended-${round}`;
      const written = all.map((region) => ({
        ...key(name),
        writer: { S: region.region },
        n: { N: `${randomInt(1e9)}` },
      }));
      // Every other round, no region sees another's write before its own (a certain conflict); in between,
      // the writes race the replication with random delays.
      const certain = round % 2 === 0;
      if (certain) replicator.pause();
      await Promise.all(
        all.map(async (region, index) => {
          if (!certain) await sleep(randomInt(60));
          await put(region, written[index] as Record<string, AttributeValue>);
        }),
      );
      replicator.resume();
      await replicator.settled(20_000);
      const held = await Promise.all(all.map((region) => get(region, name)));
      expect(held[1]).toEqual(held[0]);
      expect(held[2]).toEqual(held[0]);
      expect(written).toContainEqual(held[0]);
    }
  });

  test('concurrent updates of different attributes are not merged: the last writer wins the whole item', async () => {
    const [a, b] = (await regions(2)) as [Region, Region];
    const replicator = await replicate([a, b]);
    await put(a, { ...key('merged'), base: { N: '0' } });
    await replicator.settled();
    // Neither region sees the other's update before making its own.
    replicator.pause();
    const update = (region: Region, attribute: string) =>
      region.client.send(
        new UpdateItemCommand({
          TableName: region.tableName,
          Key: key('merged'),
          UpdateExpression: 'SET #a = :v',
          ExpressionAttributeNames: { '#a': attribute },
          ExpressionAttributeValues: { ':v': { S: region.region } },
        }),
      );
    await Promise.all([update(a, 'fromEast'), update(b, 'fromWest')]);
    replicator.resume();
    await replicator.settled();
    const [inA, inB] = [await get(a, 'merged'), await get(b, 'merged')];
    expect(inB).toEqual(inA);
    expect(Object.keys(inA ?? {}).sort()).toHaveLength(3);
  });

  test('a change it applied, read back late from that region, is no new write there: no older value comes back', async () => {
    const [a, b] = (await regions(2)) as [Region, Region];
    const proxy = await TcpProxy.start(b.direct);
    try {
      const log: string[] = [];
      const replicator = await replicate([a, { ...b, endpoint: proxy.endpoint }], { log });
      await replicator.settled();
      // B takes writes, but its stream cannot be read: v1 is applied to B, and its record waits in B's stream.
      proxy.refuseStreams = true;
      await put(a, { ...key('late'), v: { N: '1' } });
      while ((await get(b, 'late')) === undefined) await sleep(20);
      // v2 is read from A's stream, and waits to be applied to B.
      replicator.pause();
      await put(a, { ...key('late'), v: { N: '2' } });
      await sleep(500);
      // Now v1's record is read from B, after v2: taken for B's own write, it would be the newest and win.
      proxy.refuseStreams = false;
      while (!log.some((line) => /reachable again: replication from it/.test(line))) await sleep(20);
      replicator.resume();
      await replicator.settled(15_000);
      expect(await get(a, 'late')).toEqual({ ...key('late'), v: { N: '2' } });
      expect(await get(b, 'late')).toEqual({ ...key('late'), v: { N: '2' } });
    } finally {
      await proxy.down();
    }
  });

  // DynamoDB Local 3.3.1 has a TTL deletion job, but on this machine it deleted no expired item (TTL ENABLED,
  // `ttl` 60 s in the past) within 18 minutes (nor within 2 minutes with -sharedDb): waiting for it would be a
  // test that times out, not one that checks replication. The REMOVE path is tested with a client's DeleteItem above, and
  // the TTL classification (userIdentity Service / dynamodb.amazonaws.com) by the unit tests.
  test.skip('replicates a TTL deletion (skipped: DynamoDB Local does not sweep expired items within minutes)', async () => {
    const [a, b] = (await regions(2)) as [Region, Region];
    const log: string[] = [];
    const replicator = await replicate([a, b], { log });
    await put(a, { ...key('expiring'), ttl: { N: `${Math.floor(Date.now() / 1000) - 60}` } });
    while (!log.some((line) => /TTL deletion replicating/.test(line))) await sleep(1_000);
    await replicator.settled();
    expect(await get(b, 'expiring')).toBeUndefined();
  });

  test('writes no echo: an item written once in A is written exactly once in B, and never back to A', async () => {
    const [a, b] = (await regions(2)) as [Region, Region];
    const replicator = await replicate([a, b]);
    await put(a, { ...key('once'), v: { N: '1' } });
    await replicator.settled();
    // Several poll rounds after the echo came back: any write it caused would be in a stream by now.
    await sleep(500);
    await replicator.settled();
    expect(recordsFor(await streamRecords(a), 'once')).toHaveLength(1);
    const inB = recordsFor(await streamRecords(b), 'once');
    expect(inB.map((record) => record.eventName)).toEqual(['INSERT']);
  });

  test('pause applies nothing; resume applies what queued, each item in order, and converges', async () => {
    const [a, b] = (await regions(2)) as [Region, Region];
    const replicator = await replicate([a, b]);
    await put(a, { ...key('gone'), v: { N: '0' } });
    await replicator.settled();
    replicator.pause();
    expect(replicator.state).toBe('paused');
    for (let v = 1; v <= 3; v += 1) await put(a, { ...key('ordered'), v: { N: `${v}` } });
    await a.client.send(new DeleteItemCommand({ TableName: a.tableName, Key: key('gone') }));
    await sleep(400);
    expect(await get(b, 'ordered')).toBeUndefined();
    expect(await get(b, 'gone')).toBeDefined();
    await expect(replicator.settled(300)).rejects.toThrow(/did not settle within 300 ms \(paused/);
    replicator.resume();
    expect(replicator.state).toBe('running');
    await replicator.settled();
    expect(await get(b, 'ordered')).toEqual({ ...key('ordered'), v: { N: '3' } });
    expect(await get(b, 'gone')).toBeUndefined();
    // Never an older version after a newer one in B.
    const applied = recordsFor(await streamRecords(b), 'ordered').map((record) =>
      Number(record.dynamodb?.NewImage?.v?.N),
    );
    expect(applied).toEqual([...applied].sort((x, y) => x - y));
    expect(applied.at(-1)).toBe(3);
  });

  test('reads a shard whose first record is numbered past its start (DynamoDB Local numbers a server-wide)', async () => {
    // Both regions on one server: B's record takes the numbers A's empty shard starts at.
    const one = endpoints[0] as string;
    const [a, b] = (await regions(2, [one, one])) as [Region, Region];
    await put(b, { ...key('numbered'), v: { N: '1' } });
    const log: string[] = [];
    const replicator = await replicate([a, b], { log });
    await replicator.settled();
    await put(a, { ...key('back'), v: { N: '1' } });
    await replicator.settled();
    expect(await get(a, 'numbered')).toEqual({ ...key('numbered'), v: { N: '1' } });
    expect(await get(b, 'back')).toEqual({ ...key('back'), v: { N: '1' } });
    expect(log.filter((line) => /WARN|ERROR/.test(line))).toEqual([]);
  });

  test('a region that is down: changes queue, nothing is lost, and both sides converge when it is back', async () => {
    const [a, b] = (await regions(2)) as [Region, Region];
    const proxy = await TcpProxy.start(b.direct);
    const log: string[] = [];
    try {
      const replicator = await replicate([a, { ...b, endpoint: proxy.endpoint }], { log });
      await put(a, { ...key('before'), v: { N: '1' } });
      await replicator.settled();
      await proxy.down();
      // A's change cannot be written to B; B's own change (made while the replicator cannot read B's stream)
      // must not be lost either.
      await put(a, { ...key('from-a'), v: { N: '1' } });
      await put(b, { ...key('from-b'), v: { N: '1' } });
      await sleep(1_500);
      expect(await get(b, 'from-a')).toBeUndefined();
      expect(await get(a, 'from-b')).toBeUndefined();
      await expect(replicator.settled(200)).rejects.toThrow(/regions unreachable: \["us-west-2"\]/);
      await proxy.up();
      await replicator.settled(15_000);
      expect(await get(b, 'from-a')).toEqual({ ...key('from-a'), v: { N: '1' } });
      expect(await get(a, 'from-b')).toEqual({ ...key('from-b'), v: { N: '1' } });
      const events = log.map((line) => JSON.parse(line) as Record<string, unknown>);
      const outage = (operation: string, message: RegExp) =>
        events.filter(
          (event) =>
            event.region === 'us-west-2' &&
            event.operation === operation &&
            message.test(String(event.message)),
        );
      // Logged once per outage, however many retries it took.
      expect(outage('read', /unreachable/)).toHaveLength(1);
      expect(outage('write', /unreachable/)).toHaveLength(1);
      expect(outage('read', /reachable again/)).toHaveLength(1);
      expect(outage('write', /reachable again/)).toHaveLength(1);
      // Log lines never carry an item's key or contents.
      expect(log.join('\n')).not.toMatch(/from-a|from-b|before/);
    } finally {
      await proxy.down();
    }
  });
});
