import { type KeyObject, verify } from 'node:crypto';
import { TokenError, type TokenErrorCode } from '../../lambda/core/errors';
import { importJwks, type KeyResolver, verifyCompactJws, verifyJwsSignature } from '../../lambda/core/jws';
import { SIGNING_ALGS, type SigningAlg } from '../../lambda/core/keys';
import { b64u, segment } from '../support/jws-forge';
import {
  isJsonSerialization,
  type JwsGroup,
  type JwsVector,
  loadJwsVectors,
  loadVectors,
  type PrimitiveGroup,
  type PrimitiveVector,
  primitiveJwk,
} from '../support/wycheproof';

/** What a verification call did: `accepted`, or the code of the TokenError it threw. */
type Outcome = 'accepted' | TokenErrorCode;

function outcomeOf(verifyToken: () => unknown): Outcome {
  try {
    verifyToken();
    return 'accepted';
  } catch (error) {
    // Anything but a TokenError (a TypeError from node:crypto, say) is a crash, not a refusal.
    if (error instanceof TokenError) return error.code;
    throw error;
  }
}

function countBy(values: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const value of values) counts[value] = (counts[value] ?? 0) + 1;
  return counts;
}

const SUPPORTED: ReadonlySet<string> = new Set(SIGNING_ALGS);

// ---------------------------------------------------------------------------------------------------------
// json_web_signature_test.json
// ---------------------------------------------------------------------------------------------------------

const JWS = loadJwsVectors();

/**
 * Known label defects, listed in test/vectors/wycheproof/SOURCE.md. Each one's expected outcome overrides
 * the file's label, for the reason given; none is skipped.
 */
const LABEL_DEFECTS: ReadonlyMap<number, { readonly label: 'valid' | 'invalid'; readonly reason: string }> =
  new Map([
    [
      367,
      {
        label: 'invalid',
        reason:
          'byte-identical to the valid tcId 357 (C2SP/wycheproof#236); refused anyway: HS256 is not supported',
      },
    ],
    [
      370,
      {
        label: 'invalid',
        reason:
          'byte-identical to the valid tcId 357 (C2SP/wycheproof#236); refused anyway: HS256 is not supported',
      },
    ],
    [
      372,
      {
        label: 'valid',
        reason:
          'the MAC does not cover the literal signing input (a "?" inserted in the header); refused by the format guard',
      },
    ],
    [
      373,
      {
        label: 'valid',
        reason:
          'the MAC does not cover the literal signing input (a "?" inserted in the payload); refused by the format guard',
      },
    ],
    [
      346,
      {
        label: 'valid',
        reason:
          'key alg PS256, token PS384: refused because the algorithm is bound to the key (RFC 8725 section 3.1)',
      },
    ],
    [
      350,
      {
        label: 'valid',
        reason:
          'key alg PS256, token PS384: refused because the algorithm is bound to the key (RFC 8725 section 3.1)',
      },
    ],
    [
      347,
      { label: 'valid', reason: 'key alg "ES521" is no JWS algorithm (ES512 is): the key is not imported' },
    ],
    [
      351,
      { label: 'valid', reason: 'key alg "ES521" is no JWS algorithm (ES512 is): the key is not imported' },
    ],
  ]);

/**
 * The refusal codes of the vectors checked with an ES256 key (groups "es256" and "SpecialCaseEs256"): the
 * rule that refuses each, not merely that it is refused.
 */
const ES256_CODES: ReadonlyMap<number, TokenErrorCode> = new Map([
  [19, 'bad_signature'], // modified signature
  [20, 'malformed'], // missing signature
  [21, 'malformed'], // missing signature and separator
  [22, 'bad_signature'], // modified payload
  [23, 'malformed'], // missing payload
  [24, 'malformed'], // missing payload and separator
  [25, 'unknown_kid'], // modified header: the kid changed
  [26, 'malformed'], // missing header
  [27, 'malformed'],
  [28, 'malformed'],
  [29, 'malformed'],
  [30, 'malformed'], // empty string
  [31, 'alg_mismatch'], // HS256 keyed with the EC public key bytes
  [32, 'header_invalid'], // attacker-provided embedded jwk
  // SpecialCaseEs256 379-401: too long, trailing zeros, r or s out of range, overflows, r/s in {0, 1, n-1, n}.
  ...Array.from({ length: 23 }, (_, i): [number, TokenErrorCode] => [379 + i, 'bad_signature']),
]);

