import { createHmac, createPrivateKey, createPublicKey, type JsonWebKey, sign } from 'node:crypto';
import { calculateJwkThumbprint } from 'jose';
import {
  AccessTokenMinter,
  AccessTokenVerifier,
  type AccessTokenVerifierOptions,
} from '../../lambda/core/access-token';
import { TokenError, type TokenErrorCode } from '../../lambda/core/errors';
import { importJwks, type KeyResolver } from '../../lambda/core/jws';
import {
  currentSigningKey,
  generateKeySet,
  type KeySet,
  type SigningAlg,
  type SigningKey,
  toPublicJwk,
  toPublicJwks,
} from '../../lambda/core/keys';
import { AUDIENCE, FrozenClock, ISSUER, testKeySet } from '../support/fixtures';
import { accessTokenHeader, b64u, forge, segment, signSegments } from '../support/jws-forge';

const TTL = 300;
const SKEW = 30;
const PROFILE = { issuer: ISSUER, audience: AUDIENCE, ttlSeconds: TTL };
const SUBJECT = { sub: 'user-1', sid: 'session-1', clientId: 'native', scope: 'profile email' };
const ALGS: readonly SigningAlg[] = ['ES256', 'EdDSA'];

let sets: Record<SigningAlg, KeySet>;
/** A key of the same algorithm that is in no key set: it signs forgeries. */
let strangers: Record<SigningAlg, SigningKey>;

beforeAll(async () => {
  const [es, ed, esStranger, edStranger] = await Promise.all([
    testKeySet('ES256'),
    testKeySet('EdDSA'),
    testKeySet('ES256'),
    testKeySet('EdDSA'),
  ]);
  sets = { ES256: es, EdDSA: ed };
  strangers = { ES256: currentSigningKey(esStranger), EdDSA: currentSigningKey(edStranger) };
});

/** The current signing key for `alg`. */
function keyFor(alg: SigningAlg = 'ES256'): SigningKey {
  return currentSigningKey(sets[alg]);
}

/** Resolves every published key of both key sets, the way the authorizer does. */
function resolver(): KeyResolver {
  const { keys } = importJwks({ keys: [...toPublicJwks(sets.ES256).keys, ...toPublicJwks(sets.EdDSA).keys] });
  return (kid) => keys.get(kid);
}

function setup(options: Partial<AccessTokenVerifierOptions> = {}) {
  const clock = new FrozenClock();
  const verifier = new AccessTokenVerifier({ ...PROFILE, keys: resolver(), clock: clock.now, ...options });
  const minter = new AccessTokenMinter(PROFILE, clock.now);
  const now = clock.nowMs / 1000;
  return { clock, verifier, minter, now };
}

/** A claims set that passes every rule at `now`; `undefined` in `overrides` removes a claim. */
function claimsAt(now: number, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const claims: Record<string, unknown> = {
    iss: ISSUER,
    sub: 'user-1',
    aud: AUDIENCE,
    exp: now + TTL,
    iat: now,
    nbf: now,
    jti: 'jti-1',
    sid: 'session-1',
    client_id: 'native',
    scope: 'profile email',
  };
  for (const [name, value] of Object.entries(overrides)) {
    if (value === undefined) delete claims[name];
    else claims[name] = value;
  }
  return claims;
}

/** Runs `verify` and returns the stable code of the TokenError it throws. */
function codeOf(verify: () => unknown): TokenErrorCode {
  try {
    verify();
  } catch (error) {
    if (error instanceof TokenError) return error.code;
    throw error;
  }
  throw new Error('expected a TokenError, but the token was accepted');
}

