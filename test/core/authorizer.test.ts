import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { sdkBatchGetItem, sdkSessionSubjectReader } from '../../lambda/adapters/dynamodb-sdk-batch-get';
import { DynamoDbSessionStore } from '../../lambda/adapters/dynamodb-session-store';
import {
  type BatchGetItem,
  DynamoDbSessionSubjectReader,
} from '../../lambda/adapters/dynamodb-session-subject-reader';
import { DynamoDbSubjectStore } from '../../lambda/adapters/dynamodb-subject-store';
import { AccessTokenVerifier } from '../../lambda/core/access-token';
import { Authorizer } from '../../lambda/core/authorizer';
import { BearerAuthenticator } from '../../lambda/core/bearer-authenticator';
import { JwksCache } from '../../lambda/core/jwks-cache';
import { importJwks } from '../../lambda/core/jws';
import { generateKeySet, type KeySet, toPublicJwks } from '../../lambda/core/keys';
import { SessionCache, type SessionSubjectReader } from '../../lambda/core/session-cache';
import { SessionService } from '../../lambda/core/session-service';
import type { ProtectedRoute, RequestFact } from '../../lambda/policies';
import { authenticated, definePolicy, requireScope, sourceIpAllowList } from '../../lambda/policies';
import { localClient } from '../../local/dynamodb-local';
import { freshTable } from '../support/dynamodb';
import { AUDIENCE, FrozenClock, ISSUER } from '../support/fixtures';

let client: DynamoDBClient;
let store: DynamoDbSessionStore;
let subjects: DynamoDbSubjectStore;
let reader: SessionSubjectReader;
let tableName: string;
let keys: KeySet;

beforeAll(async () => {
  const table = await freshTable();
  client = table.client;
  tableName = table.tableName;
  reader = sdkSessionSubjectReader(client, tableName);
  store = new DynamoDbSessionStore({ client, tableName: table.tableName });
  subjects = new DynamoDbSubjectStore({ client, tableName: table.tableName });
  keys = await generateKeySet({ now: Date.now() });
});

afterAll(() => client.destroy());

function jwksOf(kid: string) {
  return importJwks(toPublicJwks(keys)).keys.get(kid);
}

const ROUTES: ProtectedRoute[] = [
  { method: 'GET', path: '/api/me', policy: () => ({ allow: true, policy: 'open', reason: 'open' }) },
  { method: 'GET', path: '/api/admin', policy: requireScope('admin') },
];

function setup(
  options: {
    published?: () => KeySet;
    sessionTtlMs?: number;
    routes?: readonly ProtectedRoute[];
    replicationLagBoundMs?: number;
  } = {},
) {
  const clock = new FrozenClock(Date.now());
  let loads = 0;
  const jwks = new JwksCache({
    load: async () => {
      loads += 1;
      return toPublicJwks(options.published?.() ?? keys);
    },
    clock: clock.now,
    ttlMs: 60_000,
    minRefreshIntervalMs: 5_000,
  });
  const profile = { issuer: ISSUER, audience: AUDIENCE, ttlSeconds: 300 };
  const verifier = new AccessTokenVerifier({ ...profile, keys: jwks.get, clock: clock.now });
  // Every BatchGetItem the session check makes is counted (one per cache miss, none on a hit).
  let batchGets = 0;
  const sdk = sdkBatchGetItem(client);
  const counting: BatchGetItem = (input) => {
    batchGets += 1;
    return sdk(input);
  };
  const sessions = new SessionCache({
    reader: new DynamoDbSessionSubjectReader({ batchGetItem: counting, tableName }),
    ttlMs: options.sessionTtlMs ?? 1000,
    clock: clock.now,
  });
  const authenticator = new BearerAuthenticator({
    verifier,
    jwks,
    sessions,
    clock: clock.now,
    ...(options.replicationLagBoundMs === undefined
      ? {}
      : { replicationLagBoundMs: options.replicationLagBoundMs }),
  });
  const authorizer = new Authorizer(authenticator, options.routes ?? ROUTES);
  const service = new SessionService({ store, subjects, keys: async () => keys, profile, clock: clock.now });
  return {
    clock,
    authorizer,
    authenticator,
    service,
    sessions,
    loads: () => loads,
    batchGets: () => batchGets,
  };
}

