import fc from 'fast-check';
import {
  type CryptoKey,
  compactVerify,
  createLocalJWKSet,
  errors,
  importJWK,
  type JWK,
  type JWTPayload,
  type JWTVerifyGetKey,
  type JWTVerifyOptions,
  jwtVerify,
} from 'jose';
import { AccessTokenMinter, AccessTokenVerifier } from '../../lambda/core/access-token';
import { TokenError, type TokenErrorCode } from '../../lambda/core/errors';
import { importJwks, verifyJwsSignature } from '../../lambda/core/jws';
import {
  currentSigningKey,
  type KeySet,
  SIGNING_ALGS,
  type SigningAlg,
  type SigningKey,
  toPublicJwks,
} from '../../lambda/core/keys';
import { AUDIENCE, FrozenClock, ISSUER, testKeySet } from '../support/fixtures';
import { accessTokenHeader, b64u, forge, segment, signSegments } from '../support/jws-forge';
import { isJsonSerialization, type JwsGroup, loadJwsVectors } from '../support/wycheproof';

/**
 * docs/design.md "Tokens": the synchronous node:crypto verifier may serve the hot path only if it gets the same
 * accept/reject as jose for every vector and every fuzzed token. Each place where the two legitimately
 * disagree is listed below with its reason; any other disagreement fails.
 */

const TTL = 300;
const SKEW = 30;
const PROFILE = { issuer: ISSUER, audience: AUDIENCE, ttlSeconds: TTL };
const CLAIMS = ['iss', 'sub', 'aud', 'exp', 'iat', 'nbf', 'jti', 'sid', 'client_id', 'scope'];

// ---------------------------------------------------------------------------------------------------------
// Wycheproof JWS vectors: verifyJwsSignature against jose compactVerify
// ---------------------------------------------------------------------------------------------------------

const JWS = loadJwsVectors();
const COMPACT = JWS.testGroups.flatMap((group) =>
  group.tests.filter((vector) => !isJsonSerialization(vector)).map((vector) => ({ group, vector })),
);

function oursAccepts(group: JwsGroup, jws: unknown): boolean {
  const { keys } = importJwks({ keys: group.public === undefined ? [] : [group.public] });
  try {
    verifyJwsSignature(jws, (kid) => keys.get(kid));
    return true;
  } catch (error) {
    if (error instanceof TokenError) return false;
    throw error;
  }
}

/**
 * jose's verdict. A group's public key goes through createLocalJWKSet, jose's own JWKS key selection (kid,
 * alg, use, key_ops), as ours goes through importJwks; a group with only a symmetric key (HS256) gives jose
 * that key directly, since a JWKS holds public keys only.
 */
async function joseAccepts(jws: string, group: JwsGroup, algorithms: string[] | undefined): Promise<boolean> {
  let key: JWTVerifyGetKey | Uint8Array | CryptoKey;
  try {
    if (group.public !== undefined) key = createLocalJWKSet({ keys: [group.public as JWK] });
    else if (group.private !== undefined) key = await importJWK(group.private as JWK);
    else return false;
  } catch (error) {
    if (error instanceof errors.JOSEError) return false;
    throw error;
  }
  try {
    await compactVerify(jws, key, { algorithms });
    return true;
  } catch (error) {
    if (error instanceof errors.JOSEError) return false;
    throw error;
  }
}

/** The tcIds on which the two disagree when jose runs with the allowed `algorithms` of each group. */
async function disagreements(algorithmsOf: (group: JwsGroup) => string[] | undefined): Promise<number[]> {
  const differing: number[] = [];
  for (const { group, vector } of COMPACT) {
    const jose = await joseAccepts(String(vector.jws), group, algorithmsOf(group));
    if (jose !== oursAccepts(group, vector.jws)) differing.push(vector.tcId);
  }
  return differing;
}

/**
 * Disagreements when jose is held to our policy: as allowed algorithms, the one our import bound the group's
 * key to, or our allowlist (ES256, EdDSA) when we import no key. None.
 */
const SAME_POLICY_DISAGREEMENTS: ReadonlyMap<number, string> = new Map();

/**
 * Disagreements when jose runs with its own policy: the algorithm the group's key declares, or any when it
 * declares none. jose then accepts these vectors and we refuse them.
 */