/** The three segments of a compact JWS. */
function segments(token: string): [string, string, string] {
  const parts = token.split('.');
  if (parts.length !== 3) throw new Error(`not a compact JWS: ${parts.length} segments`);
  return parts as [string, string, string];
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/**
 * The same bytes in a non-canonical base64url spelling: the unused low bits of the last character set.
 * Needs a segment whose length is not a multiple of 4 (otherwise there are no unused bits).
 */
function nonCanonical(text: string): string {
  if (text.length % 4 === 0) throw new Error('a segment of length 4k has no unused bits');
  const last = ALPHABET.indexOf(text.slice(-1));
  const variant = `${text.slice(0, -1)}${ALPHABET.charAt(last ^ 1)}`;
  expect(Buffer.from(variant, 'base64url')).toEqual(Buffer.from(text, 'base64url'));
  return variant;
}

/** JSON text of `value` padded with trailing spaces until its base64url has unused bits. */
function jsonWithUnusedBits(value: Record<string, unknown>): string {
  let text = JSON.stringify(value);
  while (b64u(text).length % 4 === 0) text += ' ';
  return text;
}

describe('minting', () => {
  test.each(ALGS)('a freshly minted %s token is accepted with exactly the minted claims', async (alg) => {
    const { minter, verifier } = setup();
    const minted = await minter.mint(keyFor(alg), SUBJECT);
    const verified = verifier.verify(minted.token);
    expect(verified).toEqual({ claims: minted.claims, kid: keyFor(alg).kid, alg });
  });

  test.each(ALGS)('the %s header is exactly {alg, typ: "at+jwt", kid}', async (alg) => {
    const { minter } = setup();
    const { token } = await minter.mint(keyFor(alg), SUBJECT);
    const header: unknown = JSON.parse(Buffer.from(segments(token)[0], 'base64url').toString('utf8'));
    expect(header).toStrictEqual({ alg, typ: 'at+jwt', kid: keyFor(alg).kid });
  });

  test('every claim is present and nothing else', async () => {
    const { minter, now } = setup();
    const { token } = await minter.mint(keyFor(), SUBJECT);
    const payload: unknown = JSON.parse(Buffer.from(segments(token)[1], 'base64url').toString('utf8'));
    expect(payload).toStrictEqual({
      iss: ISSUER,
      sub: 'user-1',
      aud: AUDIENCE,
      exp: now + TTL,
      iat: now,
      nbf: now,
      jti: expect.stringMatching(/^[A-Za-z0-9_-]{22}$/),
      sid: 'session-1',
      client_id: 'native',
      scope: 'profile email',
    });
  });

  test('caps exp at notAfter, but never below iat + 1', async () => {
    const { minter, verifier, clock, now } = setup();
    const capped = await minter.mint(keyFor(), SUBJECT, clock.nowMs + 60_000);
    expect(capped.claims.exp).toBe(now + 60);
    const floor = await minter.mint(keyFor(), SUBJECT, clock.nowMs - 60_000);
    expect(floor.claims.exp).toBe(now + 1);
    expect(verifier.verify(floor.token).claims).toEqual(floor.claims);
  });

  test('a token forged with the real key and valid claims is accepted (the forgeries below break one rule)', () => {
    const { verifier, now } = setup();
    for (const alg of ALGS) {
      const token = forge(keyFor(alg), accessTokenHeader(keyFor(alg)), claimsAt(now));
      expect(verifier.verify(token).claims).toEqual(claimsAt(now));
    }
  });

  test('accepts the high-S twin of an ES256 signature: ECDSA is malleable, so nothing may key on the token string', () => {
    const { verifier, now } = setup();
    const token = forge(keyFor(), accessTokenHeader(keyFor()), claimsAt(now));
    const [header, payload, signature] = segments(token);
    const raw = Buffer.from(signature, 'base64url');
    const order = BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551');
    const s = BigInt(`0x${raw.subarray(32).toString('hex')}`);
    const twin = Buffer.concat([
      raw.subarray(0, 32),
      Buffer.from((order - s).toString(16).padStart(64, '0'), 'hex'),
    ]);
    const malleated = `${header}.${payload}.${b64u(twin)}`;
    expect(malleated).not.toBe(token);
    expect(verifier.verify(malleated).claims).toEqual(verifier.verify(token).claims);
  });
});

describe('malformed: the format and size guard, and strict decoding', () => {
  let token: string;
  let parts: [string, string, string];

  beforeAll(() => {
    token = forge(keyFor(), accessTokenHeader(keyFor()), claimsAt(new FrozenClock().nowMs / 1000));
    parts = segments(token);
  });

  const cases: Array<[string, () => unknown]> = [
    ['two segments', () => `${parts[0]}.${parts[1]}`],
    ['four segments', () => `${token}.${parts[2]}`],
    ['five segments (a JWE shape)', () => `${parts[0]}.${parts[1]}.${parts[2]}.${parts[1]}.${parts[2]}`],
    ['padding in the header', () => `${parts[0]}=.${parts[1]}.${parts[2]}`],
    ['padding in the signature', () => `${token}==`],
    ['"+" in place of "-"', () => `${parts[0]}.${parts[1]}.+${parts[2].slice(1)}`],
    ['"/" in place of "_"', () => `${parts[0]}.${parts[1]}./${parts[2].slice(1)}`],
    ['a leading space', () => ` ${token}`],
    ['a trailing newline', () => `${token}\n`],
    [
      'a space inside the signature',
      () => `${parts[0]}.${parts[1]}.${parts[2].slice(0, 9)} ${parts[2].slice(9)}`,
    ],
    ['an empty header', () => `.${parts[1]}.${parts[2]}`],
    ['an empty payload', () => `${parts[0]}..${parts[2]}`],
    ['an empty signature', () => `${parts[0]}.${parts[1]}.`],
    ['only dots', () => '..'],
    ['the empty string', () => ''],
    ['a non-ASCII character', () => `${parts[0]}.${parts[1]}é.${parts[2]}`],
    ['undefined', () => undefined],
    ['null', () => null],
    ['a number', () => 42],
    ['an object', () => ({ token })],
    ['an array', () => [token]],
    ['the token as a Buffer', () => Buffer.from(token)],
  ];

  test.each(cases)('refuses %s', (_name, build) => {
    const { verifier } = setup();
    expect(codeOf(() => verifier.verify(build()))).toBe('malformed');
  });

  test('refuses a validly signed token over 4096 characters', () => {
    const { verifier, now } = setup();
    const long = forge(keyFor(), accessTokenHeader(keyFor()), { ...claimsAt(now), pad: 'x'.repeat(3000) });
    expect(long.length).toBeGreaterThan(4096);
    expect(codeOf(() => verifier.verify(long))).toBe('malformed');
  });

  test('maxTokenLength is inclusive', () => {
    const { now } = setup();
    const signed = forge(keyFor(), accessTokenHeader(keyFor()), claimsAt(now));
    const limits = { maxTokenLength: signed.length, maxHeaderLength: 512 };
    expect(setup({ limits }).verifier.verify(signed).claims.sub).toBe('user-1');
    const shorter = { ...limits, maxTokenLength: signed.length - 1 };
    expect(codeOf(() => setup({ limits: shorter }).verifier.verify(signed))).toBe('malformed');
  });

  test('refuses a header over 512 characters before parsing it', () => {
    const { verifier, now } = setup();
    const header = { ...accessTokenHeader(keyFor()), typ: 'x'.repeat(400) };
    expect(segment(header).length).toBeGreaterThan(512);
    expect(codeOf(() => verifier.verify(forge(keyFor(), header, claimsAt(now))))).toBe('malformed');
  });

  const headers: Array<[string, string | Uint8Array]> = [
    ['not JSON', 'alg=ES256'],
    ['a JSON array', '["ES256","at+jwt"]'],
    ['a JSON string', '"ES256"'],
    ['JSON null', 'null'],
    ['truncated JSON', '{"alg":"ES256","typ":"at+jwt"'],
    ['ill-formed UTF-8', Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d])],
  ];

  test.each(headers)('refuses a validly signed header that is %s', (_name, header) => {
    const { verifier, now } = setup();
    expect(codeOf(() => verifier.verify(forge(keyFor(), header, claimsAt(now))))).toBe('malformed');
  });

  test('refuses a header in non-canonical base64url', () => {
    const { verifier, now } = setup();
    const header = nonCanonical(b64u(jsonWithUnusedBits(accessTokenHeader(keyFor()))));
    const forged = signSegments(keyFor(), header, segment(claimsAt(now)));
    expect(codeOf(() => verifier.verify(forged))).toBe('malformed');
  });

  test('refuses a validly signed payload in non-canonical base64url', () => {
    const { verifier, now } = setup();
    const payload = nonCanonical(b64u(jsonWithUnusedBits(claimsAt(now))));
    const forged = signSegments(keyFor(), segment(accessTokenHeader(keyFor())), payload);
    expect(codeOf(() => verifier.verify(forged))).toBe('malformed');
  });

  const payloads: Array<[string, (now: number) => string | Uint8Array]> = [
    ['not JSON', () => 'foo'],
    ['a JSON array', (now) => JSON.stringify([claimsAt(now)])],
    [
      'ill-formed UTF-8',
      (now) =>
        Buffer.concat([Buffer.from(segmentText(now).slice(0, -1)), Buffer.from(',"x":"\xff"}', 'latin1')]),
    ],
    [
      'a claims set with a "__proto__" member',
      (now) => `${segmentText(now).slice(0, -1)},"__proto__":{"admin":true}}`,
    ],
    [
      'a claims set with a nested "constructor" member',
      (now) => `${segmentText(now).slice(0, -1)},"x":{"constructor":1}}`,
    ],
  ];

  function segmentText(now: number): string {
    return JSON.stringify(claimsAt(now));
  }

  test.each(payloads)('refuses a validly signed payload that is %s', (_name, payload) => {
    const { verifier, now } = setup();
    const forged = forge(keyFor(), accessTokenHeader(keyFor()), payload(now));
    expect(codeOf(() => verifier.verify(forged))).toBe('malformed');
  });

  test.each([
    ['a repeated claim', '"sub":"user-1","sub":"admin"'],
    ['a repeated claim spelt with an escape', '"sub":"user-1","s\\u0075b":"admin"'],
    ['a repeated member in a nested object', '"sub":"user-1","x":{"a":1,"a":2}'],
  ])('refuses duplicate claim names: %s', (_name, members) => {
    const { verifier, now } = setup();
    const { sub: _sub, ...rest } = claimsAt(now);
    const text = `{${JSON.stringify(rest).slice(1, -1)},${members}}`;
    expect(() => JSON.parse(text)).not.toThrow();
    const forged = forge(keyFor(), accessTokenHeader(keyFor()), text);
    expect(codeOf(() => verifier.verify(forged))).toBe('malformed');
  });

  test('refuses duplicate header names', () => {
    const { verifier, now } = setup();
    const key = keyFor();
    const header = `{"alg":"ES256","typ":"at+jwt","kid":"${strangers.ES256.kid}","kid":"${key.kid}"}`;
    expect(codeOf(() => verifier.verify(forge(key, header, claimsAt(now))))).toBe('malformed');
  });
});

