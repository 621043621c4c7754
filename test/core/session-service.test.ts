import { type DynamoDBClient, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDbSessionStore } from '../../lambda/adapters/dynamodb-session-store';
import { DynamoDbSubjectStore } from '../../lambda/adapters/dynamodb-subject-store';
import { AccessTokenVerifier } from '../../lambda/core/access-token';
import { importJwks } from '../../lambda/core/jws';
import { type KeySet, toPublicJwks } from '../../lambda/core/keys';
import { deriveRefreshToken, parseRefreshToken } from '../../lambda/core/refresh-token';
import type { SessionStore } from '../../lambda/core/session';
import { type SecurityEvent, type SessionPolicy, SessionService } from '../../lambda/core/session-service';
import { type SubjectStore, subjectKey } from '../../lambda/core/subject';
import { freshTable } from '../support/dynamodb';
import { AUDIENCE, FrozenClock, grantCode, ISSUER, testKeySet } from '../support/fixtures';
import { versionOneToken, versionTwoToken } from '../support/refresh-token-formats';

let client: DynamoDBClient;
let tableName: string;
let store: DynamoDbSessionStore;
let subjects: DynamoDbSubjectStore;
let keys: KeySet;

beforeAll(async () => {
  const table = await freshTable();
  client = table.client;
  tableName = table.tableName;
  store = new DynamoDbSessionStore({ client, tableName: table.tableName });
  subjects = new DynamoDbSubjectStore({ client, tableName: table.tableName });
  keys = await testKeySet();
});

afterAll(() => client.destroy());

/** One request a counted store made: the method, and when its promise started and settled (ms). */
interface TimedCall {
  readonly name: string;
  readonly start: number;
  end?: number;
}

/** `target` with every method call recorded in `calls` (the I/O of a refresh), in `timed` with its times. */
function counting<T extends object>(target: T, calls: string[], timed: TimedCall[]): T {
  return new Proxy(target, {
    get(object, name, receiver) {
      const value = Reflect.get(object, name, receiver) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        calls.push(String(name));
        const call: TimedCall = { name: String(name), start: performance.now() };
        timed.push(call);
        const result = (value as (...a: unknown[]) => unknown).apply(object, args);
        if (result instanceof Promise) {
          result.then(
            () => {
              call.end = performance.now();
            },
            () => {
              call.end = performance.now();
            },
          );
        }
        return result;
      };
    },
  });
}

/** The session store, counting the requests each method makes (the I/O of a refresh). */
function countingStore() {
  const calls: string[] = [];
  const timed: TimedCall[] = [];
  return { calls, timed, counted: counting(store as SessionStore, calls, timed) };
}

function setup(
  policy: SessionPolicy = {},
  sessionStore: SessionStore = store,
  subjectStore: SubjectStore = subjects,
) {
  const clock = new FrozenClock();
  const events: SecurityEvent[] = [];
  const service = new SessionService({
    store: sessionStore,
    subjects: subjectStore,
    keys: async () => keys,
    profile: { issuer: ISSUER, audience: AUDIENCE, ttlSeconds: 300 },
    policy: {
      idleTimeoutSeconds: 3600,
      absoluteLifetimeSeconds: 4 * 3600,
      refreshGraceSeconds: 10,
      ...policy,
    },
    clock: clock.now,
    onSecurityEvent: (event) => events.push(event),
  });
  const verifier = new AccessTokenVerifier({
    issuer: ISSUER,
    audience: AUDIENCE,
    ttlSeconds: 300,
    clock: clock.now,
    keys: (kid) => importJwks(toPublicJwks(keys)).keys.get(kid),
  });
  return { clock, events, service, verifier };
}

const LOGIN = { sub: 'user-1', clientId: 'native', scope: 'profile' };

