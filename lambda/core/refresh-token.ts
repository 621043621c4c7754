import { createHmac, timingSafeEqual } from 'node:crypto';
import { decodeBase64Url } from './encoding';
import { GrantError } from './errors';
import type { MacKey } from './keys';

/**
 * Refresh tokens are derived, not stored (docs/design.md "Refresh tokens"):
 *
 *     refresh_token = base64url( version | kid | sid | generation | HMAC(K[kid], domain | version | kid | sid | generation | salt) )
 *
 * with fixed field sizes, so that every token is exactly {@link REFRESH_TOKEN_LENGTH} characters:
 * version 1 byte (0x01), MAC key id 8 bytes, sid 16 bytes, generation uint32 big-endian, HMAC-SHA256 32 bytes.
 * The session item stores only `generation` and the random per-session `salt`: a dump of the table mints
 * nothing, and the successor of a token is a pure function of `(K, sid, generation + 1, salt)`.
 */
export const REFRESH_TOKEN_VERSION = 1;

const KID_BYTES = 8;
const SID_BYTES = 16;
const MAC_BYTES = 32;
const BODY_BYTES = 1 + KID_BYTES + SID_BYTES + 4;
const TOKEN_BYTES = BODY_BYTES + MAC_BYTES;

/** Length of every refresh token, characters (unpadded base64url of 61 bytes). */
export const REFRESH_TOKEN_LENGTH = Math.ceil((TOKEN_BYTES * 4) / 3);

/** Separates this MAC from any other use of the same key. */
const DOMAIN = Buffer.from('hybrid-auth/refresh-token/v1\0', 'ascii');

/** Highest generation a token can carry. */
export const MAX_GENERATION = 0xffffffff;

/** The fields of a parsed refresh token. Nothing here is trusted until {@link verifyRefreshMac}. */
export interface RefreshTokenParts {
  readonly version: number;
  /** MAC key id, base64url of 8 bytes. */
  readonly macKid: string;
  /** Session id, base64url of 16 bytes. */
  readonly sid: string;
  readonly generation: number;
  readonly mac: Buffer;
  /** The bytes the MAC covers, before the salt. */
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
  const bytes =
    typeof token === 'string' && token.length === REFRESH_TOKEN_LENGTH ? decodeBase64Url(token) : undefined;
  if (bytes === undefined || bytes.length !== TOKEN_BYTES || bytes[0] !== REFRESH_TOKEN_VERSION) {
    throw new GrantError('refresh_token_malformed', 'refresh token is malformed');
  }
  return {
    version: REFRESH_TOKEN_VERSION,
    macKid: bytes.subarray(1, 1 + KID_BYTES).toString('base64url'),
    sid: bytes.subarray(1 + KID_BYTES, 1 + KID_BYTES + SID_BYTES).toString('base64url'),
    generation: bytes.readUInt32BE(1 + KID_BYTES + SID_BYTES),
    mac: bytes.subarray(BODY_BYTES),
    body: bytes.subarray(0, BODY_BYTES),
  };
}

/** Derives the refresh token of generation `generation` of session `sid` under `macKey`. */
export function deriveRefreshToken(macKey: MacKey, sid: string, generation: number, salt: string): string {
  const body = encodeBody(macKey.kid, sid, generation);
  return Buffer.concat([body, computeMac(macKey, body, salt)]).toString('base64url');
}

/**
 * Checks the MAC of parsed token parts in constant time against the key the token names.
 *
 * @returns `false` when the key is unknown or the MAC differs.
 */
export function verifyRefreshMac(
  parts: RefreshTokenParts,
  macKeys: readonly MacKey[],
  salt: string,
): boolean {
  const key = macKeys.find((candidate) => candidate.kid === parts.macKid);
  if (key === undefined) return false;
  return timingSafeEqual(computeMac(key, parts.body, salt), parts.mac);
}

function encodeBody(macKid: string, sid: string, generation: number): Buffer {
  const kid = decodeBase64Url(macKid);
  const sidBytes = decodeBase64Url(sid);
  if (kid?.length !== KID_BYTES) throw new TypeError('MAC key id must be 8 bytes, base64url');
  if (sidBytes?.length !== SID_BYTES) throw new TypeError('session id must be 16 bytes, base64url');
  if (!Number.isInteger(generation) || generation < 0 || generation > MAX_GENERATION) {
    throw new RangeError(`generation out of range: ${generation}`);
  }
  const body = Buffer.alloc(BODY_BYTES);
  body[0] = REFRESH_TOKEN_VERSION;
  kid.copy(body, 1);
  sidBytes.copy(body, 1 + KID_BYTES);
  body.writeUInt32BE(generation, 1 + KID_BYTES + SID_BYTES);
  return body;
}

function computeMac(key: MacKey, body: Buffer, salt: string): Buffer {
  return createHmac('sha256', Buffer.from(key.secret, 'base64url'))
    .update(DOMAIN)
    .update(body)
    .update(Buffer.from(salt, 'base64url'))
    .digest();
}
