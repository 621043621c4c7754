import { createHmac, createPrivateKey, type JsonWebKey, sign } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { sdkSessionSubjectReader } from '../../lambda/adapters/dynamodb-sdk-batch-get';
import { DynamoDbSessionStore } from '../../lambda/adapters/dynamodb-session-store';
import { DynamoDbSubjectStore } from '../../lambda/adapters/dynamodb-subject-store';
import { createLogger } from '../../lambda/adapters/logger';
import { createAuthorizerHandler, UNAUTHORIZED } from '../../lambda/authorizer/handler';
import { AccessTokenVerifier } from '../../lambda/core/access-token';
import { Authorizer } from '../../lambda/core/authorizer';
import { BearerAuthenticator } from '../../lambda/core/bearer-authenticator';
import { JwksCache } from '../../lambda/core/jwks-cache';
import {
  currentSigningKey,
  generateKeySet,
  generateSigningKey,
  type KeySet,
  type SigningKey,
  toPublicJwk,
  toPublicJwks,
} from '../../lambda/core/keys';
import { SessionCache } from '../../lambda/core/session-cache';
import { SessionService, type TokenSet } from '../../lambda/core/session-service';
import { PROTECTED_ROUTES } from '../../lambda/protected-routes';
import { readKeySet } from '../../local/keys-file';
import { freshTable } from '../support/dynamodb';
import { authorizerEvent } from '../support/events';
import { AUDIENCE, ISSUER } from '../support/fixtures';
import {
  accessTokenHeader,
  b64u,
  forge,
  type SegmentContent,
  segment,
  signBytes,
} from '../support/jws-forge';
import { type PlatformProcess, startPlatformProcess } from '../support/platform-process';

// The token attack catalogue of issue 6, run through the authorizer HANDLER (the layer API Gateway calls)
// with a real DynamoDB Local session store and real keys. Each forgery is signed with the real private key
// (test/support/jws-forge.ts) and names a live session, so exactly one rule stands between it and an Allow.
// Verifier-level detail (every rule in isolation) lives in test/core/access-token.test.ts.

const profile = { issuer: ISSUER, audience: AUDIENCE, ttlSeconds: 300 };
/** P-256 group order n. */
const P256_N = BigInt('0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551');

let client: DynamoDBClient;
let store: DynamoDbSessionStore;
let tableName: string;
let keys: KeySet;
let service: SessionService;
let live: TokenSet;
/** A key that signed once and has been dropped from the JWKS. */
let retired: SigningKey;
/** A valid ES256 key the JWKS publishes with `use: "enc"`. */
let encKey: SigningKey;
/** An EdDSA key published beside the ES256 ones. */
let edKey: SigningKey;
/** An attacker's own key. */
let attacker: SigningKey;

beforeAll(async () => {
  const table = await freshTable();
  client = table.client;
  tableName = table.tableName;
  store = new DynamoDbSessionStore({ client, tableName });
  const now = Date.now();
  keys = await generateKeySet({ now });
  [retired, encKey, edKey, attacker] = await Promise.all([
    generateSigningKey('ES256', { state: 'previous', now }),
    generateSigningKey('ES256', { state: 'previous', now }),
    generateSigningKey('EdDSA', { state: 'previous', now }),
    generateSigningKey('ES256', { state: 'current', now }),
  ]);
  service = new SessionService({
    store,
    subjects: new DynamoDbSubjectStore({ client, tableName: table.tableName }),
    keys: async () => keys,
    profile,
  });
  live = await service.login({ sub: 'victim', clientId: 'native', scope: 'profile' });
});

afterAll(() => client.destroy());

/** The published JWKS of a handler: the real key set, an EdDSA key, and `extra` (a retired key, ...). */
function handlerWith(extra: readonly object[] = []) {
  const lines: string[] = [];
  const rejected: string[] = [];
  const jwks = new JwksCache({
    load: async () => ({ keys: [...toPublicJwks(keys).keys, toPublicJwk(edKey), ...extra] }),
    onRejected: (_kid, reason) => rejected.push(reason),
  });
  const authenticator = new BearerAuthenticator({
    verifier: new AccessTokenVerifier({ ...profile, keys: jwks.get }),
    jwks,
    sessions: new SessionCache({ reader: sdkSessionSubjectReader(client, tableName), ttlMs: 1000 }),
  });
  const handler = createAuthorizerHandler({
    authorizer: new Authorizer(authenticator, PROTECTED_ROUTES),
    logger: createLogger('authorizer', (line) => lines.push(line)),
  });
  return { handler, lines, rejected };
}

