import {
  Agent,
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../lambda/adapters/logger';
import { parseJsonObject } from '../lambda/core/encoding';
import { MAX_BODY_BYTES } from '../lambda/issuer/http';
import { HEALTH_PATH } from '../lambda/issuer/routes';
import { readBodyOr413, sendError } from './http-adapter';
import { answerMalformedRequests, TRUSTED_PROXY_HEADER } from './platform';

/** The fault control's route on the global endpoint (local only: never in the Lambda code or the CDK app). */
export const FAULTS_PATH = '/_local/faults';
/** The response header the global endpoint adds: the region that answered. */
export const REGION_HEADER = 'x-local-region';

/** Whether a region's table answers (`up`) or refuses every connection (`down`). */
export type TableFault = 'up' | 'down';
/** Whether replication between the regions runs (the table's and the signing-keys secret's). */
export type ReplicationFault = 'running' | 'paused';

/** One change asked of the fault control (`POST /_local/faults`): a region's table, the replication, or both. */
export interface FaultChange {
  readonly table?: { readonly region: string; readonly state: TableFault };
  readonly replication?: ReplicationFault;
}

/** What `GET /_local/faults` answers. */
export interface FaultState {
  readonly regions: Readonly<Record<string, { readonly table: TableFault; readonly healthy: boolean }>>;
  readonly replication: ReplicationFault;
  readonly replicationLagMs: number;
}

/** What the global endpoint asks of the platform it fronts to read and change the faults. */
export interface FaultControl {
  table(region: string): TableFault;
  replication(): ReplicationFault;
  readonly replicationLagMs: number;
  /** Applies a change; resolves once it is in effect. */
  apply(change: FaultChange): Promise<void>;
}

/** One region behind the global endpoint. */
export interface RegionEndpoint {
  readonly name: string;
  /** The region's platform, `http://host:port`. */
  readonly url: string;
}

/** Settings of {@link startGlobalEndpoint}. */
export interface GlobalEndpointOptions {
  /** @default '127.0.0.1' */
  readonly host?: string;
  readonly port: number;
  /** In order of preference: a request goes to the first healthy one. */
  readonly regions: readonly RegionEndpoint[];
  readonly faults: FaultControl;
  /**
   * Sent with every forwarded request in the {@link TRUSTED_PROXY_HEADER} header: a region's platform started
   * with the same token trusts the `X-Forwarded-For` of such requests for the caller's address.
   */
  readonly proxyToken: string;
  /** How often every region's health route is called, ms. @default 250 */
  readonly healthIntervalMs?: number;
  /** How long a health call may take before the region counts as unhealthy, ms. @default 2000 */
  readonly healthTimeoutMs?: number;
  readonly logger?: Logger;
}

/** A running global endpoint. */
export interface GlobalEndpoint {
  readonly url: string;
  /** Whether the last health check of `region` answered 200. */
  healthy(region: string): boolean;
  /** Calls every region's health route now and records the answers (after any round already running). */
  checkHealth(): Promise<void>;
  /** The fault control's state with each region's health, as `GET /_local/faults` answers it. */
  faultState(): FaultState;
  close(): Promise<void>;
}

/** Hop-by-hop headers (RFC 9110 section 7.6.1): they describe one connection and are never forwarded. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);
/** How long a forwarded request may wait for the region's answer before the caller gets a 503. */
const FORWARD_TIMEOUT_MS = 30_000;
/** The largest fault-control body: a change is a few dozen bytes. */
const MAX_FAULT_BODY_BYTES = 1024;

/**
 * The global endpoint (`PORT` of `REGIONS=... npm start`): the local stand-in for the Route 53 latency
 * record of the `domain` option. It forwards each request (method, path, headers, body) to the first region,
 * in the order given, whose health route last answered 200, and adds the caller's address to
 * `X-Forwarded-For` (the region trusts it because of the proxy token, so per-address logic keeps working).
 *
 * Like Route 53, it checks health on an interval, not when a request arrives: Route 53 "periodically checks
 * the health of the endpoint ... it doesn't perform the health check when the DNS query arrives", and when
 * every record is unhealthy it answers "as if all the records in the group are healthy"
 * (https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/health-checks-how-route-53-chooses-records.html):
 * here, with no healthy region, requests go to the first region, whose own 503 the caller then sees. A
 * region whose server refuses the connection is marked unhealthy and the next one is tried (the request
 * never reached it, so trying again is safe). Unlike DNS, failover here is per request, at once.
 *
 * It answers `GET` and `POST /_local/faults` itself (see {@link parseFaultChange}).
 */
export async function startGlobalEndpoint(options: GlobalEndpointOptions): Promise<GlobalEndpoint> {
  const host = options.host ?? '127.0.0.1';
  const intervalMs = options.healthIntervalMs ?? 250;
  const timeoutMs = options.healthTimeoutMs ?? 2000;
  const { regions, faults, logger } = options;
  const health = new Map<string, boolean>(regions.map((region) => [region.name, false]));
  // A connection per forwarded request: no idle connection that the region closes in between turns into a
  // reset that could not be told from a failure of the request itself.
  const agent = new Agent({ keepAlive: false });

  const setHealth = (region: string, healthy: boolean, detail: string) => {
    if (health.get(region) === healthy) return;
    health.set(region, healthy);
    if (healthy) logger?.info('region healthy', { region });
    else logger?.warn('region unhealthy', { region, detail });
  };
  const round = async () => {
    await Promise.all(
      regions.map(async (region) => {
        const status = await probe(`${region.url}${HEALTH_PATH}`, timeoutMs, options.proxyToken);
        setHealth(region.name, status === 200, typeof status === 'number' ? `status ${status}` : status);
      }),
    );
  };
  // One round at a time, in order: a round asked for after a fault changed reports the state after it.
  let rounds: Promise<void> = Promise.resolve();
  const checkHealth = () => {
    rounds = rounds.then(round);
    return rounds;
  };
  await checkHealth();
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const schedule = () => {
    timer = setTimeout(() => {
      checkHealth().finally(() => {
        if (!stopped) schedule();
      });
    }, intervalMs);
    timer.unref();
  };
  schedule();

  const faultState = (): FaultState => ({
    regions: Object.fromEntries(
      regions.map((region) => [
        region.name,
        { table: faults.table(region.name), healthy: health.get(region.name) === true },
      ]),
    ),
    replication: faults.replication(),
    replicationLagMs: faults.replicationLagMs,
  });

  const serveFaults = async (request: IncomingMessage, response: ServerResponse) => {
    if (request.method === 'GET') {
      response.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
      response.end(JSON.stringify(faultState()));
      return;
    }
    if (request.method !== 'POST') {
      return sendError(response, 405, 'invalid_request', `method ${request.method} is not allowed here`, {
        Allow: 'GET, POST',
      });
    }
    const body = await readBodyOr413(request, response, MAX_FAULT_BODY_BYTES);
    if (body === undefined) return;
    const parsed = parseFaultChange(
      body.toString('utf8'),
      regions.map((region) => region.name),
    );
    if (typeof parsed === 'string') return sendError(response, 400, 'invalid_request', parsed);
    await faults.apply(parsed);
    // The health view reflects the change before the answer, so the next request already routes by it.
    await checkHealth();
    logger?.info('fault changed', {
      region: parsed.table?.region,
      table: parsed.table?.state,
      replication: parsed.replication,
    });
    response.writeHead(204, { 'Cache-Control': 'no-store' });
    response.end();
  };

  const serveForward = async (request: IncomingMessage, response: ServerResponse) => {
    const body = await readBodyOr413(request, response, MAX_BODY_BYTES);
    if (body === undefined) return;
    const headers = forwardedHeaders(request, body.length, options.proxyToken);
    const healthy = regions.filter((region) => health.get(region.name) === true);
    for (const region of healthy.length > 0 ? healthy : regions) {
      let upstream: IncomingMessage;
      try {
        upstream = await forward(region, request, headers, body, agent);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code ?? 'unknown';
        if (code === 'ECONNREFUSED') {
          setHealth(region.name, false, 'connection refused');
          continue;
        }
        logger?.warn('forward failed', { region: region.name, error: code });
        return sendError(response, 503, 'temporarily_unavailable', `region ${region.name} did not answer`, {
          'Retry-After': '1',
        });
      }
      const responseHeaders: OutgoingHttpHeaders = {};
      for (const [name, value] of Object.entries(upstream.headers)) {
        if (value !== undefined && !HOP_BY_HOP.has(name)) responseHeaders[name] = value;
      }
      responseHeaders[REGION_HEADER] = region.name;
      response.writeHead(upstream.statusCode ?? 502, responseHeaders);
      upstream.on('error', () => response.destroy());
      upstream.pipe(response);
      return;
    }
    sendError(response, 503, 'temporarily_unavailable', 'no region answers', { 'Retry-After': '1' });
  };

  const server = createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://global').pathname;
    const serve = path === FAULTS_PATH ? serveFaults : serveForward;
    serve(request, response).catch((error: unknown) => {
      logger?.error('global endpoint error', { error: (error as Error)?.name ?? 'unknown' });
      if (!response.headersSent) sendError(response, 500, 'server_error', 'unexpected error');
      else response.destroy();
    });
  });
  answerMalformedRequests(server);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://${host}:${port}`,
    healthy: (region) => health.get(region) === true,
    checkHealth,
    faultState,
    close: async () => {
      stopped = true;
      clearTimeout(timer);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rounds.catch(() => {});
      agent.destroy();
    },
  };
}