interface JwsCase {
  readonly tcId: number;
  readonly group: JwsGroup;
  readonly vector: JwsVector;
  readonly expected: 'accept' | 'reject';
  readonly why: string;
}

/** The algorithm a group's key is meant for: its public JWK's, else its private (symmetric) JWK's. */
function groupAlg(group: JwsGroup): unknown {
  return (group.public ?? group.private)?.alg;
}

function groupKeys(group: JwsGroup) {
  return importJwks({ keys: group.public === undefined ? [] : [group.public] });
}

function expectation(group: JwsGroup, vector: JwsVector): Pick<JwsCase, 'expected' | 'why'> {
  const defect = LABEL_DEFECTS.get(vector.tcId);
  if (defect !== undefined) return { expected: 'reject', why: `label defect: ${defect.reason}` };
  if (isJsonSerialization(vector)) return { expected: 'reject', why: 'JSON serialization: only compact JWS' };
  if (vector.result === 'invalid') return { expected: 'reject', why: 'labelled invalid' };
  if (groupKeys(group).keys.size === 1)
    return { expected: 'accept', why: `valid ${String(groupAlg(group))}` };
  // We support only ES256 and EdDSA, so valid vectors of other algorithms must be refused.
  if (SUPPORTED.has(String(groupAlg(group)))) {
    throw new Error(
      `tcId ${vector.tcId}: a valid ${String(groupAlg(group))} vector whose key was not imported`,
    );
  }
  return { expected: 'reject', why: `valid ${String(groupAlg(group))}, an algorithm we do not support` };
}

const JWS_CASES: readonly JwsCase[] = JWS.testGroups.flatMap((group) =>
  group.tests.map((vector) => ({ tcId: vector.tcId, group, vector, ...expectation(group, vector) })),
);

function jwsOutcome({ group, vector }: JwsCase): Outcome {
  const { keys } = groupKeys(group);
  return outcomeOf(() => verifyJwsSignature(vector.jws, (kid) => keys.get(kid)));
}