/** Claims that pass every rule now, naming the live session. */
function claims(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  const base: Record<string, unknown> = {
    iss: ISSUER,
    sub: 'victim',
    aud: AUDIENCE,
    exp: now + 300,
    iat: now,
    nbf: now,
    jti: 'attack-jti',
    sid: live.sid,
    client_id: 'native',
    scope: 'profile',
  };
  for (const [name, value] of Object.entries(overrides)) {
    if (value === undefined) delete base[name];
    else base[name] = value;
  }
  return base;
}

const signing = () => currentSigningKey(keys);
const header = (overrides: Record<string, unknown> = {}) => {
  const value: Record<string, unknown> = { ...accessTokenHeader(signing()), ...overrides };
  for (const [name, member] of Object.entries(overrides)) if (member === undefined) delete value[name];
  return value;
};
/** A token signed by the real current key with `header` and `payload`. */
const real = (headerValue: SegmentContent = header(), payload: SegmentContent = claims()) =>
  forge(signing(), headerValue, payload);
const bearer = (token: string) => `Bearer ${token}`;
const parts = (token: string): [string, string, string] => {
  const [h = '', p = '', s = ''] = token.split('.');
  return [h, p, s];
};
/** A token whose ES256 signature is replaced by `r || s` (32 bytes each). */
function withRS(r: bigint, s: bigint): string {
  const [h, p] = parts(real());
  const hex = (value: bigint) => value.toString(16).padStart(64, '0').slice(-64);
  return `${h}.${p}.${b64u(Buffer.from(hex(r) + hex(s), 'hex'))}`;
}
/** The real signature of a real token, with its r or s taken from it. */
function realRS(): { r: bigint; s: bigint } {
  const raw = Buffer.from(parts(real())[2], 'base64url');
  return {
    r: BigInt(`0x${raw.subarray(0, 32).toString('hex')}`),
    s: BigInt(`0x${raw.subarray(32).toString('hex')}`),
  };
}
/** Puts `insert` into segment `index` of a real token, after its first character. */
function inSegment(index: 0 | 1 | 2, insert: string): string {
  const segments = parts(real());
  segments[index] = `${segments[index].slice(0, 1)}${insert}${segments[index].slice(1)}`;
  return segments.join('.');
}
/** HS256 over the signing input, keyed with the bytes of the published public JWK (key confusion). */
function hs256WithPublicKey(): string {
  const publicJwk = JSON.stringify(toPublicJwk(signing()));
  const input = `${segment(header({ alg: 'HS256' }))}.${segment(claims())}`;
  return `${input}.${b64u(createHmac('sha256', publicJwk).update(input).digest())}`;
}
/** A nested JSON array `depth` levels deep. */
const nested = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;

type Attack = readonly [name: string, authorization: () => string, reason: string];

const ALG_NONE: readonly Attack[] = ['none', 'None', 'NONE', 'nOnE', 'NoNe'].flatMap((alg): Attack[] => [
  [
    `alg ${alg} with an empty signature`,
    () => bearer(`${segment(header({ alg }))}.${segment(claims())}.`),
    'malformed',
  ],
  [`alg ${alg} with a real signature`, () => bearer(real(header({ alg }))), 'alg_mismatch'],
]);