const USER = { sub: 'authz-user', clientId: 'native', scope: 'profile' };

describe('Authorizer', () => {
  test('decides every route of the table for one token', async () => {
    const { authorizer, service } = setup();
    const tokens = await service.login(USER);
    const result = await authorizer.authorize({
      authorization: `Bearer ${tokens.accessToken}`,
      method: 'GET',
      path: '/api/admin',
    });
    expect(result.outcome).toBe('decided');
    if (result.outcome !== 'decided') return;
    expect(result.current).toEqual({
      allow: false,
      policy: 'requireScope(admin)',
      reason: 'scope_missing:admin',
    });
    expect(result.routes.map(({ route, decision }) => [route.path, decision.allow])).toEqual([
      ['/api/me', true],
      ['/api/admin', false],
    ]);
    expect(result).toMatchObject({ sub: USER.sub, sid: tokens.sid, kid: tokens.kid, jti: tokens.jti });
  });

  test('denies a route that is not in the table', async () => {
    const { authorizer, service } = setup();
    const tokens = await service.login(USER);
    const result = await authorizer.authorize({
      authorization: `Bearer ${tokens.accessToken}`,
      method: 'DELETE',
      path: '/api/me',
    });
    expect(result.outcome === 'decided' && result.current).toEqual({
      allow: false,
      policy: 'routeTable',
      reason: 'route_not_declared',
    });
  });

  test.each([
    [undefined, 'missing_token'],
    ['', 'missing_token'],
    ['Basic dXNlcjpwYXNz', 'missing_token'],
    ['Bearer', 'missing_token'],
    ['Bearer a.b', 'malformed'],
    ['Bearer a b', 'missing_token'],
  ])('refuses the Authorization header %p as %s', async (authorization, reason) => {
    const { authorizer } = setup();
    await expect(authorizer.authorize({ authorization, method: 'GET', path: '/api/me' })).resolves.toEqual({
      outcome: 'unauthorized',
      reason,
    });
  });

  test('hands each policy only the request facts it declares', async () => {
    // GIVEN one route whose policy declares the source IP and one whose policy reads it undeclared
    const readsUndeclared: ProtectedRoute['policy'] = ({ request }) => ({
      allow: request.sourceIp === '10.1.2.3',
      policy: 'readsUndeclared',
      reason: `saw:${request.sourceIp}`,
    });
    const routes: ProtectedRoute[] = [
      { method: 'GET', path: '/api/office', policy: sourceIpAllowList(['10.0.0.0/8']) },
      { method: 'GET', path: '/api/sneaky', policy: readsUndeclared },
    ];
    const { authorizer, service } = setup({ routes });
    const tokens = await service.login(USER);
    // WHEN the request comes from 10.1.2.3
    const result = await authorizer.authorize({
      authorization: `Bearer ${tokens.accessToken}`,
      method: 'GET',
      path: '/api/office',
      sourceIp: '10.1.2.3',
    });
    // THEN the declared read sees it; the undeclared one sees undefined and denies (fails closed)
    expect(result.outcome === 'decided' && result.routes.map(({ decision }) => decision)).toEqual([
      { allow: true, policy: 'sourceIpAllowList(10.0.0.0/8)', reason: 'source_ip_allowed' },
      { allow: false, policy: 'readsUndeclared', reason: 'saw:undefined' },
    ]);
  });

  test('fails at start-up on a policy that reads a request fact the authorizer does not provide', () => {
    const { authenticator } = setup();
    const readsUserAgent = definePolicy('readsUserAgent()', () => ({ allow: true, reason: 'ok' }), {
      reads: ['userAgent' as RequestFact],
    });
    expect(
      () =>
        new Authorizer(authenticator, [
          { method: 'GET', path: '/api/me', policy: authenticated() },
          { method: 'GET', path: '/api/agent', policy: readsUserAgent },
        ]),
    ).toThrow(
      /^route 1 \(GET \/api\/agent\): policy readsUserAgent\(\) reads the request fact 'userAgent', which the authorizer does not provide \(it provides: sourceIp\)$/,
    );
  });

  test('fails at start-up on routes whose method ARN patterns overlap', () => {
    const { authenticator } = setup();
    expect(
      () =>
        new Authorizer(authenticator, [
          { method: 'GET', path: '/api/items/{id}', policy: requireScope('items:read') },
          { method: 'GET', path: '/api/items/mine', policy: authenticated() },
        ]),
    ).toThrow(/route 0 \(GET \/api\/items\/\{id\}\) overlaps route 1 \(GET \/api\/items\/mine\)/);
  });

  test('accepts the scheme in any case', async () => {
    const { authenticator, service } = setup();
    const tokens = await service.login(USER);
    expect((await authenticator.authenticate(`bEaReR ${tokens.accessToken}`)).outcome).toBe('authenticated');
  });
});