describe('login', () => {
  test('creates a session and a verifiable access token naming it', async () => {
    const { service, verifier } = setup();
    const tokens = await service.login({ ...LOGIN, sub: 'login-1', userAgent: 'jest', ip: '127.0.0.1' });
    const { claims } = verifier.verify(tokens.accessToken);
    expect(claims).toMatchObject({ sub: 'login-1', sid: tokens.sid, client_id: 'native', scope: 'profile' });
    expect(tokens.expiresIn).toBe(300);
    expect(parseRefreshToken(tokens.refreshToken)).toMatchObject({ sid: tokens.sid, generation: 0 });
    const session = await store.get(tokens.sid, { consistent: true });
    expect(session).toMatchObject({ sub: 'login-1', generation: 0, userAgent: 'jest', ip: '127.0.0.1' });
  });

  test('never reuses a session id', async () => {
    const { service } = setup();
    const a = await service.login(LOGIN);
    const b = await service.login(LOGIN);
    expect(a.sid).not.toBe(b.sid);
  });

  test('stores no token and no hash of one in the session item', async () => {
    const { service } = setup();
    const tokens = await service.login(LOGIN);
    const session = await store.get(tokens.sid, { consistent: true });
    const dumped = JSON.stringify(session);
    expect(dumped).not.toContain(tokens.refreshToken);
    expect(dumped).not.toContain(tokens.accessToken);
    expect(dumped).not.toContain(parseRefreshToken(tokens.refreshToken).mac.toString('base64url'));
  });
});

