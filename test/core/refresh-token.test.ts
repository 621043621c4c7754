import { GrantError } from '../../lambda/core/errors';
import { generateMacKey } from '../../lambda/core/keys';
import {
  deriveRefreshToken,
  isSessionId,
  LEGACY_REFRESH_TOKEN_LENGTH,
  MAX_GENERATION,
  parseRefreshToken,
  REFRESH_TOKEN_LENGTH,
  SALTED_REFRESH_TOKEN_LENGTH,
  verifyRefreshMac,
} from '../../lambda/core/refresh-token';
import { subjectKey } from '../../lambda/core/subject';
import { versionOneToken, versionTwoToken } from '../support/refresh-token-formats';

const key = generateMacKey(0);
const otherKey = generateMacKey(0);
const sid = Buffer.alloc(16, 7).toString('base64url');
const salt = Buffer.alloc(16, 9).toString('base64url');
const subject = subjectKey('user-1');

/** A version 1 token of the fixture's session (test/support/refresh-token-formats.ts: its documented format). */
function legacyToken(generation: number): string {
  return versionOneToken(key.secret, key.kid, sid, generation, salt);
}

function malformedCode(token: unknown): string | undefined {
  try {
    parseRefreshToken(token);
    return undefined;
  } catch (error) {
    return error instanceof GrantError ? error.code : 'unexpected';
  }
}

describe('refresh token format', () => {
  test('encodes version, MAC key id, sid, generation, salt and subject key, at a fixed length', () => {
    const token = deriveRefreshToken(key, sid, 42, salt, subject);
    expect(token).toHaveLength(REFRESH_TOKEN_LENGTH);
    expect(REFRESH_TOKEN_LENGTH).toBe(124);
    expect(token).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(parseRefreshToken(token)).toMatchObject({
      version: 3,
      macKid: key.kid,
      sid,
      generation: 42,
      salt,
      subjectKey: subject,
    });
    // The subject key is the 16 bytes before the MAC.
    expect(Buffer.from(token, 'base64url').subarray(45, 61).toString('base64url')).toBe(subject);
  });

  test('parses a version 2 token (salt, no subject key), accepted for one release', () => {
    const token = versionTwoToken(key.secret, key.kid, sid, 42, salt);
    expect(token).toHaveLength(SALTED_REFRESH_TOKEN_LENGTH);
    expect(SALTED_REFRESH_TOKEN_LENGTH).toBe(103);
    const parts = parseRefreshToken(token);
    expect(parts).toMatchObject({ version: 2, macKid: key.kid, sid, generation: 42, salt });
    expect(parts.subjectKey).toBeUndefined();
    expect(verifyRefreshMac(parts, [otherKey, key])).toBe(true);
    expect(verifyRefreshMac(parts, [otherKey])).toBe(false);
  });

  test('parses a version 1 token (no salt), accepted for one release', () => {
    const token = legacyToken(42);
    expect(token).toHaveLength(LEGACY_REFRESH_TOKEN_LENGTH);
    const parts = parseRefreshToken(token);
    expect(parts).toMatchObject({ version: 1, macKid: key.kid, sid, generation: 42 });
    expect(parts.salt).toBeUndefined();
  });

  test('is a pure function of key, sid, generation and salt', () => {
    expect(deriveRefreshToken(key, sid, 3, salt, subject)).toBe(
      deriveRefreshToken(key, sid, 3, salt, subject),
    );
    expect(deriveRefreshToken(key, sid, 3, salt, subject)).not.toBe(
      deriveRefreshToken(key, sid, 4, salt, subject),
    );
    const otherSalt = Buffer.alloc(16, 1).toString('base64url');
    expect(deriveRefreshToken(key, sid, 3, salt, subject)).not.toBe(
      deriveRefreshToken(key, sid, 3, otherSalt, subject),
    );
    expect(deriveRefreshToken(key, sid, 3, salt, subject)).not.toBe(
      deriveRefreshToken(key, sid, 3, salt, subjectKey('user-2')),
    );
  });

  test('carries generations up to 2^32 - 1', () => {
    expect(parseRefreshToken(deriveRefreshToken(key, sid, MAX_GENERATION, salt, subject)).generation).toBe(
      MAX_GENERATION,
    );
    expect(() => deriveRefreshToken(key, sid, MAX_GENERATION + 1, salt, subject)).toThrow(RangeError);
    expect(() => deriveRefreshToken(key, sid, -1, salt, subject)).toThrow(RangeError);
  });

  test('fails to derive for a malformed sid, key id or salt', () => {
    expect(() => deriveRefreshToken(key, 'short', 0, salt, subject)).toThrow(/session id/);
    expect(() => deriveRefreshToken(key, sid, 0, 'short', subject)).toThrow(/salt/);
    expect(() => deriveRefreshToken({ ...key, kid: 'x' }, sid, 0, salt, subject)).toThrow(/MAC key id/);
    expect(() => deriveRefreshToken(key, sid, 0, salt, 'short')).toThrow(/subject key/);
  });

  test.each([
    ['empty', ''],
    ['too short', 'A'.repeat(REFRESH_TOKEN_LENGTH - 1)],
    ['too long', 'A'.repeat(REFRESH_TOKEN_LENGTH + 1)],
    ['huge', 'A'.repeat(100_000)],
    ['padding', `${'A'.repeat(REFRESH_TOKEN_LENGTH - 1)}=`],
    ['standard base64 alphabet', `${'A'.repeat(REFRESH_TOKEN_LENGTH - 1)}+`],
    ['non-ASCII', 'é'.repeat(REFRESH_TOKEN_LENGTH)],
    ['injection-shaped', `' OR 1=1 --${' '.repeat(REFRESH_TOKEN_LENGTH - 11)}`],
    ['a number', 12345],
    ['an object', { token: 'x' }],
    ['null', null],
  ])('refuses a token that is %s', (_name, token) => {
    expect(malformedCode(token)).toBe('refresh_token_malformed');
  });

  test.each([
    // 77 bytes use 103 characters with 2 spare bits in the last one, 61 bytes use 82 with 4: setting one
    // gives the same bytes. (93 bytes, version 3, fill 124 characters exactly: no spare bit.)
    ['version 2', versionTwoToken(key.secret, key.kid, sid, 1, salt)],
    ['version 1', legacyToken(1)],
  ])('refuses a non-canonical encoding of valid bytes (%s)', (_name, token) => {
    const last = token.charAt(token.length - 1);
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const twin = token.slice(0, -1) + alphabet.charAt(alphabet.indexOf(last) ^ 1);
    expect(Buffer.from(twin, 'base64url').equals(Buffer.from(token, 'base64url'))).toBe(true);
    expect(malformedCode(token)).toBeUndefined();
    expect(malformedCode(twin)).toBe('refresh_token_malformed');
  });

  test('refuses an unknown version, and a version byte that does not match the length', () => {
    const bytes = Buffer.from(deriveRefreshToken(key, sid, 1, salt, subject), 'base64url');
    for (const version of [0, 1, 2, 4, 0xff]) {
      bytes[0] = version;
      expect(malformedCode(bytes.toString('base64url'))).toBe('refresh_token_malformed');
    }
    const salted = Buffer.from(versionTwoToken(key.secret, key.kid, sid, 1, salt), 'base64url');
    for (const version of [1, 3]) {
      salted[0] = version;
      expect(malformedCode(salted.toString('base64url'))).toBe('refresh_token_malformed');
    }
    const legacy = Buffer.from(legacyToken(1), 'base64url');
    for (const version of [2, 3]) {
      legacy[0] = version;
      expect(malformedCode(legacy.toString('base64url'))).toBe('refresh_token_malformed');
    }
  });

  test('a version 3 token relabelled as version 2 (subject key dropped) does not verify', () => {
    const token = Buffer.from(deriveRefreshToken(key, sid, 1, salt, subject), 'base64url');
    // Keep the version 2 shape: head and salt, then the version 3 MAC; only the version byte changes.
    const relabelled = Buffer.concat([token.subarray(0, 45), token.subarray(61)]);
    relabelled[0] = 2;
    expect(verifyRefreshMac(parseRefreshToken(relabelled.toString('base64url')), [key])).toBe(false);
  });
});

