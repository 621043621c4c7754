import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import fc from 'fast-check';
import { DynamoDbUserStore } from '../../lambda/adapters/dynamodb-user-store';
import { CredentialService, MAX_USERNAME_LENGTH, normalizeUsername } from '../../lambda/core/credentials';
import { AccountLockedError, GrantError, InvalidRequestError } from '../../lambda/core/errors';
import { generateMacKey } from '../../lambda/core/keys';
import {
  issueDeviceToken,
  LOGIN_THROTTLE_DEFAULTS,
  type LoginThrottlePolicy,
  usernameHash,
  verifyDeviceToken,
} from '../../lambda/core/login-throttle';
import {
  DEFAULT_SCRYPT_PARAMS,
  hashPassword,
  MAX_PASSWORD_LENGTH,
  needsRehash,
  type PasswordHasher,
  parsePasswordHash,
  type ScryptParams,
  scryptHasher,
  verifyPassword,
} from '../../lambda/core/password-hashing';
import { freshTable } from '../support/dynamodb';
import { FrozenClock } from '../support/fixtures';

/** Cheap parameters for every test but the ones about the defaults. */
const FAST: ScryptParams = { N: 2 ** 10 };

let client: DynamoDBClient;
let store: DynamoDbUserStore;
let counter = 0;

beforeAll(async () => {
  const table = await freshTable();
  client = table.client;
  store = new DynamoDbUserStore({ client, tableName: table.tableName });
});

afterAll(() => client.destroy());

/** A username of its own for each use. */
function name(prefix = 'user'): string {
  counter += 1;
  return `${prefix}-${counter}`;
}

/** A hasher that does the real work and records every call. */
function recordingHasher() {
  const calls = { hash: [] as string[], verify: [] as { password: string; stored: string }[] };
  const hasher: PasswordHasher = {
    hash: async (password, params) => {
      calls.hash.push(password);
      return scryptHasher.hash(password, params);
    },
    verify: async (password, stored) => {
      calls.verify.push({ password, stored });
      return scryptHasher.verify(password, stored);
    },
  };
  return { calls, hasher };
}

const MAC_KEY = generateMacKey(Date.now());

function setup(options: { throttle?: LoginThrottlePolicy; scrypt?: ScryptParams } = {}) {
  const clock = new FrozenClock();
  const { calls, hasher } = recordingHasher();
  const refused: Record<string, unknown>[] = [];
  const service = new CredentialService({
    users: store,
    clock: clock.now,
    throttle: options.throttle,
    scrypt: options.scrypt ?? FAST,
    hasher,
    macKeys: async () => [MAC_KEY],
    onRefused: (event) => refused.push({ ...event }),
  });
  return { clock, calls, service, refused };
}

/** The error a call fails with (the test fails if it succeeds). */
async function failure(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof Error) return error;
    throw error;
  }
  throw new Error('expected the call to fail, but it succeeded');
}

/** Everything a caller (and the HTTP mapping) can see of an error. */
function visible(error: Error) {
  return {
    class: error.constructor,
    name: error.name,
    message: error.message,
    ...Object.fromEntries(Object.entries(error)),
  };
}

async function lockedFor(promise: Promise<unknown>): Promise<number> {
  const error = await failure(promise);
  if (!(error instanceof AccountLockedError)) throw new Error(`expected a lock, got ${String(error)}`);
  return error.retryAfterSeconds;
}

async function isInvalidCredentials(promise: Promise<unknown>): Promise<boolean> {
  const error = await failure(promise);
  if (error instanceof GrantError && error.code === 'invalid_credentials') return true;
  throw error;
}