describe('refresh', () => {
  test('rotates: returns generation g + 1 and advances the item exactly once', async () => {
    const { service, clock } = setup();
    const login = await service.login(LOGIN);
    clock.advance(60);
    const next = await service.refresh(login.refreshToken, 'native');
    expect(next.sid).toBe(login.sid);
    expect(next.refreshToken).not.toBe(login.refreshToken);
    expect(parseRefreshToken(next.refreshToken).generation).toBe(1);
    expect((await store.get(login.sid, { consistent: true }))?.generation).toBe(1);
  });

  test('20 concurrent refreshes with one token all get the identical successor; generation advances once', async () => {
    const { service, events } = setup();
    const login = await service.login(LOGIN);
    const results = await Promise.all(
      Array.from({ length: 20 }, () => service.refresh(login.refreshToken, 'native')),
    );
    const successors = new Set(results.map((result) => result.refreshToken));
    expect(successors.size).toBe(1);
    const session = await store.get(login.sid, { consistent: true });
    expect(session?.generation).toBe(1);
    expect(session?.revokedAt).toBeUndefined();
    expect(events).toEqual([]);
    const [successor] = successors;
    await expect(service.refresh(successor, 'native')).resolves.toMatchObject({ sid: login.sid });
  });

  test('a replay inside the grace window returns the same successor', async () => {
    const { service, clock } = setup();
    const login = await service.login(LOGIN);
    const first = await service.refresh(login.refreshToken, 'native');
    clock.advance(9);
    const replay = await service.refresh(login.refreshToken, 'native');
    expect(replay.refreshToken).toBe(first.refreshToken);
    expect((await store.get(login.sid, { consistent: true }))?.generation).toBe(1);
  });

  test('a replay after the grace window is reuse: invalid_grant, the family is revoked, an event is emitted', async () => {
    const { service, clock, events } = setup();
    const login = await service.login(LOGIN);
    const first = await service.refresh(login.refreshToken, 'native');
    clock.advance(11);
    expect(await grantCode(service.refresh(login.refreshToken, 'native'))).toBe('refresh_token_reused');
    // The side effect: the newest token of the family fails too, and the session is revoked.
    expect(await grantCode(service.refresh(first.refreshToken, 'native'))).toBe('session_revoked');
    const session = await store.get(login.sid, { consistent: true });
    expect(session?.revokedReason).toBe('refresh_token_reuse');
    expect(events).toEqual([
      {
        type: 'refresh_token_reuse',
        sid: login.sid,
        sub: LOGIN.sub,
        clientId: 'native',
        presentedGeneration: 0,
        currentGeneration: 1,
      },
    ]);
  });

  test('a grandparent replay is reuse even inside the grace window', async () => {
    const { service, events } = setup();
    const login = await service.login(LOGIN);
    const first = await service.refresh(login.refreshToken, 'native');
    await service.refresh(first.refreshToken, 'native');
    expect(await grantCode(service.refresh(login.refreshToken, 'native'))).toBe('refresh_token_reused');
    expect(events).toHaveLength(1);
  });

  test('grace 0 is strict: an immediate replay is reuse', async () => {
    const { service } = setup({ refreshGraceSeconds: 0 });
    const login = await service.login(LOGIN);
    const first = await service.refresh(login.refreshToken, 'native');
    expect(await grantCode(service.refresh(login.refreshToken, 'native'))).toBe('refresh_token_reused');
    expect(await grantCode(service.refresh(first.refreshToken, 'native'))).toBe('session_revoked');
  });

  test('a generation ahead of the item (replication lag) is accepted as current', async () => {
    const { service } = setup();
    const login = await service.login(LOGIN);
    const first = await service.refresh(login.refreshToken, 'native');
    // Simulate a region that has not seen the rotation: put the item back to generation 0.
    expect(
      await store.rotate(login.sid, {
        expectedGeneration: 1,
        generation: 0,
        rotatedAt: 0,
        idleExpiresAt: Date.now() * 2,
      }),
    ).toBe(true);
    const next = await service.refresh(first.refreshToken, 'native');
    expect(parseRefreshToken(next.refreshToken).generation).toBe(2);
    expect((await store.get(login.sid, { consistent: true }))?.generation).toBe(2);
  });

  test('two regions rotating the same token derive the identical successor', async () => {
    const { service } = setup();
    const login = await service.login(LOGIN);
    const regionA = await service.refresh(login.refreshToken, 'native');
    // Region B still holds generation 0 and rotates the same token itself.
    await store.rotate(login.sid, {
      expectedGeneration: 1,
      generation: 0,
      rotatedAt: 0,
      idleExpiresAt: Date.now() * 2,
    });
    const regionB = await service.refresh(login.refreshToken, 'native');
    expect(regionB.refreshToken).toBe(regionA.refreshToken);
  });

  test('a forged MAC is invalid_grant and revokes nothing: the session still works afterwards', async () => {
    const { service, events } = setup();
    const login = await service.login(LOGIN);
    const bytes = Buffer.from(login.refreshToken, 'base64url');
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] ?? 0) ^ 0x01;
    const forged = bytes.toString('base64url');
    expect(await grantCode(service.refresh(forged, 'native'))).toBe('bad_mac');
    // A forged token of a later generation (a forger who knows the sid) does not revoke either.
    const ahead = Buffer.from(login.refreshToken, 'base64url');
    ahead.writeUInt32BE(7, 1 + 8 + 16);
    expect(await grantCode(service.refresh(ahead.toString('base64url'), 'native'))).toBe('bad_mac');
    expect(events).toEqual([]);
    await expect(service.refresh(login.refreshToken, 'native')).resolves.toMatchObject({ sid: login.sid });
  });

  test('the happy path is one round trip: the conditional write and the watermark read, in parallel', async () => {
    const { calls, timed, counted } = countingStore();
    const subjectCalls: string[] = [];
    const { service, clock } = setup({}, counted, counting(subjects as SubjectStore, subjectCalls, timed));
    const login = await service.login(LOGIN);
    calls.length = 0;
    subjectCalls.length = 0;
    timed.length = 0;
    clock.advance(60);
    const next = await service.refresh(login.refreshToken, 'native');
    expect(parseRefreshToken(next.refreshToken).generation).toBe(1);
    expect(calls).toEqual(['rotateForRefresh']);
    expect(subjectCalls).toEqual(['getByKey']);
    // Both were under way at once: each started before the other settled.
    const [write, read] = [
      timed.find((c) => c.name === 'rotateForRefresh'),
      timed.find((c) => c.name === 'getByKey'),
    ];
    expect(read?.start).toBeLessThan(write?.end ?? 0);
    expect(write?.start).toBeLessThan(read?.end ?? 0);
    // A grace replay decides from the item the failed write returned: still one write and one parallel read.
    calls.length = 0;
    subjectCalls.length = 0;
    timed.length = 0;
    expect((await service.refresh(login.refreshToken, 'native')).refreshToken).toBe(next.refreshToken);
    expect(calls).toEqual(['rotateForRefresh']);
    expect(subjectCalls).toEqual(['getByKey']);
    expect(timed[1]?.start).toBeLessThan(timed[0]?.end ?? 0);
  });

  test('a version 2 token (no subject key) reads the watermark after its write, once; its successor is version 3', async () => {
    const { calls, timed, counted } = countingStore();
    const subjectCalls: string[] = [];
    const { service } = setup({}, counted, counting(subjects as SubjectStore, subjectCalls, timed));
    const login = await service.login(LOGIN);
    const parts = parseRefreshToken(login.refreshToken);
    const macKey = keys.macKeys.find((key) => key.kid === parts.macKid);
    if (macKey === undefined || parts.salt === undefined) throw new Error('no MAC key or salt');
    const v2 = versionTwoToken(macKey.secret, parts.macKid, login.sid, 0, parts.salt);
    calls.length = 0;
    subjectCalls.length = 0;
    timed.length = 0;
    const next = await service.refresh(v2, 'native');
    expect(calls).toEqual(['rotateForRefresh']);
    expect(subjectCalls).toEqual(['getByKey']);
    expect(timed[1]?.start).toBeGreaterThanOrEqual(timed[0]?.end ?? Number.POSITIVE_INFINITY);
    expect(parseRefreshToken(next.refreshToken)).toMatchObject({
      version: 3,
      generation: 1,
      salt: parts.salt,
      subjectKey: subjectKey(LOGIN.sub),
    });
    // The version 3 token of the same generation names the same successor (grace replay).
    expect((await service.refresh(login.refreshToken, 'native')).refreshToken).toBe(next.refreshToken);
    // The successor takes the one-round-trip path.
    timed.length = 0;
    await service.refresh(next.refreshToken, 'native');
    expect(timed[1]?.start).toBeLessThan(timed[0]?.end ?? 0);
  });

  test('a token naming another subject than its session (only a MAC-key holder can make one) gets no tokens', async () => {
    const { service } = setup();
    const login = await service.login({ ...LOGIN, sub: 'mismatch-1' });
    const parts = parseRefreshToken(login.refreshToken);
    const macKey = keys.macKeys.find((key) => key.kid === parts.macKid);
    if (macKey === undefined || parts.salt === undefined) throw new Error('no MAC key or salt');
    // Names a subject with no watermark, for a session whose subject is logged out everywhere.
    await service.logoutAll('mismatch-1');
    const elsewhere = deriveRefreshToken(macKey, login.sid, 0, parts.salt, subjectKey('nobody'));
    expect(await grantCode(service.refresh(elsewhere, 'native'))).toBe('bad_mac');
    expect(await grantCode(service.refresh(login.refreshToken, 'native'))).toBe(
      'session_logged_out_everywhere',
    );
  });

  test('a forged or wrong-key token makes no request at all', async () => {
    const { calls, counted } = countingStore();
    const { service } = setup({}, counted);
    const login = await service.login(LOGIN);
    calls.length = 0;
    const bytes = Buffer.from(login.refreshToken, 'base64url');
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] ?? 0) ^ 0x01;
    expect(await grantCode(service.refresh(bytes.toString('base64url'), 'native'))).toBe('bad_mac');
    const parts = parseRefreshToken(login.refreshToken);
    const wrongKey = { kid: parts.macKid, secret: Buffer.alloc(32, 7).toString('base64url'), createdAt: 0 };
    const forged = deriveRefreshToken(wrongKey, login.sid, 5, parts.salt ?? '', subjectKey(LOGIN.sub));
    expect(await grantCode(service.refresh(forged, 'native'))).toBe('bad_mac');
    expect(await service.revokeByRefreshToken(forged, 'native', 'token_revocation')).toBeUndefined();
    expect(calls).toEqual([]);
  });

  test('a token under the real MAC key but another salt (a leaked key without the table) changes nothing', async () => {
    const { service, events } = setup();
    const login = await service.login(LOGIN);
    const before = await store.get(login.sid, { consistent: true });
    const parts = parseRefreshToken(login.refreshToken);
    const macKey = keys.macKeys.find((key) => key.kid === parts.macKid);
    if (macKey === undefined) throw new Error('no MAC key');
    const guessed = deriveRefreshToken(
      macKey,
      login.sid,
      3,
      Buffer.alloc(16, 1).toString('base64url'),
      subjectKey(LOGIN.sub),
    );
    expect(await grantCode(service.refresh(guessed, 'native'))).toBe('bad_mac');
    expect(await service.revokeByRefreshToken(guessed, 'native', 'token_revocation')).toBeUndefined();
    expect(await store.get(login.sid, { consistent: true })).toEqual(before);
    expect(events).toEqual([]);
  });

  test('a version 1 token (salt only in the item) is still accepted for one release; its successor is version 3', async () => {
    const { service, events } = setup();
    const login = await service.login(LOGIN);
    const parts = parseRefreshToken(login.refreshToken);
    const macKey = keys.macKeys.find((key) => key.kid === parts.macKid);
    if (macKey === undefined || parts.salt === undefined) throw new Error('no MAC key or salt');
    const legacy = versionOneToken(macKey.secret, parts.macKid, login.sid, 0, parts.salt);
    const results = await Promise.all(Array.from({ length: 5 }, () => service.refresh(legacy, 'native')));
    expect(new Set(results.map((result) => result.refreshToken)).size).toBe(1);
    const successor = parseRefreshToken(results[0]?.refreshToken);
    expect(successor).toMatchObject({
      version: 3,
      generation: 1,
      salt: parts.salt,
      subjectKey: subjectKey(LOGIN.sub),
    });
    // The version 3 token of the same generation names the same successor.
    expect((await service.refresh(login.refreshToken, 'native')).refreshToken).toBe(results[0]?.refreshToken);
    // A version 1 token under another salt does not verify and revokes nothing.
    const wrong = versionOneToken(
      macKey.secret,
      parts.macKid,
      login.sid,
      0,
      Buffer.alloc(16, 1).toString('base64url'),
    );
    expect(await grantCode(service.refresh(wrong, 'native'))).toBe('bad_mac');
    expect(events).toEqual([]);
  });

  test('the access token signed during the write is handed out only when the returned item confirms it', async () => {
    const { service, verifier, clock } = setup();
    const login = await service.login(LOGIN);
    const first = await service.refresh(login.refreshToken, 'native');
    expect(verifier.verify(first.accessToken).claims).toMatchObject({ sub: LOGIN.sub, scope: 'profile' });
    // The item changes behind this instance's back (fields a session never rewrites): the next refresh
    // must mint from the item the write returned, not from what the instance remembered.
    await client.send(
      new UpdateItemCommand({
        TableName: tableName,
        Key: { pk: { S: `SESSION#${login.sid}` } },
        UpdateExpression: 'SET #scope = :scope',
        ExpressionAttributeNames: { '#scope': 'scope' },
        ExpressionAttributeValues: { ':scope': { S: 'profile admin' } },
      }),
    );
    clock.advance(1);
    const second = await service.refresh(first.refreshToken, 'native');
    expect(verifier.verify(second.accessToken).claims.scope).toBe('profile admin');
    expect(second.scope).toBe('profile admin');
  });

  test('refuses malformed refresh tokens before any read', async () => {
    const { service } = setup();
    for (const bad of ['', 'x', 'a'.repeat(5000), '€'.repeat(82), undefined, 42, `${'A'.repeat(81)}=`]) {
      expect(await grantCode(service.refresh(bad, 'native'))).toBe('refresh_token_malformed');
    }
  });

  test('refuses a token signed by an unknown MAC key', async () => {
    const { service } = setup();
    const login = await service.login(LOGIN);
    const bytes = Buffer.from(login.refreshToken, 'base64url');
    bytes[1] = (bytes[1] ?? 0) ^ 0xff;
    expect(await grantCode(service.refresh(bytes.toString('base64url'), 'native'))).toBe('unknown_mac_key');
  });

  test('refuses a refresh token of an unknown session', async () => {
    const { service } = setup();
    const login = await service.login(LOGIN);
    // A validly MAC'd token (the MAC is checked before any I/O) of a sid that has no item.
    const parts = parseRefreshToken(login.refreshToken);
    const macKey = keys.macKeys.find((key) => key.kid === parts.macKid);
    if (macKey === undefined || parts.salt === undefined) throw new Error('no MAC key or salt');
    const unknown = deriveRefreshToken(
      macKey,
      Buffer.alloc(16, 0xee).toString('base64url'),
      0,
      parts.salt,
      subjectKey(LOGIN.sub),
    );
    expect(await grantCode(service.refresh(unknown, 'native'))).toBe('session_not_found');
  });

  test('refuses a refresh token presented by another client, without revoking', async () => {
    const { service } = setup();
    const login = await service.login(LOGIN);
    expect(await grantCode(service.refresh(login.refreshToken, 'web'))).toBe('client_mismatch');
    await expect(service.refresh(login.refreshToken, 'native')).resolves.toBeDefined();
  });
});

