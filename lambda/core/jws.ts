import { createPublicKey, type JsonWebKey, type KeyObject, verify } from 'node:crypto';
import { decodeBase64Url, decodeUtf8, parseJsonObject } from './encoding';
import { TokenError } from './errors';
import type { SigningAlg } from './keys';

/** A public key ready to verify, bound to exactly one algorithm. */
export interface VerificationKey {
  readonly kid: string;
  readonly alg: SigningAlg;
  readonly key: KeyObject;
}

/** Looks a verification key up by `kid`; `undefined` when none is known. */
export type KeyResolver = (kid: string) => VerificationKey | undefined;

/** The only header members a token may carry (RFC 8725 section 3.1: no `jwk`, `jku`, `x5u`, `crit`, `b64`). */
const ALLOWED_HEADER = new Set(['alg', 'kid', 'typ']);

/** The shape every compact JWS must have before any decoding. */
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/** The protected header of a verified JWS: the only members a token may carry. */
export interface VerifiedJwsHeader {
  readonly alg: SigningAlg;
  readonly kid: string;
  readonly typ?: string;
}

/** A compact JWS whose signature verified, its payload still the raw bytes it carries. */
export interface VerifiedJwsSignature {
  readonly header: VerifiedJwsHeader;
  readonly payload: Buffer;
  readonly key: VerificationKey;
}

/** A compact JWS whose signature verified and whose payload is a JSON object (a JWT claims set). */
export interface VerifiedJws {
  readonly header: VerifiedJwsHeader;
  readonly payload: Record<string, unknown>;
  readonly key: VerificationKey;
}

/** Bounds applied before any parsing. */
export interface JwsLimits {
  /** Longest token accepted, in characters. */
  readonly maxTokenLength: number;
  /** Longest protected header accepted, in base64url characters. */
  readonly maxHeaderLength: number;
}

/** Defaults of {@link JwsLimits}: far above what the issuer mints, far below anything costly. */
export const DEFAULT_JWS_LIMITS: JwsLimits = { maxTokenLength: 4096, maxHeaderLength: 512 };

/** Raw signature lengths: ES256 is IEEE P1363 `r || s` (RFC 7518 section 3.4), Ed25519 is 64 bytes. */
const SIGNATURE_LENGTH: Readonly<Record<SigningAlg, number>> = { ES256: 64, EdDSA: 64 };

/**
 * Verifies a compact JWS synchronously with `node:crypto`, strictly: the format and size guard runs before
 * any decoding; every segment must be canonical unpadded base64url; the header must be a UTF-8 JSON object
 * without duplicate names that holds only `alg`, `kid` and `typ`; the key is found by `kid` and its own
 * algorithm must equal the header's (the header never chooses the algorithm); the signature must have the
 * exact raw length. The payload is returned as bytes, whatever they are: {@link verifyCompactJws} is the
 * JWT layer on top.
 *
 * @throws {TokenError} `malformed`, `header_invalid`, `unknown_kid`, `alg_mismatch` or `bad_signature`.
 */
export function verifyJwsSignature(
  token: unknown,
  resolveKey: KeyResolver,
  limits = DEFAULT_JWS_LIMITS,
): VerifiedJwsSignature {
  if (typeof token !== 'string' || token.length > limits.maxTokenLength || !COMPACT_JWS.test(token)) {
    throw new TokenError('malformed', 'token is not a compact JWS of acceptable size');
  }
  const firstDot = token.indexOf('.');
  const secondDot = token.indexOf('.', firstDot + 1);
  if (firstDot > limits.maxHeaderLength) throw new TokenError('malformed', 'token header is too long');

  const { alg, kid, typ } = checkedHeader(token.slice(0, firstDot));

  const key = resolveKey(kid);
  if (key === undefined) throw new TokenError('unknown_kid', 'no verification key has this kid');
  if (key.alg !== alg) throw new TokenError('alg_mismatch', 'header alg differs from the key algorithm');

  const signature = decodeBase64Url(token.slice(secondDot + 1));
  if (signature === undefined || signature.length !== SIGNATURE_LENGTH[key.alg]) {
    throw new TokenError('bad_signature', 'signature has the wrong encoding or length');
  }
  const signingInput = Buffer.from(token.slice(0, secondDot), 'latin1');
  const valid =
    key.alg === 'ES256'
      ? verify('sha256', signingInput, ecdsaKey(key.key), signature)
      : verify(null, signingInput, key.key, signature);
  if (!valid) throw new TokenError('bad_signature', 'signature does not verify');

  const payload = decodeBase64Url(token.slice(firstDot + 1, secondDot));
  if (payload === undefined) throw new TokenError('malformed', 'token payload is not canonical base64url');
  return { header: { alg: key.alg, kid, ...(typ === undefined ? {} : { typ }) }, payload, key };
}

