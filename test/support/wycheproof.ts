import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * Project Wycheproof vectors (C2SP/wycheproof `testvectors_v1/`), vendored in `test/vectors/wycheproof/`
 * with their source commit and licence in `SOURCE.md` there. A missing file fails the suite loudly.
 */
export const WYCHEPROOF_DIR = path.join(__dirname, '../vectors/wycheproof');

/** One JsonWebSignature test (schema `json_web_signature_schema_v1.json`). */
export interface JwsVector {
  readonly tcId: number;
  readonly comment: string;
  readonly jws: unknown;
  readonly result: 'valid' | 'invalid';
  readonly flags: readonly string[];
}

/** A JsonWebSignature test group: the keys the vectors are checked with. */
export interface JwsGroup {
  readonly comment: string;
  readonly public?: Record<string, unknown>;
  readonly private?: Record<string, unknown>;
  readonly tests: readonly JwsVector[];
}

/** A signature primitive test (schemas `ecdsa_p1363_verify_schema_v1.json`, `eddsa_verify_schema_v1.json`). */
export interface PrimitiveVector {
  readonly tcId: number;
  readonly comment: string;
  /** Hex. */
  readonly msg: string;
  /** Hex. */
  readonly sig: string;
  readonly result: 'valid' | 'invalid' | 'acceptable';
  readonly flags: readonly string[];
}

/** A signature primitive test group: one public key, as a JWK when the file gives one, always in hex. */
export interface PrimitiveGroup {
  readonly publicKeyJwk?: Record<string, unknown>;
  readonly publicKey: {
    readonly type: string;
    /** EC: the affine coordinates, big-endian hex, possibly with a leading zero byte. */
    readonly wx?: string;
    readonly wy?: string;
    /** EdDSA: the encoded public key, hex. */
    readonly pk?: string;
  };
  readonly tests: readonly PrimitiveVector[];
}

/** A fixed-width base64url coordinate from big-endian hex of any width. */
function coordinate(hex: string, bytes: number): string {
  return Buffer.from(
    BigInt(`0x${hex}`)
      .toString(16)
      .padStart(bytes * 2, '0'),
    'hex',
  ).toString('base64url');
}

/**
 * The group's public key as a JWK: `publicKeyJwk` when present (some ECDSA groups omit it), else built
 * from the hex `publicKey`.
 */
export function primitiveJwk(group: PrimitiveGroup): Record<string, unknown> {
  if (group.publicKeyJwk !== undefined) return group.publicKeyJwk;
  const { type, wx, wy, pk } = group.publicKey;
  if (type === 'EcPublicKey' && wx !== undefined && wy !== undefined) {
    return { kty: 'EC', crv: 'P-256', x: coordinate(wx, 32), y: coordinate(wy, 32) };
  }
  if (type === 'EDDSAPublicKey' && pk !== undefined) {
    return { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(pk, 'hex').toString('base64url') };
  }
  throw new Error(`no JWK for public key type ${type}`);
}

/** The top level of every vector file. */
export interface VectorFile<G> {
  readonly numberOfTests: number;
  readonly schema: string;
  readonly notes: Record<string, unknown>;
  readonly testGroups: readonly G[];
}

/** Reads a vector file, checks its schema name and that it holds the number of tests it announces. */
export function loadVectors<G extends { readonly tests: readonly unknown[] }>(
  file: string,
  schema: string,
): VectorFile<G> {
  const location = path.join(WYCHEPROOF_DIR, file);
  if (!existsSync(location)) {
    throw new Error(`Wycheproof vectors not found at ${location}: see test/vectors/wycheproof/SOURCE.md`);
  }
  const parsed = JSON.parse(readFileSync(location, 'utf8')) as VectorFile<G>;
  if (parsed.schema !== schema) throw new Error(`${file}: schema ${parsed.schema}, expected ${schema}`);
  const count = parsed.testGroups.reduce((sum, group) => sum + group.tests.length, 0);
  if (count !== parsed.numberOfTests) {
    throw new Error(`${file}: holds ${count} tests but announces ${parsed.numberOfTests}`);
  }
  return parsed;
}

/** The JsonWebSignature vectors. */
export function loadJwsVectors(): VectorFile<JwsGroup> {
  return loadVectors<JwsGroup>('json_web_signature_test.json', 'json_web_signature_schema_v1.json');
}

/**
 * Whether a vector uses the JWS JSON serialization (an object, or a string holding one) rather than the
 * compact serialization.
 */
export function isJsonSerialization(vector: JwsVector): boolean {
  return typeof vector.jws !== 'string' || vector.jws.trimStart().startsWith('{');
}