/**
 * Reads a fault-control body: a JSON object with `region` and `table` (`"up"` or `"down"`), `replication`
 * (`"running"` or `"paused"`), or both. Returns the change, or what is wrong with the body (the 400's
 * description).
 */
export function parseFaultChange(text: string, regions: readonly string[]): FaultChange | string {
  const example = 'such as {"region":"<region>","table":"down"} or {"replication":"paused"}';
  const body = parseJsonObject(text);
  if (body === undefined) return `the body must be a JSON object ${example}`;
  const allowed = ['region', 'table', 'replication'];
  const unknown = Object.keys(body).find((name) => !allowed.includes(name));
  if (unknown !== undefined)
    return `unknown member ${JSON.stringify(unknown)}; allowed: ${allowed.join(', ')}`;
  const { region, table, replication } = body;
  if (region === undefined && table === undefined && replication === undefined) {
    return `the body names no change: give region and table, or replication, ${example}`;
  }
  if ((region === undefined) !== (table === undefined)) return 'region and table go together';
  if (region !== undefined && (typeof region !== 'string' || !regions.includes(region))) {
    return `region is ${JSON.stringify(region)}; allowed: ${regions.join(', ')}`;
  }
  if (table !== undefined && table !== 'up' && table !== 'down') {
    return `table is ${JSON.stringify(table)}; allowed: up, down`;
  }
  if (replication !== undefined && replication !== 'running' && replication !== 'paused') {
    return `replication is ${JSON.stringify(replication)}; allowed: running, paused`;
  }
  return {
    ...(region === undefined ? {} : { table: { region: region as string, state: table as TableFault } }),
    ...(replication === undefined ? {} : { replication: replication as ReplicationFault }),
  };
}