/**
 * Verifies a compact JWS with {@link verifyJwsSignature}, then requires its payload to be a UTF-8 JSON object
 * without duplicate or forbidden member names.
 *
 * @throws {TokenError} `malformed`, `header_invalid`, `unknown_kid`, `alg_mismatch` or `bad_signature`.
 */
export function verifyCompactJws(
  token: unknown,
  resolveKey: KeyResolver,
  limits = DEFAULT_JWS_LIMITS,
): VerifiedJws {
  const { header, payload: payloadBytes, key } = verifyJwsSignature(token, resolveKey, limits);
  const text = decodeUtf8(payloadBytes);
  const payload = text === undefined ? undefined : parseJsonObject(text);
  if (payload === undefined)
    throw new TokenError('malformed', 'token payload is not a base64url JSON object');
  return { header, payload, key };
}

/** A protected header that passed every check of {@link parseHeader}; `alg` is not yet bound to a key. */
interface CheckedHeader {
  readonly alg: string;
  readonly kid: string;
  readonly typ: string | undefined;
}

/**
 * Headers already checked, by their exact base64url text. Every token of one signing key carries the same
 * header, so the warm path decodes and parses it once. Only headers that passed are kept, the check is a pure
 * function of the text, and the map is bounded (cleared when full), so an attacker's headers cost no memory.
 */
const CHECKED_HEADERS = new Map<string, CheckedHeader>();
const MAX_CHECKED_HEADERS = 64;

function checkedHeader(segment: string): CheckedHeader {
  let header = CHECKED_HEADERS.get(segment);
  if (header === undefined) {
    header = parseHeader(segment);
    if (CHECKED_HEADERS.size >= MAX_CHECKED_HEADERS) CHECKED_HEADERS.clear();
    CHECKED_HEADERS.set(segment, header);
  }
  return header;
}

/** Decodes and checks a protected header: a JSON object with only `alg`, `kid` and `typ`, of the right types. */
function parseHeader(segment: string): CheckedHeader {
  const header = parseSegment(segment);
  if (header === undefined) throw new TokenError('malformed', 'token header is not a base64url JSON object');
  for (const name of Object.keys(header)) {
    if (!ALLOWED_HEADER.has(name))
      throw new TokenError('header_invalid', `header member ${name} is not allowed`);
  }
  const { alg, kid, typ } = header;
  if (typeof alg !== 'string' || typeof kid !== 'string' || kid.length === 0 || kid.length > 128) {
    throw new TokenError('header_invalid', 'header must carry string alg and kid');
  }
  if (typ !== undefined && typeof typ !== 'string')
    throw new TokenError('header_invalid', 'typ must be a string');
  return Object.freeze({ alg, kid, typ });
}

/** The `crypto.verify` key argument of each ES256 key, built once per key instead of once per token. */
const ECDSA_KEYS = new WeakMap<KeyObject, { readonly key: KeyObject; readonly dsaEncoding: 'ieee-p1363' }>();

function ecdsaKey(key: KeyObject): { readonly key: KeyObject; readonly dsaEncoding: 'ieee-p1363' } {
  let options = ECDSA_KEYS.get(key);
  if (options === undefined) {
    options = Object.freeze({ key, dsaEncoding: 'ieee-p1363' as const });
    ECDSA_KEYS.set(key, options);
  }
  return options;
}