describe('expiry', () => {
  test('an idle session refuses refresh', async () => {
    const { service, clock } = setup();
    const login = await service.login(LOGIN);
    clock.advance(3600);
    expect(await grantCode(service.refresh(login.refreshToken, 'native'))).toBe('session_idle');
  });

  test('each refresh moves the idle expiry forward', async () => {
    const { service, clock } = setup();
    let tokens = await service.login(LOGIN);
    for (let i = 0; i < 3; i++) {
      clock.advance(3000);
      tokens = await service.refresh(tokens.refreshToken, 'native');
    }
    expect((await store.get(tokens.sid, { consistent: true }))?.generation).toBe(3);
  });

  test('refreshing never extends the absolute lifetime', async () => {
    const { service, clock, verifier } = setup();
    const login = await service.login(LOGIN);
    const absolute = (await store.get(login.sid, { consistent: true }))?.absoluteExpiresAt;
    let tokens = login;
    // Refresh every 50 minutes for almost 4 hours: the idle timeout never fires, the absolute one does.
    for (let elapsed = 0; elapsed + 3000 < 4 * 3600; elapsed += 3000) {
      clock.advance(3000);
      tokens = await service.refresh(tokens.refreshToken, 'native');
    }
    const session = await store.get(login.sid, { consistent: true });
    expect(session?.absoluteExpiresAt).toBe(absolute);
    expect(session?.idleExpiresAt).toBeLessThanOrEqual(absolute ?? 0);
    // The last access token is capped at the absolute expiry.
    const { claims } = verifier.verify(tokens.accessToken);
    expect(claims.exp * 1000).toBeLessThanOrEqual(absolute ?? 0);
    clock.advance(3000);
    expect(await grantCode(service.refresh(tokens.refreshToken, 'native'))).toBe('session_expired');
  });
});