const OWN_POLICY_DISAGREEMENTS: ReadonlyArray<{
  readonly alg: string;
  readonly reason: string;
  readonly tcIds: readonly number[];
}> = [
  // We support only ES256 and EdDSA, so valid vectors of other algorithms must be refused (367 and 370 are
  // byte-identical to 357: a label defect, see wycheproof.test.ts).
  ...(
    [
      ['HS256', [1, 348, 352, 357, 358, 359, 367, 370, 376, 377]],
      ['RS256', [33, 259, 260, 261, 262, 263, 345, 349]],
      ['RS384', [264, 265, 266, 267]],
      ['RS512', [268, 269, 270, 271]],
      ['PS256', [272, 273, 274, 275, 287, 288]],
      ['PS384', [320, 321, 322, 323]],
      ['PS512', [325, 326, 327, 328]],
    ] as const
  ).map(([alg, tcIds]) => ({ alg, tcIds, reason: 'valid, but of an algorithm we do not support' })),
  // Invalid vectors that jose accepts: on Node 20 and 22 it decodes base64url with atob, which drops ASCII
  // whitespace and nonzero unused bits. Spaces in the MAC (360), header (365) or payload (368), and a payload
  // with stray bits under a MAC of those very characters (375). We accept only canonical base64url.
  { alg: 'HS256', tcIds: [360, 365, 368, 375], reason: 'labelled invalid; jose decodes base64url leniently' },
];

describe('Wycheproof JWS vectors: verifyJwsSignature and jose compactVerify', () => {
  test('every compact vector is compared (JSON serialization is refused by both, see wycheproof.test.ts)', () => {
    expect(COMPACT).toHaveLength(400);
  });

  test('agree on every vector when jose is held to our algorithm policy', async () => {
    const differing = await disagreements((group) => {
      const { keys } = importJwks({ keys: group.public === undefined ? [] : [group.public] });
      const [key] = [...keys.values()];
      return key === undefined ? [...SIGNING_ALGS] : [key.alg];
    });
    expect(differing).toEqual([...SAME_POLICY_DISAGREEMENTS.keys()]);
  });

  test('with its own policy jose also accepts only the listed vectors, each for its reason', async () => {
    const differing = await disagreements((group) => {
      const alg = (group.public ?? group.private)?.alg;
      return typeof alg === 'string' ? [alg] : undefined;
    });
    const listed = OWN_POLICY_DISAGREEMENTS.flatMap(({ tcIds }) => tcIds);
    expect(differing).toEqual([...listed].sort((a, b) => a - b));
    for (const { alg, tcIds } of OWN_POLICY_DISAGREEMENTS) {
      expect(SIGNING_ALGS).not.toContain(alg);
      for (const tcId of tcIds) {
        const found = COMPACT.find(({ vector }) => vector.tcId === tcId);
        expect({ tcId, alg: (found?.group.public ?? found?.group.private)?.alg }).toEqual({ tcId, alg });
      }
    }
  });
});

// ---------------------------------------------------------------------------------------------------------
// Access tokens: AccessTokenVerifier against jose jwtVerify
// ---------------------------------------------------------------------------------------------------------

let sets: Record<SigningAlg, KeySet>;
let joseJwks: JWTVerifyGetKey;
const clock = new FrozenClock();
const NOW = clock.nowMs / 1000;

beforeAll(async () => {
  const [es, ed] = await Promise.all([testKeySet('ES256'), testKeySet('EdDSA')]);
  sets = { ES256: es, EdDSA: ed };
  // jose's own JWKS key selection: a key serves only a token whose alg equals the key's (RFC 8725 3.1).
  joseJwks = createLocalJWKSet({ keys: [...toPublicJwks(es).keys, ...toPublicJwks(ed).keys] });
});

function keyFor(alg: SigningAlg = 'ES256'): SigningKey {
  return currentSigningKey(sets[alg]);
}

let verifier: AccessTokenVerifier | undefined;

/** Our verifier over the public JWKS, as the authorizer sets it up (built once). */
function ourVerifier(): AccessTokenVerifier {
  if (verifier === undefined) {
    const { keys } = importJwks({
      keys: [...toPublicJwks(sets.ES256).keys, ...toPublicJwks(sets.EdDSA).keys],
    });
    verifier = new AccessTokenVerifier({
      ...PROFILE,
      clockSkewSeconds: SKEW,
      clock: clock.now,
      keys: (kid) => keys.get(kid),
    });
  }
  return verifier;
}

/**
 * jose set up as our policy: exact iss and aud, typ at+jwt, every claim required, the same skew and frozen
 * clock, maxTokenAge (so that jose also refuses an iat in the future), our algorithm allowlist, and the
 * public JWKS, from which jose picks a key only when its kid and its alg match the token's header.
 */
function joseOptions(): JWTVerifyOptions {
  return {
    issuer: ISSUER,
    audience: AUDIENCE,
    typ: 'at+jwt',
    algorithms: [...SIGNING_ALGS],
    requiredClaims: CLAIMS,
    currentDate: new Date(clock.nowMs),
    clockTolerance: SKEW,
    maxTokenAge: TTL,
  };
}

type Verdict =
  | { readonly accepted: true; readonly claims: unknown }
  | { readonly accepted: false; readonly code: string };

