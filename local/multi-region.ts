import { randomBytes } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { createLogger } from '../lambda/adapters/logger';
import { createTable, localClient, startDynamoDbLocal } from './dynamodb-local';
import { type FaultProxy, startFaultProxy } from './fault-proxy';
import {
  type FaultChange,
  type FaultControl,
  type FaultState,
  type GlobalEndpoint,
  startGlobalEndpoint,
} from './global-endpoint';
import { loadOrCreateKeySet } from './keys-file';
import { LOCAL_TABLE_NAME, type LocalPlatform, PLATFORM_STATE_FILE, startLocalPlatform } from './platform';
import { DEFAULT_REPLICATION_LAG_MS } from './regions';
import { type Replicator, startReplicator } from './replicator';
import { type SecretReplication, startSecretReplication } from './secret-replication';

/** Settings of {@link startMultiRegionPlatform} (the environment of `REGIONS=... npm start`). */
export interface MultiRegionPlatformOptions {
  /** The regions, the first the primary (where rotation writes the secret). */
  readonly regions: readonly string[];
  /** @default '127.0.0.1' */
  readonly host?: string;
  /** The global endpoint's port; region k (1-based, in the order given) listens on `port + k`. */
  readonly port: number;
  /** Each region's key file and state live in `<dataDir>/<region>`. @default '.local' */
  readonly dataDir?: string;
  /** How long each change (a table item, a secret version) takes to reach the other regions, ms. @default 200 */
  readonly replicationLagMs?: number;
  /** @default SETTINGS.accessTokenTtlSeconds.default (lambda/settings.ts) */
  readonly accessTokenTtlSeconds?: number;
  /** @default SETTINGS.refreshGraceSeconds.default */
  readonly refreshGraceSeconds?: number;
  /** @default SETTINGS.sessionCacheTtlSeconds.default */
  readonly sessionCacheTtlSeconds?: number;
  /** How often the global endpoint calls each region's health route, ms. @default 250 */
  readonly healthIntervalMs?: number;
  /** How long the start may wait for every endpoint to answer, ms. @default 90000 */
  readonly readyTimeoutMs?: number;
  /** Where log lines go. @default stdout */
  readonly write?: (line: string) => void;
}

/** One running region of a {@link MultiRegionPlatform}. */
export interface RegionPlatform {
  readonly name: string;
  readonly primary: boolean;
  /** The region's own API (`http://host:port`), which the global endpoint forwards to. */
  readonly url: string;
  readonly dataDir: string;
  /** The region's copy of the signing-keys secret. */
  readonly keysPath: string;
  /** The region's table endpoint as the platform and the replicator reach it: through its fault proxy. */
  readonly tableEndpoint: string;
  readonly tableName: string;
  /** A client of the region's table (through the fault proxy: down when the table is down). */
  readonly client: DynamoDBClient;
}

/** A running `REGIONS=... npm start`. */
export interface MultiRegionPlatform {
  /** The global endpoint: every region issues and accepts tokens with this `iss`. */
  readonly url: string;
  /** In the order given, the primary first. */
  readonly regions: readonly RegionPlatform[];
  readonly replicationLagMs: number;
  /** What `GET /_local/faults` answers. */
  faults(): FaultState;
  /** What `POST /_local/faults` does: applies the change, then refreshes the global endpoint's health view. */
  setFaults(change: FaultChange): Promise<void>;
  close(): Promise<void>;
}

/**
 * Starts several regional platforms on one machine behind one global endpoint. Each region is a whole
 * regional platform: its own DynamoDB Local server (so one region's table can fail while another's lives)
 * behind a fault proxy, its table with a stream, its own issuer and authorizer through the same wiring as
 * that region's Lambda functions, its own copy of the signing-keys secret (`<dataDir>/<region>/keys.json`).
 * The replicator (local/replicator.ts) copies every table change to the other regions' tables, and the
 * secret replication (local/secret-replication.ts) the primary's key file to the others', each after
 * `replicationLagMs`. The global endpoint on `port` forwards to the first healthy region
 * (local/global-endpoint.ts) and serves the fault control. Resolves when the global endpoint and every
 * region answer `GET /.well-known/jwks.json` with 200 and the start-up writes (demo users, JWKS) have
 * reached every region.
 */
