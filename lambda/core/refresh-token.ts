import { createHmac, timingSafeEqual } from 'node:crypto';
import { decodeBase64Url } from './encoding';
import { GrantError } from './errors';
import type { MacKey } from './keys';

/**
 * Refresh tokens are derived, not stored (docs/design.md "Refresh tokens"):
 *
 *     refresh_token = base64url( version | kid | sid | generation | salt | subjectKey | HMAC(K[kid], domain | version | kid | sid | generation | salt | subjectKey) )
 *
 * with fixed field sizes, so that every token is exactly {@link REFRESH_TOKEN_LENGTH} characters:
 * version 1 byte (0x03), MAC key id 8 bytes, sid 16 bytes, generation uint32 big-endian, the session's salt
 * 16 bytes, the subject key 16 bytes (lambda/core/subject.ts `subjectKey(sub)`, decoded), HMAC-SHA256 32
 * bytes. The token carries the salt, so its MAC is checked before any I/O; the session item stores the same
 * salt, and the rotation's conditional write requires it to match. It carries the subject key, so the
 * subject's watermark is read in parallel with that write. The MAC keys live in Secrets Manager: a dump of
 * the table mints nothing, and the successor of a token is a pure function of
 * `(K, sid, generation + 1, salt, subjectKey(sub))`.
 *
 * Version 2 (no subject key: the watermark is read after the write) and version 1 (no salt either: its MAC
 * needs the item's salt, so it is verified after a read) are still accepted; their successors are version 3.
 */
export const REFRESH_TOKEN_VERSION = 3;

/** Version 2: salt, no subject key. Accepted until every session has rotated once (one release). */
export const SALTED_REFRESH_TOKEN_VERSION = 2;

/** Version 1: no salt, no subject key. Accepted until every session has rotated once (one release). */
export const LEGACY_REFRESH_TOKEN_VERSION = 1;

const KID_BYTES = 8;
const SID_BYTES = 16;
const SALT_BYTES = 16;
const SUBJECT_KEY_BYTES = 16;
const MAC_BYTES = 32;
/** version | kid | sid | generation: what every version starts with. */
const HEAD_BYTES = 1 + KID_BYTES + SID_BYTES + 4;
/** What the MAC covers, per version (version 1's MAC also covers the item's salt, appended). */
const BODY_BYTES: Readonly<Record<number, number>> = {
  [REFRESH_TOKEN_VERSION]: HEAD_BYTES + SALT_BYTES + SUBJECT_KEY_BYTES,
  [SALTED_REFRESH_TOKEN_VERSION]: HEAD_BYTES + SALT_BYTES,
  [LEGACY_REFRESH_TOKEN_VERSION]: HEAD_BYTES,
};
const TOKEN_BYTES = HEAD_BYTES + SALT_BYTES + SUBJECT_KEY_BYTES + MAC_BYTES;

/** Length of every refresh token issued now, characters (base64url of 93 bytes, no spare bits). */
export const REFRESH_TOKEN_LENGTH = Math.ceil((TOKEN_BYTES * 4) / 3);
/** Length of a version 2 token, characters (unpadded base64url of 77 bytes). */
export const SALTED_REFRESH_TOKEN_LENGTH = Math.ceil(((HEAD_BYTES + SALT_BYTES + MAC_BYTES) * 4) / 3);
/** Length of a version 1 token, characters (unpadded base64url of 61 bytes). */
export const LEGACY_REFRESH_TOKEN_LENGTH = Math.ceil(((HEAD_BYTES + MAC_BYTES) * 4) / 3);

/** The version a token of each accepted length must carry. */
const VERSION_BY_LENGTH: ReadonlyMap<number, number> = new Map([
  [REFRESH_TOKEN_LENGTH, REFRESH_TOKEN_VERSION],
  [SALTED_REFRESH_TOKEN_LENGTH, SALTED_REFRESH_TOKEN_VERSION],
  [LEGACY_REFRESH_TOKEN_LENGTH, LEGACY_REFRESH_TOKEN_VERSION],
]);

/**
 * Separates this MAC from any other use of the same key. Every version shares it: the version byte is the
 * first byte the MAC covers after it, so inputs of two versions never collide.
 */
const DOMAIN = Buffer.from('hybrid-auth/refresh-token/v1\0', 'ascii');

/** Highest generation a token can carry. */
export const MAX_GENERATION = 0xffffffff;

/** The fields of a parsed refresh token. Nothing here is trusted until {@link verifyRefreshMac}. */
export interface RefreshTokenParts {
  /** {@link REFRESH_TOKEN_VERSION}, {@link SALTED_REFRESH_TOKEN_VERSION} or {@link LEGACY_REFRESH_TOKEN_VERSION}. */
  readonly version: number;
  /** MAC key id, base64url of 8 bytes. */
  readonly macKid: string;
  /** Session id, base64url of 16 bytes. */
  readonly sid: string;
  readonly generation: number;
  /** The session's salt, base64url of 16 bytes; absent from a version 1 token (it is in the item only). */
  readonly salt?: string;
  /**
   * The subject key of the session's `sub` (lambda/core/subject.ts `subjectKey`), base64url of 16 bytes;
   * only in a version 3 token.
   */
  readonly subjectKey?: string;
  readonly mac: Buffer;
  /** The bytes the MAC covers (for version 1, before the item's salt). */
  readonly body: Buffer;
}

const SESSION_ID = /^[A-Za-z0-9_-]{22}$/;