function ours(token: string): Verdict {
  try {
    return { accepted: true, claims: ourVerifier().verify(token).claims };
  } catch (error) {
    if (error instanceof TokenError) return { accepted: false, code: error.code };
    throw error;
  }
}

async function jose(token: string): Promise<Verdict> {
  try {
    const { payload } = await jwtVerify(token, joseJwks, joseOptions());
    return { accepted: true, claims: payload satisfies JWTPayload };
  } catch (error) {
    if (error instanceof errors.JOSEError) return { accepted: false, code: error.code };
    throw error;
  }
}

function validClaims(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    iss: ISSUER,
    sub: 'user-1',
    aud: AUDIENCE,
    exp: NOW + TTL,
    iat: NOW,
    nbf: NOW,
    jti: 'jti-1',
    sid: 'session-1',
    client_id: 'native',
    scope: 'profile',
    ...overrides,
  };
}

function parts(token: string): [string, string, string] {
  const [h = '', p = '', s = ''] = token.split('.');
  return [h, p, s];
}

/** The same bytes with the unused low bits of the last character set (a segment of length 4k + 2 or 3). */
function nonCanonical(text: string): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  return `${text.slice(0, -1)}${alphabet.charAt(alphabet.indexOf(text.slice(-1)) | 1)}`;
}

function withUnusedBits(value: Record<string, unknown>): string {
  let text = JSON.stringify(value);
  while (b64u(text).length % 4 === 0) text += ' ';
  return text;
}

interface EdgeCase {
  readonly name: string;
  readonly token: () => string;
  readonly ours: 'accepted' | TokenErrorCode;
  readonly jose: 'accepted' | 'rejected';
  /** Why the two differ; present exactly when they do. */
  readonly reason?: string;
}

const STRICTER_PARSE =
  'we refuse duplicate and __proto__/constructor/prototype member names (docs/design.md Conventions 10)';
const HEADER_ALLOWLIST = 'header allowlist: only alg, typ and kid (RFC 8725 section 3.1)';
const EXACT_TYP =
  'typ must be exactly "at+jwt"; jose compares media types case-insensitively, "application/" optional';
const CANONICAL =
  'we accept only canonical unpadded base64url; jose decodes with atob (padding, whitespace, stray bits)';
const SIZE_GUARD = 'size guard before parsing; jose has no size limit';
const CLAIM_RULES = 'our claim rules are stricter than what jose checks';

/**
 * Tokens signed with the real key in which one thing differs from what the issuer mints, with each side's
 * expected verdict. Agreements are listed too: they pin down where the two parsers must match.
 */