const ALGORITHMS: readonly Attack[] = [
  ['HS256 keyed with the published public key', () => bearer(hs256WithPublicKey()), 'alg_mismatch'],
  ...['RS256', 'PS256', 'ES384', 'ES512', 'HS512', 'es256', 'ES256 ', 'EdDSA', 'Ed25519'].map(
    (alg): Attack => [
      `alg ${JSON.stringify(alg)} under the ES256 key`,
      () => bearer(real(header({ alg }))),
      'alg_mismatch',
    ],
  ),
  [
    'an EdDSA-signed token naming the ES256 kid',
    () => bearer(forge(edKey, { alg: 'EdDSA', typ: 'at+jwt', kid: signing().kid }, claims())),
    'alg_mismatch',
  ],
  [
    'an ES256 header naming the EdDSA kid',
    () => bearer(forge(signing(), { alg: 'ES256', typ: 'at+jwt', kid: edKey.kid }, claims())),
    'alg_mismatch',
  ],
];

const KIDS: readonly Attack[] = [
  ...[
    '../../../../etc/passwd',
    '/dev/null',
    "x' OR '1'='1",
    '"; DROP TABLE sessions; --',
    'JWKS',
    'SESSION#x',
    '$\u007bjndi:ldap://evil}',
    '*',
    'a\u0000b',
  ].map((kid): Attack => [`kid ${JSON.stringify(kid)}`, () => bearer(real(header({ kid }))), 'unknown_kid']),
  [
    'an unknown kid (an attacker key)',
    () => bearer(forge(attacker, accessTokenHeader(attacker), claims())),
    'unknown_kid',
  ],
  ['a kid that is an object', () => bearer(real(header({ kid: { $ne: null } }))), 'header_invalid'],
  ['a kid that is an array', () => bearer(real(header({ kid: [signing().kid] }))), 'header_invalid'],
  ['a kid that is a number', () => bearer(real(header({ kid: 1 }))), 'header_invalid'],
  ['a missing kid', () => bearer(real(header({ kid: undefined }))), 'header_invalid'],
  ['an empty kid', () => bearer(real(header({ kid: '' }))), 'header_invalid'],
  ['a 200-character kid', () => bearer(real(header({ kid: 'k'.repeat(200) }))), 'header_invalid'],
];

const HEADER_MEMBERS: readonly Attack[] = [
  [
    'an embedded jwk (the attacker key, signed by it)',
    () => bearer(forge(attacker, { ...accessTokenHeader(attacker), jwk: toPublicJwk(attacker) }, claims())),
    'header_invalid',
  ],
  [
    'an embedded jwk beside the real kid',
    () => bearer(real(header({ jwk: toPublicJwk(attacker) }))),
    'header_invalid',
  ],
  ['jku', () => bearer(real(header({ jku: 'https://evil.example/jwks.json' }))), 'header_invalid'],
  ['x5u', () => bearer(real(header({ x5u: 'https://evil.example/cert.pem' }))), 'header_invalid'],
  ['x5c', () => bearer(real(header({ x5c: ['MIIB'] }))), 'header_invalid'],
  ['crit naming a registered claim', () => bearer(real(header({ crit: ['exp'] }))), 'header_invalid'],
  [
    'crit naming an unknown extension',
    () => bearer(real(header({ crit: ['x-unknown'], 'x-unknown': 1 }))),
    'header_invalid',
  ],
  ['crit empty', () => bearer(real(header({ crit: [] }))), 'header_invalid'],
  [
    'b64 false with an unencoded payload',
    () => {
      const h = segment(header({ b64: false, crit: ['b64'] }));
      const payload = JSON.stringify(claims());
      const signature = b64u(signBytes(signing(), `${h}.${payload}`));
      return bearer(`${h}.${b64u(payload)}.${signature}`);
    },
    'header_invalid',
  ],
  ['b64 false alone', () => bearer(real(header({ b64: false }))), 'header_invalid'],
  ['cty JWT (nested token)', () => bearer(real(header({ cty: 'JWT' }))), 'header_invalid'],
  ['zip DEF', () => bearer(real(header({ zip: 'DEF' }))), 'header_invalid'],
];