describe('hashPassword and verifyPassword', () => {
  test('store the defaults (N = 2^15, r = 8, p = 3, 32-byte key, 16-byte salt) beside the hash', async () => {
    const stored = await hashPassword('correct horse battery staple');
    expect(stored).toMatch(/^\$scrypt\$ln=15,r=8,p=3\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
    const parsed = parsePasswordHash(stored);
    expect(parsed).toMatchObject({ algorithm: 'scrypt', N: 32768, r: 8, p: 3, keyLength: 32 });
    expect(parsed.salt).toHaveLength(16);
    expect(parsed.hash).toHaveLength(32);
    expect(DEFAULT_SCRYPT_PARAMS).toEqual({ N: 32768, r: 8, p: 3, keyLength: 32 });
    expect(await verifyPassword('correct horse battery staple', stored)).toBe(true);
    expect(await verifyPassword('correct horse battery stapler', stored)).toBe(false);
  });

  test('store the parameters given and verify with them', async () => {
    const stored = await hashPassword('pw', { N: 2 ** 11, r: 4, p: 2, keyLength: 48 });
    expect(stored).toMatch(/^\$scrypt\$ln=11,r=4,p=2\$/);
    expect(parsePasswordHash(stored)).toMatchObject({ N: 2048, r: 4, p: 2, keyLength: 48 });
    expect(await verifyPassword('pw', stored)).toBe(true);
    expect(await verifyPassword('pW', stored)).toBe(false);
  });

  test('salt every hash: the same password hashes differently each time, and both verify', async () => {
    const a = await hashPassword('same password', FAST);
    const b = await hashPassword('same password', FAST);
    expect(a).not.toBe(b);
    expect(parsePasswordHash(a).salt.equals(parsePasswordHash(b).salt)).toBe(false);
    expect(await verifyPassword('same password', a)).toBe(true);
    expect(await verifyPassword('same password', b)).toBe(true);
  });

  test('normalise passwords to NFC: composed and decomposed forms are the same password', async () => {
    const stored = await hashPassword('caf\u00e9', FAST);
    expect(await verifyPassword('cafe\u0301', stored)).toBe(true);
  });

  test('a hash differing in one bit of the hash or the salt no longer verifies', async () => {
    const stored = await hashPassword('pw', FAST);
    const parsed = parsePasswordHash(stored);
    const flip = (bytes: Buffer) => {
      const copy = Buffer.from(bytes);
      copy[0] = (copy[0] ?? 0) ^ 1;
      return copy.toString('base64').replace(/=+$/, '');
    };
    const [, , params, salt, hash] = stored.split('$');
    expect(await verifyPassword('pw', `$scrypt$${params}$${salt}$${flip(parsed.hash)}`)).toBe(false);
    expect(await verifyPassword('pw', `$scrypt$${params}$${flip(parsed.salt)}$${hash}`)).toBe(false);
  });

  test.each([
    ['not a string', 42],
    ['empty', ''],
    [
      'another algorithm',
      '$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA',
    ],
    ['a missing hash', '$scrypt$ln=10,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA'],
    [
      'a missing parameter',
      '$scrypt$ln=10,r=8$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
    ],
    [
      'reordered parameters',
      '$scrypt$r=8,ln=10,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
    ],
    [
      'a leading zero',
      '$scrypt$ln=010,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
    ],
    [
      'an absurd N (2^40)',
      '$scrypt$ln=40,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
    ],
    [
      'N above the limit (2^21)',
      '$scrypt$ln=21,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
    ],
    [
      'N below the limit (2^4)',
      '$scrypt$ln=4,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
    ],
    [
      'too much memory (2^20 * 8)',
      '$scrypt$ln=20,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
    ],
    [
      'too much work (p = 99)',
      '$scrypt$ln=15,r=8,p=99$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
    ],
    ['r = 0', '$scrypt$ln=10,r=0,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'],
    ['a short salt', '$scrypt$ln=10,r=8,p=1$AAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'],
    ['a short hash', '$scrypt$ln=10,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAA'],
    [
      'padding',
      '$scrypt$ln=10,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=',
    ],
    [
      'non-canonical base64',
      '$scrypt$ln=10,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAB$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
    ],
    [
      'base64url characters',
      '$scrypt$ln=10,r=8,p=1$AAAAAAAAAAAAAAAAAAAA-_$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
    ],
    [
      'trailing text',
      '$scrypt$ln=10,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA$x',
    ],
    ['a huge string', `$scrypt$ln=10,r=8,p=1$${'A'.repeat(100_000)}$AAAA`],
  ])('refuse a corrupt stored hash (%s) with a TypeError, before any work', async (_, stored) => {
    const started = performance.now();
    await expect(verifyPassword('pw', stored)).rejects.toThrow(TypeError);
    expect(() => parsePasswordHash(stored)).toThrow(TypeError);
    expect(performance.now() - started).toBeLessThan(50);
  });

  test('accept a well-formed hash within the limits at both ends', () => {
    const zero = 'AAAAAAAAAAAAAAAAAAAAAA';
    expect(parsePasswordHash(`$scrypt$ln=10,r=8,p=1$${zero}$${zero}`)).toMatchObject({
      N: 1024,
      keyLength: 16,
    });
    expect(parsePasswordHash(`$scrypt$ln=20,r=2,p=1$${zero}$${zero}`)).toMatchObject({ N: 2 ** 20, r: 2 });
  });

  test.each([
    [{ N: 1000 }, /power of two/],
    [{ N: 2 ** 9 }, /power of two/],
    [{ N: 2 ** 21 }, /power of two/],
    [{ r: 0 }, /r must be/],
    [{ p: 17 }, /p must be/],
    [{ N: 2 ** 20, r: 8 }, /128 \* N \* r/],
    [{ N: 2 ** 18, r: 8, p: 3 }, /N \* r \* p/],
    [{ keyLength: 8 }, /keyLength/],
  ])('fail to hash with parameters %p', async (params, message) => {
    await expect(hashPassword('pw', params)).rejects.toThrow(TypeError);
    await expect(hashPassword('pw', params)).rejects.toThrow(message);
  });

  test.each([
    ['empty', ''],
    ['too long', 'x'.repeat(MAX_PASSWORD_LENGTH + 1)],
    ['not a string', 1234],
    ['undefined', undefined],
    ['a lone surrogate', 'pass\ud800word'],
  ])('refuse a password that is %s with InvalidRequestError', async (_, password) => {
    await expect(hashPassword(password, FAST)).rejects.toThrow(InvalidRequestError);
    const stored = await hashPassword('pw', FAST);
    await expect(verifyPassword(password, stored)).rejects.toThrow(InvalidRequestError);
  });

  test('accept a password of exactly the maximum length', async () => {
    const password = 'x'.repeat(MAX_PASSWORD_LENGTH);
    expect(await verifyPassword(password, await hashPassword(password, FAST))).toBe(true);
  });

  test('needsRehash tells hashes made with other parameters', async () => {
    const stored = await hashPassword('pw', FAST);
    expect(needsRehash(stored, FAST)).toBe(false);
    expect(needsRehash(stored)).toBe(true);
    expect(needsRehash(stored, { ...FAST, keyLength: 64 })).toBe(true);
  });
});

describe('normalizeUsername (RFC 8265 UsernameCaseMapped, see username.test.ts)', () => {
  test('folds case and width', () => {
    expect(normalizeUsername('Alice')).toBe('alice');
    expect(normalizeUsername('\uff21\uff4c\uff49\uff43\uff45')).toBe('alice');
    expect(normalizeUsername('Ren\u00c9')).toBe(normalizeUsername('rene\u0301'));
  });

  test('is idempotent', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 40 }), (raw) => {
        let once: string;
        try {
          once = normalizeUsername(raw);
        } catch (error) {
          return error instanceof InvalidRequestError;
        }
        return normalizeUsername(once) === once;
      }),
      { numRuns: 2000 },
    );
  });

  test.each([
    ['empty', ''],
    ['blank', '   \u3000 '],
    ['padded with spaces', '  alice '],
    ['too long', 'a'.repeat(MAX_USERNAME_LENGTH + 1)],
    ['huge', 'a'.repeat(100_000)],
    ['not a string', ['alice']],
    ['a control character', 'ali\u0000ce'],
    ['a newline', 'alice\n'],
    ['a lone surrogate', 'ali\udc00ce'],
    ['a compatibility character', '\u210cello'],
  ])('refuses a username that is %s with InvalidRequestError', (_, username) => {
    expect(() => normalizeUsername(username)).toThrow(InvalidRequestError);
  });

  test('accepts a username of exactly the maximum length', () => {
    expect(normalizeUsername('A'.repeat(MAX_USERNAME_LENGTH))).toBe('a'.repeat(MAX_USERNAME_LENGTH));
  });
});