/** Decodes a base64url segment holding a UTF-8 JSON object; `undefined` when it is anything else. */
function parseSegment(segment: string): Record<string, unknown> | undefined {
  const bytes = decodeBase64Url(segment);
  const text = bytes === undefined ? undefined : decodeUtf8(bytes);
  return text === undefined ? undefined : parseJsonObject(text);
}

/** Curve and key type each algorithm requires. */
const KEY_SHAPE: Readonly<Record<SigningAlg, { kty: string; crv: string }>> = {
  ES256: { kty: 'EC', crv: 'P-256' },
  EdDSA: { kty: 'OKP', crv: 'Ed25519' },
};

/** Why a JWK was not imported. */
export interface RejectedJwk {
  readonly kid: unknown;
  readonly reason: string;
}

/** The result of importing a JWKS: the usable keys by `kid`, and what was refused with why. */
export interface ImportedJwks {
  readonly keys: ReadonlyMap<string, VerificationKey>;
  readonly rejected: readonly RejectedJwk[];
}

/**
 * Imports the verification keys of a JWKS. A key is usable only when it names its `kid` and an `alg` this
 * platform verifies, its `kty`/`crv` match that `alg`, its `use` (if any) is `sig`, its `key_ops` (if any)
 * include `verify`, and it holds no private member. Everything else is listed in `rejected`, never used.
 * A `kid` that appears twice is refused in both places (no ambiguity about which key verifies).
 */
export function importJwks(jwks: unknown): ImportedJwks {
  const keys = new Map<string, VerificationKey>();
  const rejected: RejectedJwk[] = [];
  const list = typeof jwks === 'object' && jwks !== null ? (jwks as { keys?: unknown }).keys : undefined;
  if (!Array.isArray(list)) return { keys, rejected: [{ kid: undefined, reason: 'not a JWK Set' }] };
  const seen = new Set<string>();
  for (const jwk of list as unknown[]) {
    const result = importJwk(jwk);
    if ('reason' in result) {
      rejected.push(result);
    } else if (seen.has(result.kid)) {
      keys.delete(result.kid);
      rejected.push({ kid: result.kid, reason: 'duplicate kid' });
    } else {
      seen.add(result.kid);
      keys.set(result.kid, result);
    }
  }
  return { keys, rejected };
}

function importJwk(value: unknown): VerificationKey | RejectedJwk {
  if (typeof value !== 'object' || value === null) return { kid: undefined, reason: 'not an object' };
  const jwk = value as Record<string, unknown>;
  const { kid, alg, kty, crv, use } = jwk;
  const reject = (reason: string): RejectedJwk => ({ kid, reason });
  if (typeof kid !== 'string' || kid.length === 0 || kid.length > 128) return reject('missing kid');
  if (alg !== 'ES256' && alg !== 'EdDSA') return reject(`unsupported alg ${String(alg)}`);
  if (kty !== KEY_SHAPE[alg].kty || crv !== KEY_SHAPE[alg].crv) return reject('kty/crv do not match alg');
  if (use !== undefined && use !== 'sig') return reject(`use ${String(use)} is not sig`);
  const keyOps = jwk.key_ops;
  if (keyOps !== undefined && !(Array.isArray(keyOps) && keyOps.includes('verify'))) {
    return reject('key_ops do not allow verify');
  }
  if ('d' in jwk) return reject('private key material in a verification key');
  const { x, y } = jwk;
  if (typeof x !== 'string' || (alg === 'ES256' && typeof y !== 'string'))
    return reject('missing coordinates');
  const material: JsonWebKey = alg === 'ES256' ? { kty, crv, x, y: y as string } : { kty, crv, x };
  try {
    const key = createPublicKey({ key: material, format: 'jwk' });
    return { kid, alg, key };
  } catch {
    return reject('not a valid public key');
  }
}