describe('refresh token MAC', () => {
  test('verifies under the key it names and the session salt', () => {
    const parts = parseRefreshToken(deriveRefreshToken(key, sid, 5, salt, subject));
    expect(verifyRefreshMac(parts, [otherKey, key], salt)).toBe(true);
  });

  test('verifies a version 3 token without the session item (before any I/O)', () => {
    const parts = parseRefreshToken(deriveRefreshToken(key, sid, 5, salt, subject));
    expect(verifyRefreshMac(parts, [otherKey, key])).toBe(true);
    expect(verifyRefreshMac(parts, [otherKey])).toBe(false);
  });

  test('verifies a version 1 token only with the item salt', () => {
    const parts = parseRefreshToken(legacyToken(5));
    expect(verifyRefreshMac(parts, [key], salt)).toBe(true);
    expect(verifyRefreshMac(parts, [key])).toBe(false);
    expect(verifyRefreshMac(parts, [key], Buffer.alloc(16, 2).toString('base64url'))).toBe(false);
    expect(verifyRefreshMac(parts, [otherKey], salt)).toBe(false);
  });

  test('fails under another salt, an unknown key, or any changed byte', () => {
    const token = deriveRefreshToken(key, sid, 5, salt, subject);
    const parts = parseRefreshToken(token);
    expect(verifyRefreshMac(parts, [key], Buffer.alloc(16, 2).toString('base64url'))).toBe(false);
    expect(verifyRefreshMac(parts, [otherKey], salt)).toBe(false);
    const bytes = Buffer.from(token, 'base64url');
    for (let i = 1 + 8; i < bytes.length; i++) {
      const tampered = Buffer.from(bytes);
      tampered[i] = (tampered[i] ?? 0) ^ 0x80;
      expect(verifyRefreshMac(parseRefreshToken(tampered.toString('base64url')), [key], salt)).toBe(false);
    }
  });

  test('a key with the same id but another secret does not verify', () => {
    const parts = parseRefreshToken(deriveRefreshToken(key, sid, 5, salt, subject));
    expect(verifyRefreshMac(parts, [{ ...otherKey, kid: key.kid }], salt)).toBe(false);
  });
});

describe('session ids', () => {
  test('accepts 16 bytes of base64url and nothing else', () => {
    expect(isSessionId(sid)).toBe(true);
    expect(isSessionId(`${sid}A`)).toBe(false);
    expect(isSessionId(`${'A'.repeat(21)}B`)).toBe(false); // non-canonical last character
    expect(isSessionId(42)).toBe(false);
  });
});