export async function startMultiRegionPlatform(
  options: MultiRegionPlatformOptions,
): Promise<MultiRegionPlatform> {
  const regions = options.regions;
  if (regions.length === 0) throw new TypeError('startMultiRegionPlatform needs at least one region');
  const host = options.host ?? '127.0.0.1';
  const dataDir = options.dataDir ?? '.local';
  const lagMs = options.replicationLagMs ?? DEFAULT_REPLICATION_LAG_MS;
  const writeLine = options.write ?? ((line: string) => process.stdout.write(`${line}\n`));
  const logger = createLogger('local/global', writeLine);
  if (!Number.isInteger(options.port) || options.port < 1 || options.port + regions.length > 65_535) {
    throw new TypeError(
      `the global endpoint's port is ${options.port}; allowed: an integer from 1 to ${65_535 - regions.length} ` +
        `(region k listens on port + k)`,
    );
  }
  const issuer = `http://${host}:${options.port}`;
  // The global endpoint proves with this that a request came through it (local only, never persisted).
  const proxyToken = randomBytes(24).toString('base64url');
  const regionDir = (region: string) => join(dataDir, region);
  const keysPath = (region: string) => join(regionDir(region), 'keys.json');
  const [primary = ''] = regions;

  const closers: (() => Promise<void>)[] = [];
  const closeAll = async () => {
    const errors: unknown[] = [];
    for (const close of closers.splice(0).reverse())
      await close().catch((error: unknown) => errors.push(error));
    if (errors.length > 0) throw errors[0];
  };
  try {
    // The secret exists once, in the primary; every replica starts from its current value.
    for (const region of regions) await mkdir(regionDir(region), { recursive: true, mode: 0o700 });
    await loadOrCreateKeySet(keysPath(primary), Date.now());

    // Each region's DynamoDB Local (one database for every client, whatever region it names: it is this
    // region's), its fault proxy, and its table with a stream for the replicator.
    const started = await Promise.allSettled(regions.map(() => startDynamoDbLocal({ sharedDb: true })));
    const servers = started.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
    closers.push(() => Promise.all(servers.map((server) => server.stop())).then(() => {}));
    for (const result of started) if (result.status === 'rejected') throw result.reason;
    const proxies = await Promise.all(servers.map((server) => startFaultProxy({ target: server.endpoint })));
    closers.push(() => Promise.all(proxies.map((proxy) => proxy.close())).then(() => {}));
    const proxyOf = (region: string): FaultProxy => {
      const proxy = proxies[regions.indexOf(region)];
      if (proxy === undefined) throw new TypeError(`unknown region ${region}`);
      return proxy;
    };
    const clients = proxies.map((proxy) => localClient(proxy.endpoint));
    closers.push(async () => {
      for (const client of clients) client.destroy();
    });
    // A stream of new and old images: what a global table's replication reads, and the replicator does.
    for (const client of clients) await createTable(client, LOCAL_TABLE_NAME, { stream: true });

    // Replication starts before any region writes, so the start-up writes reach the other regions too. With
    // one region there is nothing to replicate to.
    const replicator: Replicator | undefined =
      regions.length < 2
        ? undefined
        : await startReplicator({
            tables: regions.map((region) => ({
              region,
              endpoint: proxyOf(region).endpoint,
              tableName: LOCAL_TABLE_NAME,
            })),
            lagMs,
            log: writeLine,
          });
    if (replicator !== undefined) closers.push(() => replicator.stop());
    const secrets: SecretReplication = await startSecretReplication({
      source: keysPath(primary),
      replicas: regions.slice(1).map((region) => ({ region, path: keysPath(region) })),
      lagMs,
      logger: createLogger('local/secret-replication', writeLine),
    });
    closers.push(() => secrets.stop());

    const platforms: LocalPlatform[] = [];
    closers.push(() => Promise.all(platforms.map((platform) => platform.close())).then(() => {}));
    await Promise.all(
      regions.map(async (region, index) => {
        const platform = await startLocalPlatform({
          host,
          port: options.port + index + 1,
          dataDir: regionDir(region),
          dynamoDbEndpoint: proxyOf(region).endpoint,
          issuer,
          region,
          // The demo users are written once, in the primary; the replicator carries them (no two regions
          // write the same user, so last-writer-wins has nothing to settle).
          seedDemoUsers: index === 0,
          trustedProxyToken: proxyToken,
          write: writeLine,
          ...(options.accessTokenTtlSeconds === undefined
            ? {}
            : { accessTokenTtlSeconds: options.accessTokenTtlSeconds }),
          ...(options.refreshGraceSeconds === undefined
            ? {}
            : { refreshGraceSeconds: options.refreshGraceSeconds }),
          ...(options.sessionCacheTtlSeconds === undefined
            ? {}
            : { sessionCacheTtlSeconds: options.sessionCacheTtlSeconds }),
        });
        platforms[index] = platform;
      }),
    );

    const faults: FaultControl = {
      table: (region) => proxyOf(region).state,
      replication: () => secrets.state,
      replicationLagMs: lagMs,
      apply: async (change) => {
        if (change.table !== undefined) {
          const proxy = proxyOf(change.table.region);
          if (change.table.state === 'down') proxy.down();
          else proxy.up();
        }
        // A pause stops both replications between the regions: the table's and the secret's.
        if (change.replication === 'paused') {
          replicator?.pause();
          secrets.pause();
        } else if (change.replication === 'running') {
          replicator?.resume();
          secrets.resume();
        }
      },
    };
    const global: GlobalEndpoint = await startGlobalEndpoint({
      host,
      port: options.port,
      regions: regions.map((name, index) => ({ name, url: platforms[index]?.url ?? '' })),
      proxyToken,
      ...(options.healthIntervalMs === undefined ? {} : { healthIntervalMs: options.healthIntervalMs }),
      logger,
      faults,
    });
    closers.push(() => global.close());

    // Commands run from a second shell (`npm run create-user -- --local`) find the primary's table here.
    const statePath = join(dataDir, PLATFORM_STATE_FILE);
    await writeFile(
      statePath,
      `${JSON.stringify({
        url: global.url,
        dynamoDbEndpoint: proxyOf(primary).endpoint,
        tableName: LOCAL_TABLE_NAME,
        pid: process.pid,
        regions,
      })}\n`,
    );
    closers.push(() => rm(statePath, { force: true }));

    const deadline = Date.now() + (options.readyTimeoutMs ?? 90_000);
    await Promise.all(
      [global.url, ...platforms.map((platform) => platform.url)].map((url) => untilJwks(url, deadline)),
    );
    const remainingMs = () => Math.max(1000, deadline - Date.now());
    await replicator?.settled(remainingMs());
    await secrets.settled(remainingMs());
    await global.checkHealth();

    const regionPlatforms: RegionPlatform[] = regions.map((name, index) => ({
      name,
      primary: index === 0,
      url: platforms[index]?.url ?? '',
      dataDir: regionDir(name),
      keysPath: keysPath(name),
      tableEndpoint: proxyOf(name).endpoint,
      tableName: LOCAL_TABLE_NAME,
      client: clients[index] as DynamoDBClient,
    }));
    return {
      url: global.url,
      regions: regionPlatforms,
      replicationLagMs: lagMs,
      faults: () => global.faultState(),
      setFaults: async (change) => {
        await faults.apply(change);
        await global.checkHealth();
      },
      close: closeAll,
    };
  } catch (error) {
    await closeAll().catch(() => {});
    throw error;
  }
}

/** Waits until `GET <url>/.well-known/jwks.json` answers 200. */
async function untilJwks(url: string, deadline: number): Promise<void> {
  for (;;) {
    const status = await new Promise<number | undefined>((resolve) => {
      const outgoing = httpRequest(
        `${url}/.well-known/jwks.json`,
        { agent: false, timeout: 5000 },
        (response) => {
          response.resume();
          resolve(response.statusCode);
        },
      );
      outgoing.once('timeout', () => outgoing.destroy());
      outgoing.once('error', () => resolve(undefined));
      outgoing.end();
    });
    if (status === 200) return;
    if (Date.now() > deadline)
      throw new Error(`${url}/.well-known/jwks.json did not answer 200 in time (${status ?? 'no answer'})`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