describe('BearerAuthenticator session check', () => {
  test('refuses a revoked session once the cache entry expires', async () => {
    const { authenticator, service, clock } = setup({ sessionTtlMs: 1000 });
    const tokens = await service.login(USER);
    expect((await authenticator.authenticate(`Bearer ${tokens.accessToken}`)).outcome).toBe('authenticated');
    await service.logout(tokens.sid, USER.sub);
    // Inside the cache TTL the cached session still answers: this is the declared revocation budget.
    const cached = await authenticator.authenticate(`Bearer ${tokens.accessToken}`);
    expect(cached).toMatchObject({ outcome: 'authenticated', cacheHit: true });
    clock.advance(1);
    await expect(authenticator.authenticate(`Bearer ${tokens.accessToken}`)).resolves.toMatchObject({
      outcome: 'unauthorized',
      reason: 'session_revoked',
      cacheHit: false,
    });
  });

  test('refuses a token whose session does not exist', async () => {
    const { authenticator, clock } = setup();
    // A token minted with the real keys for a sid the table never held.
    const noWrites = {
      get: store.get.bind(store),
      create: async () => {},
    } as unknown as DynamoDbSessionStore;
    const profile = { issuer: ISSUER, audience: AUDIENCE, ttlSeconds: 300 };
    const ghost = await new SessionService({
      store: noWrites,
      subjects,
      keys: async () => keys,
      profile,
      clock: clock.now,
    }).login(USER);
    await expect(authenticator.authenticate(`Bearer ${ghost.accessToken}`)).resolves.toMatchObject({
      outcome: 'unauthorized',
      reason: 'session_not_found',
    });
  });

  test("refuses a token whose sub differs from its session's", async () => {
    const { service } = setup();
    const tokens = await service.login(USER);
    const impostor: SessionSubjectReader = {
      read: async (sid, sub, options) => {
        const read = await reader.read(sid, sub, options);
        return { ...read, session: read.session && { ...read.session, sub: 'someone-else' } };
      },
    };
    const check = new BearerAuthenticator({
      verifier: new AccessTokenVerifier({
        issuer: ISSUER,
        audience: AUDIENCE,
        ttlSeconds: 300,
        keys: (kid) => jwksOf(kid),
      }),
      jwks: new JwksCache({ load: async () => toPublicJwks(keys) }),
      sessions: new SessionCache({ reader: impostor, ttlMs: 0 }),
    });
    await expect(check.authenticate(`Bearer ${tokens.accessToken}`)).resolves.toMatchObject({
      reason: 'session_not_found',
    });
  });

  test.each([
    [{ idleTimeoutSeconds: 301, absoluteLifetimeSeconds: 3600 }, 'session_idle'],
    [{ idleTimeoutSeconds: 301, absoluteLifetimeSeconds: 301 }, 'session_expired'],
  ])(
    'refuses a session past its %p expiry although the token is still inside its skew',
    async (policy, reason) => {
      const { authenticator, clock } = setup({ sessionTtlMs: 0 });
      const profile = { issuer: ISSUER, audience: AUDIENCE, ttlSeconds: 300 };
      const service = new SessionService({
        store,
        subjects,
        keys: async () => keys,
        profile,
        policy,
        clock: clock.now,
      });
      const tokens = await service.login(USER);
      clock.advance(310); // the token expired 10 s ago, inside the 30 s clock skew
      await expect(authenticator.authenticate(`Bearer ${tokens.accessToken}`)).resolves.toMatchObject({
        outcome: 'unauthorized',
        reason,
      });
    },
  );

  test('fails closed when the store is unreachable: the error propagates, nothing is decided', async () => {
    const unreachable = localClient('http://127.0.0.1:9');
    const { service } = setup();
    const tokens = await service.login(USER);
    const jwks = new JwksCache({ load: async () => toPublicJwks(keys) });
    const authenticator = new BearerAuthenticator({
      verifier: new AccessTokenVerifier({
        issuer: ISSUER,
        audience: AUDIENCE,
        ttlSeconds: 300,
        keys: jwks.get,
      }),
      jwks,
      sessions: new SessionCache({ reader: sdkSessionSubjectReader(unreachable, 'any'), ttlMs: 1000 }),
    });
    await expect(authenticator.authenticate(`Bearer ${tokens.accessToken}`)).rejects.toThrow();
    unreachable.destroy();
  });
});