const EDGE_CASES: readonly EdgeCase[] = [
  {
    name: 'a token as minted',
    token: () => forge(keyFor(), accessTokenHeader(keyFor()), validClaims()),
    ours: 'accepted',
    jose: 'accepted',
  },
  {
    name: 'an EdDSA token as minted',
    token: () => forge(keyFor('EdDSA'), accessTokenHeader(keyFor('EdDSA')), validClaims()),
    ours: 'accepted',
    jose: 'accepted',
  },
  {
    name: 'pretty-printed JSON',
    token: () =>
      forge(
        keyFor(),
        JSON.stringify(accessTokenHeader(keyFor()), null, 2),
        JSON.stringify(validClaims(), null, 2),
      ),
    ours: 'accepted',
    jose: 'accepted',
  },
  {
    name: 'a UTF-8 byte order mark before the payload',
    token: () => forge(keyFor(), accessTokenHeader(keyFor()), `\ufeff${JSON.stringify(validClaims())}`),
    ours: 'accepted',
    jose: 'accepted',
  },
  {
    name: 'a UTF-8 byte order mark before the header',
    token: () => forge(keyFor(), `\ufeff${JSON.stringify(accessTokenHeader(keyFor()))}`, validClaims()),
    ours: 'accepted',
    jose: 'accepted',
  },
  {
    name: 'an escaped lone surrogate in a claim',
    token: () =>
      forge(
        keyFor(),
        accessTokenHeader(keyFor()),
        JSON.stringify(validClaims({ sub: 'x' })).replace('"x"', '"\\ud800"'),
      ),
    ours: 'accepted',
    jose: 'accepted',
  },
  {
    name: 'ill-formed UTF-8 in a claim',
    token: () =>
      forge(
        keyFor(),
        accessTokenHeader(keyFor()),
        Buffer.from(JSON.stringify(validClaims({ sub: 'x' })).replace('"x"', '"\xff"'), 'latin1'),
      ),
    ours: 'malformed',
    jose: 'rejected',
  },
  {
    name: 'the high-S twin of an ES256 signature',
    token: () => highS(forge(keyFor(), accessTokenHeader(keyFor()), validClaims())),
    ours: 'accepted',
    jose: 'accepted',
  },
  {
    name: 'alg none',
    token: () => `${segment({ ...accessTokenHeader(keyFor()), alg: 'none' })}.${segment(validClaims())}.`,
    ours: 'malformed',
    jose: 'rejected',
  },
  {
    name: 'an ES256 token naming the EdDSA key',
    token: () => forge(keyFor(), { ...accessTokenHeader(keyFor()), kid: keyFor('EdDSA').kid }, validClaims()),
    ours: 'alg_mismatch',
    jose: 'rejected',
  },
  {
    name: 'an EdDSA token naming the ES256 key',
    token: () =>
      forge(keyFor('EdDSA'), { ...accessTokenHeader(keyFor('EdDSA')), kid: keyFor().kid }, validClaims()),
    ours: 'alg_mismatch',
    jose: 'rejected',
  },
  {
    name: 'no typ',
    token: () => forge(keyFor(), { alg: 'ES256', kid: keyFor().kid }, validClaims()),
    ours: 'typ_invalid',
    jose: 'rejected',
  },
  {
    name: 'typ JWT',
    token: () => forge(keyFor(), { ...accessTokenHeader(keyFor()), typ: 'JWT' }, validClaims()),
    ours: 'typ_invalid',
    jose: 'rejected',
  },
  {
    name: 'crit naming an unknown extension',
    token: () => forge(keyFor(), { ...accessTokenHeader(keyFor()), crit: ['exp'], exp: 1 }, validClaims()),
    ours: 'header_invalid',
    jose: 'rejected',
  },
  {
    name: 'a claim missing',
    token: () => forge(keyFor(), accessTokenHeader(keyFor()), validClaims({ sid: undefined })),
    ours: 'claim_missing',
    jose: 'rejected',
  },
  {
    name: 'expired beyond the skew',
    token: () =>
      forge(
        keyFor(),
        accessTokenHeader(keyFor()),
        validClaims({ exp: NOW - SKEW, iat: NOW - SKEW - 60, nbf: NOW - SKEW - 60 }),
      ),
    ours: 'expired',
    jose: 'rejected',
  },
  {
    name: 'iat in the future beyond the skew',
    token: () => forge(keyFor(), accessTokenHeader(keyFor()), validClaims({ iat: NOW + SKEW + 1 })),
    ours: 'issued_in_future',
    jose: 'rejected',
  },
  {
    name: 'a duplicate claim',
    token: () =>
      forge(
        keyFor(),
        accessTokenHeader(keyFor()),
        JSON.stringify(validClaims()).replace('{', '{"sub":"admin",'),
      ),
    ours: 'malformed',
    jose: 'accepted',
    reason: STRICTER_PARSE,
  },
  {
    name: 'a "__proto__" claim',
    token: () =>
      forge(
        keyFor(),
        accessTokenHeader(keyFor()),
        JSON.stringify(validClaims()).replace('{', '{"__proto__":{"admin":true},'),
      ),
    ours: 'malformed',
    jose: 'accepted',
    reason: STRICTER_PARSE,
  },
  {
    name: 'a header with jwk',
    token: () => forge(keyFor(), { ...accessTokenHeader(keyFor()), jwk: { kty: 'EC' } }, validClaims()),
    ours: 'header_invalid',
    jose: 'accepted',
    reason: HEADER_ALLOWLIST,
  },
  {
    name: 'a header with x5c',
    token: () => forge(keyFor(), { ...accessTokenHeader(keyFor()), x5c: ['MIIB'] }, validClaims()),
    ours: 'header_invalid',
    jose: 'accepted',
    reason: HEADER_ALLOWLIST,
  },
  {
    name: 'a header with crit ["b64"] and b64 true',
    token: () => forge(keyFor(), { ...accessTokenHeader(keyFor()), crit: ['b64'], b64: true }, validClaims()),
    ours: 'header_invalid',
    jose: 'accepted',
    reason: HEADER_ALLOWLIST,
  },
  {
    name: 'typ AT+JWT',
    token: () => forge(keyFor(), { ...accessTokenHeader(keyFor()), typ: 'AT+JWT' }, validClaims()),
    ours: 'typ_invalid',
    jose: 'accepted',
    reason: EXACT_TYP,
  },
  {
    name: 'typ application/at+jwt',
    token: () =>
      forge(keyFor(), { ...accessTokenHeader(keyFor()), typ: 'application/at+jwt' }, validClaims()),
    ours: 'typ_invalid',
    jose: 'accepted',
    reason: EXACT_TYP,
  },
  {
    name: 'a signature padded with "=="',
    token: () => `${forge(keyFor(), accessTokenHeader(keyFor()), validClaims())}==`,
    ours: 'malformed',
    jose: 'accepted',
    reason: CANONICAL,
  },
  {
    name: 'a space inside the signature',
    token: () => insertInSignature(forge(keyFor(), accessTokenHeader(keyFor()), validClaims()), ' '),
    ours: 'malformed',
    jose: 'accepted',
    reason: CANONICAL,
  },
  {
    name: 'a newline inside the signature',
    token: () => insertInSignature(forge(keyFor(), accessTokenHeader(keyFor()), validClaims()), '\n'),
    ours: 'malformed',
    jose: 'accepted',
    reason: CANONICAL,
  },
  {
    name: 'a signature with stray bits',
    token: () => {
      const [h, p, s] = parts(forge(keyFor(), accessTokenHeader(keyFor()), validClaims()));
      return `${h}.${p}.${nonCanonical(s)}`;
    },
    ours: 'bad_signature',
    jose: 'accepted',
    reason: CANONICAL,
  },
  {
    name: 'a signed payload with stray bits',
    token: () =>
      signSegments(
        keyFor(),
        segment(accessTokenHeader(keyFor())),
        nonCanonical(b64u(withUnusedBits(validClaims()))),
      ),
    ours: 'malformed',
    jose: 'accepted',
    reason: CANONICAL,
  },
  {
    name: 'a signed header with stray bits',
    token: () =>
      signSegments(
        keyFor(),
        nonCanonical(b64u(withUnusedBits(accessTokenHeader(keyFor())))),
        segment(validClaims()),
      ),
    ours: 'malformed',
    jose: 'accepted',
    reason: CANONICAL,
  },
  {
    name: 'a token over 4096 characters',
    token: () => forge(keyFor(), accessTokenHeader(keyFor()), validClaims({ pad: 'x'.repeat(3100) })),
    ours: 'malformed',
    jose: 'accepted',
    reason: SIZE_GUARD,
  },
  {
    name: 'a header over 512 characters of JSON whitespace',
    token: () =>
      forge(
        keyFor(),
        `{${' '.repeat(400)}${JSON.stringify(accessTokenHeader(keyFor())).slice(1)}`,
        validClaims(),
      ),
    ours: 'malformed',
    jose: 'accepted',
    reason: SIZE_GUARD,
  },
  {
    name: 'aud as an array naming us',
    token: () => forge(keyFor(), accessTokenHeader(keyFor()), validClaims({ aud: [AUDIENCE] })),
    ours: 'claim_invalid',
    jose: 'accepted',
    reason: CLAIM_RULES,
  },
  {
    name: 'a fractional exp',
    token: () => forge(keyFor(), accessTokenHeader(keyFor()), validClaims({ exp: NOW + 100.5 })),
    ours: 'claim_invalid',
    jose: 'accepted',
    reason: CLAIM_RULES,
  },
  {
    name: 'an empty sub',
    token: () => forge(keyFor(), accessTokenHeader(keyFor()), validClaims({ sub: '' })),
    ours: 'claim_invalid',
    jose: 'accepted',
    reason: CLAIM_RULES,
  },
  {
    name: 'nbf before iat',
    token: () => forge(keyFor(), accessTokenHeader(keyFor()), validClaims({ nbf: NOW - 1 })),
    ours: 'claim_invalid',
    jose: 'accepted',
    reason: CLAIM_RULES,
  },
  {
    name: 'exp - iat above the TTL',
    token: () => forge(keyFor(), accessTokenHeader(keyFor()), validClaims({ exp: NOW + TTL + 1 })),
    ours: 'lifetime_exceeded',
    jose: 'accepted',
    reason: CLAIM_RULES,
  },
];