/** The request's headers as the region receives them: hop-by-hop ones dropped, the caller's address added. */
function forwardedHeaders(request: IncomingMessage, length: number, token: string): OutgoingHttpHeaders {
  // Headers the request's Connection header names are hop-by-hop for this connection too.
  const named = String(request.headers.connection ?? '')
    .split(',')
    .map((name) => name.trim().toLowerCase());
  const headers: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(request.headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || named.includes(name)) continue;
    if (name === TRUSTED_PROXY_HEADER) continue;
    headers[name] = value;
  }
  const address = request.socket.remoteAddress ?? '127.0.0.1';
  const prior = request.headers['x-forwarded-for'];
  headers['x-forwarded-for'] = prior === undefined ? address : `${[prior].flat().join(', ')}, ${address}`;
  headers['x-forwarded-proto'] = 'http';
  headers['content-length'] = String(length);
  headers[TRUSTED_PROXY_HEADER] = token;
  return headers;
}

/** Sends one request to a region; resolves with its response, rejects when the region cannot be reached. */
function forward(
  region: RegionEndpoint,
  request: IncomingMessage,
  headers: OutgoingHttpHeaders,
  body: Buffer,
  agent: Agent,
): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const target = new URL(region.url);
    const outgoing = httpRequest({
      host: target.hostname,
      port: target.port,
      method: request.method,
      path: request.url,
      headers,
      agent,
      timeout: FORWARD_TIMEOUT_MS,
    });
    outgoing.once('response', resolve);
    outgoing.once('error', reject);
    outgoing.once('timeout', () =>
      outgoing.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })),
    );
    outgoing.end(body);
  });
}

/**
 * GETs `url` on a fresh connection, with the proxy token (the region then logs the check's lines only when
 * they change); resolves with the status, or the reason there is none.
 */
function probe(url: string, timeoutMs: number, token: string): Promise<number | string> {
  return new Promise((resolve) => {
    const options = { agent: false, timeout: timeoutMs, headers: { [TRUSTED_PROXY_HEADER]: token } };
    const outgoing = httpRequest(url, options, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    outgoing.once('timeout', () =>
      outgoing.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })),
    );
    outgoing.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
    outgoing.end();
  });
}
