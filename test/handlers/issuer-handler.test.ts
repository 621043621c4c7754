import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  GetSecretValueCommand,
  InternalServiceError,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { DynamoDbJwksStore } from '../../lambda/adapters/dynamodb-jwks-store';
import { DynamoDbLiteError } from '../../lambda/adapters/dynamodb-lite-client';
import { sdkSessionSubjectReader } from '../../lambda/adapters/dynamodb-sdk-batch-get';
import { DynamoDbSessionStore } from '../../lambda/adapters/dynamodb-session-store';
import { DynamoDbSubjectStore } from '../../lambda/adapters/dynamodb-subject-store';
import { DynamoDbUserStore } from '../../lambda/adapters/dynamodb-user-store';
import { createLogger, LOG_MESSAGES } from '../../lambda/adapters/logger';
import { secretsManagerKeySetLoader } from '../../lambda/adapters/secrets-manager-key-source';
import { AccessTokenVerifier } from '../../lambda/core/access-token';
import { BearerAuthenticator } from '../../lambda/core/bearer-authenticator';
import { type ClientConfig, ClientRegistry } from '../../lambda/core/clients';
import { CredentialService } from '../../lambda/core/credentials';
import {
  AccountLockedError,
  GrantError,
  InvalidRequestError,
  NotReadyError,
  TokenError,
} from '../../lambda/core/errors';
import { JwksCache } from '../../lambda/core/jwks-cache';
import { serializeKeySet, UNINITIALIZED_SECRET } from '../../lambda/core/key-set-format';
import { generateKeySet, type KeySet, toPublicJwks } from '../../lambda/core/keys';
import { SessionCache } from '../../lambda/core/session-cache';
import { SessionService } from '../../lambda/core/session-service';
import { createIssuer, issuerReadiness } from '../../lambda/issuer/create-issuer';
import { createIssuerHandler, NOT_READY_RETRY_AFTER_SECONDS, toHttpError } from '../../lambda/issuer/handler';
import { HttpError } from '../../lambda/issuer/http';
import { HEALTH_PATH, ISSUER_ROUTES } from '../../lambda/issuer/routes';
import { SETTINGS } from '../../lambda/settings';
import { localClient } from '../../local/dynamodb-local';
import { SecretsManagerStandIn } from '../../local/secrets-manager-stand-in';
import { freshTable } from '../support/dynamodb';
import { proxyEvent as event, FORM_TYPE, JSON_TYPE } from '../support/events';
import { AUDIENCE, FrozenClock, ISSUER } from '../support/fixtures';

let client: DynamoDBClient;
let tableName: string;
let keys: KeySet;

beforeAll(async () => {
  ({ client, tableName } = await freshTable());
  keys = await generateKeySet({ now: Date.now() });
  const credentials = new CredentialService({
    users: new DynamoDbUserStore({ client, tableName }),
    scrypt: { N: 2 ** 10 },
  });
  await credentials.createUser({
    username: 'alice',
    password: 'alice-password',
    scope: 'profile',
    userId: 'u-alice',
  });
  await new DynamoDbJwksStore(client, tableName).publish(toPublicJwks(keys), Date.now());
});

afterAll(() => client.destroy());

const SAMPLE_CLIENTS: readonly ClientConfig[] = [
  { clientId: 'web', refreshTokenDelivery: 'cookie', allowedOrigins: ['https://app.example.test'] },
  { clientId: 'native', refreshTokenDelivery: 'body' },
];

