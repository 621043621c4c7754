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
import { createAuthorizerHandler, UNAUTHORIZED } from '../lambda/authorizer/handler';
import { AccessTokenVerifier } from '../lambda/core/access-token';
import { Authorizer } from '../lambda/core/authorizer';
import { BearerAuthenticator } from '../lambda/core/bearer-authenticator';
import { ClientRegistry } from '../lambda/core/clients';
import { CredentialService } from '../lambda/core/credentials';
import { JwksCache } from '../lambda/core/jwks-cache';
import { cachedKeySource } from '../lambda/core/key-source';
import { toPublicJwks } from '../lambda/core/keys';
import { HTTP_METHODS, isValidRequestPath, matchRoute } from '../lambda/core/route-matching';
import { SessionCache } from '../lambda/core/session-cache';
import { SessionService } from '../lambda/core/session-service';
import { createIssuerHandler } from '../lambda/issuer/handler';
import { MAX_BODY_BYTES } from '../lambda/issuer/http';
import { ISSUER_ROUTES } from '../lambda/issuer/routes';
import { PROTECTED_ROUTES } from '../lambda/protected-routes';
import { createDemoAssets } from './demo/serve';
import { createTable, type DynamoDbLocal, localClient, startDynamoDbLocal } from './dynamodb-local';
import { readBody, sendError, sendResult, toProxyEvent } from './http-adapter';
import { loadOrCreateKeySet, readKeySet } from './keys-file';

/** Settings of the local platform (the environment variables of `npm start`). */
export interface LocalPlatformOptions {
  /** @default '127.0.0.1' */
  readonly host?: string;
  /** 0 picks a free port. @default 3000 */
  readonly port?: number;
  /** Where `keys.json` lives. @default '.local' */
  readonly dataDir?: string;
  /** @default 300 */
  readonly accessTokenTtlSeconds?: number;
  /** @default 10 */
  readonly refreshGraceSeconds?: number;
  /** @default 1 */
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
/** How long the issuer reuses the key file it read: `npm run rotate-keys` takes effect within this. */
export const KEY_CACHE_MS = 2_000;

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
  const credentials = new CredentialService({ users });
  for (const user of DEMO_USERS) await credentials.createUser(user, { overwrite: true });
  await credentials.prepare();

  handler = buildHandlers({
    url,
    keysPath,
    client,
    jwksStore,
    credentials,
    logger,
    accessTokenTtlSeconds: options.accessTokenTtlSeconds ?? 300,
    refreshGraceSeconds: options.refreshGraceSeconds ?? 10,
    sessionCacheTtlSeconds: options.sessionCacheTtlSeconds ?? 1,
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
  readonly credentials: CredentialService;
  readonly logger: Logger;
  readonly accessTokenTtlSeconds: number;
  readonly refreshGraceSeconds: number;
  readonly sessionCacheTtlSeconds: number;
}

function buildHandlers(settings: HandlerSettings) {
  const { url, logger } = settings;
  const profile = { issuer: url, audience: `${url}/api`, ttlSeconds: settings.accessTokenTtlSeconds };
  const store = new DynamoDbSessionStore({ client: settings.client, tableName: TABLE_NAME });
  const keySource = cachedKeySource({ load: () => readKeySet(settings.keysPath), ttlMs: KEY_CACHE_MS });
  const jwks = new JwksCache({
    load: () => settings.jwksStore.load(),
    ttlMs: KEY_CACHE_MS,
    minRefreshIntervalMs: 1000,
  });
  const verifier = new AccessTokenVerifier({ ...profile, keys: jwks.get });
  const authenticatorWith = (ttlMs: number) =>
    new BearerAuthenticator({ verifier, jwks, sessions: new SessionCache({ store, ttlMs }) });

  const issuer = createIssuerHandler({
    sessions: new SessionService({
      store,
      keys: keySource,
      profile,
      policy: { refreshGraceSeconds: settings.refreshGraceSeconds },
      onSecurityEvent: (event) => logger.warn('security event', { ...event }),
    }),
    credentials: settings.credentials,
    authenticator: authenticatorWith(0),
    publicJwks: () => settings.jwksStore.load(),
    clients: new ClientRegistry([
      { clientId: 'web', refreshTokenDelivery: 'cookie', allowedOrigins: [url] },
      { clientId: 'native', refreshTokenDelivery: 'body' },
    ]),
    issuer: url,
    refreshCookieMaxAgeSeconds: 604_800,
    logger,
  });
  const authorizer = createAuthorizerHandler({
    authorizer: new Authorizer(authenticatorWith(settings.sessionCacheTtlSeconds * 1000), PROTECTED_ROUTES),
    logger,
  });
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
        : sendError(response, 404, 'not_found', 'no such route');
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
        return sendError(response, 401, 'invalid_token', 'the access token is missing or invalid', {
          'WWW-Authenticate': 'Bearer error="invalid_token"',
        });
      }
      return sendError(response, 503, 'temporarily_unavailable', 'the authorizer could not decide', {
        'Retry-After': '1',
      });
    }
    if (!isAllowed(decision, methodArn)) {
      return sendError(response, 403, 'insufficient_scope', 'the token does not allow this route', {
        'WWW-Authenticate': 'Bearer error="insufficient_scope"',
      });
    }
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