describe('header_invalid: only alg, typ and kid', () => {
  test.each([
    ['jwk', { kty: 'EC' }],
    ['jku', 'https://evil.example/jwks.json'],
    ['x5u', 'https://evil.example/cert.pem'],
    ['x5c', ['MIIB']],
    ['x5t', 'AAAA'],
    ['crit', ['exp']],
    ['b64', false],
    ['cty', 'JWT'],
    ['zip', 'DEF'],
    ['foo', 'bar'],
  ])('refuses a header with %s', (member, value) => {
    const { verifier, now } = setup();
    const header = { ...accessTokenHeader(keyFor()), [member]: value };
    expect(codeOf(() => verifier.verify(forge(keyFor(), header, claimsAt(now))))).toBe('header_invalid');
  });

  test.each([
    ['a missing kid', { kid: undefined }],
    ['an empty kid', { kid: '' }],
    ['a kid over 128 characters', { kid: 'k'.repeat(129) }],
    ['a numeric kid', { kid: 7 }],
    ['a missing alg', { alg: undefined }],
    ['a numeric alg', { alg: 256 }],
    ['a null alg', { alg: null }],
    ['an array alg', { alg: ['ES256'] }],
    ['a numeric typ', { typ: 1 }],
    ['a null typ', { typ: null }],
  ])('refuses %s', (_name, overrides: Record<string, unknown>) => {
    const { verifier, now } = setup();
    const header: Record<string, unknown> = { ...accessTokenHeader(keyFor()), ...overrides };
    for (const [name, value] of Object.entries(overrides)) if (value === undefined) delete header[name];
    expect(codeOf(() => verifier.verify(forge(keyFor(), header, claimsAt(now))))).toBe('header_invalid');
  });
});