function issuerWith(
  dynamo: DynamoDBClient = client,
  clients: readonly ClientConfig[] = SAMPLE_CLIENTS,
  clock?: () => number,
) {
  const lines: string[] = [];
  const store = new DynamoDbSessionStore({ client: dynamo, tableName });
  const profile = { issuer: ISSUER, audience: AUDIENCE, ttlSeconds: 300 };
  const jwks = new JwksCache({ load: async () => toPublicJwks(keys) });
  const handler = createIssuerHandler({
    sessions: new SessionService({
      store,
      subjects: new DynamoDbSubjectStore({ client: dynamo, tableName }),
      keys: async () => keys,
      profile,
    }),
    credentials: new CredentialService({
      users: new DynamoDbUserStore({ client: dynamo, tableName }),
      scrypt: { N: 2 ** 10 },
    }),
    authenticator: new BearerAuthenticator({
      verifier: new AccessTokenVerifier({ ...profile, keys: jwks.get }),
      jwks,
      sessions: new SessionCache({ reader: sdkSessionSubjectReader(dynamo, tableName), ttlMs: 0 }),
    }),
    publicJwks: async () => toPublicJwks(keys),
    readiness: issuerReadiness(
      async () => keys,
      () => new DynamoDbJwksStore(dynamo, tableName).probe(),
    ),
    clients: new ClientRegistry(clients),
    issuer: ISSUER,
    refreshCookieMaxAgeSeconds: 3600,
    ...(clock === undefined ? {} : { clock }),
    logger: createLogger('issuer', (line) => lines.push(line)),
  });
  return { handler, lines };
}

async function login(handler: ReturnType<typeof issuerWith>['handler'], clientId = 'native') {
  const response = await handler(
    event('POST', '/auth/login', {
      headers: { ...JSON_TYPE, 'User-Agent': 'jest' },
      body: JSON.stringify({ username: 'alice', password: 'alice-password', client_id: clientId }),
    }),
  );
  return { response, body: JSON.parse(response.body) as Record<string, string> };
}

