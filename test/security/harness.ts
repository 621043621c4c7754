import { type AttributeValue, type DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import type { APIGatewayProxyResult } from 'aws-lambda';
import { DynamoDbJwksStore } from '../../lambda/adapters/dynamodb-jwks-store';
import type { DynamoDbLiteClient } from '../../lambda/adapters/dynamodb-lite-client';
import { sdkSessionSubjectReader } from '../../lambda/adapters/dynamodb-sdk-batch-get';
import { DynamoDbSessionStore } from '../../lambda/adapters/dynamodb-session-store';
import { DynamoDbSubjectStore } from '../../lambda/adapters/dynamodb-subject-store';
import { DynamoDbUserStore } from '../../lambda/adapters/dynamodb-user-store';
import { createLogger } from '../../lambda/adapters/logger';
import { createAuthorizerHandler } from '../../lambda/authorizer/handler';
import { AccessTokenVerifier } from '../../lambda/core/access-token';
import { Authorizer } from '../../lambda/core/authorizer';
import { BearerAuthenticator } from '../../lambda/core/bearer-authenticator';
import { ClientRegistry } from '../../lambda/core/clients';
import type { Clock } from '../../lambda/core/clock';
import { CredentialService } from '../../lambda/core/credentials';
import { JwksCache } from '../../lambda/core/jwks-cache';
import { type KeySet, toPublicJwks } from '../../lambda/core/keys';
import { SessionCache } from '../../lambda/core/session-cache';
import { type SecurityEvent, SessionService } from '../../lambda/core/session-service';
import { issuerReadiness } from '../../lambda/issuer/create-issuer';
import { createIssuerHandler, type IssuerDeps } from '../../lambda/issuer/handler';
import { PROTECTED_ROUTES } from '../../lambda/protected-routes';
import { localLiteClient } from '../../local/dynamodb-local';
import { authorizerEvent, FORM_TYPE, JSON_TYPE, proxyEvent } from '../support/events';
import { AUDIENCE, ISSUER } from '../support/fixtures';

export { authorizerEvent, FORM_TYPE, JSON_TYPE, proxyEvent };

/** Shared set-up of the security suites: the real issuer and authorizer handlers over a real table. */

export const PROFILE = { issuer: ISSUER, audience: AUDIENCE, ttlSeconds: 300 };
export const WEB_ORIGIN = 'https://app.example.test';
export const USERS = {
  alice: { username: 'alice', password: 'alice-password', userId: 'u-alice', scope: 'profile' },
  bob: { username: 'bob', password: 'bob-password', userId: 'u-bob', scope: 'profile admin' },
} as const;
/** A stack-trace frame, a source position or a Node internal. */
export const STACK_TRACE = /^\s*at |\bat \S+ \(|\.[cm]?[jt]s:\d+|node:internal/m;

/** Creates the two users of the suites (cheap scrypt parameters). */
export async function seedUsers(client: DynamoDBClient, tableName: string): Promise<void> {
  const credentials = new CredentialService({
    users: new DynamoDbUserStore({ client, tableName }),
    scrypt: { N: 2 ** 10 },
  });
  for (const user of Object.values(USERS)) await credentials.createUser(user, { overwrite: true });
}

/** Settings of {@link buildIssuer}. */
export interface IssuerOptions {
  readonly client: DynamoDBClient;
  readonly tableName: string;
  readonly keys: KeySet;
  readonly clock?: Clock;
  readonly refreshGraceSeconds?: number;
  /** Replaces the credential service (to inject a failure). */
  readonly credentials?: IssuerDeps['credentials'];
  /**
   * The minimal client the refresh requests (the rotation write, the watermark reads) go through, as in Lambda
   * (lambda/issuer/index.ts); `null` sends them through `client` too (to inject faults with SDK middleware).
   * @default a minimal client on the run's DynamoDB Local, where `client` points
   */
  readonly liteClient?: Pick<DynamoDbLiteClient, 'updateItem' | 'getItem'> | null;
}

let runLiteClient: DynamoDbLiteClient | undefined;

/** The minimal client on the run's DynamoDB Local (idle keep-alive sockets do not hold the process). */
export function defaultLiteClient(): DynamoDbLiteClient {
  runLiteClient ??= localLiteClient(process.env.DYNAMODB_LOCAL_ENDPOINT ?? '');
  return runLiteClient;
}

/** The real issuer handler, capturing its log lines and security events. */
export function buildIssuer(options: IssuerOptions) {
  const lines: string[] = [];
  const securityEvents: SecurityEvent[] = [];
  const clock = options.clock ?? Date.now;
  const liteClient = options.liteClient === undefined ? defaultLiteClient() : options.liteClient;
  const lite = liteClient === null ? {} : { liteClient };
  const store = new DynamoDbSessionStore({ client: options.client, tableName: options.tableName, ...lite });
  const jwks = new JwksCache({ load: async () => toPublicJwks(options.keys), clock });
  const handler = createIssuerHandler({
    sessions: new SessionService({
      store,
      subjects: new DynamoDbSubjectStore({ client: options.client, tableName: options.tableName, ...lite }),
      keys: async () => options.keys,
      profile: PROFILE,
      clock,
      policy: { refreshGraceSeconds: options.refreshGraceSeconds ?? 10 },
      onSecurityEvent: (event) => securityEvents.push(event),
    }),
    credentials:
      options.credentials ??
      new CredentialService({
        users: new DynamoDbUserStore({ client: options.client, tableName: options.tableName }),
        scrypt: { N: 2 ** 10 },
        clock,
      }),
    authenticator: new BearerAuthenticator({
      verifier: new AccessTokenVerifier({ ...PROFILE, keys: jwks.get, clock }),
      jwks,
      sessions: new SessionCache({
        reader: sdkSessionSubjectReader(options.client, options.tableName),
        ttlMs: 0,
      }),
      clock,
    }),
    publicJwks: async () => toPublicJwks(options.keys),
    readiness: issuerReadiness(
      async () => options.keys,
      () => new DynamoDbJwksStore(options.client, options.tableName).probe(),
    ),
    clients: new ClientRegistry([
      { clientId: 'web', refreshTokenDelivery: 'cookie', allowedOrigins: [WEB_ORIGIN] },
      { clientId: 'native', refreshTokenDelivery: 'body' },
      { clientId: 'cli', refreshTokenDelivery: 'body' },
    ]),
    issuer: ISSUER,
    refreshCookieMaxAgeSeconds: 3600,
    logger: createLogger('issuer', (line) => lines.push(line)),
  });
  return { handler, lines, securityEvents, store };
}

/** The real authorizer handler over `client`'s table (session cache off unless `cacheMs` is given). */
export function buildAuthorizer(options: {
  readonly client: DynamoDBClient;
  readonly tableName: string;
  readonly keys: KeySet;
  readonly cacheMs?: number;
}) {
  const lines: string[] = [];
  const jwks = new JwksCache({ load: async () => toPublicJwks(options.keys) });
  const authenticator = new BearerAuthenticator({
    verifier: new AccessTokenVerifier({ ...PROFILE, keys: jwks.get }),
    jwks,
    sessions: new SessionCache({
      reader: sdkSessionSubjectReader(options.client, options.tableName),
      ttlMs: options.cacheMs ?? 0,
    }),
  });
  const handler = createAuthorizerHandler({
    authorizer: new Authorizer(authenticator, PROTECTED_ROUTES),
    logger: createLogger('authorizer', (line) => lines.push(line)),
  });
  return { handler, lines };
}

export type IssuerHandler = ReturnType<typeof buildIssuer>['handler'];

/** The outcome of a login. */
export interface LoggedIn {
  readonly response: APIGatewayProxyResult;
  readonly accessToken: string;
  /** From the body (native, cli) or the cookie (web). */
  readonly refreshToken: string;
  readonly sid: string;
}

/** Logs `user` in with `clientId` (and extra headers) and returns its tokens. */
export async function login(
  handler: IssuerHandler,
  user: { readonly username: string; readonly password: string } = USERS.alice,
  clientId = 'native',
  headers: Record<string, string> = {},
): Promise<LoggedIn> {
  const response = await handler(
    proxyEvent('POST', '/auth/login', {
      headers: { ...JSON_TYPE, ...headers },
      body: JSON.stringify({ username: user.username, password: user.password, client_id: clientId }),
    }),
  );
  if (response.statusCode !== 200) throw new Error(`login failed: ${response.statusCode} ${response.body}`);
  const body = JSON.parse(response.body) as Record<string, string>;
  const accessToken = String(body.access_token);
  const refreshToken =
    body.refresh_token ?? cookieValue(String(response.multiValueHeaders?.['Set-Cookie']?.[0] ?? ''));
  return { response, accessToken, refreshToken, sid: claimsOf(accessToken).sid as string };
}

/** The value of a `Set-Cookie` line. */
export function cookieValue(setCookie: string): string {
  return setCookie.split(';')[0]?.split('=').slice(1).join('=') ?? '';
}

/** The claims of a JWT, unverified. */
export function claimsOf(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8'));
}

/** A refresh through the token endpoint: native/cli in the body, web from the cookie with its Origin. */
export function refresh(
  handler: IssuerHandler,
  refreshToken: string,
  clientId = 'native',
): Promise<APIGatewayProxyResult> {
  if (clientId === 'web') {
    return handler(
      proxyEvent('POST', '/auth/token', {
        headers: { ...FORM_TYPE, Cookie: `refresh_token=${refreshToken}`, Origin: WEB_ORIGIN },
        body: 'grant_type=refresh_token&client_id=web',
      }),
    );
  }
  return handler(
    proxyEvent('POST', '/auth/token', {
      headers: FORM_TYPE,
      body: new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: refreshToken,
        client_id: clientId,
      }).toString(),
    }),
  );
}

/** Every item of the table, keyed by `pk`, as plain attribute maps. */
export async function scanTable(
  client: DynamoDBClient,
  tableName: string,
): Promise<Map<string, Record<string, AttributeValue>>> {
  const items = new Map<string, Record<string, AttributeValue>>();
  let start: Record<string, AttributeValue> | undefined;
  do {
    const page = await client.send(
      new ScanCommand({ TableName: tableName, ConsistentRead: true, ExclusiveStartKey: start }),
    );
    for (const item of page.Items ?? []) items.set(String(item.pk?.S), item);
    start = page.LastEvaluatedKey;
  } while (start !== undefined);
  return items;
}