describe('unknown_kid', () => {
  test.each(ALGS)('refuses a %s token signed by a key outside the key set', (alg) => {
    const { verifier, now } = setup();
    const stranger = strangers[alg];
    expect(codeOf(() => verifier.verify(forge(stranger, accessTokenHeader(stranger), claimsAt(now))))).toBe(
      'unknown_kid',
    );
  });
});

describe('alg_mismatch: the key, never the header, chooses the algorithm', () => {
  test.each(['none', 'None', 'NONE', 'nOnE'])('refuses alg %p even with a real signature', (alg) => {
    const { verifier, now } = setup();
    const header = { ...accessTokenHeader(keyFor()), alg };
    expect(codeOf(() => verifier.verify(forge(keyFor(), header, claimsAt(now))))).toBe('alg_mismatch');
  });

  test('refuses alg none with an empty signature before looking at the header', () => {
    const { verifier, now } = setup();
    const unsigned = `${segment({ ...accessTokenHeader(keyFor()), alg: 'none' })}.${segment(claimsAt(now))}.`;
    expect(codeOf(() => verifier.verify(unsigned))).toBe('malformed');
  });

  test('refuses HS256 keyed with the public key (key confusion)', () => {
    const { verifier, now } = setup();
    const key = keyFor();
    const input = `${segment({ ...accessTokenHeader(key), alg: 'HS256' })}.${segment(claimsAt(now))}`;
    const publicDer = createPublicKey(
      createPrivateKey({ key: key.privateJwk as JsonWebKey, format: 'jwk' }),
    ).export({
      type: 'spki',
      format: 'der',
    });
    const mac = createHmac('sha256', publicDer).update(input).digest();
    expect(codeOf(() => verifier.verify(`${input}.${b64u(mac)}`))).toBe('alg_mismatch');
  });

  test.each(['RS256', 'ES384', 'es256', 'ES256 ', 'Ed25519'])('refuses alg %p under the ES256 key', (alg) => {
    const { verifier, now } = setup();
    const header = { ...accessTokenHeader(keyFor()), alg };
    expect(codeOf(() => verifier.verify(forge(keyFor(), header, claimsAt(now))))).toBe('alg_mismatch');
  });

  test('refuses an ES256 token that names an EdDSA key', () => {
    const { verifier, now } = setup();
    const header = { ...accessTokenHeader(keyFor('ES256')), kid: keyFor('EdDSA').kid };
    expect(codeOf(() => verifier.verify(forge(keyFor('ES256'), header, claimsAt(now))))).toBe('alg_mismatch');
  });

  test('refuses an EdDSA token that names an ES256 key', () => {
    const { verifier, now } = setup();
    const header = { ...accessTokenHeader(keyFor('EdDSA')), kid: keyFor('ES256').kid };
    expect(codeOf(() => verifier.verify(forge(keyFor('EdDSA'), header, claimsAt(now))))).toBe('alg_mismatch');
  });
});