describe("BearerAuthenticator and the subject's watermark", () => {
  /** A subject of its own per test: a watermark ends every session of its subject in the shared table. */
  let n = 0;
  const someone = () => ({ ...USER, sub: `watermark-user-${++n}-${Date.now()}` });

  test('refuses a session after logout everywhere once the cache entry expires (within the cache TTL)', async () => {
    const { authenticator, service, clock } = setup({ sessionTtlMs: 1000 });
    const user = someone();
    const tokens = await service.login(user);
    expect((await authenticator.authenticate(`Bearer ${tokens.accessToken}`)).outcome).toBe('authenticated');
    clock.advance(0.1);
    await service.logoutAll(user.sub);
    // No write touched the session item: only the watermark moved. The cached entry answers until it expires.
    expect(await authenticator.authenticate(`Bearer ${tokens.accessToken}`)).toMatchObject({
      outcome: 'authenticated',
      cacheHit: true,
    });
    clock.advance(1);
    await expect(authenticator.authenticate(`Bearer ${tokens.accessToken}`)).resolves.toMatchObject({
      outcome: 'unauthorized',
      reason: 'session_logged_out_everywhere',
      cacheHit: false,
    });
  });

  test('refuses every session of a disabled subject', async () => {
    const { authenticator, service, clock } = setup({ sessionTtlMs: 0 });
    const user = someone();
    const tokens = await service.login(user);
    // Disabled with a watermark in the past: the refusal is the disable itself, not the watermark.
    await subjects.setDisabled(user.sub, true, clock.now() - 60_000, clock.now());
    await expect(authenticator.authenticate(`Bearer ${tokens.accessToken}`)).resolves.toMatchObject({
      outcome: 'unauthorized',
      reason: 'session_disabled',
    });
  });

  test('accepts a session created after the watermark', async () => {
    const { authenticator, service, clock } = setup({ sessionTtlMs: 0 });
    const user = someone();
    await service.logoutAll(user.sub);
    clock.advance(5); // past the revocation clock margin
    const tokens = await service.login(user);
    await expect(authenticator.authenticate(`Bearer ${tokens.accessToken}`)).resolves.toMatchObject({
      outcome: 'authenticated',
    });
  });

  test('one BatchGetItem per cache miss, none on a hit', async () => {
    const { authenticator, service, clock, batchGets } = setup({ sessionTtlMs: 1000 });
    const tokens = await service.login(someone());
    const before = batchGets();
    await authenticator.authenticate(`Bearer ${tokens.accessToken}`);
    expect(batchGets() - before).toBe(1);
    await authenticator.authenticate(`Bearer ${tokens.accessToken}`);
    await authenticator.authenticate(`Bearer ${tokens.accessToken}`);
    expect(batchGets() - before).toBe(1);
    clock.advance(1);
    await authenticator.authenticate(`Bearer ${tokens.accessToken}`);
    expect(batchGets() - before).toBe(2);
  });
});

describe('JWKS refresh on an unknown kid', () => {
  test('re-loads once for a key published after the last load, at most once per interval', async () => {
    let published = keys;
    const { authenticator, clock, loads } = setup({ published: () => published });
    const rotated = await generateKeySet({ now: Date.now() });
    const service = new SessionService({
      store,
      subjects,
      keys: async () => rotated,
      profile: { issuer: ISSUER, audience: AUDIENCE, ttlSeconds: 300 },
      clock: clock.now,
    });
    const tokens = await service.login(USER);
    // Not published yet: one load at start, then the unknown kid is refused without a second load (interval).
    await expect(authenticator.authenticate(`Bearer ${tokens.accessToken}`)).resolves.toMatchObject({
      reason: 'unknown_kid',
    });
    expect(loads()).toBe(1);
    published = rotated;
    clock.advance(5);
    await expect(authenticator.authenticate(`Bearer ${tokens.accessToken}`)).resolves.toMatchObject({
      outcome: 'authenticated',
    });
    expect(loads()).toBe(2);
  });
});