describe('issuer handler', () => {
  test('logs in with no-store headers and the refresh token in the body for a native client', async () => {
    const { handler, lines } = issuerWith();
    const { response, body } = await login(handler);
    expect(response.statusCode).toBe(200);
    expect(response.headers).toMatchObject({ 'Cache-Control': 'no-store', Pragma: 'no-cache' });
    expect(body).toMatchObject({ token_type: 'Bearer', expires_in: 300, scope: 'profile' });
    expect(typeof body.refresh_token).toBe('string');
    expect(lines.join('\n')).not.toContain(body.access_token);
    expect(lines.join('\n')).not.toContain(body.refresh_token);
  });

  test("a request without client_id means the configuration's first body client, whatever its id", async () => {
    const { handler } = issuerWith(client, [
      { clientId: 'acme-browser', refreshTokenDelivery: 'cookie', allowedOrigins: ['https://acme.test'] },
      { clientId: 'acme-ios', refreshTokenDelivery: 'body' },
    ]);
    const response = await handler(
      event('POST', '/auth/login', {
        headers: JSON_TYPE,
        body: JSON.stringify({ username: 'alice', password: 'alice-password' }),
      }),
    );
    expect(response.statusCode).toBe(200);
    const body = JSON.parse(response.body) as Record<string, string>;
    expect(typeof body.refresh_token).toBe('string');
  });

  test('fails a request without client_id when no client takes its refresh token in the body', async () => {
    const { handler } = issuerWith(client, [
      { clientId: 'acme-browser', refreshTokenDelivery: 'cookie', allowedOrigins: ['https://acme.test'] },
    ]);
    const response = await handler(
      event('POST', '/auth/login', {
        headers: JSON_TYPE,
        body: JSON.stringify({ username: 'alice', password: 'alice-password' }),
      }),
    );
    expect(response.statusCode).toBe(400);
    expect(JSON.parse(response.body)).toEqual({
      error: 'invalid_request',
      error_description: 'client_id is required',
    });
  });

  test('accepts a base64-encoded body as API Gateway sends binary payloads', async () => {
    const { handler } = issuerWith();
    const response = await handler(
      event('POST', '/auth/login', {
        headers: JSON_TYPE,
        base64: true,
        body: Buffer.from(JSON.stringify({ username: 'alice', password: 'alice-password' })).toString(
          'base64',
        ),
      }),
    );
    expect(response.statusCode).toBe(200);
  });

  test('puts the web client refresh token only in a narrow HttpOnly cookie', async () => {
    const { handler } = issuerWith();
    const { response, body } = await login(handler, 'web');
    expect(body.refresh_token).toBeUndefined();
    const [cookie] = response.multiValueHeaders?.['Set-Cookie'] ?? [];
    expect(String(cookie)).toMatch(
      /^refresh_token=[A-Za-z0-9_-]{124}; Path=\/auth; Max-Age=3600; HttpOnly; Secure; SameSite=Strict$/,
    );
  });

  test("caps the refresh cookie at the session's remaining life", async () => {
    // The issuer's clock stands 100 s before the end of the session's 7-day absolute lifetime.
    const { handler } = issuerWith(client, SAMPLE_CLIENTS, () => Date.now() + (604_800 - 100) * 1000);
    const { response } = await login(handler, 'web');
    const [cookie] = response.multiValueHeaders?.['Set-Cookie'] ?? [];
    const maxAge = Number(/Max-Age=(\d+);/.exec(String(cookie))?.[1]);
    expect(maxAge).toBeGreaterThan(90);
    expect(maxAge).toBeLessThanOrEqual(100);
  });

  test('refreshes from the cookie only with an allowed Origin', async () => {
    const { handler } = issuerWith();
    const { response } = await login(handler, 'web');
    const cookie = String(response.multiValueHeaders?.['Set-Cookie']?.[0]).split(';')[0] ?? '';
    const refresh = (origin?: string) =>
      handler(
        event('POST', '/auth/token', {
          headers: { ...FORM_TYPE, Cookie: cookie, ...(origin === undefined ? {} : { Origin: origin }) },
          body: 'grant_type=refresh_token&client_id=web',
        }),
      );
    expect((await refresh()).statusCode).toBe(403);
    expect((await refresh('https://evil.example')).statusCode).toBe(403);
    expect((await refresh('https://app.example.test')).statusCode).toBe(200);
  });

  test('logs a web client out by its cookie alone, clearing the cookie', async () => {
    const { handler } = issuerWith();
    const { response } = await login(handler, 'web');
    const cookie = String(response.multiValueHeaders?.['Set-Cookie']?.[0]).split(';')[0] ?? '';
    const logout = await handler(
      event('POST', '/auth/logout', { headers: { Cookie: cookie, Origin: 'https://app.example.test' } }),
    );
    expect(logout.statusCode).toBe(204);
    expect(String(logout.multiValueHeaders?.['Set-Cookie']?.[0])).toMatch(
      /^refresh_token=; Path=\/auth; Max-Age=0;/,
    );
    const refresh = await handler(
      event('POST', '/auth/token', {
        headers: { ...FORM_TYPE, Cookie: cookie, Origin: 'https://app.example.test' },
        body: 'grant_type=refresh_token&client_id=web',
      }),
    );
    expect(JSON.parse(refresh.body)).toMatchObject({ error: 'invalid_grant' });
  });

  test.each([
    ['a repeated parameter', 'grant_type=refresh_token&grant_type=refresh_token', 400, 'invalid_request'],
    ['no grant_type', 'refresh_token=x', 400, 'invalid_request'],
    ['another grant', 'grant_type=password', 400, 'unsupported_grant_type'],
    ['no refresh token', 'grant_type=refresh_token', 400, 'invalid_request'],
    ['a garbage refresh token', 'grant_type=refresh_token&refresh_token=abc', 400, 'invalid_grant'],
    [
      'a scope change',
      `grant_type=refresh_token&refresh_token=${'A'.repeat(82)}&scope=admin`,
      400,
      'invalid_request',
    ],
    ['an unknown client', 'grant_type=refresh_token&refresh_token=x&client_id=nobody', 400, 'invalid_client'],
  ])('answers a token request with %s by %i %s', async (_name, body, status, error) => {
    const { handler } = issuerWith();
    const response = await handler(event('POST', '/auth/token', { headers: FORM_TYPE, body }));
    expect(response.statusCode).toBe(status);
    expect(JSON.parse(response.body)).toMatchObject({ error });
  });

  test.each([
    ['JSON to the form endpoint', '/auth/token', JSON_TYPE, '{}', 415],
    ['a form to the JSON endpoint', '/auth/login', FORM_TYPE, 'username=a', 415],
    ['a JSON array', '/auth/login', JSON_TYPE, '[]', 400],
    ['a non-string field', '/auth/login', JSON_TYPE, '{"username":1,"password":"x"}', 400],
    [
      'a __proto__ member',
      '/auth/login',
      JSON_TYPE,
      '{"__proto__":{"x":1},"username":"a","password":"b"}',
      400,
    ],
    ['a missing password', '/auth/login', JSON_TYPE, '{"username":"alice"}', 400],
    ['an oversized body', '/auth/login', JSON_TYPE, `{"username":"${'a'.repeat(17_000)}"}`, 413],
  ])('refuses %s with a 4xx JSON body', async (_name, resource, headers, body, status) => {
    const { handler } = issuerWith();
    const response = await handler(event('POST', resource, { headers, body }));
    expect(response.statusCode).toBe(status);
    expect(JSON.parse(response.body)).toHaveProperty('error');
  });

  test('answers 404 for an unknown route and 405 for a wrong method', async () => {
    const { handler } = issuerWith();
    expect((await handler(event('GET', '/nope'))).statusCode).toBe(404);
    const wrongMethod = await handler(event('GET', '/auth/login'));
    expect(wrongMethod.statusCode).toBe(405);
    expect(wrongMethod.headers?.Allow).toBe('POST');
  });

  test('requires a valid bearer token on the session routes, with WWW-Authenticate', async () => {
    const { handler } = issuerWith();
    const response = await handler(
      event('GET', '/auth/sessions', { headers: { Authorization: 'Bearer x.y.z' } }),
    );
    expect(response.statusCode).toBe(401);
    expect(response.headers?.['WWW-Authenticate']).toBe('Bearer error="invalid_token"');
  });

  test('revokes through RFC 7009 with an access token, then refuses it', async () => {
    const { handler } = issuerWith();
    const { body } = await login(handler);
    const revoke = await handler(
      event('POST', '/auth/revoke', {
        headers: FORM_TYPE,
        body: `token=${body.access_token}&token_type_hint=access_token&client_id=native`,
      }),
    );
    expect(revoke.statusCode).toBe(200);
    const after = await handler(
      event('GET', '/auth/sessions', { headers: { Authorization: `Bearer ${body.access_token}` } }),
    );
    expect(after.statusCode).toBe(401);
  });

  test('ignores an unknown or wrong token_type_hint and still revokes (RFC 7009 section 2.1)', async () => {
    const { handler } = issuerWith();
    const { body } = await login(handler);
    const revoke = await handler(
      event('POST', '/auth/revoke', {
        headers: FORM_TYPE,
        body: `token=${body.refresh_token}&token_type_hint=id_token&client_id=native`,
      }),
    );
    expect(revoke.statusCode).toBe(200);
    const refresh = await handler(
      event('POST', '/auth/token', {
        headers: FORM_TYPE,
        body: `grant_type=refresh_token&refresh_token=${body.refresh_token}&client_id=native`,
      }),
    );
    expect(JSON.parse(refresh.body)).toMatchObject({ error: 'invalid_grant' });
  });

  test('answers 503 with Retry-After when DynamoDB is unreachable, and writes nothing', async () => {
    const unreachable = localClient('http://127.0.0.1:9');
    const { handler, lines } = issuerWith(unreachable);
    const { response } = await login(handler);
    expect(response.statusCode).toBe(503);
    expect(response.headers?.['Retry-After']).toBe('1');
    expect(JSON.parse(response.body)).toEqual({
      error: 'temporarily_unavailable',
      error_description: 'try again shortly',
    });
    expect(lines.map((line) => (JSON.parse(line) as { level?: string }).level)).toContain('ERROR');
    unreachable.destroy();
  });

  test('serves discovery and the public JWKS', async () => {
    const { handler } = issuerWith();
    const discovery = JSON.parse((await handler(event('GET', '/.well-known/openid-configuration'))).body);
    expect(discovery).toMatchObject({
      issuer: ISSUER,
      jwks_uri: `${ISSUER}/.well-known/jwks.json`,
      token_endpoint: `${ISSUER}/auth/token`,
      revocation_endpoint: `${ISSUER}/auth/revoke`,
    });
    const jwks = (await handler(event('GET', '/.well-known/jwks.json'))).body;
    expect(jwks).not.toContain('"d"');
  });
});