describe('bad_signature', () => {
  function withSignature(
    alg: SigningAlg,
    now: number,
    signature: (raw: Buffer, input: string) => Buffer,
  ): string {
    const token = forge(keyFor(alg), accessTokenHeader(keyFor(alg)), claimsAt(now));
    const [header, payload, raw] = segments(token);
    return `${header}.${payload}.${b64u(signature(Buffer.from(raw, 'base64url'), `${header}.${payload}`))}`;
  }

  test.each(ALGS)('refuses a %s signature with one bit flipped', (alg) => {
    const { verifier, now } = setup();
    for (const bit of [0, 7, 255, 256, 511]) {
      const token = withSignature(alg, now, (raw) => {
        const flipped = Buffer.from(raw);
        flipped[bit >> 3] = (flipped[bit >> 3] ?? 0) ^ (1 << (bit & 7));
        return flipped;
      });
      expect(codeOf(() => verifier.verify(token))).toBe('bad_signature');
    }
  });

  test('refuses a DER-encoded ECDSA signature in place of the raw P1363 one', () => {
    const { verifier, now } = setup();
    const key = keyFor('ES256');
    const token = withSignature('ES256', now, (_raw, input) =>
      sign('sha256', Buffer.from(input), {
        key: createPrivateKey({ key: key.privateJwk as JsonWebKey, format: 'jwk' }),
        dsaEncoding: 'der',
      }),
    );
    expect(codeOf(() => verifier.verify(token))).toBe('bad_signature');
  });

  test.each(ALGS)('refuses an all-zero %s signature (r = s = 0 for ES256)', (alg) => {
    const { verifier, now } = setup();
    const token = withSignature(alg, now, () => Buffer.alloc(64));
    expect(codeOf(() => verifier.verify(token))).toBe('bad_signature');
  });

  test.each(ALGS)('refuses a %s signature of the wrong length', (alg) => {
    const { verifier, now } = setup();
    for (const length of [1, 32, 63, 65, 96, 128]) {
      const token = withSignature(alg, now, (raw) =>
        Buffer.concat([raw, Buffer.alloc(Math.max(0, length - 64))]).subarray(0, length),
      );
      expect(codeOf(() => verifier.verify(token))).toBe('bad_signature');
    }
  });

  test.each(ALGS)('refuses a %s signature by another key under the same kid', (alg) => {
    const { verifier, now } = setup();
    const impostor = { ...strangers[alg], kid: keyFor(alg).kid };
    const token = forge(impostor, accessTokenHeader(keyFor(alg)), claimsAt(now));
    expect(codeOf(() => verifier.verify(token))).toBe('bad_signature');
  });

  test.each(ALGS)('refuses a %s signature in non-canonical base64url', (alg) => {
    const { verifier, now } = setup();
    const [header, payload, signature] = segments(
      forge(keyFor(alg), accessTokenHeader(keyFor(alg)), claimsAt(now)),
    );
    expect(codeOf(() => verifier.verify(`${header}.${payload}.${nonCanonical(signature)}`))).toBe(
      'bad_signature',
    );
  });

  test('refuses the signature of another token', () => {
    const { verifier, now } = setup();
    const a = segments(forge(keyFor(), accessTokenHeader(keyFor()), claimsAt(now, { sub: 'alice' })));
    const b = segments(forge(keyFor(), accessTokenHeader(keyFor()), claimsAt(now, { sub: 'bob' })));
    expect(codeOf(() => verifier.verify(`${a[0]}.${b[1]}.${a[2]}`))).toBe('bad_signature');
  });
});

describe('typ_invalid', () => {
  test('refuses a token without typ', () => {
    const { verifier, now } = setup();
    const { typ: _typ, ...header } = accessTokenHeader(keyFor());
    expect(codeOf(() => verifier.verify(forge(keyFor(), header, claimsAt(now))))).toBe('typ_invalid');
  });

  // RFC 9068 section 4 lets a resource server accept "application/at+jwt" too, and jose compares typ
  // case-insensitively; the issuer mints exactly "at+jwt", so nothing else is accepted.
  test.each(['JWT', 'jwt', 'AT+JWT', 'application/at+jwt', 'at+jwt ', ''])('refuses typ %p', (typ) => {
    const { verifier, now } = setup();
    const header = { ...accessTokenHeader(keyFor()), typ };
    expect(codeOf(() => verifier.verify(forge(keyFor(), header, claimsAt(now))))).toBe('typ_invalid');
  });
});

describe('claim_missing', () => {
  test.each(['iss', 'sub', 'aud', 'exp', 'iat', 'nbf', 'jti', 'sid', 'client_id', 'scope'])(
    'refuses a token without %s',
    (claim) => {
      const { verifier, now } = setup();
      const token = forge(keyFor(), accessTokenHeader(keyFor()), claimsAt(now, { [claim]: undefined }));
      expect(codeOf(() => verifier.verify(token))).toBe('claim_missing');
    },
  );
});

describe('claim_invalid', () => {
  const stringClaims = ['iss', 'sub', 'aud', 'jti', 'sid', 'client_id'];

  test.each(stringClaims)('refuses %s that is not a non-empty string of at most 256 characters', (claim) => {
    const { verifier, now } = setup();
    for (const value of [1, null, true, {}, ['x'], '', 'x'.repeat(257)]) {
      const token = forge(keyFor(), accessTokenHeader(keyFor()), claimsAt(now, { [claim]: value }));
      expect(codeOf(() => verifier.verify(token))).toBe('claim_invalid');
    }
  });

  test('accepts string claims of exactly 256 characters', () => {
    const { verifier, now } = setup();
    const long = 's'.repeat(256);
    const claims = claimsAt(now, { sub: long, jti: long, sid: long, client_id: long });
    expect(verifier.verify(forge(keyFor(), accessTokenHeader(keyFor()), claims)).claims).toEqual(claims);
  });

  test.each(['exp', 'iat', 'nbf'])('refuses %s that is not an integer NumericDate', (claim) => {
    const { verifier, now } = setup();
    for (const value of [now + 0.5, String(now), null, [now], 2 ** 53]) {
      const token = forge(keyFor(), accessTokenHeader(keyFor()), claimsAt(now, { [claim]: value }));
      expect(codeOf(() => verifier.verify(token))).toBe('claim_invalid');
    }
  });

  test('refuses exp written as 1e400 (Infinity once parsed)', () => {
    const { verifier, now } = setup();
    const text = JSON.stringify(claimsAt(now, { exp: 0 })).replace('"exp":0', '"exp":1e400');
    const token = forge(keyFor(), accessTokenHeader(keyFor()), text);
    expect(codeOf(() => verifier.verify(token))).toBe('claim_invalid');
  });

  test.each([
    ['a double quote', 'a"b'],
    ['a backslash', 'a\\b'],
    ['a newline', 'a\nb'],
    ['a tab', 'a\tb'],
    ['DEL', 'a\u007fb'],
    ['a non-ASCII letter', 'profilé'],
    ['a number', 42],
    ['an array', ['profile']],
    ['over 1024 characters', 'x'.repeat(1025)],
  ])('refuses scope with %s', (_name, scope) => {
    const { verifier, now } = setup();
    const token = forge(keyFor(), accessTokenHeader(keyFor()), claimsAt(now, { scope }));
    expect(codeOf(() => verifier.verify(token))).toBe('claim_invalid');
  });

  test('accepts an empty scope and a scope of every allowed character', () => {
    const { verifier, now } = setup();
    let all = ' !';
    for (let c = 0x23; c <= 0x7e; c++) if (c !== 0x5c) all += String.fromCharCode(c);
    for (const scope of ['', all]) {
      const token = forge(keyFor(), accessTokenHeader(keyFor()), claimsAt(now, { scope }));
      expect(verifier.verify(token).claims.scope).toBe(scope);
    }
  });

  test.each([
    ['exp equal to iat', (now: number) => ({ iat: now, nbf: now, exp: now })],
    ['exp before iat', (now: number) => ({ iat: now, nbf: now, exp: now - 1 })],
    ['nbf before iat', (now: number) => ({ iat: now, nbf: now - 1 })],
    ['nbf equal to exp', (now: number) => ({ iat: now - 10, nbf: now + 10, exp: now + 10 })],
  ])('refuses times out of order: %s', (_name, times) => {
    const { verifier, now } = setup();
    const token = forge(keyFor(), accessTokenHeader(keyFor()), claimsAt(now, times(now)));
    expect(codeOf(() => verifier.verify(token))).toBe('claim_invalid');
  });
});