describe('CredentialService.authenticate', () => {
  test('accepts the right password and returns who logged in', async () => {
    const { service } = setup();
    const username = name();
    const created = await service.createUser({
      username,
      password: 'right',
      scope: 'profile',
      userId: 'u-1',
    });
    expect(created).toEqual({ userId: 'u-1', username, scope: 'profile' });
    expect(await service.authenticate(username, 'right')).toEqual({
      userId: 'u-1',
      username,
      scope: 'profile',
      deviceToken: expect.stringMatching(/^d1\./),
    });
    expect(await service.authenticate(username.toUpperCase(), 'right')).toMatchObject({
      userId: 'u-1',
    });
  });

  test('answers a wrong password and an unknown username with the identical error', async () => {
    const { service } = setup();
    const username = name();
    await service.createUser({ username, password: 'right' });
    const wrong = await failure(service.authenticate(username, 'wrong'));
    const unknown = await failure(service.authenticate(name('ghost'), 'wrong'));
    expect(wrong).toBeInstanceOf(GrantError);
    expect(wrong).toMatchObject({ code: 'invalid_credentials' });
    expect(visible(unknown)).toEqual(visible(wrong));
  });

  test('checks an unknown username against a dummy hash of the configured parameters, computed once', async () => {
    const { service, calls } = setup({ scrypt: { N: 2 ** 11 } });
    await isInvalidCredentials(service.authenticate(name('ghost'), 'guess-1'));
    await isInvalidCredentials(service.authenticate(name('ghost'), 'guess-2'));
    expect(calls.hash).toHaveLength(1);
    expect(calls.verify.map((call) => call.password)).toEqual(['guess-1', 'guess-2']);
    const [first, second] = calls.verify;
    expect(first?.stored).toBe(second?.stored);
    expect(parsePasswordHash(first?.stored)).toMatchObject({
      N: 2 ** 11,
      r: 8,
      p: DEFAULT_SCRYPT_PARAMS.p,
      keyLength: 32,
    });
    // And a known user's failure costs exactly the same: one verification with the same parameters.
    const username = name();
    await service.createUser({ username, password: 'right' });
    await isInvalidCredentials(service.authenticate(username, 'guess-3'));
    expect(calls.verify).toHaveLength(3);
    expect(parsePasswordHash(calls.verify[2]?.stored)).toMatchObject({
      N: 2 ** 11,
      r: 8,
      p: DEFAULT_SCRYPT_PARAMS.p,
      keyLength: 32,
    });
  });

  test('spends at least the time of one default scrypt on an unknown username', async () => {
    const service = new CredentialService({ users: store, hasher: scryptHasher });
    await service.prepare();
    const stored = await hashPassword('right');
    const median = async (run: () => Promise<unknown>) => {
      const times: number[] = [];
      for (let i = 0; i < 3; i++) {
        const started = performance.now();
        await run().catch(() => undefined);
        times.push(performance.now() - started);
      }
      return times.sort((a, b) => a - b)[1] ?? 0;
    };
    const oneHash = await median(() => verifyPassword('wrong', stored));
    const unknown = await median(() => service.authenticate(name('ghost'), 'wrong'));
    expect(unknown).toBeGreaterThan(0.5 * oneHash);
  });

  test('refuses bad input with InvalidRequestError before reading or counting anything', async () => {
    const { service, calls } = setup();
    const username = name();
    for (const [user, password] of [
      ['', 'pw'],
      ['x'.repeat(MAX_USERNAME_LENGTH + 1), 'pw'],
      [username, ''],
      [username, 'x'.repeat(MAX_PASSWORD_LENGTH + 1)],
      [undefined, 'pw'],
      [username, null],
    ]) {
      expect(await failure(service.authenticate(user, password))).toBeInstanceOf(InvalidRequestError);
    }
    expect(calls.verify).toEqual([]);
    expect(await store.getAccount(username)).toBeUndefined();
  });

  test('propagates a corrupt stored hash as a TypeError', async () => {
    const { service } = setup();
    const username = name();
    await store.putUser({ username, userId: 'u', scope: '', passwordHash: '$scrypt$ln=40,r=8,p=1$x$y' });
    expect(await failure(service.authenticate(username, 'pw'))).toBeInstanceOf(TypeError);
  });
});