describe('toHttpError', () => {
  test.each([
    [new InvalidRequestError('bad'), 'POST /auth/token', 400, 'invalid_request'],
    [new GrantError('invalid_credentials', 'x'), 'POST /auth/login', 401, 'invalid_grant'],
    [new GrantError('bad_mac', 'x'), 'POST /auth/token', 400, 'invalid_grant'],
    [new AccountLockedError(30), 'POST /auth/login', 429, 'too_many_requests'],
    [new HttpError(418, 'teapot', 'x'), 'GET /', 418, 'teapot'],
    [
      Object.assign(new Error('connect'), { code: 'ECONNREFUSED' }),
      'POST /auth/login',
      503,
      'temporarily_unavailable',
    ],
    [
      new DynamoDbLiteError('NetworkError', 'UpdateItem failed: ECONNRESET', undefined, true),
      'POST /auth/token',
      503,
      'temporarily_unavailable',
    ],
    [
      new DynamoDbLiteError('ProvisionedThroughputExceededException', 'GetItem: throttled', 400, true),
      'POST /auth/token',
      503,
      'temporarily_unavailable',
    ],
    [new TokenError('expired', 'x'), 'GET /auth/sessions', 401, 'invalid_token'],
    [
      new NotReadyError('signing_keys_uninitialized', 'x'),
      'POST /auth/login',
      503,
      'temporarily_unavailable',
    ],
    [new NotReadyError('table_unavailable', 'x'), 'GET /health', 503, 'temporarily_unavailable'],
    ['a string', 'GET /', 500, 'server_error'],
  ])('maps %p on %s to %i %s', (error, route, status, code) => {
    expect(toHttpError(error, route)).toMatchObject({ status, error: code });
  });

  test('sets Retry-After on a lock-out', () => {
    expect(toHttpError(new AccountLockedError(42), 'POST /auth/login').headers).toEqual({
      'Retry-After': '42',
    });
  });
});