const DUPLICATES: readonly Attack[] = [
  [
    'a duplicate alg in the header',
    () => bearer(real(`{"alg":"none","alg":"ES256","typ":"at+jwt","kid":"${signing().kid}"}`)),
    'malformed',
  ],
  [
    'a duplicate kid in the header, spelt with an escape',
    () => bearer(real(`{"alg":"ES256","typ":"at+jwt","kid":"x","\\u006bid":"${signing().kid}"}`)),
    'malformed',
  ],
  [
    'a duplicate sub claim',
    () =>
      bearer(
        real(header(), JSON.stringify(claims()).replace('"sub":"victim"', '"sub":"victim","sub":"admin"')),
      ),
    'malformed',
  ],
  [
    'a duplicate scope claim',
    () =>
      bearer(
        real(
          header(),
          JSON.stringify(claims()).replace('"scope":"profile"', '"scope":"profile","scope":"admin"'),
        ),
      ),
    'malformed',
  ],
  [
    'a __proto__ claim',
    () => bearer(real(header(), JSON.stringify(claims()).replace('{', '{"__proto__":{"scope":"admin"},'))),
    'malformed',
  ],
];

const SIZE: readonly Attack[] = [
  [
    'a token over 4096 characters (a 5000-character claim)',
    () => bearer(real(header(), claims({ pad: 'x'.repeat(5000) }))),
    'malformed',
  ],
  [
    'a header over 512 characters',
    () => bearer(real(header({ typ: `at+jwt${' '.repeat(600)}` }))),
    'malformed',
  ],
  ['a payload nested 1000 levels deep', () => bearer(real(header(), nested(1000))), 'malformed'],
  ['a payload nested 100000 levels deep', () => bearer(real(header(), nested(100_000))), 'malformed'],
  [
    'a header nested 150 levels deep',
    () => bearer(real(`{"alg":"ES256","typ":"at+jwt","kid":${nested(150)}}`)),
    'header_invalid',
  ],
  [
    'a sub nested 500 levels deep',
    () => bearer(real(header(), claims({ sub: JSON.parse(nested(500)) }))),
    'claim_invalid',
  ],
  ['a 1 MB Authorization header', () => bearer('A'.repeat(1 << 20)), 'malformed'],
];

const ENCODING: readonly Attack[] = ([0, 1, 2] as const).flatMap((index): Attack[] => {
  const name = ['header', 'payload', 'signature'][index];
  return [
    [
      `padding "=" at the end of the ${name}`,
      () => {
        const segments = parts(real());
        segments[index] = `${segments[index]}=`;
        return bearer(segments.join('.'));
      },
      // The Bearer syntax (token68) allows "=" only at the very end, so padding inside the token is not a
      // Bearer credential at all; at the end of the signature it is, and the JWS guard refuses it.
      index === 2 ? 'malformed' : 'missing_token',
    ],
    [`a space in the ${name}`, () => bearer(inSegment(index, ' ')), 'missing_token'],
    [`a tab in the ${name}`, () => bearer(inSegment(index, '\t')), 'missing_token'],
    [`"+" in the ${name}`, () => bearer(inSegment(index, '+')), 'malformed'],
    [`"/" in the ${name}`, () => bearer(inSegment(index, '/')), 'malformed'],
    [`"~" in the ${name}`, () => bearer(inSegment(index, '~')), 'malformed'],
  ];
});

const SHAPE: readonly Attack[] = [
  ['padding at the end of the token', () => bearer(`${real()}==`), 'malformed'],
  ['a trailing newline', () => bearer(`${real()}\n`), 'missing_token'],
  ['two spaces after Bearer', () => `Bearer  ${real()}`, 'missing_token'],
  ['the Basic scheme', () => `Basic ${real()}`, 'missing_token'],
  ['no scheme', () => real(), 'missing_token'],
  ['two tokens', () => `Bearer ${real()}, Bearer ${real()}`, 'missing_token'],
  [
    'the JWS JSON serialization',
    () => {
      const [h, p, s] = parts(real());
      return bearer(JSON.stringify({ protected: h, payload: p, signature: s }));
    },
    'missing_token',
  ],
  [
    'the JWS JSON serialization, base64url-encoded',
    () => {
      const [h, p, s] = parts(real());
      return bearer(b64u(JSON.stringify({ protected: h, payload: p, signature: s })));
    },
    'malformed',
  ],
  [
    'five segments (a JWE shape)',
    () => {
      const [h, p, s] = parts(real());
      return bearer(`${h}.${p}.${s}.${p}.${s}`);
    },
    'malformed',
  ],
  ['four segments', () => bearer(`${real()}.${parts(real())[2]}`), 'malformed'],
  [
    'two segments',
    () => {
      const [h, p] = parts(real());
      return bearer(`${h}.${p}`);
    },
    'malformed',
  ],
];