describe('time rules, with the clock skew', () => {
  test('expired: exp at now - skew is refused, exp one second later is accepted', () => {
    const { verifier, now } = setup();
    const at = (exp: number) =>
      forge(keyFor(), accessTokenHeader(keyFor()), claimsAt(now, { exp, iat: exp - TTL, nbf: exp - TTL }));
    expect(codeOf(() => verifier.verify(at(now - SKEW)))).toBe('expired');
    expect(verifier.verify(at(now - SKEW + 1)).claims.exp).toBe(now - SKEW + 1);
  });

  test('expired: a minted token lives ttl + skew seconds on the verifier clock', async () => {
    const { verifier, minter, clock } = setup();
    const { token } = await minter.mint(keyFor(), SUBJECT);
    clock.advance(TTL + SKEW - 1);
    expect(verifier.verify(token).claims.sub).toBe('user-1');
    clock.advance(1);
    expect(codeOf(() => verifier.verify(token))).toBe('expired');
  });

  test('expired: with no skew, a token is refused from exp on', () => {
    const { verifier, now } = setup({ clockSkewSeconds: 0 });
    const at = (exp: number) =>
      forge(keyFor(), accessTokenHeader(keyFor()), claimsAt(now, { exp, iat: exp - TTL, nbf: exp - TTL }));
    expect(codeOf(() => verifier.verify(at(now)))).toBe('expired');
    expect(verifier.verify(at(now + 1)).claims.exp).toBe(now + 1);
  });

  test('not_yet_valid: nbf beyond now + skew is refused, at now + skew accepted', () => {
    const { verifier, now } = setup();
    const at = (nbf: number) => forge(keyFor(), accessTokenHeader(keyFor()), claimsAt(now, { nbf }));
    expect(codeOf(() => verifier.verify(at(now + SKEW + 1)))).toBe('not_yet_valid');
    expect(verifier.verify(at(now + SKEW)).claims.nbf).toBe(now + SKEW);
  });

  test('not_yet_valid: a token minted by an issuer 60 s ahead becomes valid once within the skew', async () => {
    const { verifier, clock } = setup();
    const ahead = new AccessTokenMinter(PROFILE, () => clock.nowMs + 60_000);
    const { token } = await ahead.mint(keyFor(), SUBJECT);
    expect(codeOf(() => verifier.verify(token))).toBe('not_yet_valid');
    clock.advance(60 - SKEW);
    expect(verifier.verify(token).claims.sub).toBe('user-1');
  });

  // An iat beyond the skew with nbf >= iat is refused as not_yet_valid first; the iat rule shows only when
  // nbf lies before iat, so that ordering breach comes with it.
  test('issued_in_future: iat beyond now + skew is refused, at now + skew accepted', () => {
    const { verifier, now } = setup();
    const future = forge(
      keyFor(),
      accessTokenHeader(keyFor()),
      claimsAt(now, { iat: now + SKEW + 1, nbf: now }),
    );
    expect(codeOf(() => verifier.verify(future))).toBe('issued_in_future');
    const edge = forge(
      keyFor(),
      accessTokenHeader(keyFor()),
      claimsAt(now, { iat: now + SKEW, nbf: now + SKEW }),
    );
    expect(verifier.verify(edge).claims.iat).toBe(now + SKEW);
  });

  test('lifetime_exceeded: exp - iat above the TTL is refused, equal to it accepted', () => {
    const { verifier, now } = setup();
    const over = forge(keyFor(), accessTokenHeader(keyFor()), claimsAt(now, { exp: now + TTL + 1 }));
    expect(codeOf(() => verifier.verify(over))).toBe('lifetime_exceeded');
    const exact = forge(keyFor(), accessTokenHeader(keyFor()), claimsAt(now, { exp: now + TTL }));
    expect(verifier.verify(exact).claims.exp).toBe(now + TTL);
  });

  test('lifetime_exceeded: a verifier with a shorter TTL refuses minted tokens', async () => {
    const { minter } = setup();
    const { verifier } = setup({ ttlSeconds: TTL - 1 });
    const { token } = await minter.mint(keyFor(), SUBJECT);
    expect(codeOf(() => verifier.verify(token))).toBe('lifetime_exceeded');
  });
});