describe('login throttle', () => {
  const FROM = { source: '203.0.113.9' };

  test.each([
    ['an existing user', true],
    ['an unknown username', false],
  ])('allows 10 checks per source for %s, then 429 before any password work', async (_, exists) => {
    const { service, calls, clock, refused } = setup();
    const username = name();
    if (exists) await service.createUser({ username, password: 'right' });
    for (let i = 0; i < 10; i++) {
      expect(await isInvalidCredentials(service.authenticate(username, 'wrong', FROM))).toBe(true);
    }
    const verified = calls.verify.length;
    clock.advance(100);
    expect(await lockedFor(service.authenticate(username, 'right', FROM))).toBe(800);
    expect(calls.verify).toHaveLength(verified);
    expect(refused.at(-1)).toMatchObject({
      reason: 'source_throttled',
      source: FROM.source,
      retryAfterSeconds: 800,
    });
    expect(refused.at(-1)?.userHash).toBe(usernameHash(MAC_KEY, username));
    // Another source is not affected: a wrong password from elsewhere cannot keep the user out.
    if (exists)
      expect(await service.authenticate(username, 'right', { source: '198.51.100.1' })).toMatchObject({
        username,
      });
    // The window passes: the source gets its checks again.
    clock.advance(800);
    expect(await isInvalidCredentials(service.authenticate(username, 'wrong', FROM))).toBe(true);
  });

  test('a burst of 40 concurrent attempts gets exactly 10 password checks, reserved atomically', async () => {
    const { service, calls } = setup();
    const username = name();
    await service.createUser({ username, password: 'right' });
    const verifiedBefore = calls.verify.length;
    const errors = await Promise.all(
      Array.from({ length: 40 }, () => failure(service.authenticate(username, 'wrong', FROM))),
    );
    expect(calls.verify.length - verifiedBefore).toBe(10);
    expect(errors.filter((error) => error instanceof GrantError)).toHaveLength(10);
    expect(errors.filter((error) => error instanceof AccountLockedError)).toHaveLength(30);
  });

  test('a reservation refused below the limit (lost races) asks for a retry in 1 s, not the window', async () => {
    const clock = new FrozenClock();
    const { hasher, calls } = recordingHasher();
    const contended = Object.assign(Object.create(store) as typeof store, {
      reserve: async () => ({ reserved: false, count: 3, windowStart: clock.now() - 1000 }),
    });
    const refused: Record<string, unknown>[] = [];
    const service = new CredentialService({
      users: contended,
      clock: clock.now,
      scrypt: FAST,
      hasher,
      macKeys: async () => [MAC_KEY],
      onRefused: (event) => refused.push({ ...event }),
    });
    expect(await lockedFor(service.authenticate(name(), 'right', FROM))).toBe(1);
    expect(calls.verify).toHaveLength(0);
    expect(refused.at(-1)).toMatchObject({ reason: 'source_throttled', retryAfterSeconds: 1 });
  });

  test('a success resets its source count', async () => {
    const { service } = setup();
    const username = name();
    await service.createUser({ username, password: 'right' });
    for (let i = 0; i < 9; i++) await isInvalidCredentials(service.authenticate(username, 'wrong', FROM));
    await service.authenticate(username, 'right', FROM);
    for (let i = 0; i < 9; i++) await isInvalidCredentials(service.authenticate(username, 'wrong', FROM));
    expect(await service.authenticate(username, 'right', FROM)).toMatchObject({ username });
  });

  test('above the account-wide threshold an unknown device gets one check per back-off slot; a known device is exempt', async () => {
    const { service, clock, refused } = setup({
      throttle: { accountSoftThreshold: 20, accountBackoffSeconds: 5 },
    });
    const username = name();
    await service.createUser({ username, password: 'right' });
    const { deviceToken } = await service.authenticate(username, 'right', { source: '192.0.2.200' });
    for (let host = 0; host < 2; host++) {
      for (let i = 0; i < 10; i++) {
        await isInvalidCredentials(service.authenticate(username, 'wrong', { source: `192.0.2.${host}` }));
      }
    }
    // Unknown device: the first takes the slot, the next waits for the following one.
    expect(await service.authenticate(username, 'right', { source: '192.0.2.50' })).toMatchObject({
      username,
    });
    expect(await lockedFor(service.authenticate(username, 'right', { source: '192.0.2.51' }))).toBe(5);
    expect(refused.at(-1)).toMatchObject({ reason: 'account_backoff', knownDevice: false });
    // Known device: at once, from anywhere, and again.
    for (let i = 0; i < 3; i++) {
      expect(
        await service.authenticate(username, 'right', {
          source: '192.0.2.52',
          ...(deviceToken ? { deviceToken } : {}),
        }),
      ).toMatchObject({ username });
    }
    clock.advance(5);
    expect(await service.authenticate(username, 'right', { source: '192.0.2.51' })).toMatchObject({
      username,
    });
  });

  test('a device token counts under its device, not its address, and only for its own account', async () => {
    const { service } = setup();
    const username = name();
    const other = name();
    await service.createUser({ username, password: 'right' });
    await service.createUser({ username: other, password: 'right' });
    const { deviceToken } = await service.authenticate(username, 'right', FROM);
    expect(deviceToken).toBeDefined();
    // The attacker exhausts the shared address.
    for (let i = 0; i < 10; i++) await isInvalidCredentials(service.authenticate(username, 'wrong', FROM));
    expect(await lockedFor(service.authenticate(username, 'right', FROM))).toBeGreaterThan(0);
    // The known device behind the same address still logs in.
    expect(await service.authenticate(username, 'right', { ...FROM, deviceToken })).toMatchObject({
      username,
    });
    // The token is worthless for another account.
    const tokenForOther = verifyDeviceToken(deviceToken, other, [MAC_KEY], Date.now(), 3600);
    expect(tokenForOther).toBeUndefined();
  });

  test('device tokens: verified with any key of the set, refused when forged, expired or unknown', () => {
    const now = Date.now();
    const token = issueDeviceToken(MAC_KEY, 'alice', now, 'AAAAAAAAAAAAAAAAAAAAAA');
    expect(verifyDeviceToken(token, 'alice', [MAC_KEY], now, 60)).toBe('AAAAAAAAAAAAAAAAAAAAAA');
    expect(verifyDeviceToken(token, 'alice', [MAC_KEY], now + 60_000, 60)).toBeUndefined();
    expect(verifyDeviceToken(token, 'alice', [generateMacKey(now)], now, 60)).toBeUndefined();
    expect(verifyDeviceToken(`${token.slice(0, -2)}AA`, 'alice', [MAC_KEY], now, 60)).toBeUndefined();
    expect(verifyDeviceToken(token.replace('AAAA', 'BAAA'), 'alice', [MAC_KEY], now, 60)).toBeUndefined();
    for (const bad of [undefined, '', 'x'.repeat(300), 'd1.a.b.c.d', 42]) {
      expect(verifyDeviceToken(bad, 'alice', [MAC_KEY], now, 60)).toBeUndefined();
    }
  });

  test('existing and unknown usernames go through the identical sequence of answers', async () => {
    const trace = async (exists: boolean) => {
      const { service } = setup();
      const username = name();
      if (exists) await service.createUser({ username, password: 'right' });
      const answers: unknown[] = [];
      for (let i = 0; i < 12; i++)
        answers.push(visible(await failure(service.authenticate(username, 'wrong', FROM))));
      return answers;
    };
    expect(await trace(true)).toEqual(await trace(false));
  });
});

