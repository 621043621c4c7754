import { createHash } from 'node:crypto';
import {
  DeleteItemCommand,
  DescribeTableCommand,
  DynamoDBClient,
  PutItemCommand,
  type AttributeValue as TableAttributeValue,
} from '@aws-sdk/client-dynamodb';
import {
  type _Record,
  type AttributeValue,
  DescribeStreamCommand,
  DynamoDBStreamsClient,
  GetRecordsCommand,
  type GetRecordsCommandOutput,
  GetShardIteratorCommand,
  type Shard,
} from '@aws-sdk/client-dynamodb-streams';

/** One region's table, as the replicator reaches it. */
export interface ReplicaTable {
  /** The region the table stands for, e.g. `us-east-1`: names it in logs and breaks ties between equal times. */
  readonly region: string;
  /** The DynamoDB (and DynamoDB Streams) endpoint of the region: DynamoDB Local, or a proxy in front of it. */
  readonly endpoint: string;
  /** The table, with a stream of `NEW_AND_OLD_IMAGES` (or `NEW_IMAGE`). */
  readonly tableName: string;
  /**
   * The access key ID the replicator's clients present. Without `-sharedDb`, DynamoDB Local keeps one database
   * per access key ID and region ("the database file is named myaccesskeyid_region.db",
   * https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/DynamoDBLocal.UsageNotes.html), so this and
   * {@link ReplicaTable.signingRegion} must be those of the clients that created the table.
   *
   * @default `local`, as `localClient()` of `local/dynamodb-local.ts`
   */
  readonly accessKeyId?: string;
  /**
   * The region the replicator's clients sign with (see {@link ReplicaTable.accessKeyId}).
   *
   * @default `us-east-1`, as `localClient()` of `local/dynamodb-local.ts`
   */
  readonly signingRegion?: string;
}

/** Options of {@link startReplicator}. */
export interface ReplicatorOptions {
  /** Two or more tables, one per region, each with a stream (`NEW_AND_OLD_IMAGES`). */
  readonly tables: readonly ReplicaTable[];
  /**
   * How long after the replicator first saw a change it applies it to the other regions, in milliseconds.
   *
   * @default 200
   */
  readonly lagMs?: number;
  /**
   * How long a poller waits before it reads a stream again after a read that found nothing, in milliseconds.
   *
   * @default 50
   */
  readonly pollMs?: number;
  /**
   * Where the replicator's log lines go: one JSON line per notable event (start, stop, pause, resume, a region
   * unreachable or back, a conflict resolved, a TTL deletion replicated). Never an item's key or contents.
   *
   * @default no logging
   */
  readonly log?: (line: string) => void;
}

/** A running replicator (see {@link startReplicator}). */
export interface Replicator {
  /** Stops applying changes: streams are still read (and changes timed), changes queue up, nothing is applied. */
  pause(): void;
  /** Applies everything that queued up while paused, each item's changes in order, then goes on. */
  resume(): void;
  /** `paused` between {@link Replicator.pause} and {@link Replicator.resume}. */
  readonly state: 'running' | 'paused';
  /**
   * Resolves once every change written to any table before this call has been applied to every other table
   * (rejects after timeoutMs, default 10 s).
   */
  settled(timeoutMs?: number): Promise<void>;
  /** Stops reading and writing (changes not applied yet are dropped) and closes the clients. */
  stop(): Promise<void>;
}

/** A DynamoDB item, or the key attributes of one, as a stream record carries it. */
type Item = Record<string, AttributeValue>;

/** What a stream record asks of the other regions. */
export interface ClassifiedRecord {
  /** `put` for INSERT and MODIFY (write the new image), `delete` for REMOVE. */
  readonly kind: 'put' | 'delete';
  /** `ttl` for a REMOVE made by DynamoDB's Time to Live process, `write` for any client's write. */
  readonly cause: 'write' | 'ttl';
  /** The item's key attributes. */
  readonly keys: Item;
  /** The whole item after the change (`put` only). */
  readonly image?: Item;
  /** The record's place in its shard. */
  readonly sequenceNumber: string;
  /** When the record was written, rounded down (to the minute by DynamoDB Local, to the second by AWS). */
  readonly approximateCreationDateTime?: Date;
}

/**
 * How DynamoDB names the Time to Live process in a REMOVE record's `userIdentity` (see {@link startReplicator}),
 * with the member names of the DynamoDB Streams API (`Type`, `PrincipalId`; a Lambda event spells them
 * `type`, `principalId`): https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_streams_Identity.html
 */
export const TTL_IDENTITY = { Type: 'Service', PrincipalId: 'dynamodb.amazonaws.com' } as const;

/**
 * Reads what a stream record asks for: a put of its new image or a delete of its key, and whether a REMOVE is
 * a Time to Live deletion (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_streams_Record.html:
 * "Items that are deleted by the Time to Live process after expiration have the following fields:
 * Records[].userIdentity.type "Service", Records[].userIdentity.principalId "dynamodb.amazonaws.com"").
 *
 * @throws TypeError for a record the replicator cannot apply: no key, no sequence number, an unknown event,
 *   or an INSERT or MODIFY without its new image (a stream of `KEYS_ONLY` or `OLD_IMAGE`)
 */