const SIGNATURES: readonly Attack[] = [
  ['ECDSA r = s = 0', () => bearer(withRS(0n, 0n)), 'bad_signature'],
  ['ECDSA r = 0, real s', () => bearer(withRS(0n, realRS().s)), 'bad_signature'],
  ['ECDSA real r, s = 0', () => bearer(withRS(realRS().r, 0n)), 'bad_signature'],
  ['ECDSA r = s = n', () => bearer(withRS(P256_N, P256_N)), 'bad_signature'],
  [
    'ECDSA r + n, s (out of range twin)',
    () => {
      const { r, s } = realRS();
      return bearer(withRS(r + P256_N, s));
    },
    'bad_signature',
  ],
  [
    'ECDSA r, s + n (out of range twin)',
    () => {
      const { r, s } = realRS();
      return bearer(withRS(r, s + P256_N));
    },
    'bad_signature',
  ],
  ['ECDSA r = s = 2^256 - 1', () => bearer(withRS((1n << 256n) - 1n, (1n << 256n) - 1n)), 'bad_signature'],
  [
    'a DER signature in place of the raw one',
    () => {
      const [h, p] = parts(real());
      const der = sign('sha256', Buffer.from(`${h}.${p}`), {
        key: createPrivateKey({ key: signing().privateJwk as JsonWebKey, format: 'jwk' }),
        dsaEncoding: 'der',
      });
      return bearer(`${h}.${p}.${b64u(der)}`);
    },
    'bad_signature',
  ],
  [
    'a signature of another token',
    () => {
      const [h, p] = parts(real(header(), claims({ scope: 'profile admin' })));
      return bearer(`${h}.${p}.${parts(real())[2]}`);
    },
    'bad_signature',
  ],
];

const CLAIMS: readonly Attack[] = [
  ['typ missing', () => bearer(real(header({ typ: undefined }))), 'typ_invalid'],
  ['typ JWT', () => bearer(real(header({ typ: 'JWT' }))), 'typ_invalid'],
  ['typ application/at+jwt', () => bearer(real(header({ typ: 'application/at+jwt' }))), 'typ_invalid'],
  ...['iss', 'sub', 'aud', 'exp', 'iat', 'nbf', 'jti', 'sid', 'client_id', 'scope'].map(
    (claim): Attack => [
      `claim ${claim} missing`,
      () => bearer(real(header(), claims({ [claim]: undefined }))),
      'claim_missing',
    ],
  ),
  [
    'exp ten years in the future',
    () => bearer(real(header(), claims({ exp: Math.floor(Date.now() / 1000) + 315_360_000 }))),
    'lifetime_exceeded',
  ],
  [
    'exp 1e400',
    () => bearer(real(header(), JSON.stringify(claims()).replace(/"exp":\d+/, '"exp":1e400'))),
    'claim_invalid',
  ],
  [
    'iat in the future',
    () => {
      const now = Math.floor(Date.now() / 1000);
      return bearer(real(header(), claims({ iat: now + 3600, exp: now + 3700 })));
    },
    'issued_in_future',
  ],
  [
    'nbf in the future',
    () => {
      const now = Math.floor(Date.now() / 1000);
      return bearer(real(header(), claims({ nbf: now + 3600, exp: now + 290 })));
    },
    'not_yet_valid',
  ],
  [
    'expired',
    () => {
      const now = Math.floor(Date.now() / 1000);
      return bearer(real(header(), claims({ iat: now - 900, nbf: now - 900, exp: now - 600 })));
    },
    'expired',
  ],
  [
    'aud of another API',
    () => bearer(real(header(), claims({ aud: 'https://other-api.example' }))),
    'audience_mismatch',
  ],
  [
    'aud as an array holding the audience',
    () => bearer(real(header(), claims({ aud: [AUDIENCE] }))),
    'claim_invalid',
  ],
  [
    'iss of another issuer',
    () => bearer(real(header(), claims({ iss: 'https://evil.example' }))),
    'issuer_mismatch',
  ],
  [
    'iss with a trailing slash',
    () => bearer(real(header(), claims({ iss: `${ISSUER}/` }))),
    'issuer_mismatch',
  ],
  [
    'sub of another user on the live session',
    () => bearer(real(header(), claims({ sub: 'admin' }))),
    'session_not_found',
  ],
  [
    'a session that does not exist',
    () => bearer(real(header(), claims({ sid: 'AAAAAAAAAAAAAAAAAAAAAA' }))),
    'session_not_found',
  ],
];