function insertInSignature(token: string, text: string): string {
  const [h, p, s] = parts(token);
  return `${h}.${p}.${s.slice(0, 20)}${text}${s.slice(20)}`;
}

/** The ES256 twin (r, n - s) of a token's signature: also valid, ECDSA being malleable. */
function highS(token: string): string {
  const [h, p, s] = parts(token);
  const raw = Buffer.from(s, 'base64url');
  const order = BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551');
  const twin = order - BigInt(`0x${raw.subarray(32).toString('hex')}`);
  return `${h}.${p}.${b64u(Buffer.concat([raw.subarray(0, 32), Buffer.from(twin.toString(16).padStart(64, '0'), 'hex')]))}`;
}

describe('edge cases signed with the real key: AccessTokenVerifier and jose jwtVerify', () => {
  test('a reason is given exactly where the two differ', () => {
    for (const c of EDGE_CASES) {
      expect({ name: c.name, differ: (c.ours === 'accepted') !== (c.jose === 'accepted') }).toEqual({
        name: c.name,
        differ: c.reason !== undefined,
      });
    }
  });

  test.each(EDGE_CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const token = c.token();
    const [a, b] = [ours(token), await jose(token)];
    expect(a.accepted ? 'accepted' : a.code).toBe(c.ours);
    expect(b.accepted ? 'accepted' : 'rejected').toBe(c.jose);
    if (a.accepted && b.accepted) expect(a.claims).toEqual(b.claims);
  });
});