describe('issuer and audience: exact match', () => {
  test.each(['https://evil.example', `${ISSUER}/`, ISSUER.toUpperCase(), ` ${ISSUER}`])(
    'issuer_mismatch: refuses iss %p',
    (iss) => {
      const { verifier, now } = setup();
      const token = forge(keyFor(), accessTokenHeader(keyFor()), claimsAt(now, { iss }));
      expect(codeOf(() => verifier.verify(token))).toBe('issuer_mismatch');
    },
  );

  test.each(['https://other-api.example', `${AUDIENCE}/`, AUDIENCE.toUpperCase(), ISSUER])(
    'audience_mismatch: refuses aud %p',
    (aud) => {
      const { verifier, now } = setup();
      const token = forge(keyFor(), accessTokenHeader(keyFor()), claimsAt(now, { aud }));
      expect(codeOf(() => verifier.verify(token))).toBe('audience_mismatch');
    },
  );

  // RFC 7519 allows an array; our tokens carry one audience as a string, so an array is a claim of the
  // wrong type, refused before the audience is compared, even when it names only our audience.
  test.each([[[AUDIENCE]], [[AUDIENCE, 'https://other-api.example']], [[]]])(
    'refuses aud %j as claim_invalid',
    (aud) => {
      const { verifier, now } = setup();
      const token = forge(keyFor(), accessTokenHeader(keyFor()), claimsAt(now, { aud }));
      expect(codeOf(() => verifier.verify(token))).toBe('claim_invalid');
    },
  );
});

describe('AccessTokenVerifier options', () => {
  const keys: KeyResolver = () => undefined;

  test.each([-1, 301, 1.5, Number.NaN])('fails when clockSkewSeconds is %p', (clockSkewSeconds) => {
    expect(() => new AccessTokenVerifier({ ...PROFILE, keys, clockSkewSeconds })).toThrow(
      /clockSkewSeconds must be an integer from 0 to 300, got/,
    );
  });

  test.each([0, 300])('accepts clockSkewSeconds %p', (clockSkewSeconds) => {
    expect(() => new AccessTokenVerifier({ ...PROFILE, keys, clockSkewSeconds })).not.toThrow();
  });

  test.each([0, -300, 1.5, Number.NaN, Number.POSITIVE_INFINITY])(
    'fails when ttlSeconds is %p',
    (ttlSeconds) => {
      expect(() => new AccessTokenVerifier({ ...PROFILE, keys, ttlSeconds })).toThrow(
        /ttlSeconds must be a positive integer, got/,
      );
    },
  );

  test.each([
    ['maxTokenLength', Number.NaN],
    ['maxTokenLength', Number.POSITIVE_INFINITY],
    ['maxTokenLength', 0],
    ['maxHeaderLength', -1],
    ['maxHeaderLength', 2.5],
  ])('fails when limits.%s is %p', (name, value) => {
    const limits = { maxTokenLength: 4096, maxHeaderLength: 512, [name]: value };
    expect(() => new AccessTokenVerifier({ ...PROFILE, keys, limits })).toThrow(
      new RegExp(`limits\\.${name} must be a positive integer, got ${value}`),
    );
  });
});

