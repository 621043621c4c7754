import { randomBytes } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';

/** The JWS algorithms this platform signs access tokens with. ES256 is the default. */
export type SigningAlg = 'ES256' | 'EdDSA';

/** The algorithms a key may be bound to, in order of preference. */
export const SIGNING_ALGS: readonly SigningAlg[] = ['ES256', 'EdDSA'];

/**
 * Where a key is in its life: `next` is published but does not sign yet, `current` signs, `previous` only
 * verifies tokens it signed before it was replaced.
 */
export type KeyState = 'next' | 'current' | 'previous';

/** A public JWK as published: no private members, `kid`, `alg` and `use: "sig"` always present. */
export interface PublicSigningJwk extends JWK {
  readonly kid: string;
  readonly alg: SigningAlg;
  readonly use: 'sig';
}

/** A signing key with its private half, as kept in the secret (never in the table, never in a log). */
export interface SigningKey {
  /** RFC 7638 thumbprint (SHA-256) of the public key. */
  readonly kid: string;
  /** The one algorithm this key is used with. */
  readonly alg: SigningAlg;
  readonly state: KeyState;
  /** When the key was generated, epoch milliseconds. */
  readonly createdAt: number;
  /** When the key started signing (became `current`), epoch milliseconds. */
  readonly activatedAt?: number;
  /** When the key stopped signing (became `previous`), epoch milliseconds. */
  readonly retiredAt?: number;
  /** The private JWK, including `kid` and `alg`. */
  readonly privateJwk: JWK;
}

/** A refresh-token MAC key (HMAC-SHA256). Kept as long as the longest absolute session lifetime. */
export interface MacKey {
  /** 8 random bytes, base64url: carried inside every refresh token it signs. */
  readonly kid: string;
  /** 32 random bytes, base64url. */
  readonly secret: string;
  /** When the key was generated, epoch milliseconds. The newest key signs new refresh tokens. */
  readonly createdAt: number;
}

/** The whole private key set: what the Secrets Manager secret (or the local key file) holds. */
export interface KeySet {
  readonly signingKeys: readonly SigningKey[];
  readonly macKeys: readonly MacKey[];
}

/** A JWK Set of public keys only. */
export interface PublicJwks {
  readonly keys: readonly PublicSigningJwk[];
}

/** Public JWK members per key type: everything else (`d`, `key_ops`, ...) is left out on export. */
const PUBLIC_MEMBERS: Readonly<Record<string, readonly string[]>> = {
  EC: ['kty', 'crv', 'x', 'y'],
  OKP: ['kty', 'crv', 'x'],
};

/**
 * Generates a signing key for `alg` with jose. The `kid` is the RFC 7638 thumbprint of the public key, so
 * two distinct keys never share a `kid` and a `kid` cannot be chosen to collide.
 */
export async function generateSigningKey(
  alg: SigningAlg,
  options: { readonly state?: KeyState; readonly now: number },
): Promise<SigningKey> {
  const { privateKey } = await generateKeyPair(
    alg,
    alg === 'EdDSA' ? { extractable: true, crv: 'Ed25519' } : { extractable: true },
  );
  const jwk = await exportJWK(privateKey);
  const kid = await calculateJwkThumbprint(jwk, 'sha256');
  return {
    kid,
    alg,
    state: options.state ?? 'next',
    createdAt: options.now,
    privateJwk: { ...jwk, kid, alg },
  };
}

/** Generates a refresh-token MAC key. */
export function generateMacKey(now: number): MacKey {
  return {
    kid: randomBytes(8).toString('base64url'),
    secret: randomBytes(32).toString('base64url'),
    createdAt: now,
  };
}

/**
 * Generates a fresh key set: one `current` and one `next` signing key (so the next rotation's key is
 * published before it signs) and one MAC key.
 */
export async function generateKeySet(options: {
  readonly alg?: SigningAlg;
  readonly now: number;
}): Promise<KeySet> {
  const alg = options.alg ?? 'ES256';
  const [current, next] = await Promise.all([
    generateSigningKey(alg, { state: 'current', now: options.now }).then((key) => ({
      ...key,
      activatedAt: options.now,
    })),
    generateSigningKey(alg, { state: 'next', now: options.now }),
  ]);
  return { signingKeys: [current, next], macKeys: [generateMacKey(options.now)] };
}

/** Returns the one key in state `current`; a set without exactly one is corrupt and throws a TypeError. */
export function currentSigningKey(set: KeySet): SigningKey {
  const current = set.signingKeys.filter((key) => key.state === 'current');
  const [key] = current;
  if (key === undefined || current.length !== 1) {
    throw new TypeError(`key set must hold exactly one current signing key, found ${current.length}`);
  }
  return key;
}

/** Returns the newest MAC key, the one that signs new refresh tokens. */
export function currentMacKey(set: KeySet): MacKey {
  const newest = set.macKeys.reduce<MacKey | undefined>(
    (best, key) => (best === undefined || key.createdAt > best.createdAt ? key : best),
    undefined,
  );
  if (newest === undefined) throw new TypeError('key set must hold at least one MAC key');
  return newest;
}

/** Returns the public half of a signing key as published: allowlisted members only. */
export function toPublicJwk(key: SigningKey): PublicSigningJwk {
  const members = PUBLIC_MEMBERS[key.privateJwk.kty ?? ''];
  if (members === undefined) throw new TypeError(`unsupported key type ${String(key.privateJwk.kty)}`);
  const jwk: Record<string, unknown> = {};
  for (const member of members) {
    const value = (key.privateJwk as Record<string, unknown>)[member];
    if (typeof value !== 'string') throw new TypeError(`signing key ${key.kid} lacks ${member}`);
    jwk[member] = value;
  }
  return { ...jwk, kid: key.kid, alg: key.alg, use: 'sig' };
}

/**
 * Exports the public JWKS of a key set: every signing key (`next`, `current` and each kept `previous`),
 * public members only, `use: "sig"` and `alg` on every key.
 */
export function toPublicJwks(set: KeySet): PublicJwks {
  return { keys: set.signingKeys.map(toPublicJwk) };
}