// ---------------------------------------------------------------------------------------------------------
// Fuzzing (fast-check): mutated minted tokens, and random claim sets
// ---------------------------------------------------------------------------------------------------------

interface Minted {
  readonly token: string;
  readonly claims: unknown;
}

let pool: readonly Minted[];

beforeAll(async () => {
  const minter = new AccessTokenMinter(PROFILE, clock.now);
  const next = (set: KeySet) => set.signingKeys.find((key) => key.state === 'next') ?? currentSigningKey(set);
  const keys = [
    keyFor('ES256'),
    keyFor('ES256'),
    next(sets.ES256),
    keyFor('EdDSA'),
    keyFor('EdDSA'),
    next(sets.EdDSA),
  ];
  pool = await Promise.all(
    keys.map(async (key, i) => {
      const { token, claims } = await minter.mint(key, {
        sub: `user-${i}`,
        sid: `session-${i}`,
        clientId: 'native',
        scope: 'profile',
      });
      return { token, claims };
    }),
  );
});

const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const CHARACTERS = fc.constantFrom(
  ...BASE64URL,
  '=',
  '+',
  '/',
  '.',
  ' ',
  '\n',
  '\t',
  '\r',
  'é',
  '\u0000',
  '%',
);

type Mutation =
  | { readonly kind: 'none' }
  | { readonly kind: 'replace' | 'insert'; readonly at: number; readonly char: string }
  | { readonly kind: 'delete'; readonly at: number; readonly length: number }
  | { readonly kind: 'swap'; readonly other: number; readonly from: readonly [boolean, boolean, boolean] }
  | {
      readonly kind: 'reencode';
      readonly segment: number;
      readonly how: 'base64' | 'padded' | 'bits' | 'whitespace';
      readonly at: number;
    }
  | { readonly kind: 'case'; readonly at: number; readonly whole: boolean }
  | { readonly kind: 'pad'; readonly segment: number; readonly padding: string };

const SEGMENT = fc.integer({ min: 0, max: 2 });
const MUTATION: fc.Arbitrary<Mutation> = fc.oneof(
  fc.constant({ kind: 'none' as const }),
  fc.record({ kind: fc.constantFrom('replace' as const, 'insert' as const), at: fc.nat(), char: CHARACTERS }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 4 }) }),
  fc.record({
    kind: fc.constant('swap' as const),
    other: fc.nat(),
    from: fc.tuple(fc.boolean(), fc.boolean(), fc.boolean()),
  }),
  fc.record({
    kind: fc.constant('reencode' as const),
    segment: SEGMENT,
    how: fc.constantFrom('base64' as const, 'padded' as const, 'bits' as const, 'whitespace' as const),
    at: fc.nat(),
  }),
  fc.record({ kind: fc.constant('case' as const), at: fc.nat(), whole: fc.boolean() }),
  fc.record({
    kind: fc.constant('pad' as const),
    segment: SEGMENT,
    padding: fc.constantFrom('=', '==', '==='),
  }),
);

function reencode(text: string, how: 'base64' | 'padded' | 'bits' | 'whitespace', at: number): string {
  const bytes = Buffer.from(text, 'base64url');
  switch (how) {
    case 'base64':
      return bytes.toString('base64');
    case 'padded':
      return text.padEnd(Math.ceil(text.length / 4) * 4, '=');
    case 'bits':
      return text.length % 4 === 0 ? text : nonCanonical(text);
    case 'whitespace': {
      const i = at % (text.length + 1);
      return `${text.slice(0, i)}${' \n\t\r'.charAt(at % 4)}${text.slice(i)}`;
    }
  }
}

function mutate(token: string, mutation: Mutation): string {
  const at = 'at' in mutation ? mutation.at % (token.length + 1) : 0;
  switch (mutation.kind) {
    case 'none':
      return token;
    case 'replace':
      return `${token.slice(0, at)}${mutation.char}${token.slice(at + 1)}`;
    case 'insert':
      return `${token.slice(0, at)}${mutation.char}${token.slice(at)}`;
    case 'delete':
      return `${token.slice(0, at)}${token.slice(at + mutation.length)}`;
    case 'swap': {
      const other = parts(pool[mutation.other % pool.length]?.token ?? token);
      const mine = parts(token);
      return mine.map((part, i) => (mutation.from[i] ? other[i] : part)).join('.');
    }
    case 'reencode': {
      const segments = token.split('.');
      return segments
        .map((part, i) => (i === mutation.segment ? reencode(part, mutation.how, mutation.at) : part))
        .join('.');
    }
    case 'case': {
      if (mutation.whole) return token === token.toLowerCase() ? token.toUpperCase() : token.toLowerCase();
      const c = token.charAt(at);
      const flipped = c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase();
      return `${token.slice(0, at)}${flipped}${token.slice(at + 1)}`;
    }
    case 'pad':
      return token
        .split('.')
        .map((part, i) => (i === mutation.segment ? `${part}${mutation.padding}` : part))
        .join('.');
  }
}