/** True when `sid` is a session id as this platform makes them (16 bytes, base64url). */
export function isSessionId(sid: unknown): sid is string {
  return typeof sid === 'string' && SESSION_ID.test(sid) && decodeBase64Url(sid)?.length === SID_BYTES;
}

/**
 * Parses a refresh token strictly: exact length, base64url alphabet, canonical encoding, known version.
 *
 * @throws {GrantError} `refresh_token_malformed` for anything else.
 */
export function parseRefreshToken(token: unknown): RefreshTokenParts {
  const version = typeof token === 'string' ? VERSION_BY_LENGTH.get(token.length) : undefined;
  const bytes = typeof token === 'string' && version !== undefined ? decodeBase64Url(token) : undefined;
  const macAt = version === undefined ? undefined : BODY_BYTES[version];
  if (
    version === undefined ||
    bytes === undefined ||
    macAt === undefined ||
    bytes.length !== macAt + MAC_BYTES ||
    bytes[0] !== version
  ) {
    throw new GrantError('refresh_token_malformed', 'refresh token is malformed');
  }
  return {
    version,
    macKid: bytes.subarray(1, 1 + KID_BYTES).toString('base64url'),
    sid: bytes.subarray(1 + KID_BYTES, 1 + KID_BYTES + SID_BYTES).toString('base64url'),
    generation: bytes.readUInt32BE(1 + KID_BYTES + SID_BYTES),
    ...(version === LEGACY_REFRESH_TOKEN_VERSION
      ? {}
      : { salt: bytes.subarray(HEAD_BYTES, HEAD_BYTES + SALT_BYTES).toString('base64url') }),
    ...(version === REFRESH_TOKEN_VERSION
      ? { subjectKey: bytes.subarray(HEAD_BYTES + SALT_BYTES, macAt).toString('base64url') }
      : {}),
    mac: bytes.subarray(macAt),
    body: bytes.subarray(0, macAt),
  };
}

/**
 * Derives the (version 3) refresh token of generation `generation` of session `sid` under `macKey`, bound to
 * the session's `salt` and to `subjectKey`, the subject key of the session's `sub` (lambda/core/subject.ts).
 */
export function deriveRefreshToken(
  macKey: MacKey,
  sid: string,
  generation: number,
  salt: string,
  subjectKey: string,
): string {
  const saltBytes = decodeBase64Url(salt);
  if (saltBytes?.length !== SALT_BYTES) throw new TypeError('salt must be 16 bytes, base64url');
  const keyBytes = decodeBase64Url(subjectKey);
  if (keyBytes?.length !== SUBJECT_KEY_BYTES) throw new TypeError('subject key must be 16 bytes, base64url');
  const body = Buffer.concat([
    encodeHead(REFRESH_TOKEN_VERSION, macKey.kid, sid, generation),
    saltBytes,
    keyBytes,
  ]);
  return Buffer.concat([body, computeMac(macKey, body)]).toString('base64url');
}

/**
 * Checks the MAC of parsed token parts in constant time against the key the token names. A version 3 or 2
 * token carries its salt and verifies without the session item; when `salt` (the item's) is given, the
 * token's salt must also equal it. A version 1 token needs the item's `salt`.
 *
 * @returns `false` when the key is unknown, the MAC differs, or the salt is missing or another one.
 */
export function verifyRefreshMac(
  parts: RefreshTokenParts,
  macKeys: readonly MacKey[],
  salt?: string,
): boolean {
  const key = macKeys.find((candidate) => candidate.kid === parts.macKid);
  if (key === undefined) return false;
  if (parts.version === LEGACY_REFRESH_TOKEN_VERSION) {
    if (salt === undefined) return false;
    // Byte for byte what version 1 computed: HMAC(K, domain | body | salt).
    return timingSafeEqual(
      computeMac(key, Buffer.concat([parts.body, Buffer.from(salt, 'base64url')])),
      parts.mac,
    );
  }
  const macOk = timingSafeEqual(computeMac(key, parts.body), parts.mac);
  return macOk && (salt === undefined || saltsEqual(parts.salt, salt));
}

/** Constant-time equality of two base64url salts. */
export function saltsEqual(a: string | undefined, b: string | undefined): boolean {
  const left = a === undefined ? undefined : decodeBase64Url(a);
  const right = b === undefined ? undefined : decodeBase64Url(b);
  if (left === undefined || right === undefined || left.length !== right.length) return false;
  return timingSafeEqual(left, right);
}

function encodeHead(version: number, macKid: string, sid: string, generation: number): Buffer {
  const kid = decodeBase64Url(macKid);
  const sidBytes = decodeBase64Url(sid);
  if (kid?.length !== KID_BYTES) throw new TypeError('MAC key id must be 8 bytes, base64url');
  if (sidBytes?.length !== SID_BYTES) throw new TypeError('session id must be 16 bytes, base64url');
  if (!Number.isInteger(generation) || generation < 0 || generation > MAX_GENERATION) {
    throw new RangeError(`generation out of range: ${generation}`);
  }
  const head = Buffer.alloc(HEAD_BYTES);
  head[0] = version;
  kid.copy(head, 1);
  sidBytes.copy(head, 1 + KID_BYTES);
  head.writeUInt32BE(generation, 1 + KID_BYTES + SID_BYTES);
  return head;
}

function computeMac(key: MacKey, input: Buffer): Buffer {
  return createHmac('sha256', Buffer.from(key.secret, 'base64url')).update(DOMAIN).update(input).digest();
}