describe('createUser', () => {
  test('hashes with the configured parameters and stores the normalised name', async () => {
    const { service } = setup({ scrypt: { N: 2 ** 11 } });
    const username = name();
    const created = await service.createUser({ username: username.toUpperCase(), password: 'pw' });
    expect(created?.username).toBe(username);
    expect(created?.userId).toMatch(/^[0-9a-f-]{36}$/);
    expect(created?.scope).toBe('');
    const stored = await store.getUser(username);
    expect(parsePasswordHash(stored?.passwordHash)).toMatchObject({ N: 2 ** 11 });
    expect(stored?.passwordHash).not.toContain('pw');
  });

  test('does not replace an existing user unless asked to', async () => {
    const { service } = setup();
    const username = name();
    await service.createUser({ username, password: 'first', userId: 'a' });
    expect(await service.createUser({ username, password: 'second', userId: 'b' })).toBeUndefined();
    expect(await service.authenticate(username, 'first')).toMatchObject({ userId: 'a' });
    expect(
      await service.createUser({ username, password: 'second', userId: 'b' }, { overwrite: true }),
    ).toEqual({
      userId: 'b',
      username,
      scope: '',
    });
    expect(await isInvalidCredentials(service.authenticate(username, 'first'))).toBe(true);
    expect(await service.authenticate(username, 'second')).toMatchObject({ userId: 'b' });
  });

  test('refuses bad input with InvalidRequestError', async () => {
    const { service } = setup();
    await expect(service.createUser({ username: '', password: 'pw' })).rejects.toThrow(InvalidRequestError);
    await expect(service.createUser({ username: name(), password: '' })).rejects.toThrow(InvalidRequestError);
  });
});