export function classifyRecord(record: _Record): ClassifiedRecord {
  const body = record.dynamodb;
  const keys = body?.Keys;
  const sequenceNumber = body?.SequenceNumber;
  if (keys === undefined || sequenceNumber === undefined)
    throw new TypeError('stream record without Keys or SequenceNumber');
  const approximateCreationDateTime = body?.ApproximateCreationDateTime;
  const timing = approximateCreationDateTime === undefined ? {} : { approximateCreationDateTime };
  switch (record.eventName) {
    case 'INSERT':
    case 'MODIFY': {
      const image = body?.NewImage;
      if (image === undefined)
        throw new TypeError(
          `stream record ${record.eventName} without NewImage: the stream must show new images`,
        );
      return { kind: 'put', cause: 'write', keys, image, sequenceNumber, ...timing };
    }
    case 'REMOVE': {
      const identity = record.userIdentity;
      const ttl = identity?.Type === TTL_IDENTITY.Type && identity.PrincipalId === TTL_IDENTITY.PrincipalId;
      return { kind: 'delete', cause: ttl ? 'ttl' : 'write', keys, sequenceNumber, ...timing };
    }
    default:
      throw new TypeError(`stream record with eventName ${JSON.stringify(record.eventName)}`);
  }
}

/**
 * How coarse DynamoDB Local's `ApproximateCreationDateTime` is: it is rounded down to the minute (AWS rounds
 * to the second, which this window covers too).
 */
export const APPROXIMATE_CREATION_WINDOW_MS = 60_000;

/**
 * The write time of a change: when the replicator received its record, clamped into the window its
 * `ApproximateCreationDateTime` allows (see {@link startReplicator}), in epoch milliseconds. Non-decreasing along a
 * shard, since both terms are.
 */
export function writeTimeOf(receivedAtMs: number, approximateCreationDateTime?: Date): number {
  if (approximateCreationDateTime === undefined) return receivedAtMs;
  const earliest = approximateCreationDateTime.getTime();
  const latest = earliest + APPROXIMATE_CREATION_WINDOW_MS - 1;
  return Math.min(Math.max(receivedAtMs, earliest), latest);
}

/** The version of one client change: which of two changes to an item is the later. */
export interface ChangeVersion {
  /** Epoch milliseconds (see {@link writeTimeOf}). */
  readonly time: number;
  /** The region whose table the client wrote. */
  readonly region: string;
  /** The record's sequence number in that region's stream (a decimal string). */
  readonly sequenceNumber: string;
}

/** Orders two versions by write time, then region name, then sequence number: negative when `a` is older. */
export function compareVersions(a: ChangeVersion, b: ChangeVersion): number {
  if (a.time !== b.time) return a.time < b.time ? -1 : 1;
  if (a.region !== b.region) return a.region < b.region ? -1 : 1;
  const x = BigInt(a.sequenceNumber);
  const y = BigInt(b.sequenceNumber);
  return x === y ? 0 : x < y ? -1 : 1;
}

/** One attribute value in a canonical text form: map members and set elements sorted. */
function canonicalValue(value: AttributeValue): string {
  if (value.S !== undefined) return `S${JSON.stringify(value.S)}`;
  if (value.N !== undefined) return `N${value.N}`;
  if (value.B !== undefined) return `B${Buffer.from(value.B).toString('base64')}`;
  if (value.SS !== undefined) return `SS${JSON.stringify([...value.SS].sort())}`;
  if (value.NS !== undefined) return `NS${JSON.stringify([...value.NS].sort())}`;
  if (value.BS !== undefined)
    return `BS${JSON.stringify(value.BS.map((b) => Buffer.from(b).toString('base64')).sort())}`;
  if (value.M !== undefined) return `M${canonicalItem(value.M)}`;
  if (value.L !== undefined) return `L[${value.L.map(canonicalValue).join(',')}]`;
  if (value.NULL !== undefined) return 'NULL';
  if (value.BOOL !== undefined) return `BOOL${value.BOOL}`;
  return `?${JSON.stringify(value)}`;
}

function canonicalItem(item: Item): string {
  const names = Object.keys(item).sort();
  return `{${names.map((name) => `${JSON.stringify(name)}:${canonicalValue(item[name] as AttributeValue)}`).join(',')}}`;
}

/**
 * A fingerprint of what a change leaves in the table: the item's content for a put, `delete` for a delete.
 * Two regions hold the same item exactly when their fingerprints are equal.
 */
export function fingerprintOf(image: Item | undefined): string {
  if (image === undefined) return 'delete';
  return createHash('sha256').update(canonicalItem(image)).digest('base64url');
}

/** What one region's table is known to hold for an item. */
interface Held {
  readonly version: ChangeVersion;
  readonly fingerprint: string;
}

/** Everything the replicator knows of one item (by its key). */
interface ItemState {
  readonly key: string;
  readonly keys: Item;
  /** The newest client change: what every region must end up holding. */
  winner: ChangeVersion;
  /** The winner's image, `undefined` for a delete. */
  image: Item | undefined;
  fingerprint: string;
  /** When the winner was received: its changes are applied `lagMs` after. */
  receivedAt: number;
  /** What each region's table holds, as far as the streams and the replicator's own writes tell. */
  readonly held: Map<string, Held>;
}