/**
 * The minted token that `token` spells with jose's forgiving base64url, if any: same header and payload
 * segments, and a signature segment that atob reads as the same bytes (ASCII whitespace dropped, "="
 * padding, nonzero unused bits), though not in the one canonical spelling that we accept.
 */
function lenientTwin(token: string): Minted | undefined {
  const [h, p, s] = token.split('.');
  if (token.split('.').length !== 3 || s === undefined) return undefined;
  const relaxed = s.replace(/[\t\n\f\r ]/g, '').replace(/={1,2}$/, '');
  if (!/^[A-Za-z0-9_-]*$/.test(relaxed)) return undefined;
  return pool.find((minted) => {
    const [mh, mp, ms = ''] = parts(minted.token);
    return (
      mh === h &&
      mp === p &&
      s !== ms &&
      Buffer.from(relaxed, 'base64url').equals(Buffer.from(ms, 'base64url'))
    );
  });
}

describe('fuzzing against jose', () => {
  test('every minted token of the pool is accepted by both, with the minted claims', async () => {
    for (const minted of pool) {
      expect(ours(minted.token)).toEqual({ accepted: true, claims: minted.claims });
      expect(await jose(minted.token)).toEqual({ accepted: true, claims: minted.claims });
    }
  });

  test('mutated tokens: the same verdict from both, except jose reading a non-canonical signature', async () => {
    const seen = { accepted: 0, rejected: 0, joseOnly: 0 };
    await fc.assert(
      fc.asyncProperty(
        fc.nat(),
        fc.array(MUTATION, { minLength: 1, maxLength: 3 }),
        async (pick, mutations) => {
          const original = pool[pick % pool.length] ?? pool[0];
          if (original === undefined) throw new Error('empty pool');
          const token = mutations.reduce(mutate, original.token);
          const [a, b] = [ours(token), await jose(token)];
          if (a.accepted) {
            // We accept only canonical spellings: an accepted token is byte for byte a minted one.
            const minted = pool.find((m) => m.token === token);
            expect(minted).toBeDefined();
            expect(a.claims).toEqual(minted?.claims);
            expect(b).toEqual({ accepted: true, claims: minted?.claims });
            seen.accepted += 1;
          } else if (b.accepted) {
            // CANONICAL: jose decodes base64url leniently; only the signature segment can differ and still verify.
            const twin = lenientTwin(token);
            expect({ token, twin: twin !== undefined }).toEqual({ token, twin: true });
            expect(['malformed', 'bad_signature']).toContain(a.code);
            expect(b.claims).toEqual(twin?.claims);
            seen.joseOnly += 1;
          } else {
            seen.rejected += 1;
          }
        },
      ),
      { numRuns: 2000 },
    );
    // The property saw every branch: accepted originals, refusals, and jose's leniency.
    expect(seen.accepted).toBeGreaterThan(100);
    expect(seen.rejected).toBeGreaterThan(1000);
    expect(seen.joseOnly).toBeGreaterThan(20);
  });

  const SCOPE = fc.string({
    unit: fc.constantFrom(' ', '!', '#', '[', ']', '~', 'a', 'z', '0', ':', '/'),
    maxLength: 40,
  });
  const TEXT = fc.string({ unit: 'binary', minLength: 1, maxLength: 64 });

  /** A claims set that passes both policies at NOW: iat within [NOW - TTL - SKEW + 1, NOW + SKEW] and so on. */
  const VALID_CLAIMS = fc
    .record({
      iat: fc.integer({ min: NOW - TTL - SKEW + 1, max: NOW + SKEW }),
      lifetime: fc.integer({ min: 1, max: TTL }),
      delay: fc.nat({ max: TTL }),
      sub: TEXT,
      jti: TEXT,
      sid: TEXT,
      client_id: TEXT,
      scope: SCOPE,
      extra: fc.dictionary(
        fc.constantFrom('tenant', 'roles', 'amr', 'x'),
        fc.oneof(fc.string(), fc.integer(), fc.boolean(), fc.array(fc.string(), { maxLength: 3 })),
      ),
    })
    .map(({ iat, lifetime, delay, extra, ...strings }) => {
      const exp = Math.min(Math.max(iat + lifetime, NOW - SKEW + 1), iat + TTL);
      const nbf = Math.min(iat + delay, exp - 1, NOW + SKEW);
      return { ...extra, ...strings, iss: ISSUER, aud: AUDIENCE, iat, exp, nbf };
    });

  test('random claim sets that satisfy both policies, re-signed, are accepted by both', async () => {
    await fc.assert(
      fc.asyncProperty(VALID_CLAIMS, fc.constantFrom(...SIGNING_ALGS), async (claims, alg) => {
        const token = forge(keyFor(alg), accessTokenHeader(keyFor(alg)), claims);
        expect(ours(token)).toEqual({ accepted: true, claims });
        expect(await jose(token)).toEqual({ accepted: true, claims });
      }),
      { numRuns: 500 },
    );
  });

  const MISSING = Symbol('missing');
  const maybe = <T>(arbitrary: fc.Arbitrary<T>) =>
    fc.oneof({ weight: 39, arbitrary }, { weight: 1, arbitrary: fc.constant<typeof MISSING>(MISSING) });
  const offset = (min: number, max: number) =>
    fc.oneof(
      { weight: 12, arbitrary: fc.integer({ min, max }) },
      { weight: 1, arbitrary: fc.constantFrom(0.5, -0.25) },
      { weight: 1, arbitrary: fc.constantFrom('1', null) },
    );
  const ODD_TEXT = fc.oneof(
    { weight: 15, arbitrary: fc.string({ minLength: 1, maxLength: 8 }) },
    { weight: 1, arbitrary: fc.constantFrom('', 'x'.repeat(257), 7, null) },
  );

  /** Claim sets around every boundary: times within a few seconds of each rule, odd types, missing claims. */
  const ANY_CLAIMS = fc
    .record({
      iss: maybe(
        fc.oneof(
          { weight: 8, arbitrary: fc.constant<unknown>(ISSUER) },
          { weight: 1, arbitrary: fc.constantFrom<unknown>(`${ISSUER}/`, 1) },
        ),
      ),
      aud: maybe(
        fc.oneof(
          { weight: 8, arbitrary: fc.constant<unknown>(AUDIENCE) },
          { weight: 1, arbitrary: fc.constantFrom<unknown>([AUDIENCE], [AUDIENCE, 'x'], 'x') },
        ),
      ),
      iat: maybe(offset(-TTL - SKEW - 5, SKEW + 5)),
      lifetime: maybe(offset(-2, TTL + 3)),
      delay: maybe(offset(-1, 3)),
      sub: maybe(ODD_TEXT),
      jti: maybe(ODD_TEXT),
      sid: maybe(ODD_TEXT),
      client_id: maybe(ODD_TEXT),
      scope: maybe(
        fc.oneof(
          { weight: 15, arbitrary: SCOPE },
          { weight: 1, arbitrary: fc.constantFrom<unknown>('a\nb', 'é', 3) },
        ),
      ),
    })
    .map(({ iat, lifetime, delay, ...rest }) => {
      const claims: Record<string, unknown> = {};
      const base = typeof iat === 'number' ? NOW + iat : iat;
      const shift = (by: unknown) => (typeof base === 'number' && typeof by === 'number' ? base + by : by);
      const times = { iat: base, exp: shift(lifetime), nbf: shift(delay) };
      for (const [name, value] of Object.entries({ ...rest, ...times }))
        if (value !== MISSING) claims[name] = value;
      return claims;
    });

  /** Rules of ours that jose does not have: the only codes under which we may refuse what jose accepts. */
  const OURS_ONLY: readonly TokenErrorCode[] = ['claim_invalid', 'lifetime_exceeded'];

  test('claim sets around every boundary: we never accept what jose refuses, and differ only by our extra rules', async () => {
    const seen = { both: 0, neither: 0, joseOnly: 0 };
    await fc.assert(
      fc.asyncProperty(ANY_CLAIMS, fc.constantFrom(...SIGNING_ALGS), async (claims, alg) => {
        const token = forge(keyFor(alg), accessTokenHeader(keyFor(alg)), claims);
        const [a, b] = [ours(token), await jose(token)];
        if (a.accepted) {
          expect(b).toEqual({ accepted: true, claims });
          seen.both += 1;
        } else if (b.accepted) {
          expect(OURS_ONLY).toContain(a.code);
          seen.joseOnly += 1;
        } else {
          seen.neither += 1;
        }
      }),
      { numRuns: 500 },
    );
    expect(seen.both).toBeGreaterThan(20);
    expect(seen.joseOnly).toBeGreaterThan(30);
    expect(seen.neither).toBeGreaterThan(100);
  });
});