describe('Wycheproof json_web_signature_test.json through verifyJwsSignature', () => {
  test('the file is the one SOURCE.md describes, label defects included', () => {
    expect(JWS.numberOfTests).toBe(401);
    expect(JWS_CASES).toHaveLength(401);
    for (const [tcId, { label }] of LABEL_DEFECTS) {
      expect({ tcId, label: JWS_CASES.find((c) => c.tcId === tcId)?.vector.result }).toEqual({ tcId, label });
    }
  });

  test('only the ES256 public keys of groups "es256" and "SpecialCaseEs256" are imported', () => {
    const imported = JWS.testGroups
      .map((group) => ({
        comment: group.comment,
        kids: [...groupKeys(group).keys.values()].map((key) => key.alg),
      }))
      .filter(({ kids }) => kids.length > 0);
    expect(imported).toEqual([
      { comment: 'es256', kids: ['ES256'] },
      { comment: 'SpecialCaseEs256', kids: ['ES256'] },
    ]);
  });

  test.each(JWS_CASES.map((c) => [c.tcId, c.group.comment, c.vector.comment, c.expected, c.why, c] as const))(
    'tcId %i (%s, %s): %s (%s)',
    (_tcId, _group, _comment, expected, _why, testCase) => {
      const outcome = jwsOutcome(testCase);
      if (expected === 'accept') {
        expect(outcome).toBe('accepted');
      } else {
        expect(outcome).not.toBe('accepted');
        const code = ES256_CODES.get(testCase.tcId);
        if (code !== undefined) expect(outcome).toBe(code);
      }
    },
  );

  test('every valid ES256 vector is accepted, and nothing else', () => {
    const accepted = JWS_CASES.filter((c) => jwsOutcome(c) === 'accepted').map((c) => c.tcId);
    const validEs256 = JWS_CASES.filter(
      (c) => c.vector.result === 'valid' && groupAlg(c.group) === 'ES256' && !LABEL_DEFECTS.has(c.tcId),
    ).map((c) => c.tcId);
    expect(accepted).toEqual([18, 378]);
    expect(validEs256).toEqual([18, 378]);
  });

  test('the refusals by code are exactly these (a regression in any rule moves a count)', () => {
    expect(countBy(JWS_CASES.map(jwsOutcome))).toEqual({
      accepted: 2,
      // The format guard: missing or empty segments, JSON serialization, characters outside base64url.
      malformed: 53,
      // Every other vector of a group whose key we do not import (HS*, RS*, PS*, ES521, use/key_ops "enc").
      unknown_kid: 319,
      alg_mismatch: 1,
      header_invalid: 1,
      bad_signature: 25,
    });
  });

  test('the JWT layer (verifyCompactJws) refuses every vector: no payload is a JSON object', () => {
    const outcomes = JWS_CASES.map((c) => {
      const { keys } = groupKeys(c.group);
      return {
        tcId: c.tcId,
        outcome: outcomeOf(() => verifyCompactJws(c.vector.jws, (kid) => keys.get(kid))),
      };
    });
    expect(outcomes.filter(({ outcome }) => outcome === 'accepted')).toEqual([]);
    expect(outcomes.filter(({ tcId }) => tcId === 18 || tcId === 378)).toEqual([
      { tcId: 18, outcome: 'malformed' },
      { tcId: 378, outcome: 'malformed' },
    ]);
  });
});

// ---------------------------------------------------------------------------------------------------------
// Signature primitives placed into a compact JWS
// ---------------------------------------------------------------------------------------------------------

/**
 * The flags whose vectors are invalid whatever the message, read from each file's `notes`, so that their
 * signatures can be placed into a JWS over another message and must still be refused:
 *
 * - ECDSA P-256 (P1363): `InvalidSignature` (r or s is 0, 1, n-1, n...: forgeable without the message),
 *   `SignatureSize` (r || s not exactly 64 bytes), `RangeCheck` (r or s shifted out of [1, n-1] by adding n),
 *   `IntegerOverflow` (r or s widened so that dropped top bits restore them).
 * - Ed25519: `InvalidSignature` (0 or the group order as R or S), `InvalidEncoding` (non-canonical R or S),
 *   `SignatureMalleability` (S >= L), `SignatureWithGarbage`, `TruncatedSignature` and
 *   `CompressedSignature` (not exactly 64 bytes).
 *
 * Left out: flags whose vectors are built around their own message's hash (`ArithmeticError`,
 * `PointDuplication`, `ModifiedInteger`, `SpecialCaseHash`, `InvalidKtv`...): over another message they
 * would be refused like any random signature and test nothing.
 */
const MESSAGE_INDEPENDENT: Readonly<Record<SigningAlg, readonly string[]>> = {
  ES256: ['InvalidSignature', 'SignatureSize', 'RangeCheck', 'IntegerOverflow'],
  EdDSA: [
    'InvalidSignature',
    'InvalidEncoding',
    'SignatureMalleability',
    'SignatureWithGarbage',
    'TruncatedSignature',
    'CompressedSignature',
  ],
};

const PRIMITIVE_FILES: ReadonlyArray<readonly [SigningAlg, string, string]> = [
  ['ES256', 'ecdsa_secp256r1_sha256_p1363_test.json', 'ecdsa_p1363_verify_schema_v1.json'],
  ['EdDSA', 'ed25519_test.json', 'eddsa_verify_schema_v1.json'],
];