describe('importJwks', () => {
  test('imports every published key, bound to its algorithm', () => {
    const jwks = { keys: [...toPublicJwks(sets.ES256).keys, ...toPublicJwks(sets.EdDSA).keys] };
    const { keys, rejected } = importJwks(jwks);
    expect(rejected).toEqual([]);
    expect([...keys.values()].map(({ kid, alg }) => ({ kid, alg }))).toEqual(
      jwks.keys.map(({ kid, alg }) => ({ kid, alg })),
    );
  });

  const rejections: Array<[string, (jwk: Record<string, unknown>) => Record<string, unknown>, RegExp]> = [
    ['use "enc"', (jwk) => ({ ...jwk, use: 'enc' }), /use enc is not sig/],
    ['key_ops without verify', (jwk) => ({ ...jwk, key_ops: ['encrypt'] }), /key_ops do not allow verify/],
    ['key_ops that is not an array', (jwk) => ({ ...jwk, key_ops: 'verify' }), /key_ops do not allow verify/],
    ['an unsupported alg', (jwk) => ({ ...jwk, alg: 'RS256' }), /unsupported alg RS256/],
    ['no alg', ({ alg: _alg, ...jwk }) => jwk, /unsupported alg undefined/],
    ['an EC key labelled EdDSA', (jwk) => ({ ...jwk, alg: 'EdDSA' }), /kty\/crv do not match alg/],
    ['a P-384 curve', (jwk) => ({ ...jwk, crv: 'P-384' }), /kty\/crv do not match alg/],
    ['no kid', ({ kid: _kid, ...jwk }) => jwk, /missing kid/],
    ['no y coordinate', ({ y: _y, ...jwk }) => jwk, /missing coordinates/],
    ['a point off the curve', (jwk) => ({ ...jwk, y: jwk.x }), /not a valid public key/],
  ];

  test.each(rejections)('refuses a key with %s and lists it in rejected', (_name, change, reason) => {
    const jwk = change({ ...toPublicJwk(keyFor()) });
    const { keys, rejected } = importJwks({ keys: [jwk] });
    expect(keys.size).toBe(0);
    expect(rejected).toEqual([{ kid: jwk.kid, reason: expect.stringMatching(reason) }]);
  });

  test.each(ALGS)('refuses a %s key that carries the private member d', (alg) => {
    const key = keyFor(alg);
    const { keys, rejected } = importJwks({ keys: [{ ...key.privateJwk, use: 'sig' }] });
    expect(keys.size).toBe(0);
    expect(rejected).toEqual([{ kid: key.kid, reason: 'private key material in a verification key' }]);
  });

  test('refuses both keys that share a kid, and keeps the others', () => {
    const [first, second] = toPublicJwks(sets.ES256).keys;
    if (first === undefined || second === undefined) throw new Error('key set must hold two keys');
    const { keys, rejected } = importJwks({
      keys: [first, { ...second, kid: first.kid }, toPublicJwk(keyFor('EdDSA'))],
    });
    expect([...keys.keys()]).toEqual([keyFor('EdDSA').kid]);
    expect(rejected).toEqual([{ kid: first.kid, reason: 'duplicate kid' }]);
  });

  test('a token naming a duplicated kid is refused as unknown_kid', () => {
    const [first, second] = toPublicJwks(sets.ES256).keys;
    if (first === undefined || second === undefined) throw new Error('key set must hold two keys');
    const { keys } = importJwks({ keys: [first, { ...second, kid: first.kid }] });
    const { verifier, now } = setup({ keys: (kid) => keys.get(kid) });
    const token = forge(keyFor(), accessTokenHeader(keyFor()), claimsAt(now));
    expect(codeOf(() => verifier.verify(token))).toBe('unknown_kid');
  });

  test.each([[null], [{}], [{ keys: 'x' }], [[{ kty: 'EC', kid: 'a' }]]])(
    'refuses %p as not a JWK Set',
    (jwks) => {
      expect(importJwks(jwks)).toEqual({
        keys: new Map(),
        rejected: [{ kid: undefined, reason: 'not a JWK Set' }],
      });
    },
  );
});

describe('keys', () => {
  test.each(ALGS)('the %s kid is the RFC 7638 thumbprint of the public key', async (alg) => {
    for (const key of sets[alg].signingKeys) {
      expect(key.kid).toBe(await calculateJwkThumbprint(toPublicJwk(key), 'sha256'));
      expect(key.privateJwk.kid).toBe(key.kid);
    }
  });

  test.each(ALGS)('the public %s JWKS has no private member and names use and alg on every key', (alg) => {
    const jwks = toPublicJwks(sets[alg]);
    expect(jwks.keys).toHaveLength(2);
    for (const jwk of jwks.keys) {
      expect(jwk).not.toHaveProperty('d');
      expect(jwk).toMatchObject({ use: 'sig', alg });
      expect(Object.keys(jwk).sort()).toEqual(
        alg === 'ES256'
          ? ['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y']
          : ['alg', 'crv', 'kid', 'kty', 'use', 'x'],
      );
    }
  });

  test('currentSigningKey fails when no key is current', () => {
    const signingKeys = sets.ES256.signingKeys.map((key) => ({ ...key, state: 'next' as const }));
    expect(() => currentSigningKey({ ...sets.ES256, signingKeys })).toThrow(
      /exactly one current signing key, found 0/,
    );
  });

  test('currentSigningKey fails when two keys are current', () => {
    const signingKeys = sets.ES256.signingKeys.map((key) => ({ ...key, state: 'current' as const }));
    expect(() => currentSigningKey({ ...sets.ES256, signingKeys })).toThrow(
      /exactly one current signing key, found 2/,
    );
  });

  test.each([undefined, 'ES256', 'EdDSA'] as const)(
    'generateKeySet(%p) yields a current and a next key',
    async (alg) => {
      const set = await generateKeySet({ alg, now: 1_000 });
      expect(
        set.signingKeys.map((key) => ({ state: key.state, alg: key.alg, createdAt: key.createdAt })),
      ).toEqual([
        { state: 'current', alg: alg ?? 'ES256', createdAt: 1_000 },
        { state: 'next', alg: alg ?? 'ES256', createdAt: 1_000 },
      ]);
      const [current, next] = set.signingKeys;
      expect(current?.kid).not.toBe(next?.kid);
      expect(set.macKeys).toHaveLength(1);
    },
  );

  test('toPublicJwk fails for a key type it does not publish', () => {
    const key = { ...keyFor(), privateJwk: { kty: 'RSA', n: 'AQAB', e: 'AQAB' } };
    expect(() => toPublicJwk(key)).toThrow(/unsupported key type RSA/);
  });
});
