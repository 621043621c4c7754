import { rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { APIGatewayAuthorizerResult, APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { DynamoDbJwksStore } from '../lambda/adapters/dynamodb-jwks-store';
import { DynamoDbSessionStore } from '../lambda/adapters/dynamodb-session-store';
import { DynamoDbUserStore } from '../lambda/adapters/dynamodb-user-store';
import { createLogger, type Logger } from '../lambda/adapters/logger';
import { createAuthorizer } from '../lambda/authorizer/create-authorizer';
import { UNAUTHORIZED } from '../lambda/authorizer/handler';
import { DEFAULT_CLIENTS } from '../lambda/core/clients';
import { CredentialService, type UserStore } from '../lambda/core/credentials';
import { toPublicJwks } from '../lambda/core/keys';
import { HTTP_METHODS, isValidRequestPath, matchRoute } from '../lambda/core/route-matching';
import { GATEWAY_ERRORS } from '../lambda/gateway-errors';
import { createIssuer } from '../lambda/issuer/create-issuer';
import { MAX_BODY_BYTES } from '../lambda/issuer/http';
import { ISSUER_ROUTES } from '../lambda/issuer/routes';
import { PROTECTED_ROUTES } from '../lambda/protected-routes';
import { SETTINGS } from '../lambda/settings';
import { createDemoAssets } from './demo/serve';
import { createTable, type DynamoDbLocal, localClient, startDynamoDbLocal } from './dynamodb-local';
import { readBody, sendError, sendGatewayError, sendResult, toProxyEvent } from './http-adapter';
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
  /** Where log lines go. @default stdout */
  readonly write?: (line: string) => void;
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

const LOCAL_API = 'arn:aws:execute-api:us-east-1:000000000000:local00api/local';
const TABLE_NAME = 'hybrid-auth-local';
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
  const write = options.write ?? ((line: string) => process.stdout.write(`${line}\n`));
  let dynamo: DynamoDbLocal | undefined;
  if (options.dynamoDbEndpoint === undefined) dynamo = await startDynamoDbLocal();
  const endpoint = options.dynamoDbEndpoint ?? dynamo?.endpoint ?? '';
  const client = localClient(endpoint);
  try {
    await createTable(client, TABLE_NAME);
  } catch (error) {
    if ((error as Error).name !== 'ResourceInUseException') throw error;
  }

  const logger = createLogger('local', write);
  const server = createServer();
  // Requests Node's parser refuses (oversized headers, bad framing) still get a JSON body.
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
  // Until the platform is ready (keys published, users seeded), every request is a 503, never a hang.
  let handler: (request: IncomingMessage, response: ServerResponse) => Promise<void> = async (
    _request,
    response,
  ) =>
    sendError(response, 503, 'temporarily_unavailable', 'the platform is starting', { 'Retry-After': '1' });
  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    handler(request, response).catch((error: unknown) => {
      logger.error('local platform error', { error: (error as Error)?.name ?? 'unknown' });
      if (!response.headersSent) sendError(response, 500, 'server_error', 'unexpected error');
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 3000, host, resolve);
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://${host}:${port}`;

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
  const seeding = new CredentialService({ users });
  for (const user of DEMO_USERS) await seeding.createUser(user, { overwrite: true });

  handler = buildHandlers({
    url,
    keysPath,
    client,
    jwksStore,
    users,
    logger,
    accessTokenTtlSeconds: options.accessTokenTtlSeconds ?? SETTINGS.accessTokenTtlSeconds.default,
    refreshGraceSeconds: options.refreshGraceSeconds ?? SETTINGS.refreshGraceSeconds.default,
    sessionCacheTtlSeconds: options.sessionCacheTtlSeconds ?? SETTINGS.sessionCacheTtlSeconds.default,
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
      await dynamo?.stop();
      await rm(statePath, { force: true });
    },
  };
}

interface HandlerSettings {
  readonly url: string;
  readonly keysPath: string;
  readonly client: DynamoDBClient;
  readonly jwksStore: DynamoDbJwksStore;
  readonly users: UserStore;
  readonly logger: Logger;
  readonly accessTokenTtlSeconds: number;
  readonly refreshGraceSeconds: number;
  readonly sessionCacheTtlSeconds: number;
}

function buildHandlers(settings: HandlerSettings) {
  const { url, logger } = settings;
  const sessions = new DynamoDbSessionStore({ client: settings.client, tableName: TABLE_NAME });
  const loadPublicJwks = () => settings.jwksStore.load();
  // The same wiring as each Lambda entry point (lambda/*/create-*.ts); only the settings and adapters differ.
  const shared = {
    issuer: url,
    audience: `${url}/api`,
    accessTokenTtlSeconds: settings.accessTokenTtlSeconds,
    jwksCacheTtlSeconds: KEY_CACHE_SECONDS,
  };
  const issuer = createIssuer(
    {
      ...shared,
      clients: DEFAULT_CLIENTS.map((client) =>
        client.refreshTokenDelivery === 'cookie' ? { ...client, allowedOrigins: [url] } : client,
      ),
      sessionIdleTimeoutSeconds: SETTINGS.sessionIdleTimeoutSeconds.default,
      sessionAbsoluteLifetimeSeconds: SETTINGS.sessionAbsoluteLifetimeSeconds.default,
      refreshGraceSeconds: settings.refreshGraceSeconds,
      issuerKeyCacheTtlSeconds: KEY_CACHE_SECONDS,
    },
    {
      sessions,
      users: settings.users,
      loadKeySet: () => readKeySet(settings.keysPath),
      loadPublicJwks,
      // The health route reflects this platform's own table (DynamoDB Local) and key file.
      probeTable: () => settings.jwksStore.probe(),
      logger,
    },
  );
  const authorizer = createAuthorizer(
    {
      ...shared,
      clockSkewSeconds: SETTINGS.clockSkewSeconds.default,
      sessionCacheTtlSeconds: settings.sessionCacheTtlSeconds,
      consistentRead: false,
    },
    { sessions, loadPublicJwks, routes: PROTECTED_ROUTES, logger },
  );
  // The demo page at `/` (local/demo/): static assets with a strict CSP, the script bundled on first use.
  const demo = createDemoAssets();

  return async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
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
    const body = await readBody(request, MAX_BODY_BYTES);
    if (body === undefined) {
      return sendError(
        response,
        413,
        'invalid_request',
        `request body is larger than ${MAX_BODY_BYTES} bytes`,
      );
    }
    const sourceIp = request.socket.remoteAddress ?? '127.0.0.1';
    const base = { resource: match.route.path, path, pathParameters: match.params, body, sourceIp };
    if (issuerMatch !== undefined) return sendResult(response, await issuer(toProxyEvent(request, base)));

    // A protected route: the authorizer first, exactly as API Gateway runs it.
    const event = toProxyEvent(request, base);
    const methodArn = `${LOCAL_API}/${method}${path}`;
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