interface PrimitiveSet {
  readonly alg: SigningAlg;
  readonly notes: Record<string, unknown>;
  readonly groups: ReadonlyArray<{
    readonly key: KeyObject;
    readonly kid: string;
    readonly tests: readonly PrimitiveVector[];
  }>;
  readonly resolve: KeyResolver;
}

function loadPrimitives(alg: SigningAlg, file: string, schema: string): PrimitiveSet {
  const vectors = loadVectors<PrimitiveGroup>(file, schema);
  const jwks = {
    keys: vectors.testGroups.map((group, i) => ({
      ...primitiveJwk(group),
      kid: `${alg}-group-${i}`,
      alg,
      use: 'sig',
    })),
  };
  const { keys, rejected } = importJwks(jwks);
  if (rejected.length > 0) throw new Error(`${file}: keys not imported: ${JSON.stringify(rejected)}`);
  const groups = vectors.testGroups.map((group, i) => {
    const key = keys.get(`${alg}-group-${i}`);
    if (key === undefined) throw new Error(`${file}: group ${i} has no key`);
    return { key: key.key, kid: key.kid, tests: group.tests };
  });
  return { alg, notes: vectors.notes, groups, resolve: (kid) => keys.get(kid) };
}

const PRIMITIVES = PRIMITIVE_FILES.map(([alg, file, schema]) => loadPrimitives(alg, file, schema));

/** The JWS payload every primitive signature is placed under. */
const PAYLOAD = segment({ sub: 'wycheproof', scope: 'profile' });

function primitiveJws(alg: SigningAlg, kid: string, signatureHex: string): string {
  return `${segment({ alg, kid, typ: 'at+jwt' })}.${PAYLOAD}.${b64u(Buffer.from(signatureHex, 'hex'))}`;
}

function selected(set: PrimitiveSet) {
  return set.groups.flatMap(({ kid, tests }) =>
    tests
      .filter(
        (t) => t.result === 'invalid' && t.flags.some((flag) => MESSAGE_INDEPENDENT[set.alg].includes(flag)),
      )
      .map((t) => ({ kid, vector: t })),
  );
}

describe.each(PRIMITIVES.map((set) => [set.alg, set] as const))(
  'Wycheproof %s primitives in a compact JWS',
  (alg, set) => {
    test('every chosen flag is described in the file notes', () => {
      for (const flag of MESSAGE_INDEPENDENT[alg]) expect(Object.keys(set.notes)).toContain(flag);
    });

    test("the imported keys are the groups' keys: every valid vector verifies against its own message", () => {
      let valid = 0;
      for (const { key, tests } of set.groups) {
        for (const t of tests.filter((v) => v.result === 'valid')) {
          const message = Buffer.from(t.msg, 'hex');
          const signature = Buffer.from(t.sig, 'hex');
          const ok =
            alg === 'ES256'
              ? verify('sha256', message, { key, dsaEncoding: 'ieee-p1363' }, signature)
              : verify(null, message, key, signature);
          expect({ tcId: t.tcId, ok }).toEqual({ tcId: t.tcId, ok: true });
          valid += 1;
        }
      }
      expect(valid).toBe(alg === 'ES256' ? 173 : 88);
    });

    test('every message-independent invalid signature is refused: bad_signature, or malformed when empty', () => {
      const outcomes = selected(set).map(({ kid, vector }) => {
        const outcome = outcomeOf(() => verifyJwsSignature(primitiveJws(alg, kid, vector.sig), set.resolve));
        const expected = vector.sig.length === 0 ? 'malformed' : 'bad_signature';
        expect({ tcId: vector.tcId, outcome }).toEqual({ tcId: vector.tcId, outcome: expected });
        return outcome;
      });
      expect(countBy(outcomes)).toEqual(
        alg === 'ES256' ? { bad_signature: 69 } : { bad_signature: 61, malformed: 1 },
      );
    });

    test('the chosen vectors cover each chosen flag', () => {
      const flags = selected(set).flatMap(({ vector }) => vector.flags);
      for (const flag of MESSAGE_INDEPENDENT[alg]) expect(flags).toContain(flag);
    });
  },
);
