import type { JWK } from 'jose';
import type { KeySet, KeyState, MacKey, SigningAlg, SigningKey } from './keys';

/**
 * The serialized private key set: what the Secrets Manager secret holds and what the local platform keeps
 * in `keys.json`. A JWK Set whose `keys` are the private signing keys (each with `kid`, `alg`, `use` and
 * this platform's `state`, `created_at`, `activated_at`, `retired_at` members), plus a `mac_keys` member
 * with the refresh-token MAC keys.
 */
export interface KeySetDocument {
  readonly keys: ReadonlyArray<
    JWK & {
      kid: string;
      alg: SigningAlg;
      state: KeyState;
      created_at: number;
      activated_at?: number;
      retired_at?: number;
    }
  >;
  readonly mac_keys: readonly MacKey[];
}

/** Serializes a key set. */
export function serializeKeySet(set: KeySet): string {
  const document: KeySetDocument = {
    keys: set.signingKeys.map((key) => ({
      ...key.privateJwk,
      kid: key.kid,
      alg: key.alg,
      use: 'sig',
      state: key.state,
      created_at: key.createdAt,
      ...(key.activatedAt === undefined ? {} : { activated_at: key.activatedAt }),
      ...(key.retiredAt === undefined ? {} : { retired_at: key.retiredAt }),
    })),
    mac_keys: set.macKeys,
  };
  return `${JSON.stringify(document, null, 2)}\n`;
}

/**
 * The value a deployment stores in a new secret (CloudFormation cannot generate signing keys): the first
 * rotation, which the stack triggers at once, replaces it with a fresh key set.
 */
export const UNINITIALIZED_SECRET = '{"uninitialized":true}';

const STATES = new Set<unknown>(['next', 'current', 'previous']);

/**
 * Parses a serialized key set and checks its shape: exactly one `current` key, every key with a `kid`,
 * a supported `alg`, a state and a private member, at least one MAC key.
 *
 * @throws {TypeError} naming `source` and what is wrong (never echoing key material).
 */
export function parseKeySet(text: string, source: string): KeySet {
  let document: Partial<KeySetDocument>;
  try {
    document = JSON.parse(text) as Partial<KeySetDocument>;
  } catch {
    throw new TypeError(`${source} is not JSON`);
  }
  if (!Array.isArray(document?.keys) || !Array.isArray(document?.mac_keys)) {
    throw new TypeError(`${source} is not a key set (expected keys and mac_keys)`);
  }
  for (const mac of document.mac_keys) {
    if (typeof mac?.kid !== 'string' || typeof mac.secret !== 'string' || typeof mac.createdAt !== 'number') {
      throw new TypeError(`${source}: a MAC key lacks kid, secret or createdAt`);
    }
  }
  const signingKeys: SigningKey[] = document.keys.map((entry, index) => {
    const { state, created_at, activated_at, retired_at, use: _use, ...jwk } = entry;
    if (typeof jwk.kid !== 'string' || (jwk.alg !== 'ES256' && jwk.alg !== 'EdDSA') || !STATES.has(state)) {
      throw new TypeError(`${source}: key ${index} lacks a kid, a supported alg or a state`);
    }
    if (typeof jwk.d !== 'string' || typeof created_at !== 'number') {
      throw new TypeError(`${source}: key ${jwk.kid} lacks its private member or created_at`);
    }
    return {
      kid: jwk.kid,
      alg: jwk.alg,
      state,
      createdAt: created_at,
      ...(activated_at === undefined ? {} : { activatedAt: activated_at }),
      ...(retired_at === undefined ? {} : { retiredAt: retired_at }),
      privateJwk: jwk,
    };
  });
  if (signingKeys.filter((key) => key.state === 'current').length !== 1) {
    throw new TypeError(`${source} must hold exactly one current signing key`);
  }
  if (document.mac_keys.length === 0) throw new TypeError(`${source} holds no MAC key`);
  return { signingKeys, macKeys: document.mac_keys };
}