describe('configuration', () => {
  test('takes the default for an option given as undefined', () => {
    expect(() =>
      setup({ throttle: { sourceMaxAttempts: undefined }, scrypt: { N: 2 ** 10, r: undefined } }),
    ).not.toThrow();
  });

  test('documents its defaults', () => {
    expect(LOGIN_THROTTLE_DEFAULTS).toEqual({
      sourceMaxAttempts: 10,
      windowSeconds: 900,
      accountSoftThreshold: 100,
      accountBackoffSeconds: 5,
      deviceTokenLifetimeSeconds: 2_592_000,
    });
  });

  test.each([
    [{ throttle: { sourceMaxAttempts: 0 } }, /sourceMaxAttempts/],
    [{ throttle: { sourceMaxAttempts: 2.5 } }, /sourceMaxAttempts/],
    [{ throttle: { windowSeconds: 0 } }, /windowSeconds/],
    [{ throttle: { accountSoftThreshold: 0 } }, /accountSoftThreshold/],
    [{ throttle: { accountBackoffSeconds: 0 } }, /accountBackoffSeconds/],
    [{ scrypt: { N: 2 ** 30 } }, /N must be/],
  ])('fails on %p', (options, message) => {
    expect(() => setup(options)).toThrow(TypeError);
    expect(() => setup(options)).toThrow(message);
  });
});