describe('SessionCache', () => {
  test('keeps at most maxEntries sessions, dropping the oldest', async () => {
    const { service } = setup();
    const cache = new SessionCache({ reader, ttlMs: 60_000, maxEntries: 2 });
    const sids = [];
    for (let i = 0; i < 3; i++) sids.push((await service.login(USER)).sid);
    for (const sid of sids) await cache.get(sid, USER.sub);
    expect(cache.size).toBe(2);
    expect((await cache.get(sids[0] ?? '', USER.sub)).cacheHit).toBe(false);
    expect((await cache.get(sids[2] ?? '', USER.sub)).cacheHit).toBe(true);
  });

  test('caches absent sessions too, and nothing with a TTL of 0', async () => {
    const cached = new SessionCache({ reader, ttlMs: 60_000 });
    await cached.get('absent-session-id-0000', 'nobody');
    expect(await cached.get('absent-session-id-0000', 'nobody')).toEqual({
      session: undefined,
      subject: undefined,
      cacheHit: true,
    });
    const uncached = new SessionCache({ reader, ttlMs: 0 });
    await uncached.get('absent-session-id-0000', 'nobody');
    expect(uncached.size).toBe(0);
  });

  test('fails on a negative TTL', () => {
    expect(() => new SessionCache({ reader, ttlMs: -1 })).toThrow(/ttlMs/);
  });
});

describe('JwksCache', () => {
  test('reports refused keys and shares one load between concurrent callers', async () => {
    const rejected: unknown[] = [];
    let loads = 0;
    const jwks = new JwksCache({
      load: async () => {
        loads += 1;
        return {
          keys: [...toPublicJwks(keys).keys, { kty: 'oct', kid: 'symmetric', alg: 'HS256', k: 'AAAA' }],
        };
      },
      onRejected: (kid) => rejected.push(kid),
    });
    await Promise.all([jwks.ensureFresh(), jwks.ensureFresh(), jwks.ensureFresh()]);
    expect(loads).toBe(1);
    expect(rejected).toEqual(['symmetric']);
    expect(jwks.get('symmetric')).toBeUndefined();
    expect(jwks.get(keys.signingKeys[0]?.kid ?? '')).toBeDefined();
  });
});