describe('logout, logout-all, listing', () => {
  test('logout revokes the session; the refresh token then fails without a theft alarm', async () => {
    const { service, events } = setup();
    const login = await service.login({ ...LOGIN, sub: 'logout-1' });
    expect(await service.logout(login.sid, 'logout-1')).toBe(true);
    expect(await grantCode(service.refresh(login.refreshToken, 'native'))).toBe('session_revoked');
    expect(events).toEqual([]);
    expect((await store.get(login.sid, { consistent: true }))?.revokedReason).toBe('logout');
  });

  test("logging out someone else's session has no effect", async () => {
    const { service } = setup();
    const victim = await service.login({ ...LOGIN, sub: 'victim' });
    expect(await service.logout(victim.sid, 'attacker')).toBe(false);
    expect((await store.get(victim.sid, { consistent: true }))?.revokedAt).toBeUndefined();
  });

  test('logout-all ends every session of the subject with one watermark write, and no one else', async () => {
    const { service, clock } = setup();
    const mine = await Promise.all([1, 2, 3].map(() => service.login({ ...LOGIN, sub: 'everywhere' })));
    const other = await service.login({ ...LOGIN, sub: 'bystander' });
    await service.logoutAll('everywhere');
    expect(await service.listSessions('everywhere')).toEqual([]);
    for (const tokens of mine) {
      expect(await grantCode(service.refresh(tokens.refreshToken, 'native'))).toBe(
        'session_logged_out_everywhere',
      );
    }
    await expect(service.refresh(other.refreshToken, 'native')).resolves.toBeDefined();
    // A session created after the watermark (and its clock margin) lives.
    clock.advance(2);
    const later = await service.login({ ...LOGIN, sub: 'everywhere' });
    await expect(service.refresh(later.refreshToken, 'native')).resolves.toBeDefined();
    expect((await service.listSessions('everywhere')).map((session) => session.sid)).toEqual([later.sid]);
  });

  test('logout-all refuses every token version of a session, and revokes it', async () => {
    const { service } = setup();
    const sessions = await Promise.all([1, 2, 3].map(() => service.login({ ...LOGIN, sub: 'versions' })));
    const tokens = sessions.map((login, index) => {
      const parts = parseRefreshToken(login.refreshToken);
      const macKey = keys.macKeys.find((key) => key.kid === parts.macKid);
      if (macKey === undefined || parts.salt === undefined) throw new Error('no MAC key or salt');
      if (index === 0) return versionOneToken(macKey.secret, parts.macKid, login.sid, 0, parts.salt);
      if (index === 1) return versionTwoToken(macKey.secret, parts.macKid, login.sid, 0, parts.salt);
      return login.refreshToken;
    });
    expect(tokens.map((token) => parseRefreshToken(token).version)).toEqual([1, 2, 3]);
    await service.logoutAll('versions');
    for (const [index, token] of tokens.entries()) {
      expect(await grantCode(service.refresh(token, 'native'))).toBe('session_logged_out_everywhere');
      expect((await store.get(sessions[index]?.sid ?? '', { consistent: true }))?.revokedReason).toBe(
        'logout_all',
      );
    }
  });

  test('a grace replay after logout-all gets no tokens', async () => {
    const { service } = setup();
    const login = await service.login({ ...LOGIN, sub: 'replay-after' });
    await service.refresh(login.refreshToken, 'native');
    await service.logoutAll('replay-after');
    // Inside the grace window, the replayed token would return the same successor: the watermark refuses it.
    expect(await grantCode(service.refresh(login.refreshToken, 'native'))).toBe(
      'session_logged_out_everywhere',
    );
  });

  test('a disabled subject refreshes nothing; enabled again, its old sessions stay dead', async () => {
    const { service, clock } = setup();
    const login = await service.login({ ...LOGIN, sub: 'disabled-1' });
    const now = clock.now();
    await subjects.setDisabled('disabled-1', true, now + 1000, now);
    expect(await grantCode(service.refresh(login.refreshToken, 'native'))).toBe('subject_disabled');
    expect((await store.get(login.sid, { consistent: true }))?.revokedReason).toBe('logout_all');
    await subjects.setDisabled('disabled-1', false, now + 1000, now);
    expect(await grantCode(service.refresh(login.refreshToken, 'native'))).toBe('session_revoked');
  });

  test('after endOtherSessions the kept session refreshes; the others are refused', async () => {
    const { service } = setup();
    const kept = await service.login({ ...LOGIN, sub: 'password-change' });
    const other = await service.login({ ...LOGIN, sub: 'password-change' });
    expect(await service.endOtherSessions('password-change', kept.sid)).toBe(true);
    const next = await service.refresh(kept.refreshToken, 'native');
    await expect(service.refresh(next.refreshToken, 'native')).resolves.toMatchObject({ sid: kept.sid });
    expect(await grantCode(service.refresh(other.refreshToken, 'native'))).toBe(
      'session_logged_out_everywhere',
    );
  });

  test('listing shows live sessions only, newest first', async () => {
    const { service, clock } = setup();
    const first = await service.login({ ...LOGIN, sub: 'lister' });
    clock.advance(1);
    const second = await service.login({ ...LOGIN, sub: 'lister' });
    clock.advance(1);
    const third = await service.login({ ...LOGIN, sub: 'lister' });
    await service.logout(second.sid, 'lister');
    const listed = await service.listSessions('lister');
    expect(listed.map((session) => session.sid)).toEqual([third.sid, first.sid]);
    clock.advance(3600);
    expect(await service.listSessions('lister')).toEqual([]);
  });

  test('revoking by refresh token revokes only with a valid MAC and the owning client', async () => {
    const { service } = setup();
    const login = await service.login(LOGIN);
    expect(await service.revokeByRefreshToken('garbage', 'native', 'token_revocation')).toBeUndefined();
    expect(await service.revokeByRefreshToken(login.refreshToken, 'web', 'token_revocation')).toBeUndefined();
    expect(await service.revokeByRefreshToken(login.refreshToken, 'native', 'token_revocation')).toBe(
      login.sid,
    );
    expect(
      await service.revokeByRefreshToken(login.refreshToken, 'native', 'token_revocation'),
    ).toBeUndefined();
  });
});

describe('configuration', () => {
  test.each([
    [{ refreshGraceSeconds: -1 }, /refreshGraceSeconds/],
    [{ refreshGraceSeconds: 61 }, /refreshGraceSeconds/],
    [{ idleTimeoutSeconds: 300 }, /idleTimeoutSeconds/],
    [{ idleTimeoutSeconds: 3600, absoluteLifetimeSeconds: 60 }, /absoluteLifetimeSeconds/],
  ])('fails on %p', (policy, message) => {
    expect(() => setup(policy)).toThrow(message);
  });
});