/** A write of an item's winner to one region. */
interface Job {
  readonly key: string;
  readonly version: ChangeVersion;
  readonly due: number;
  /** When a job that failed with an error of its own (not an outage) may run again. */
  retryAt: number;
  attempts: number;
  expectation?: Expectation;
  loggedFailure?: boolean;
}

/** A write of the replicator whose record has not come back in its region's stream yet. */
interface Expectation {
  readonly key: string;
  readonly fingerprint: string;
  readonly version: ChangeVersion;
  /** When the last attempt ended (its record, if any, is in the stream by then). */
  endedAt?: number;
  consumed: boolean;
}

interface ShardState {
  readonly shardId: string;
  readonly parentShardId: string | undefined;
  iterator: string | undefined;
  /** The last sequence number read: where the shard is re-opened after a failure. */
  lastSequenceNumber: string | undefined;
  /** Closed and read to its end. */
  done: boolean;
}

/** An outage of reads or writes of one region, logged once at its start and once at its end. */
interface Outage {
  readonly since: number;
}

interface RegionState {
  readonly name: string;
  readonly tableName: string;
  readonly table: DynamoDBClient;
  readonly streams: DynamoDBStreamsClient;
  streamArn: string | undefined;
  readonly shards: Map<string, ShardState>;
  shardsListedAt: number;
  /** The start of the last round of reads that found every shard read to its end. */
  caughtUpAt: number;
  /** Jobs to apply to this region, ordered by `due`. */
  readonly queue: Job[];
  /** The jobs being applied now, by key (one at a time per key, so an item's writes stay in order). */
  readonly inFlight: Map<string, Job>;
  /** The last job queued for each key, until it is done: a winner is queued once per region. */
  readonly lastJob: Map<string, Job>;
  /** Writes whose records have not come back yet, by key. */
  readonly expectations: Map<string, Expectation[]>;
  readOutage: Outage | undefined;
  writeOutage: Outage | undefined;
  readBackoffMs: number;
  writeBackoffMs: number;
  /** No job is started before this time (the region's writes are failing). */
  writeRetryAt: number;
  readonly wakeWriter: Wakeup;
}

/** The default of {@link ReplicatorOptions.lagMs}. */
export const DEFAULT_REPLICATION_LAG_MS = 200;
/** The default of {@link ReplicatorOptions.pollMs}. */
export const DEFAULT_POLL_MS = 50;
/** The first retry delay after a failed read or write; it doubles on each failure up to {@link MAX_BACKOFF_MS}. */
const FIRST_BACKOFF_MS = 50;
/** The longest retry delay. */
export const MAX_BACKOFF_MS = 1_000;
/** GetRecords' largest page. */
const RECORDS_PER_READ = 1_000;
/** How often the shards of a stream are listed again (new shards appear as old ones close). */
const SHARD_LIST_INTERVAL_MS = 2_000;
/** How long after a write its record may still come back: a remembered write older than this is forgotten. */
const ECHO_GRACE_MS = 1_000;
/** Writes in flight to one region at most. */
const MAX_WRITES_IN_FLIGHT = 8;
/** The default of {@link Replicator.settled}'s timeout. */
const DEFAULT_SETTLE_TIMEOUT_MS = 10_000;

/** A sleep that can be cut short. */
class Wakeup {
  private waiters: (() => void)[] = [];

  public wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters = this.waiters.filter((waiter) => waiter !== done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, Math.min(ms, 2_147_483_647)));
      this.waiters.push(done);
    });
  }

  public notify(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}

function errorName(error: unknown): string {
  return (error as { name?: unknown } | undefined)?.name?.toString() ?? 'Error';
}

/**
 * An error that says nothing of the change itself: the region could not be reached or could not serve
 * (connection refused or reset, a timeout, a 5xx, throttling). Such errors pause all writes to the region;
 * any other error (a 4xx the change itself caused) holds back only that change.
 */