describe('a session created in another region, not replicated here yet', () => {
  let otherRegion: DynamoDbSessionStore;

  beforeAll(async () => {
    const table = await freshTable();
    otherRegion = new DynamoDbSessionStore({ client: table.client, tableName: table.tableName });
  });

  /** A login in the other region, whose session item has not reached this one. */
  async function loginElsewhere(clock: FrozenClock, user = USER) {
    const profile = { issuer: ISSUER, audience: AUDIENCE, ttlSeconds: 300 };
    const elsewhere = new SessionService({
      store: otherRegion,
      subjects,
      keys: async () => keys,
      profile,
      clock: clock.now,
    });
    return elsewhere.login(user);
  }

  test('accepts a token younger than the replication lag bound, saying so', async () => {
    const { authenticator, clock } = setup({ replicationLagBoundMs: 2000 });
    const tokens = await loginElsewhere(clock);
    clock.advance(0.5);
    const result = await authenticator.authenticate(`Bearer ${tokens.accessToken}`);
    expect(result).toMatchObject({
      outcome: 'authenticated',
      sessionCheck: 'not_yet_replicated',
      session: { sid: tokens.sid, sub: USER.sub, clientId: USER.clientId, scope: USER.scope },
    });
  });

  test('refuses it once older than the bound: session_not_found', async () => {
    const { authenticator, clock } = setup({ replicationLagBoundMs: 2000 });
    const tokens = await loginElsewhere(clock);
    clock.advance(2.5);
    await expect(authenticator.authenticate(`Bearer ${tokens.accessToken}`)).resolves.toMatchObject({
      outcome: 'unauthorized',
      reason: 'session_not_found',
    });
  });

  test('reads again once the bound ends, never refusing from an absence cached before the session arrived', async () => {
    // The session cache outlives the bound: an absence read inside it must not answer past it. (`iat` is in
    // whole seconds, so a token is up to 1 s older than the clock's advance says.)
    const { authenticator, clock, batchGets } = setup({ replicationLagBoundMs: 2000, sessionTtlMs: 10_000 });
    const tokens = await loginElsewhere(clock);
    clock.advance(0.2);
    await expect(authenticator.authenticate(`Bearer ${tokens.accessToken}`)).resolves.toMatchObject({
      outcome: 'authenticated',
      sessionCheck: 'not_yet_replicated',
    });
    // Within the bound the cached absence still answers: no read.
    clock.advance(0.6);
    const reads = batchGets();
    await expect(authenticator.authenticate(`Bearer ${tokens.accessToken}`)).resolves.toMatchObject({
      sessionCheck: 'not_yet_replicated',
      cacheHit: true,
    });
    expect(batchGets()).toBe(reads);
    // The item replicates here; past the bound (and well inside the cache TTL), the next request reads it.
    const replicated = await otherRegion.get(tokens.sid, { consistent: true });
    if (replicated === undefined) throw new Error('no session in the other region');
    await store.create(replicated);
    clock.advance(2.3);
    const result = await authenticator.authenticate(`Bearer ${tokens.accessToken}`);
    expect(result).toMatchObject({ outcome: 'authenticated', cacheHit: false });
    expect(result).not.toHaveProperty('sessionCheck');
  });

  test('caches an absence read past the bound for the whole TTL: a flood of such tokens costs one read', async () => {
    const { authenticator, clock, batchGets } = setup({ replicationLagBoundMs: 2000, sessionTtlMs: 10_000 });
    const tokens = await loginElsewhere(clock);
    clock.advance(2.5);
    const reads = batchGets();
    for (let i = 0; i < 3; i++) {
      await expect(authenticator.authenticate(`Bearer ${tokens.accessToken}`)).resolves.toMatchObject({
        outcome: 'unauthorized',
        reason: 'session_not_found',
      });
      clock.advance(1.0);
    }
    expect(batchGets() - reads).toBe(1);
  });

  test('refuses it at once without a bound (strong consistency, the issuer)', async () => {
    const { authenticator, clock } = setup();
    const tokens = await loginElsewhere(clock);
    await expect(authenticator.authenticate(`Bearer ${tokens.accessToken}`)).resolves.toMatchObject({
      outcome: 'unauthorized',
      reason: 'session_not_found',
    });
  });

  test("refuses it, young as it is, when its subject's watermark here is at or after its iat", async () => {
    const { authenticator, clock } = setup({ replicationLagBoundMs: 2000, sessionTtlMs: 0 });
    const user = { ...USER, sub: `young-token-user-${Date.now()}` };
    const tokens = await loginElsewhere(clock, user);
    // The session item has not reached this region; a logout everywhere written after the login has.
    await subjects.moveWatermark(user.sub, clock.now() + 1000, clock.now());
    clock.advance(0.5);
    await expect(authenticator.authenticate(`Bearer ${tokens.accessToken}`)).resolves.toMatchObject({
      outcome: 'unauthorized',
      reason: 'session_logged_out_everywhere',
    });
  });

  test('refuses it when its subject is disabled', async () => {
    const { authenticator, clock } = setup({ replicationLagBoundMs: 2000, sessionTtlMs: 0 });
    const user = { ...USER, sub: `young-disabled-user-${Date.now()}` };
    const tokens = await loginElsewhere(clock, user);
    await subjects.setDisabled(user.sub, true, clock.now() - 60_000, clock.now());
    await expect(authenticator.authenticate(`Bearer ${tokens.accessToken}`)).resolves.toMatchObject({
      outcome: 'unauthorized',
      reason: 'session_disabled',
    });
  });

  test('never helps a session whose revoked item is here', async () => {
    const { authenticator, service, clock } = setup({ replicationLagBoundMs: 2000, sessionTtlMs: 0 });
    const tokens = await service.login(USER);
    await service.logout(tokens.sid, USER.sub);
    clock.advance(0.5);
    await expect(authenticator.authenticate(`Bearer ${tokens.accessToken}`)).resolves.toMatchObject({
      outcome: 'unauthorized',
      reason: 'session_revoked',
    });
  });
});