const KEYS: readonly Attack[] = [
  [
    'a retired key (no longer in the JWKS)',
    () => bearer(forge(retired, accessTokenHeader(retired), claims())),
    'unknown_kid',
  ],
  [
    'a key published with use "enc"',
    () => bearer(forge(encKey, accessTokenHeader(encKey), claims())),
    'unknown_kid',
  ],
];

const CATALOGUE: ReadonlyArray<readonly [string, readonly Attack[]]> = [
  ['alg none', ALG_NONE],
  ['algorithm confusion', ALGORITHMS],
  ['kid', KIDS],
  ['header members', HEADER_MEMBERS],
  ['duplicate names', DUPLICATES],
  ['size and nesting', SIZE],
  ['encoding', ENCODING],
  ['shape', SHAPE],
  ['signatures', SIGNATURES],
  ['typ and claims', CLAIMS],
  ['keys', KEYS],
];

/** The key the JWKS publishes with another use: refused at import, so its tokens name an unknown kid. */
const ENC_PUBLISHED = () => ({ ...toPublicJwk(encKey), use: 'enc' });

describe('the harness can fail: the same forger makes an accepted token', () => {
  test('a token forged with the real key and the live session is allowed', async () => {
    const { handler } = handlerWith();
    const result = await handler(authorizerEvent(bearer(real())));
    expect(result.policyDocument.Statement[0]).toMatchObject({ Effect: 'Allow' });
  });

  test('a token of the retired key is allowed while it is still published, refused once dropped', async () => {
    const token = forge(retired, accessTokenHeader(retired), claims());
    const published = handlerWith([toPublicJwk(retired)]);
    expect((await published.handler(authorizerEvent(bearer(token)))).principalId).toBe('victim');
    const dropped = handlerWith();
    await expect(dropped.handler(authorizerEvent(bearer(token)))).rejects.toThrow(UNAUTHORIZED);
  });

  test('the use "enc" key verifies when published with use "sig", and is refused at import otherwise', async () => {
    const token = forge(encKey, accessTokenHeader(encKey), claims());
    expect(
      (await handlerWith([toPublicJwk(encKey)]).handler(authorizerEvent(bearer(token)))).principalId,
    ).toBe('victim');
    const { handler, rejected } = handlerWith([ENC_PUBLISHED()]);
    await expect(handler(authorizerEvent(bearer(token)))).rejects.toThrow(UNAUTHORIZED);
    expect(rejected).toEqual(['use enc is not sig']);
  });
});

describe.each(CATALOGUE)('token attacks through the authorizer handler: %s', (_group, attacks) => {
  const cases = attacks.map(([name, build, reason]) => [name, reason, build] as const);
  test.each(cases)('%s is Unauthorized with reason %s', async (_name, reason, build) => {
    // The enc key is published (with use "enc") in every run, so that its refusal is the import rule's.
    const { handler, lines } = handlerWith([ENC_PUBLISHED()]);
    const authorization = build();
    await expect(handler(authorizerEvent(authorization))).rejects.toThrow(new RegExp(`^${UNAUTHORIZED}$`));
    expect(lines).toHaveLength(1);
    const decision = JSON.parse(lines[0] ?? '{}') as Record<string, unknown>;
    expect(decision).toMatchObject({ message: 'authorizer decision', decision: 'unauthorized', reason });
    // The decision log never carries the presented token (nor its signature).
    const signature = authorization.split('.')[2] ?? '';
    if (signature.length > 16) expect(lines[0]).not.toContain(signature.slice(0, 40));
  });
});