/** One JSON log line. */
type LogLine = Record<string, unknown>;

/**
 * The issuer as the Lambda entry point wires it (createIssuer), over DynamoDB Local and the Secrets Manager
 * stand-in holding `secretString` as AWSCURRENT.
 */
function wiredIssuer(options: {
  readonly secretString: string;
  /** Replaces the Secrets Manager loader (a loader that does not parse a secret). */
  readonly loadKeySet?: () => Promise<KeySet>;
  readonly dynamo?: DynamoDBClient;
  readonly table?: string;
}) {
  const clock = new FrozenClock();
  const secrets = new SecretsManagerStandIn({ clock: clock.now });
  const arn = secrets.createSecret('signing-keys', options.secretString, { rotationEnabled: true });
  const secretsClient = new SecretsManagerClient({
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
  const mock = secrets.attach(secretsClient);
  const dynamo = options.dynamo ?? client;
  const table = options.table ?? tableName;
  const jwksStore = new DynamoDbJwksStore(dynamo, table);
  const lines: string[] = [];
  const handler = createIssuer(
    {
      issuer: ISSUER,
      audience: AUDIENCE,
      clients: SAMPLE_CLIENTS,
      accessTokenTtlSeconds: 300,
      sessionIdleTimeoutSeconds: SETTINGS.sessionIdleTimeoutSeconds.default,
      sessionAbsoluteLifetimeSeconds: SETTINGS.sessionAbsoluteLifetimeSeconds.default,
      refreshGraceSeconds: SETTINGS.refreshGraceSeconds.default,
      issuerKeyCacheTtlSeconds: 60,
      jwksCacheTtlSeconds: 60,
    },
    {
      sessions: new DynamoDbSessionStore({ client: dynamo, tableName: table }),
      subjects: new DynamoDbSubjectStore({ client: dynamo, tableName: table }),
      sessionReader: sdkSessionSubjectReader(dynamo, table),
      users: new DynamoDbUserStore({ client: dynamo, tableName: table }),
      loadKeySet: options.loadKeySet ?? secretsManagerKeySetLoader(secretsClient, arn),
      loadPublicJwks: () => jwksStore.load(),
      probeTable: () => jwksStore.probe(),
      logger: createLogger('issuer', (line) => lines.push(line)),
      writeMetric: () => {},
      clock: clock.now,
    },
  );
  const parsed = () => lines.map((line) => JSON.parse(line) as LogLine);
  return {
    handler,
    clock,
    /** The not-ready log lines. */
    notReady: () => parsed().filter((line) => line.message === LOG_MESSAGES.issuerNotReady),
    lines: parsed,
    secretReads: () => mock.commandCalls(GetSecretValueCommand).length,
    putSecret: (value: string) =>
      secretsClient.send(new PutSecretValueCommand({ SecretId: arn, SecretString: value })),
    failNextRead: (error: Error) => secrets.failNext('GetSecretValueCommand', error),
    close: () => {
      mock.restore();
      secretsClient.destroy();
    },
  };
}

function loginEvent() {
  return event('POST', '/auth/login', {
    headers: JSON_TYPE,
    body: JSON.stringify({ username: 'alice', password: 'alice-password', client_id: 'native' }),
  });
}

describe('not ready: the signing keys cannot be used', () => {
  test('answers 503 with Retry-After while the secret holds the placeholder, and logs why', async () => {
    const issuer = wiredIssuer({ secretString: UNINITIALIZED_SECRET });
    const response = await issuer.handler(loginEvent());
    expect(response.statusCode).toBe(503);
    expect(response.headers?.['Retry-After']).toBe(String(NOT_READY_RETRY_AFTER_SECONDS));
    expect(response.headers?.['Cache-Control']).toBe('no-store');
    expect(JSON.parse(response.body)).toEqual({
      error: 'temporarily_unavailable',
      error_description: 'the signing keys are not ready; try again shortly',
    });
    expect(issuer.notReady()).toEqual([
      expect.objectContaining({
        level: 'ERROR',
        route: 'POST /auth/login',
        cause: 'signing_keys_uninitialized',
      }),
    ]);
    expect(issuer.lines().some((line) => line.message === 'issuer dependency failed')).toBe(false);
    issuer.close();
  });

  test('serves once the first rotation has replaced the placeholder, after Retry-After', async () => {
    const issuer = wiredIssuer({ secretString: UNINITIALIZED_SECRET });
    expect((await issuer.handler(loginEvent())).statusCode).toBe(503);
    await issuer.putSecret(serializeKeySet(keys));
    issuer.clock.advance(NOT_READY_RETRY_AFTER_SECONDS);
    expect((await issuer.handler(loginEvent())).statusCode).toBe(200);
    issuer.close();
  });

  test('reads the secret once per Retry-After while it is not ready, however many requests come', async () => {
    const issuer = wiredIssuer({ secretString: UNINITIALIZED_SECRET });
    for (let i = 0; i < 5; i++) expect((await issuer.handler(loginEvent())).statusCode).toBe(503);
    expect(issuer.secretReads()).toBe(1);
    expect(issuer.notReady()).toHaveLength(5);
    issuer.clock.advance(NOT_READY_RETRY_AFTER_SECONDS);
    await issuer.handler(loginEvent());
    expect(issuer.secretReads()).toBe(2);
    issuer.close();
  });

  test.each([
    ['the placeholder with other whitespace', 'signing_keys_uninitialized', '{ "uninitialized": true }'],
    ['a value that is not JSON', 'signing_keys_unreadable', 'not json'],
    ['a JSON value that is not a key set', 'signing_keys_unreadable', '{"keys":"x"}'],
  ])('fails a secret holding %s as %s (503)', async (_name, cause, secretString) => {
    const issuer = wiredIssuer({ secretString });
    expect((await issuer.handler(loginEvent())).statusCode).toBe(503);
    expect(issuer.notReady()).toEqual([expect.objectContaining({ cause })]);
    issuer.close();
  });

  test('fails a loaded key set without a MAC key as unreadable, whatever loaded it (503)', async () => {
    const issuer = wiredIssuer({
      secretString: UNINITIALIZED_SECRET,
      loadKeySet: async () => ({ ...keys, macKeys: [] }),
    });
    expect((await issuer.handler(loginEvent())).statusCode).toBe(503);
    expect(issuer.notReady()).toEqual([
      expect.objectContaining({ cause: 'signing_keys_unreadable', error: 'TypeError' }),
    ]);
    issuer.close();
  });

  test('fails a key set without a current signing key as unreadable (503, never 500)', async () => {
    const noCurrent = {
      ...keys,
      signingKeys: keys.signingKeys.map((key) => ({ ...key, state: 'next' as const })),
    };
    const issuer = wiredIssuer({ secretString: serializeKeySet(noCurrent) });
    const response = await issuer.handler(loginEvent());
    expect(response.statusCode).toBe(503);
    expect(response.headers?.['Retry-After']).toBe(String(NOT_READY_RETRY_AFTER_SECONDS));
    expect(issuer.notReady()).toEqual([expect.objectContaining({ cause: 'signing_keys_unreadable' })]);
    issuer.close();
  });

  test('fails a secret that cannot be read as unreadable, naming the error and no key material', async () => {
    const issuer = wiredIssuer({ secretString: serializeKeySet(keys) });
    issuer.failNextRead(new InternalServiceError({ message: 'boom', $metadata: {} }));
    const response = await issuer.handler(loginEvent());
    expect(response.statusCode).toBe(503);
    expect(issuer.notReady()).toEqual([
      expect.objectContaining({ cause: 'signing_keys_unreadable', error: 'InternalServiceError' }),
    ]);
    const secrets = [
      ...keys.macKeys.map((key) => key.secret),
      ...keys.signingKeys.map((key) => String(key.privateJwk.d)),
    ];
    for (const text of [response.body, JSON.stringify(issuer.lines())]) {
      for (const secret of secrets) expect(text).not.toContain(secret);
    }
    issuer.close();
  });
});

describe(`GET ${HEALTH_PATH}`, () => {
  test('answers 200 {"status":"ok"}, not cacheable, when the table and the signing keys are usable', async () => {
    const issuer = wiredIssuer({ secretString: serializeKeySet(keys) });
    const response = await issuer.handler(event('GET', HEALTH_PATH));
    expect(response.statusCode).toBe(200);
    expect(JSON.parse(response.body)).toEqual({ status: 'ok' });
    expect(response.headers?.['Cache-Control']).toBe('no-store');
    expect(issuer.notReady()).toEqual([]);
    issuer.close();
  });

  test('reads the secret once per key cache TTL, not once per health check', async () => {
    const issuer = wiredIssuer({ secretString: serializeKeySet(keys) });
    for (let i = 0; i < 10; i++) {
      expect((await issuer.handler(event('GET', HEALTH_PATH))).statusCode).toBe(200);
      issuer.clock.advance(1);
    }
    expect(issuer.secretReads()).toBe(1);
    issuer.close();
  });

  test('fails with 503 naming the keys while the secret holds the placeholder', async () => {
    const issuer = wiredIssuer({ secretString: UNINITIALIZED_SECRET });
    const response = await issuer.handler(event('GET', HEALTH_PATH));
    expect(response.statusCode).toBe(503);
    expect(response.headers?.['Retry-After']).toBe(String(NOT_READY_RETRY_AFTER_SECONDS));
    expect(JSON.parse(response.body)).toEqual({
      error: 'temporarily_unavailable',
      error_description: 'the signing keys are not ready; try again shortly',
    });
    expect(issuer.notReady()).toEqual([
      expect.objectContaining({ route: `GET ${HEALTH_PATH}`, cause: 'signing_keys_uninitialized' }),
    ]);
    issuer.close();
  });

  test('fails with 503 naming the table when DynamoDB is unreachable', async () => {
    const unreachable = localClient('http://127.0.0.1:9');
    const issuer = wiredIssuer({ secretString: serializeKeySet(keys), dynamo: unreachable });
    const response = await issuer.handler(event('GET', HEALTH_PATH));
    expect(response.statusCode).toBe(503);
    expect(response.headers?.['Retry-After']).toBe(String(NOT_READY_RETRY_AFTER_SECONDS));
    expect(JSON.parse(response.body)).toEqual({
      error: 'temporarily_unavailable',
      error_description: 'the session table is unavailable; try again shortly',
    });
    expect(issuer.notReady()).toEqual([expect.objectContaining({ cause: 'table_unavailable' })]);
    unreachable.destroy();
    issuer.close();
  });

  test('fails with 503 naming the table when it holds no published JWKS', async () => {
    const empty = await freshTable();
    const issuer = wiredIssuer({
      secretString: serializeKeySet(keys),
      dynamo: empty.client,
      table: empty.tableName,
    });
    const response = await issuer.handler(event('GET', HEALTH_PATH));
    expect(response.statusCode).toBe(503);
    expect(JSON.parse(response.body)).toMatchObject({ error: 'temporarily_unavailable' });
    expect(issuer.notReady()).toEqual([expect.objectContaining({ cause: 'jwks_unpublished' })]);
    empty.client.destroy();
    issuer.close();
  });

  test('ignores the body and headers of the request', async () => {
    const issuer = wiredIssuer({ secretString: serializeKeySet(keys) });
    const response = await issuer.handler(
      event('GET', HEALTH_PATH, { headers: { Authorization: 'Bearer x', Cookie: 'a=b' }, body: '{' }),
    );
    expect(response.statusCode).toBe(200);
    issuer.close();
  });
});

describe('routes', () => {
  test('the issuer answers every declared issuer route and no other', async () => {
    const { handler, close } = wiredIssuer({ secretString: serializeKeySet(keys) });
    for (const route of ISSUER_ROUTES) {
      const response = await handler(event(route.method, route.path));
      expect([404, 405]).not.toContain(response.statusCode);
    }
    close();
  });
});

describe('issue 14: protocol details', () => {
  test('refuses a base64 body that is not valid UTF-8 with 400, never decoding it with replacement characters', async () => {
    const { handler } = issuerWith();
    const bytes = Buffer.concat([
      Buffer.from('{"username":"alice'),
      Buffer.from([0xff, 0xfe]),
      Buffer.from('","password":"x"}'),
    ]);
    const response = await handler(
      event('POST', '/auth/login', { headers: JSON_TYPE, body: bytes.toString('base64'), base64: true }),
    );
    expect(response.statusCode).toBe(400);
    expect(JSON.parse(response.body)).toEqual({
      error: 'invalid_request',
      error_description: 'body is not valid UTF-8',
    });
  });

  test('RFC 6750 3.1: no credentials get a bare Bearer challenge; a bad token keeps its error code', async () => {
    const { handler } = issuerWith();
    const missing = await handler(event('GET', '/auth/sessions'));
    expect(missing.statusCode).toBe(401);
    expect(missing.headers?.['WWW-Authenticate']).toBe('Bearer');
    const bad = await handler(
      event('POST', '/auth/logout-all', { headers: { Authorization: 'Bearer not.a.token' } }),
    );
    expect(bad.statusCode).toBe(401);
    expect(bad.headers?.['WWW-Authenticate']).toBe('Bearer error="invalid_token"');
  });

  test.each([
    '/.well-known/jwks.json',
    '/.well-known/openid-configuration',
    '/.well-known/oauth-authorization-server',
  ])('%s is public: cacheable without Pragma: no-cache, readable cross-origin', async (path) => {
    const { handler } = issuerWith();
    const response = await handler(event('GET', path));
    expect(response.statusCode).toBe(200);
    expect(response.headers?.['Cache-Control']).toMatch(/^public, max-age=\d+$/);
    expect(response.headers?.Pragma).toBeUndefined();
    expect(response.headers?.['Access-Control-Allow-Origin']).toBe('*');
  });

  test('token responses keep no-store and carry no CORS header', async () => {
    const { handler } = issuerWith();
    const { response } = await login(handler);
    expect(response.headers).toMatchObject({ 'Cache-Control': 'no-store', Pragma: 'no-cache' });
    expect(response.headers?.['Access-Control-Allow-Origin']).toBeUndefined();
  });

  test('RFC 8414 metadata and openid-configuration are the same document, with response_types_supported', async () => {
    const { handler } = issuerWith();
    const oauth = JSON.parse((await handler(event('GET', '/.well-known/oauth-authorization-server'))).body);
    const oidc = JSON.parse((await handler(event('GET', '/.well-known/openid-configuration'))).body);
    expect(oauth).toEqual(oidc);
    expect(oauth).toMatchObject({ issuer: ISSUER, response_types_supported: [] });
  });
});
