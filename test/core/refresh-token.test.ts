import { createHmac } from 'node:crypto';
import { GrantError } from '../../lambda/core/errors';
import { generateMacKey } from '../../lambda/core/keys';
import {
  deriveRefreshToken,
  isSessionId,
  LEGACY_REFRESH_TOKEN_LENGTH,
  MAX_GENERATION,
  parseRefreshToken,
  REFRESH_TOKEN_LENGTH,
  verifyRefreshMac,
} from '../../lambda/core/refresh-token';

const key = generateMacKey(0);
const otherKey = generateMacKey(0);
const sid = Buffer.alloc(16, 7).toString('base64url');
const salt = Buffer.alloc(16, 9).toString('base64url');

/** A version 1 token, built from its documented format (docs/design.md), independently of the module. */
function legacyToken(generation: number): string {
  const body = Buffer.alloc(29);
  body[0] = 1;
  Buffer.from(key.kid, 'base64url').copy(body, 1);
  Buffer.from(sid, 'base64url').copy(body, 9);
  body.writeUInt32BE(generation, 25);
  const mac = createHmac('sha256', Buffer.from(key.secret, 'base64url'))
    .update('hybrid-auth/refresh-token/v1\0')
    .update(body)
    .update(Buffer.from(salt, 'base64url'))
    .digest();
  return Buffer.concat([body, mac]).toString('base64url');
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
  test('encodes version, MAC key id, sid, generation and salt, at a fixed length', () => {
    const token = deriveRefreshToken(key, sid, 42, salt);
    expect(token).toHaveLength(REFRESH_TOKEN_LENGTH);
    expect(REFRESH_TOKEN_LENGTH).toBe(103);
    expect(token).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(parseRefreshToken(token)).toMatchObject({
      version: 2,
      macKid: key.kid,
      sid,
      generation: 42,
      salt,
    });
  });

  test('parses a version 1 token (no salt), accepted for one release', () => {
    const token = legacyToken(42);
    expect(token).toHaveLength(LEGACY_REFRESH_TOKEN_LENGTH);
    const parts = parseRefreshToken(token);
    expect(parts).toMatchObject({ version: 1, macKid: key.kid, sid, generation: 42 });
    expect(parts.salt).toBeUndefined();
  });

  test('is a pure function of key, sid, generation and salt', () => {
    expect(deriveRefreshToken(key, sid, 3, salt)).toBe(deriveRefreshToken(key, sid, 3, salt));
    expect(deriveRefreshToken(key, sid, 3, salt)).not.toBe(deriveRefreshToken(key, sid, 4, salt));
    const otherSalt = Buffer.alloc(16, 1).toString('base64url');
    expect(deriveRefreshToken(key, sid, 3, salt)).not.toBe(deriveRefreshToken(key, sid, 3, otherSalt));
  });

  test('carries generations up to 2^32 - 1', () => {
    expect(parseRefreshToken(deriveRefreshToken(key, sid, MAX_GENERATION, salt)).generation).toBe(
      MAX_GENERATION,
    );
    expect(() => deriveRefreshToken(key, sid, MAX_GENERATION + 1, salt)).toThrow(RangeError);
    expect(() => deriveRefreshToken(key, sid, -1, salt)).toThrow(RangeError);
  });

  test('fails to derive for a malformed sid, key id or salt', () => {
    expect(() => deriveRefreshToken(key, 'short', 0, salt)).toThrow(/session id/);
    expect(() => deriveRefreshToken(key, sid, 0, 'short')).toThrow(/salt/);
    expect(() => deriveRefreshToken({ ...key, kid: 'x' }, sid, 0, salt)).toThrow(/MAC key id/);
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

  test('refuses a non-canonical encoding of valid bytes', () => {
    const token = deriveRefreshToken(key, sid, 1, salt);
    // 77 bytes use 103 characters with 2 spare bits in the last one: setting one gives the same bytes.
    const last = token.charAt(token.length - 1);
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const twin = token.slice(0, -1) + alphabet.charAt(alphabet.indexOf(last) ^ 1);
    expect(Buffer.from(twin, 'base64url').equals(Buffer.from(token, 'base64url'))).toBe(true);
    expect(malformedCode(twin)).toBe('refresh_token_malformed');
  });

  test('refuses an unknown version, and a version byte that does not match the length', () => {
    const bytes = Buffer.from(deriveRefreshToken(key, sid, 1, salt), 'base64url');
    for (const version of [0, 1, 3, 0xff]) {
      bytes[0] = version;
      expect(malformedCode(bytes.toString('base64url'))).toBe('refresh_token_malformed');
    }
    const legacy = Buffer.from(legacyToken(1), 'base64url');
    legacy[0] = 2;
    expect(malformedCode(legacy.toString('base64url'))).toBe('refresh_token_malformed');
  });
});

describe('refresh token MAC', () => {
  test('verifies under the key it names and the session salt', () => {
    const parts = parseRefreshToken(deriveRefreshToken(key, sid, 5, salt));
    expect(verifyRefreshMac(parts, [otherKey, key], salt)).toBe(true);
  });

  test('verifies a version 2 token without the session item (before any I/O)', () => {
    const parts = parseRefreshToken(deriveRefreshToken(key, sid, 5, salt));
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
    const token = deriveRefreshToken(key, sid, 5, salt);
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
    const parts = parseRefreshToken(deriveRefreshToken(key, sid, 5, salt));
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