describe('token attacks over HTTP against /api/me (the spawned platform)', () => {
  let platform: PlatformProcess;
  let dataDir: string;
  let platformKey: SigningKey;
  let platformClaims: Record<string, unknown>;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'hybrid-auth-security-'));
    platform = await startPlatformProcess({ dataDir, readyTimeoutMs: 60_000 });
    platformKey = currentSigningKey(await readKeySet(platform.keysPath));
    const login = await fetch(`${platform.url}/auth/login`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ username: 'demo', password: 'demo-password' }),
    });
    const body = (await login.json()) as { access_token: string };
    platformClaims = JSON.parse(Buffer.from(parts(body.access_token)[1], 'base64url').toString('utf8'));
  }, 90_000);

  afterAll(async () => {
    await platform?.stop();
    if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true });
  }, 30_000);

  const key = () => platformKey;
  const h = (overrides: Record<string, unknown> = {}) => ({ ...accessTokenHeader(key()), ...overrides });
  const c = (overrides: Record<string, unknown> = {}) => ({ ...platformClaims, ...overrides });
  const httpAttacks: ReadonlyArray<readonly [string, () => string, string]> = [
    ['a control: the forged token is accepted', () => forge(key(), h(), c()), 'allow'],
    ['alg none', () => `${segment(h({ alg: 'none' }))}.${segment(c())}.`, 'malformed'],
    ['alg NONE with a real signature', () => forge(key(), h({ alg: 'NONE' }), c()), 'alg_mismatch'],
    ['kid traversal', () => forge(key(), h({ kid: '../../keys.json' }), c()), 'unknown_kid'],
    ['embedded jwk', () => forge(key(), h({ jwk: toPublicJwk(key()) }), c()), 'header_invalid'],
    ['jku', () => forge(key(), h({ jku: 'http://127.0.0.1:1/jwks' }), c()), 'header_invalid'],
    ['crit', () => forge(key(), h({ crit: ['exp'] }), c()), 'header_invalid'],
    ['typ JWT', () => forge(key(), h({ typ: 'JWT' }), c()), 'typ_invalid'],
    ['sid missing', () => forge(key(), h(), c({ sid: undefined })), 'claim_missing'],
    ['audience mismatch', () => forge(key(), h(), c({ aud: ISSUER })), 'audience_mismatch'],
    [
      'DER signature',
      () => {
        const [hh, pp] = parts(forge(key(), h(), c()));
        const der = sign('sha256', Buffer.from(`${hh}.${pp}`), {
          key: createPrivateKey({ key: key().privateJwk as JsonWebKey, format: 'jwk' }),
          dsaEncoding: 'der',
        });
        return `${hh}.${pp}.${b64u(der)}`;
      },
      'bad_signature',
    ],
  ];

  test('each attack answers 401 with WWW-Authenticate and a decision-log reason; the control answers 200', async () => {
    const expected: string[] = [];
    for (const [name, build, reason] of httpAttacks) {
      const token = build();
      const response = await fetch(`${platform.url}/api/me`, {
        headers: { Authorization: `Bearer ${token}` },
      });
      const body = (await response.json()) as Record<string, unknown>;
      if (reason === 'allow') {
        expect([name, response.status]).toEqual([name, 200]);
      } else {
        expect([name, response.status]).toEqual([name, 401]);
        expect(response.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
        expect(body).toEqual({
          error: 'invalid_token',
          error_description: 'the access token is missing or invalid',
        });
      }
      expected.push(reason);
    }
    const reasons = async () =>
      platform
        .output()
        .split('\n')
        .filter((line) => line.includes('"authorizer decision"'))
        .map((line) => {
          const parsed = JSON.parse(line) as { decision: string; reason: string };
          return parsed.decision === 'allow' ? 'allow' : parsed.reason;
        });
    const deadline = Date.now() + 5000;
    while ((await reasons()).length < expected.length && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(await reasons()).toEqual(expected);
  });
});
