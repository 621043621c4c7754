import { type KeyObject, verify } from 'node:crypto';
import { AccessTokenMinter, AccessTokenVerifier } from '../lambda/core/access-token';
import { importJwks, type VerificationKey } from '../lambda/core/jws';
import {
  generateSigningKey,
  type PublicJwks,
  type SigningAlg,
  type SigningKey,
  toPublicJwk,
} from '../lambda/core/keys';

export const ISSUER = 'https://auth.bench.test';
export const AUDIENCE = 'https://api.bench.test';
export const TTL_SECONDS = 300;

/** One signing key with a token it minted, and the verifier of the platform for it. */
export interface TokenFixture {
  readonly alg: SigningAlg;
  readonly key: SigningKey;
  readonly jwks: PublicJwks;
  readonly verificationKey: VerificationKey;
  readonly verifier: AccessTokenVerifier;
  readonly token: string;
  /** The raw pieces of the token for a one-shot `crypto.verify`. */
  readonly signingInput: Buffer;
  readonly signature: Buffer;
  readonly publicKey: KeyObject;
}

/** A real key for `alg` and a real access token for `sid`, signed with jose like the issuer does. */
export async function tokenFixture(
  alg: SigningAlg,
  sid = 'bench-session-0001',
  sub = 'user-bench',
): Promise<TokenFixture> {
  const now = Date.now();
  const key = { ...(await generateSigningKey(alg, { state: 'current', now })), activatedAt: now };
  const jwks: PublicJwks = { keys: [toPublicJwk(key)] };
  const imported = importJwks(jwks).keys.get(key.kid);
  if (imported === undefined) throw new Error('bench key did not import');
  const minter = new AccessTokenMinter(
    { issuer: ISSUER, audience: AUDIENCE, ttlSeconds: TTL_SECONDS },
    Date.now,
  );
  const { token } = await minter.mint(key, { sub, sid, clientId: 'native', scope: 'profile' });
  const verifier = new AccessTokenVerifier({
    issuer: ISSUER,
    audience: AUDIENCE,
    ttlSeconds: TTL_SECONDS,
    keys: (kid) => (kid === key.kid ? imported : undefined),
  });
  const lastDot = token.lastIndexOf('.');
  return {
    alg,
    key,
    jwks,
    verificationKey: imported,
    verifier,
    token,
    signingInput: Buffer.from(token.slice(0, lastDot), 'latin1'),
    signature: Buffer.from(token.slice(lastDot + 1), 'base64url'),
    publicKey: imported.key,
  };
}

/** The physical limit: one `crypto.verify` of the token's signature, inputs already decoded. */
export function rawVerify(fixture: TokenFixture): () => boolean {
  const { signingInput, signature, publicKey } = fixture;
  if (fixture.alg === 'ES256') {
    const key = { key: publicKey, dsaEncoding: 'ieee-p1363' as const };
    return () => verify('sha256', signingInput, key, signature);
  }
  return () => verify(null, signingInput, publicKey, signature);
}
