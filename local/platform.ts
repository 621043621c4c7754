import { AsyncLocalStorage } from 'node:async_hooks';
import { timingSafeEqual } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { appendFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { APIGatewayAuthorizerResult, APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { DynamoDbJwksStore } from '../lambda/adapters/dynamodb-jwks-store';
import type { DynamoDbLiteClient } from '../lambda/adapters/dynamodb-lite-client';
import { DynamoDbSessionStore } from '../lambda/adapters/dynamodb-session-store';
import { liteSessionSubjectReader } from '../lambda/adapters/dynamodb-session-subject-reader';
import { DynamoDbSubjectStore } from '../lambda/adapters/dynamodb-subject-store';
import { DynamoDbUserStore } from '../lambda/adapters/dynamodb-user-store';
import { createLogger, type Logger } from '../lambda/adapters/logger';
import {
  createEventBridgeClient,
  DEFAULT_SECURITY_EVENT_SOURCE,
  eventBridgeSecurityEventPublisher,
  type SecurityEventPublisher,
} from '../lambda/adapters/security-events';
import { createAuthorizer } from '../lambda/authorizer/create-authorizer';
import { UNAUTHORIZED } from '../lambda/authorizer/handler';
import { DEFAULT_CLIENTS } from '../lambda/core/clients';
import { CredentialService, type UserStore } from '../lambda/core/credentials';
import { toPublicJwks } from '../lambda/core/keys';
import { HTTP_METHODS, isValidRequestPath, matchRoute } from '../lambda/core/route-matching';
import { GATEWAY_ERRORS } from '../lambda/gateway-errors';
import { createIssuer } from '../lambda/issuer/create-issuer';
import { MAX_BODY_BYTES } from '../lambda/issuer/http';
import { HEALTH_PATH, ISSUER_ROUTES } from '../lambda/issuer/routes';
import { PROTECTED_ROUTES } from '../lambda/protected-routes';
import { SETTINGS } from '../lambda/settings';
import { createDemoAssets } from './demo/serve';
import {
  createTable,
  type DynamoDbLocal,
  localClient,
  localLiteClient,
  startDynamoDbLocal,
} from './dynamodb-local';
import { serveEventBridge } from './eventbridge-server';
import { readBodyOr413, sendError, sendGatewayError, sendResult, toProxyEvent } from './http-adapter';
import { loadOrCreateKeySet, readKeySet } from './keys-file';

/** Settings of the local platform (the environment variables of `npm start`). */
export interface LocalPlatformOptions {
  /** @default '127.0.0.1' */
  readonly host?: string;
  /** 0 picks a free port. @default 3000 */
  readonly port?: number;
  /** Where `keys.json` lives. @default '.local' */
  readonly dataDir?: string;
  /** @default SETTINGS.accessTokenTtlSeconds.default (lambda/settings.ts) */
  readonly accessTokenTtlSeconds?: number;
  /** @default SETTINGS.refreshGraceSeconds.default */
  readonly refreshGraceSeconds?: number;
  /** @default SETTINGS.sessionCacheTtlSeconds.default */
  readonly sessionCacheTtlSeconds?: number;
  /** Use this DynamoDB endpoint instead of starting DynamoDB Local. */
  readonly dynamoDbEndpoint?: string;
  /** Where log lines and metric (EMF) lines go, as both go to stdout in Lambda. @default stdout */
  readonly write?: (line: string) => void;
  /**
   * The `iss` of every token this platform issues and accepts, and the base of its `aud` (`<issuer>/api`),
   * its discovery document and the origin its cookie client allows (with the platform's own URL). Every
   * region of `REGIONS=... npm start` gets the global endpoint's URL here, as every deployed region gets
   * `https://<domain>`.
   * @default this platform's own URL (`http://host:port`)
   */
  readonly issuer?: string;
  /** The AWS region this platform stands for: its log lines' service and its method ARNs. @default 'us-east-1' */
  readonly region?: string;
  /**
   * Seeds the demo users ({@link DEMO_USERS}). A replica region of `REGIONS=... npm start` receives them from
   * the primary through the replicator instead.
   * @default true
   */
  readonly seedDemoUsers?: boolean;
  /**
   * A request carrying this value in the {@link TRUSTED_PROXY_HEADER} header comes from the global endpoint:
   * its caller's address is the last one of its `X-Forwarded-For`, not the connection's. Without it (or
   * with another value) the connection's address is the caller's, whatever the headers say.
   * @default none: no request is trusted
   */
  readonly trustedProxyToken?: string;
}

/** A running local platform. */
export interface LocalPlatform {
  readonly url: string;
  readonly keysPath: string;
  readonly client: DynamoDBClient;
  readonly tableName: string;
  close(): Promise<void>;
}

/** The demo users `npm start` seeds. */
export const DEMO_USERS = [
  { username: 'demo', password: 'demo-password', scope: 'profile', userId: 'user-demo' },
  { username: 'admin', password: 'admin-password', scope: 'profile admin', userId: 'user-admin' },
] as const;

/** The file (in the data directory) that says where a running platform's table is. */
export const PLATFORM_STATE_FILE = 'platform.json';

/** The file (in the data directory) each security event the issuer put on the local event bus is appended to. */
export const SECURITY_EVENTS_FILE = 'security-events.jsonl';

/**
 * The signals that stop `npm start`: Ctrl-C (SIGINT, to the whole foreground process group), `kill` or a
 * process manager (SIGTERM: npm forwards it to this script's tsx, which relays it on) and a closed
 * terminal (SIGHUP). Each closes the HTTP servers, stops DynamoDB Local and removes `platform.json`; with
 * `REGIONS`, the global endpoint, every region's server, DynamoDB Local and fault proxy, and the replication.
 */
export const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/** How long a graceful stop may take before the process exits anyway (DynamoDB Local is killed on exit). */
export const STOP_BUDGET_MS = 10_000;

/**
 * Stops what `current()` holds once, on the first call whatever calls it (a signal that npm and tsx may each
 * pass on, an orphaned child): closes it and exits 0, or 1 if closing fails or takes over
 * {@link STOP_BUDGET_MS}. Still starting (nothing to close yet), it exits at once: the exit hooks stop
 * DynamoDB Local and remove `platform.json`.
 */
export function stopOnce(current: () => { close(): Promise<void> } | undefined): (cause: string) => void {
  let stopping = false;
  return (cause) => {
    if (stopping) return;
    stopping = true;
    setTimeout(() => {
      process.stderr.write(`the platform did not stop within ${STOP_BUDGET_MS} ms of ${cause}; exiting\n`);
      process.exit(1);
    }, STOP_BUDGET_MS).unref();
    const platform = current();
    if (platform === undefined) process.exit(0);
    platform.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
}

/** Removes `platform.json` if this process wrote it (a second `npm start` on the same directory did not). */
export function removeOwnStateFile(dataDir: string): void {
  const path = join(dataDir, PLATFORM_STATE_FILE);
  try {
    const state = JSON.parse(readFileSync(path, 'utf8')) as { pid?: unknown };
    if (state.pid === process.pid) rmSync(path, { force: true });
  } catch {
    // no file, or not ours to remove
  }
}

/** The header by which the global endpoint (local/global-endpoint.ts) proves a request came through it. */
export const TRUSTED_PROXY_HEADER = 'x-local-proxy-token';

/** The local platform's table name (in each region's DynamoDB Local when there are several). */
export const LOCAL_TABLE_NAME = 'hybrid-auth-local';
const TABLE_NAME = LOCAL_TABLE_NAME;
/**
 * How long the issuer reuses the key file it read and the verifiers the JWKS they read, seconds:
 * `npm run rotate-keys` takes effect within this.
 */
export const KEY_CACHE_SECONDS = 2;

/**
 * Starts the whole platform on one machine: DynamoDB Local, the table, the demo users, the key set, and
 * an HTTP server that runs the real issuer and authorizer handlers as API Gateway would (the authorizer
 * first on protected routes, its context handed to the backend, its 401/403/503 mapping).
 */
export async function startLocalPlatform(options: LocalPlatformOptions = {}): Promise<LocalPlatform> {
  const host = options.host ?? '127.0.0.1';
  const dataDir = options.dataDir ?? '.local';
  const keysPath = join(dataDir, 'keys.json');
  const writeLine = options.write ?? ((line: string) => process.stdout.write(`${line}\n`));
  // The log lines of a health check from the global endpoint are held back while it runs (see
  // quietHealthChecks): four checks a second would otherwise bury every other line.
  const heldLines = new AsyncLocalStorage<string[]>();
  const write = (line: string) => {
    const held = heldLines.getStore();
    if (held === undefined) writeLine(line);
    else held.push(line);
  };
  const writeIfChanged = quietHealthChecks(writeLine);
  let dynamo: DynamoDbLocal | undefined;
  if (options.dynamoDbEndpoint === undefined) dynamo = await startDynamoDbLocal();
  const endpoint = options.dynamoDbEndpoint ?? dynamo?.endpoint ?? '';
  const client = localClient(endpoint);
  const liteClient = localLiteClient(endpoint);
  try {
    await createTable(client, TABLE_NAME);
  } catch (error) {
    if ((error as Error).name !== 'ResourceInUseException') throw error;
  }

  const logger = createLogger(options.region === undefined ? 'local' : `local/${options.region}`, write);
  const server = createServer();
  answerMalformedRequests(server);
  // Until the platform is ready (keys published, users seeded), every request is a 503, never a hang.
  let handler: RequestHandler = async (_request, response) =>
    sendError(response, 503, 'temporarily_unavailable', 'the platform is starting', { 'Retry-After': '1' });
  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    const viaProxy = takeProxyToken(request, options.trustedProxyToken);
    const serve = () =>
      handler(request, response, viaProxy).catch((error: unknown) => {
        logger.error('local platform error', { error: (error as Error)?.name ?? 'unknown' });
        if (!response.headersSent) sendError(response, 500, 'server_error', 'unexpected error');
      });
    if (!(viaProxy && request.method === 'GET' && request.url === HEALTH_PATH)) {
      serve();
      return;
    }
    const held: string[] = [];
    heldLines.run(held, serve).finally(() => writeIfChanged(held));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 3000, host, resolve);
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://${host}:${port}`;

  // The issuer's security events go to an EventBridge stand-in, as to its region's default bus in AWS; each
  // event it takes is appended to `<dataDir>/security-events.jsonl` for a developer to read (or `tail -f`).
  const eventsPath = join(dataDir, SECURITY_EVENTS_FILE);
  const region = options.region ?? 'us-east-1';
  const eventBus = await serveEventBridge({
    region,
    onEvent: (event) => {
      appendFile(eventsPath, `${JSON.stringify(event)}\n`).catch((error: unknown) =>
        logger.error('security event not recorded', { error: (error as Error)?.name ?? 'unknown' }),
      );
    },
  });
  const eventBridge = createEventBridgeClient({
    endpoint: eventBus.endpoint,
    region,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });

  const { keys: initialKeys } = await loadOrCreateKeySet(keysPath, Date.now());
  // Tells `npm run rotate-keys` where this platform's table is, so it can publish the rotated JWKS.
  const statePath = join(dataDir, PLATFORM_STATE_FILE);
  await writeFile(
    statePath,
    `${JSON.stringify({ url, dynamoDbEndpoint: endpoint, tableName: TABLE_NAME, pid: process.pid })}\n`,
  );
  const jwksStore = new DynamoDbJwksStore(client, TABLE_NAME);
  await jwksStore.publish(toPublicJwks(initialKeys), Date.now());

  const users = new DynamoDbUserStore({ client, tableName: TABLE_NAME });
  if (options.seedDemoUsers ?? true) {
    const seeding = new CredentialService({ users });
    for (const user of DEMO_USERS) await seeding.createUser(user, { overwrite: true });
  }

  handler = buildHandlers({
    url,
    issuer: options.issuer ?? url,
    region,
    // Metric lines go where log lines go (stdout, as from Lambda), held back with a health check's lines.
    writeMetric: write,
    keysPath,
    client,
    liteClient,
    jwksStore,
    users,
    logger,
    accessTokenTtlSeconds: options.accessTokenTtlSeconds ?? SETTINGS.accessTokenTtlSeconds.default,
    refreshGraceSeconds: options.refreshGraceSeconds ?? SETTINGS.refreshGraceSeconds.default,
    sessionCacheTtlSeconds: options.sessionCacheTtlSeconds ?? SETTINGS.sessionCacheTtlSeconds.default,
    publishSecurityEvent: eventBridgeSecurityEventPublisher({
      client: eventBridge,
      eventBusName: 'default',
      source: DEFAULT_SECURITY_EVENT_SOURCE,
      region,
    }),
  });

  return {
    url,
    keysPath,
    client,
    tableName: TABLE_NAME,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      client.destroy();
      liteClient.destroy();
      eventBridge.destroy();
      await eventBus.close();
      await dynamo?.stop();
      await rm(statePath, { force: true });
    },
  };
}

interface HandlerSettings {
  readonly url: string;
  readonly issuer: string;
  readonly region: string;
  readonly writeMetric: (line: string) => void;
  readonly keysPath: string;
  readonly client: DynamoDBClient;
  /** The minimal client the functions' session reads and the issuer's refresh requests go through, as in Lambda. */
  readonly liteClient: DynamoDbLiteClient;
  readonly jwksStore: DynamoDbJwksStore;
  readonly users: UserStore;
  readonly logger: Logger;
  readonly accessTokenTtlSeconds: number;
  readonly refreshGraceSeconds: number;
  readonly sessionCacheTtlSeconds: number;
  readonly publishSecurityEvent: SecurityEventPublisher;
}

/** Serves one request; `viaProxy` says it came through the global endpoint (it carried the proxy token). */
type RequestHandler = (
  request: IncomingMessage,
  response: ServerResponse,
  viaProxy: boolean,
) => Promise<void>;

function buildHandlers(settings: HandlerSettings): RequestHandler {
  const { url, issuer: issuerUrl, logger } = settings;
  const localApi = `arn:aws:execute-api:${settings.region}:000000000000:local00api/local`;
  const sessions = new DynamoDbSessionStore({
    client: settings.client,
    liteClient: settings.liteClient,
    tableName: TABLE_NAME,
  });
  // One BatchGetItem of the session and its watermark through the minimal client, as the Lambda entry points read.
  const sessionReader = liteSessionSubjectReader(settings.liteClient, TABLE_NAME);
  const loadPublicJwks = () => settings.jwksStore.load();
  // The same wiring as each Lambda entry point (lambda/*/create-*.ts); only the settings and adapters differ.
  const shared = {
    issuer: issuerUrl,
    audience: `${issuerUrl}/api`,
    accessTokenTtlSeconds: settings.accessTokenTtlSeconds,
    jwksCacheTtlSeconds: KEY_CACHE_SECONDS,
  };
  const issuer = createIssuer(
    {
      ...shared,
      clients: DEFAULT_CLIENTS.map((client) =>
        client.refreshTokenDelivery === 'cookie'
          ? { ...client, allowedOrigins: [...new Set([issuerUrl, url])] }
          : client,
      ),
      sessionIdleTimeoutSeconds: SETTINGS.sessionIdleTimeoutSeconds.default,
      sessionAbsoluteLifetimeSeconds: SETTINGS.sessionAbsoluteLifetimeSeconds.default,
      refreshGraceSeconds: settings.refreshGraceSeconds,
      issuerKeyCacheTtlSeconds: KEY_CACHE_SECONDS,
    },
    {
      sessions,
      subjects: new DynamoDbSubjectStore({
        client: settings.client,
        liteClient: settings.liteClient,
        tableName: TABLE_NAME,
      }),
      sessionReader,
      users: settings.users,
      loadKeySet: () => readKeySet(settings.keysPath),
      loadPublicJwks,
      // The health route reflects this platform's own table (DynamoDB Local) and key file.
      probeTable: () => settings.jwksStore.probe(),
      logger,
      writeMetric: settings.writeMetric,
      publishSecurityEvent: settings.publishSecurityEvent,
    },
  );
  const authorizer = createAuthorizer(
    {
      ...shared,
      clockSkewSeconds: SETTINGS.clockSkewSeconds.default,
      sessionCacheTtlSeconds: settings.sessionCacheTtlSeconds,
      consistentRead: false,
      // As deployed under eventual consistency: a token whose session has not replicated here yet is not refused.
      expectedReplicationLagSeconds: SETTINGS.expectedReplicationLagSeconds.default,
    },
    { sessions: sessionReader, loadPublicJwks, routes: PROTECTED_ROUTES, logger },
  );
  // The demo page at `/` (local/demo/): static assets with a strict CSP, the script bundled on first use.
  const demo = createDemoAssets();

  return async (request, response, viaProxy) => {
    const requestUrl = new URL(request.url ?? '/', url);
    const path = requestUrl.pathname;
    const method = request.method ?? 'GET';
    if (demo.handles(path)) return demo.serve(method, path, response);
    if (!isValidRequestPath(path)) return sendError(response, 400, 'invalid_request', 'malformed path');
    const issuerMatch = matchRoute(ISSUER_ROUTES, method, path);
    const protectedMatch = matchRoute(PROTECTED_ROUTES, method, path);
    const match = issuerMatch ?? protectedMatch;
    if (match === undefined) {
      const allRoutes = [...ISSUER_ROUTES, ...PROTECTED_ROUTES];
      const allowed = HTTP_METHODS.filter((other) => matchRoute(allRoutes, other, path) !== undefined);
      return allowed.length > 0
        ? sendError(response, 405, 'invalid_request', `method ${method} is not allowed here`, {
            Allow: allowed.join(', '),
          })
        : sendGatewayError(response, GATEWAY_ERRORS.notFound);
    }
    const body = await readBodyOr413(request, response, MAX_BODY_BYTES);
    if (body === undefined) return;
    const sourceIp = callerAddress(request, viaProxy);
    const base = { resource: match.route.path, path, pathParameters: match.params, body, sourceIp };
    if (issuerMatch !== undefined) return sendResult(response, await issuer(toProxyEvent(request, base)));

    // A protected route: the authorizer first, exactly as API Gateway runs it.
    const event = toProxyEvent(request, base);
    const methodArn = `${localApi}/${method}${path}`;
    let decision: APIGatewayAuthorizerResult;
    try {
      decision = await authorizer({
        type: 'REQUEST',
        methodArn,
        resource: match.route.path,
        path,
        httpMethod: method,
        headers: event.headers,
        multiValueHeaders: {},
        pathParameters: event.pathParameters,
        queryStringParameters: event.queryStringParameters,
        multiValueQueryStringParameters: null,
        stageVariables: null,
        requestContext: event.requestContext,
      } as APIGatewayRequestAuthorizerEvent);
    } catch (error) {
      if ((error as Error).message === UNAUTHORIZED) {
        return sendGatewayError(response, GATEWAY_ERRORS.unauthorized);
      }
      return sendGatewayError(response, GATEWAY_ERRORS.authorizerFailure);
    }
    if (!isAllowed(decision, methodArn)) return sendGatewayError(response, GATEWAY_ERRORS.accessDenied);
    // The sample backends (/api/me, /api/admin): echo the authorizer context, as an integration sees it.
    sendResult(response, {
      statusCode: 200,
      headers: { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' },
      body: JSON.stringify({ route: `${method} ${match.route.path}`, authorizer: decision.context ?? {} }),
    });
  };
}

/**
 * Whether the request came through the global endpoint: it carries the trusted proxy token. The token header
 * is removed either way, so no handler (and no log line) ever sees it.
 */
function takeProxyToken(request: IncomingMessage, trustedProxyToken: string | undefined): boolean {
  const presented = request.headers[TRUSTED_PROXY_HEADER];
  delete request.headers[TRUSTED_PROXY_HEADER];
  if (trustedProxyToken === undefined || typeof presented !== 'string') return false;
  const expected = Buffer.from(trustedProxyToken);
  const given = Buffer.from(presented);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/**
 * The caller's address: the connection's, or for a request from the global endpoint the address the global
 * endpoint appended to `X-Forwarded-For` (the last one: the caller may have sent any before it), as API
 * Gateway reports the caller's address rather than its own front end's.
 */
function callerAddress(request: IncomingMessage, viaProxy: boolean): string {
  const own = request.socket.remoteAddress ?? '127.0.0.1';
  if (!viaProxy) return own;
  const forwarded = [request.headers['x-forwarded-for']].flat().join(',').split(',');
  const last = forwarded[forwarded.length - 1]?.trim();
  return last === undefined || last === '' ? own : last;
}

/**
 * Writes the lines of a global-endpoint health check only when its log lines differ from the last check's
 * (timestamps and latencies aside; metric lines do not count): a region's health lines appear when its
 * health changes, not four times a second.
 */
function quietHealthChecks(write: (line: string) => void): (lines: readonly string[]) => void {
  let last: string | undefined;
  return (lines) => {
    const signature = lines
      .map((line) => {
        try {
          const {
            timestamp: _timestamp,
            latencyMs: _latencyMs,
            ...rest
          } = JSON.parse(line) as Record<string, unknown>;
          return '_aws' in rest ? '' : JSON.stringify(rest);
        } catch {
          return line;
        }
      })
      .filter((kept) => kept !== '')
      .join('\n');
    if (signature === last) return;
    last = signature;
    for (const line of lines) write(line);
  };
}

/** Answers requests Node's parser refuses (oversized headers, bad framing) with a JSON body, never a hang. */
export function answerMalformedRequests(server: Server): void {
  server.on('clientError', (error: NodeJS.ErrnoException, socket) => {
    if (!socket.writable) {
      socket.destroy();
      return;
    }
    const status = error.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
    const body = JSON.stringify({ error: 'invalid_request', error_description: 'malformed HTTP request' });
    socket.end(
      `HTTP/1.1 ${status} ${status === 431 ? 'Request Header Fields Too Large' : 'Bad Request'}\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  });
}

/**
 * IAM evaluation of the authorizer's policy for one method ARN, as API Gateway does it: `*` matches any run
 * of characters (`/` included), an explicit Deny wins, then an Allow; nothing matching is a deny.
 */
export function isAllowed(result: APIGatewayAuthorizerResult, methodArn: string): boolean {
  const matches = (resource: string) =>
    new RegExp(`^${resource.split('*').map(escapeRegExp).join('.*')}$`).test(methodArn);
  let allowed = false;
  for (const statement of result.policyDocument.Statement) {
    const resources = 'Resource' in statement ? [statement.Resource].flat() : [];
    if (!resources.some((resource) => typeof resource === 'string' && matches(resource))) continue;
    if (statement.Effect === 'Deny') return false;
    allowed = true;
  }
  return allowed;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