function isOutage(error: unknown): boolean {
  const fault = (error as { $fault?: unknown } | undefined)?.$fault;
  const status = (error as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata
    ?.httpStatusCode;
  if (status === undefined || fault === 'server') return true;
  const name = errorName(error);
  return /Throttl|LimitExceeded|ResourceNotFound|RequestLimit|TimeoutError/.test(name);
}

function validate(options: ReplicatorOptions): { lagMs: number; pollMs: number } {
  const owner = 'startReplicator';
  const regions = options.tables.map((table) => table.region);
  if (options.tables.length < 2)
    throw new TypeError(
      `${owner}: tables is ${JSON.stringify(regions)}; allowed: two or more, one per region`,
    );
  if (new Set(regions).size !== regions.length)
    throw new TypeError(`${owner}: tables is ${JSON.stringify(regions)}; allowed: one table per region`);
  for (const [index, table] of options.tables.entries()) {
    for (const field of ['region', 'endpoint', 'tableName'] as const) {
      if (typeof table[field] !== 'string' || table[field] === '')
        throw new TypeError(
          `${owner}: tables[${index}].${field} is ${JSON.stringify(table[field])}; allowed: a non-empty string`,
        );
    }
  }
  const lagMs = options.lagMs ?? DEFAULT_REPLICATION_LAG_MS;
  if (!Number.isFinite(lagMs) || lagMs < 0)
    throw new TypeError(`${owner}: lagMs is ${lagMs}; allowed: a number of milliseconds from 0`);
  const pollMs = options.pollMs ?? DEFAULT_POLL_MS;
  if (!Number.isFinite(pollMs) || pollMs < 1)
    throw new TypeError(`${owner}: pollMs is ${pollMs}; allowed: a number of milliseconds from 1`);
  return { lagMs, pollMs };
}

/** The configuration of the replicator's clients for one table. */
function clientConfig(table: ReplicaTable) {
  return {
    endpoint: table.endpoint,
    region: table.signingRegion ?? 'us-east-1',
    credentials: { accessKeyId: table.accessKeyId ?? 'local', secretAccessKey: 'local' },
    // The replicator retries by itself, for as long as it takes; a server that hangs is given up on.
    maxAttempts: 1,
    requestHandler: { connectionTimeout: 1_000, requestTimeout: 5_000, throwOnRequestTimeout: true },
  };
}

class LocalReplicator implements Replicator {
  private readonly regions: RegionState[];
  private readonly items = new Map<string, ItemState>();
  /** Keys of the items some region does not hold the winner of yet. */
  private readonly unconverged = new Set<string>();
  private readonly abort = new AbortController();
  private readonly loops: Promise<void>[] = [];
  private readonly writes = new Set<Promise<void>>();
  private readonly lagMs: number;
  private readonly pollMs: number;
  private readonly logLine: (line: string) => void;
  private paused = false;
  private stopped = false;

  public constructor(options: ReplicatorOptions, lagMs: number, pollMs: number) {
    this.lagMs = lagMs;
    this.pollMs = pollMs;
    this.logLine = options.log ?? (() => {});
    this.regions = options.tables.map((table) => ({
      name: table.region,
      tableName: table.tableName,
      table: new DynamoDBClient(clientConfig(table)),
      streams: new DynamoDBStreamsClient(clientConfig(table)),
      streamArn: undefined,
      shards: new Map(),
      shardsListedAt: 0,
      caughtUpAt: 0,
      queue: [],
      inFlight: new Map(),
      lastJob: new Map(),
      expectations: new Map(),
      readOutage: undefined,
      writeOutage: undefined,
      readBackoffMs: FIRST_BACKOFF_MS,
      writeBackoffMs: FIRST_BACKOFF_MS,
      writeRetryAt: 0,
      wakeWriter: new Wakeup(),
    }));
  }

  public get state(): 'running' | 'paused' {
    return this.paused ? 'paused' : 'running';
  }

  /** Checks each reachable region's table for a stream that shows new images, then starts the loops. */
  public async start(): Promise<void> {
    for (const region of this.regions) {
      try {
        await this.findStream(region);
      } catch (error) {
        if (error instanceof TypeError) {
          this.close();
          throw error;
        }
        // Unreachable now: its poller keeps trying.
        this.readFailed(region, error);
      }
    }
    for (const region of this.regions) {
      this.loops.push(this.poll(region), this.write(region));
    }
    this.log('replication started', {
      regions: this.regions.map((region) => region.name),
      lagMs: this.lagMs,
    });
  }

  public pause(): void {
    if (this.paused || this.stopped) return;
    this.paused = true;
    this.log('replication paused', { queued: this.queued() });
  }

  public resume(): void {
    if (!this.paused || this.stopped) return;
    this.paused = false;
    this.log('replication running', { queued: this.queued() });
    for (const region of this.regions) region.wakeWriter.notify();
  }

  public async settled(timeoutMs = DEFAULT_SETTLE_TIMEOUT_MS): Promise<void> {
    const calledAt = Date.now();
    const deadline = calledAt + timeoutMs;
    const wait = async () => {
      if (this.stopped) throw new Error('the replicator is stopped');
      if (Date.now() > deadline)
        throw new Error(
          `replication did not settle within ${timeoutMs} ms (${this.state}; ${this.queued()} writes queued; ` +
            `regions unreachable: ${JSON.stringify(this.unreachable())})`,
        );
      await new Promise((resolve) => setTimeout(resolve, Math.min(this.pollMs, 20)));
    };
    // Every record written before the call has been read once each stream was read to its end after it.
    while (this.regions.some((region) => region.caughtUpAt <= calledAt)) await wait();
    // Then each item that some region lacked must reach (at least) the winner it had then, everywhere.
    const required = new Map<string, ChangeVersion>();
    for (const key of this.unconverged) {
      const item = this.items.get(key);
      if (item !== undefined) required.set(key, item.winner);
    }
    for (;;) {
      for (const [key, version] of required) {
        const item = this.items.get(key) as ItemState;
        const everywhere = this.regions.every((region) => {
          const held = item.held.get(region.name);
          return (
            held !== undefined &&
            (compareVersions(held.version, version) >= 0 || held.fingerprint === item.fingerprint)
          );
        });
        if (everywhere) required.delete(key);
      }
      if (required.size === 0) return;
      await wait();
    }
  }

  public async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.abort.abort();
    for (const region of this.regions) region.wakeWriter.notify();
    this.wakePollers.notify();
    await Promise.allSettled([...this.loops, ...this.writes]);
    this.close();
    this.log('replication stopped', {});
  }

  private close(): void {
    for (const region of this.regions) {
      region.table.destroy();
      region.streams.destroy();
    }
  }

  private readonly wakePollers = new Wakeup();

  private log(message: string, fields: Record<string, unknown>): void {
    this.logLine(
      JSON.stringify({
        level: 'INFO',
        message,
        service: 'replicator',
        timestamp: new Date().toISOString(),
        ...fields,
      }),
    );
  }

  private queued(): number {
    return this.regions.reduce((sum, region) => sum + region.queue.length + region.inFlight.size, 0);
  }

  private unreachable(): string[] {
    return this.regions
      .filter((region) => region.readOutage !== undefined || region.writeOutage !== undefined)
      .map((region) => region.name);
  }

  // ---- reading the streams ----

  /** Finds the table's stream; a table without one (or with one that shows no new images) is a TypeError. */
  private async findStream(region: RegionState): Promise<void> {
    const described = await region.table.send(new DescribeTableCommand({ TableName: region.tableName }), {
      abortSignal: this.abort.signal,
    });
    const spec = described.Table?.StreamSpecification;
    const arn = described.Table?.LatestStreamArn;
    if (
      spec?.StreamEnabled !== true ||
      arn === undefined ||
      (spec.StreamViewType !== 'NEW_AND_OLD_IMAGES' && spec.StreamViewType !== 'NEW_IMAGE')
    )
      throw new TypeError(
        `startReplicator: the stream of table ${region.tableName} (${region.name}) is ` +
          `${JSON.stringify(spec?.StreamEnabled === true ? spec.StreamViewType : 'off')}; allowed: NEW_AND_OLD_IMAGES`,
      );
    if (region.streamArn !== arn) {
      region.streamArn = arn;
      region.shards.clear();
      region.shardsListedAt = 0;
    }
  }

  private async listShards(region: RegionState, streamArn: string): Promise<void> {
    const shards: Shard[] = [];
    let exclusiveStartShardId: string | undefined;
    do {
      const page = await region.streams.send(
        new DescribeStreamCommand({ StreamArn: streamArn, ExclusiveStartShardId: exclusiveStartShardId }),
        { abortSignal: this.abort.signal },
      );
      shards.push(...(page.StreamDescription?.Shards ?? []));
      exclusiveStartShardId = page.StreamDescription?.LastEvaluatedShardId;
    } while (exclusiveStartShardId !== undefined);
    for (const shard of shards) {
      if (shard.ShardId === undefined || region.shards.has(shard.ShardId)) continue;
      region.shards.set(shard.ShardId, {
        shardId: shard.ShardId,
        parentShardId: shard.ParentShardId,
        iterator: undefined,
        lastSequenceNumber: undefined,
        done: false,
      });
    }
    region.shardsListedAt = Date.now();
  }

  /** A shard is read once its parent (if the stream still lists it) has been read to its end. */
  private readableShards(region: RegionState): ShardState[] {
    return [...region.shards.values()].filter((shard) => {
      if (shard.done) return false;
      const parent = shard.parentShardId === undefined ? undefined : region.shards.get(shard.parentShardId);
      return parent === undefined || parent.done;
    });
  }

  private async poll(region: RegionState): Promise<void> {
    while (!this.stopped) {
      const roundStartedAt = Date.now();
      let found = 0;
      try {
        if (region.streamArn === undefined) await this.findStream(region);
        const streamArn = region.streamArn as string;
        if (Date.now() - region.shardsListedAt >= SHARD_LIST_INTERVAL_MS)
          await this.listShards(region, streamArn);
        let caughtUp = true;
        for (const shard of this.readableShards(region)) {
          if (shard.iterator === undefined) {
            const opened = await region.streams.send(
              new GetShardIteratorCommand({
                StreamArn: streamArn,
                ShardId: shard.shardId,
                ...(shard.lastSequenceNumber === undefined
                  ? { ShardIteratorType: 'TRIM_HORIZON' }
                  : { ShardIteratorType: 'AFTER_SEQUENCE_NUMBER', SequenceNumber: shard.lastSequenceNumber }),
              }),
              { abortSignal: this.abort.signal },
            );
            shard.iterator = opened.ShardIterator;
            if (shard.iterator === undefined) {
              shard.done = true;
              continue;
            }
          }
          let page: GetRecordsCommandOutput;
          try {
            page = await region.streams.send(
              new GetRecordsCommand({ ShardIterator: shard.iterator, Limit: RECORDS_PER_READ }),
              { abortSignal: this.abort.signal },
            );
          } catch (error) {
            if (errorName(error) !== 'TrimmedDataAccessException') throw error;
            this.reopenTrimmed(region, shard);
            caughtUp = false;
            continue;
          }
          const receivedAt = Date.now();
          const records = page.Records ?? [];
          for (const record of records) {
            this.ingest(region, record, receivedAt);
            shard.lastSequenceNumber = record.dynamodb?.SequenceNumber ?? shard.lastSequenceNumber;
          }
          found += records.length;
          if (records.length >= RECORDS_PER_READ) caughtUp = false;
          shard.iterator = page.NextShardIterator;
          if (shard.iterator === undefined) {
            // Closed and read to its end: its children (listed at the next listing) come next.
            shard.done = true;
            region.shardsListedAt = 0;
            caughtUp = false;
          }
        }
        this.readSucceeded(region);
        if (caughtUp) {
          region.caughtUpAt = roundStartedAt;
          this.forgetStaleExpectations(region, roundStartedAt);
        }
      } catch (error) {
        if (this.stopped) return;
        // Re-open every shard after its last record: the iterators may have expired, or the stream changed.
        for (const shard of region.shards.values()) shard.iterator = undefined;
        if (errorName(error) === 'ResourceNotFoundException') region.streamArn = undefined;
        this.readFailed(region, error);
        await this.wakePollers.wait(region.readBackoffMs);
        region.readBackoffMs = Math.min(region.readBackoffMs * 2, MAX_BACKOFF_MS);
        continue;
      }
      if (found === 0) await this.wakePollers.wait(this.pollMs);
    }
  }

  /**
   * After a TrimmedDataAccessException on a shard. DynamoDB Local numbers stream records across all the tables
   * of a server, and an iterator opened at `TRIM_HORIZON` on a shard with no record yet fails this way once the
   * shard's first record is numbered past the shard's starting number (seen with DynamoDB Local 3.3.1): such a
   * shard is opened again at `TRIM_HORIZON`, which then reads the record; nothing is lost, nothing is logged. A
   * shard that had been read already has truly lost records (older than the stream's 24-hour retention,
   * https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_streams_GetShardIterator.html): that is
   * logged, and the shard is read on from its oldest record.
   */
  private reopenTrimmed(region: RegionState, shard: ShardState): void {
    if (shard.lastSequenceNumber !== undefined)
      this.log('stream records trimmed before they were read: changes lost', {
        level: 'ERROR',
        region: region.name,
      });
    shard.iterator = undefined;
    shard.lastSequenceNumber = undefined;
  }

  private readFailed(region: RegionState, error: unknown): void {
    if (region.readOutage !== undefined) return;
    region.readOutage = { since: Date.now() };
    this.log('region unreachable: replication from it waits', {
      level: 'WARN',
      region: region.name,
      operation: 'read',
      error: errorName(error),
    });
  }

  private readSucceeded(region: RegionState): void {
    region.readBackoffMs = FIRST_BACKOFF_MS;
    if (region.readOutage === undefined) return;
    this.log('region reachable again: replication from it catches up', {
      region: region.name,
      operation: 'read',
      outageMs: Date.now() - region.readOutage.since,
    });
    region.readOutage = undefined;
  }

  /** One record of a region's stream: the echo of the replicator's own write, or a client's change. */
  private ingest(region: RegionState, record: _Record, receivedAt: number): void {
    let change: ClassifiedRecord;
    try {
      change = classifyRecord(record);
    } catch (error) {
      // Nothing to apply (the table's stream was changed to show no new images): read on rather than stall.
      this.log('stream record skipped', {
        level: 'WARN',
        region: region.name,
        reason: (error as Error).message,
      });
      return;
    }
    const key = canonicalItem(change.keys);
    const fingerprint = fingerprintOf(change.image);
    const echo = this.takeExpectation(region, key, fingerprint);
    let item = this.items.get(key);
    if (echo !== undefined && item !== undefined) {
      item.held.set(region.name, { version: echo.version, fingerprint });
      this.reconcile(item);
      return;
    }
    const version: ChangeVersion = {
      time: writeTimeOf(receivedAt, change.approximateCreationDateTime),
      region: region.name,
      sequenceNumber: change.sequenceNumber,
    };
    if (item === undefined) {
      item = {
        key,
        keys: change.keys,
        winner: version,
        image: change.image,
        fingerprint,
        receivedAt,
        held: new Map(),
      };
      this.items.set(key, item);
    } else if (compareVersions(version, item.winner) > 0) {
      const previous = item.winner;
      const heldHere = item.held.get(region.name);
      // This region wrote before the previous winner reached it: two regions wrote the item concurrently.
      if (
        previous.region !== region.name &&
        (heldHere === undefined || compareVersions(heldHere.version, previous) < 0)
      )
        this.log('conflict resolved: last writer wins', { winner: region.name, loser: previous.region });
      item.winner = version;
      item.image = change.image;
      item.fingerprint = fingerprint;
      item.receivedAt = receivedAt;
    } else {
      // An older write than the winner (the winner will be written back here).
      this.log('conflict resolved: last writer wins', { winner: item.winner.region, loser: region.name });
    }
    item.held.set(region.name, { version, fingerprint });
    if (change.cause === 'ttl' && item.winner === version)
      this.log('TTL deletion replicating', { region: region.name });
    this.reconcile(item);
  }

  private takeExpectation(region: RegionState, key: string, fingerprint: string): Expectation | undefined {
    const list = region.expectations.get(key);
    const index = list?.findIndex((expectation) => expectation.fingerprint === fingerprint) ?? -1;
    if (list === undefined || index < 0) return undefined;
    const [expectation] = list.splice(index, 1) as [Expectation];
    if (list.length === 0) region.expectations.delete(key);
    expectation.consumed = true;
    return expectation;
  }

  /** Forgets the writes whose records would have been read by now: they changed nothing, so wrote none. */
  private forgetStaleExpectations(region: RegionState, readFrom: number): void {
    for (const [key, list] of region.expectations) {
      const kept = list.filter(
        (expectation) => expectation.endedAt === undefined || expectation.endedAt + ECHO_GRACE_MS > readFrom,
      );
      if (kept.length === 0) region.expectations.delete(key);
      else if (kept.length !== list.length) region.expectations.set(key, kept);
    }
  }

  // ---- writing to the regions ----

  /** Queues the item's winner for every region that does not hold it (and has no write of it queued). */
  private reconcile(item: ItemState): void {
    let converged = true;
    for (const region of this.regions) {
      if (item.held.get(region.name)?.fingerprint === item.fingerprint) continue;
      converged = false;
      const last = region.lastJob.get(item.key);
      if (last !== undefined && compareVersions(last.version, item.winner) === 0) continue;
      const job: Job = {
        key: item.key,
        version: item.winner,
        due: item.receivedAt + this.lagMs,
        retryAt: 0,
        attempts: 0,
      };
      region.lastJob.set(item.key, job);
      this.enqueue(region, job);
    }
    if (converged) this.unconverged.delete(item.key);
    else this.unconverged.add(item.key);
  }

  /** Inserts a job in due order (after the jobs due at the same time: an item's jobs keep their order). */
  private enqueue(region: RegionState, job: Job): void {
    let low = 0;
    let high = region.queue.length;
    while (low < high) {
      const middle = (low + high) >> 1;
      if ((region.queue[middle] as Job).due <= job.due) low = middle + 1;
      else high = middle;
    }
    region.queue.splice(low, 0, job);
    region.wakeWriter.notify();
  }

  private async write(region: RegionState): Promise<void> {
    while (!this.stopped) {
      const now = Date.now();
      if (this.paused) {
        await region.wakeWriter.wait(60_000);
        continue;
      }
      if (now < region.writeRetryAt) {
        await region.wakeWriter.wait(region.writeRetryAt - now);
        continue;
      }
      let nextAt = now + 60_000;
      for (let index = 0; index < region.queue.length && region.inFlight.size < MAX_WRITES_IN_FLIGHT; ) {
        const job = region.queue[index] as Job;
        if (job.due > now) {
          nextAt = Math.min(nextAt, job.due);
          break;
        }
        if (region.inFlight.has(job.key) || job.retryAt > now) {
          if (job.retryAt > now) nextAt = Math.min(nextAt, job.retryAt);
          index += 1;
          continue;
        }
        region.queue.splice(index, 1);
        region.inFlight.set(job.key, job);
        const running = this.apply(region, job).then(() => {
          region.inFlight.delete(job.key);
          this.writes.delete(running);
          region.wakeWriter.notify();
        });
        this.writes.add(running);
      }
      await region.wakeWriter.wait(nextAt - now);
    }
  }

  /**
   * Writes the item's winner to the region, unless a newer winner superseded it or the region holds it; a
   * write that fails is put back in the queue. Never rejects.
   */
  private async apply(region: RegionState, job: Job): Promise<void> {
    const done = () => {
      if (region.lastJob.get(job.key) === job) region.lastJob.delete(job.key);
    };
    const item = this.items.get(job.key);
    if (item === undefined || compareVersions(item.winner, job.version) !== 0) return done();
    const { winner, image, fingerprint, keys } = item;
    if (item.held.get(region.name)?.fingerprint === fingerprint) return done();
    let expectation = job.expectation;
    if (expectation === undefined) {
      expectation = { key: job.key, fingerprint, version: winner, consumed: false };
      job.expectation = expectation;
      const list = region.expectations.get(job.key) ?? [];
      list.push(expectation);
      region.expectations.set(job.key, list);
    }
    job.attempts += 1;
    // Not forgotten while a write is under way: its record may come back any time until it ends.
    expectation.endedAt = undefined;
    try {
      const options = { abortSignal: this.abort.signal };
      if (image === undefined)
        await region.table.send(
          new DeleteItemCommand({
            TableName: region.tableName,
            Key: keys as Record<string, TableAttributeValue>,
          }),
          options,
        );
      else
        await region.table.send(
          new PutItemCommand({
            TableName: region.tableName,
            Item: image as Record<string, TableAttributeValue>,
          }),
          options,
        );
    } catch (error) {
      expectation.endedAt = Date.now();
      if (this.stopped) return;
      if (isOutage(error)) {
        this.writeFailed(region, error);
      } else {
        // The change itself failed (a 4xx): retry it alone, logged once, while the region's other writes go on.
        if (job.loggedFailure !== true) {
          job.loggedFailure = true;
          this.log('write refused: retrying', {
            level: 'WARN',
            region: region.name,
            error: errorName(error),
          });
        }
        job.retryAt = Date.now() + Math.min(FIRST_BACKOFF_MS * 2 ** job.attempts, MAX_BACKOFF_MS);
      }
      this.enqueue(region, job);
      return;
    }
    expectation.endedAt = Date.now();
    this.writeSucceeded(region);
    done();
    // Unless the stream already told what the region holds (the record came back before the response).
    if (!expectation.consumed) item.held.set(region.name, { version: winner, fingerprint });
    // Anything the stream told meanwhile (a write of the region's own after this one) is acted on now.
    this.reconcile(item);
  }

  private writeFailed(region: RegionState, error: unknown): void {
    region.writeRetryAt = Date.now() + region.writeBackoffMs;
    region.writeBackoffMs = Math.min(region.writeBackoffMs * 2, MAX_BACKOFF_MS);
    if (region.writeOutage !== undefined) return;
    region.writeOutage = { since: Date.now() };
    this.log('region unreachable: replication to it waits', {
      level: 'WARN',
      region: region.name,
      operation: 'write',
      error: errorName(error),
    });
  }

  private writeSucceeded(region: RegionState): void {
    region.writeBackoffMs = FIRST_BACKOFF_MS;
    if (region.writeOutage === undefined) return;
    this.log('region reachable again: replication to it catches up', {
      region: region.name,
      operation: 'write',
      outageMs: Date.now() - region.writeOutage.since,
      queued: region.queue.length,
    });
    region.writeOutage = undefined;
  }
}

/**
 * The local replicator: what DynamoDB global tables do between regions in MREC mode (multi-Region eventual
 * consistency), done between DynamoDB Local servers, one per region, by reading each table's DynamoDB Stream
 * and writing every change to the other tables.
 *
 * Semantics, each after the AWS behaviour it stands for:
 *
 * - **Asynchronous, with a lag.** A change is applied to the other regions `lagMs` after the replicator first
 *   saw it in its region's stream, never sooner. A global table replicates asynchronously ("a newly written
 *   item is usually propagated to all replica tables within a second"):
 *   https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/V2globaltables_HowItWorks.html
 * - **Whole item.** An INSERT or MODIFY record's `NewImage` is written with PutItem, a REMOVE record's `Keys`
 *   with DeleteItem; attributes are never merged.
 * - **Last writer wins by write time, per item, and every replica converges.** "DynamoDB global tables use a
 *   last writer wins reconciliation between concurrent updates ... This is performed at the item level. With
 *   this conflict resolution mechanism, all the replicas will agree on the latest update and converge toward a
 *   state in which they all have identical data" (same page). Here every change a client made in a region gets
 *   a version `(writeTime, region, sequenceNumber)`, compared in that order (the region name is the
 *   deterministic tie-break of equal times; the sequence number orders one region's own changes). The item's
 *   newest version is its winner; the winner is written to every region that does not hold it, including the
 *   region whose own, older write lost (the winner is written back to it).
 * - **Write time.** DynamoDB Local's `ApproximateCreationDateTime` is rounded down to the minute (checked with
 *   DynamoDB Local 3.3.1: a record written at 19:09:23 says 19:09:00; AWS documents rounding to the second,
 *   https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_streams_StreamRecord.html), far too
 *   coarse to order two sessions' writes. The write time is therefore the time the replicator's poller received
 *   the record (at most one poll interval plus one request after the write), clamped into
 *   `[ApproximateCreationDateTime, ApproximateCreationDateTime + 60 s)`, so a record read late (its region's
 *   stream unreadable for a while) is not taken for a newer write than it is. See {@link writeTimeOf}.
 * - **TTL deletions replicate.** A REMOVE record by the TTL process (`userIdentity` `{type: 'Service',
 *   principalId: 'dynamodb.amazonaws.com'}`,
 *   https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/time-to-live-ttl-streams.html) is replicated
 *   as a delete like any other: "the replica tables will get a replicated write of that delete operation",
 *   https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-global-table-design.prescriptive-guidance.throughput.html
 * - **No echo.** Every write the replicator makes is remembered (region, key, fingerprint of the image) until its
 *   own record comes back in that region's stream; that record is recognised and never replicated again. A
 *   write that changed nothing produces no record, so a remembered write that has not come back once the
 *   stream has been read to its end a second after the write is forgotten.
 * - **A region that is down loses nothing.** "When the Region comes back online, DynamoDB resumes propagating
 *   any pending writes from that Region to the replica tables in other Regions. It also resumes propagating
 *   writes from other replica tables to the Region that is now back online" (V2globaltables_HowItWorks above).
 *   A read or write that fails is retried with backoff (50 ms doubling to 1 s) for as long as it takes, logged
 *   once per outage; the last sequence number read from each shard is kept, and a shard is re-opened after it
 *   (`AFTER_SEQUENCE_NUMBER`) after every failure, so an iterator that expired meanwhile (15 minutes in AWS,
 *   https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_streams_GetShardIterator.html) costs
 *   nothing. Changes for a region that is down queue up, in order, and are applied when it is back.
 *
 * Streams are read from the start of each shard (`TRIM_HORIZON`): what the tables held before the replicator
 * started (seeded users, say) is replicated too. Child shards are read after their parent, so one item's
 * changes are seen in order. The replicator keeps the winning image of every item it has seen in memory (one
 * copy of the data): it is for the local platform, not for large tables.
 *
 * Resolves once each reachable region's table has been checked for a stream; a region that cannot be reached
 * yet is retried in the background.
 *
 * @throws TypeError for fewer than two tables, two tables of one region, a negative lag, or a reachable table
 *   without a stream of new images
 */
export async function startReplicator(options: ReplicatorOptions): Promise<Replicator> {
  const { lagMs, pollMs } = validate(options);
  const replicator = new LocalReplicator(options, lagMs, pollMs);
  await replicator.start();
  return replicator;
}
