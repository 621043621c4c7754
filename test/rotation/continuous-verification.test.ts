import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DynamoDbJwksStore } from '../../lambda/adapters/dynamodb-jwks-store';
import { createLogger } from '../../lambda/adapters/logger';
import { secretsManagerKeySetLoader } from '../../lambda/adapters/secrets-manager-key-source';
import {
  AccessTokenMinter,
  type AccessTokenProfile,
  AccessTokenVerifier,
} from '../../lambda/core/access-token';
import { TokenError } from '../../lambda/core/errors';
import { JwksCache } from '../../lambda/core/jwks-cache';
import { importJwks } from '../../lambda/core/jws';
import type { RotationPolicy } from '../../lambda/core/key-rotation';
import { serializeKeySet } from '../../lambda/core/key-set-format';
import { cachedKeySource } from '../../lambda/core/key-source';
import { currentSigningKey, generateKeySet, type SigningKey, toPublicJwks } from '../../lambda/core/keys';
import { createRotationHandler } from '../../lambda/rotation/handler';
import { SecretsManagerStandIn } from '../../local/secrets-manager-stand-in';
import { freshTable } from '../support/dynamodb';
import { AUDIENCE, FrozenClock, ISSUER } from '../support/fixtures';

// Tokens are minted and verified continuously, over simulated time, while the real rotation function rotates
// the keys: the issuer signs with the AWSCURRENT set it caches (cachedKeySource), verifiers check against the
// JWKS item in DynamoDB Local. No token may fail verification while it is within its lifetime.

const POLICY: RotationPolicy = {
  accessTokenTtlSeconds: 300,
  clockSkewSeconds: 30,
  issuerKeyCacheSeconds: 60,
  sessionLifetimeSeconds: 86_400,
};
const SKEW_S = 30;
/** How long a retired key stays published: access-token TTL + skew + the issuer's key cache (docs/design.md "Keys and rotation"). */
const RETENTION_S = 300 + 30 + 60;
const PROFILE: AccessTokenProfile = { issuer: ISSUER, audience: AUDIENCE, ttlSeconds: 300 };
const SUBJECT = { sub: 'user-1', sid: 'session-1', clientId: 'native', scope: 'profile' };
/** The issuer's key cache and the verifier's JWKS cache, as in the deployed configuration of POLICY. */
const ISSUER_KEY_CACHE_MS = 60_000;
const JWKS_TTL_MS = 60_000;
const RETRIED = '44444444-4444-4444-8444-444444444444';

let table: { client: DynamoDBClient; tableName: string };
const cleanups: Array<() => void> = [];

beforeAll(async () => {
  table = await freshTable();
});
afterAll(() => table?.client.destroy());
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

/** A secret with a fresh key set, its JWKS in the table, the rotation function, the issuer and verifiers. */
async function platform() {
  const clock = new FrozenClock();
  const initial = await generateKeySet({ now: clock.now() });
  const standIn = new SecretsManagerStandIn({ clock: clock.now });
  const arn = standIn.createSecret('hybrid-auth/signing-keys', serializeKeySet(initial), {
    rotationEnabled: true,
  });
  const client = new SecretsManagerClient({
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
  const mock = standIn.attach(client);
  cleanups.push(() => {
    mock.restore();
    client.destroy();
  });
  const store = new DynamoDbJwksStore(table.client, table.tableName);
  await store.publish(toPublicJwks(initial), clock.now());
  const rotation = createRotationHandler({
    secrets: client,
    jwks: store,
    policy: POLICY,
    logger: createLogger('rotation', () => {}),
    metric: () => {},
    clock: clock.now,
  });
  const loadKeySet = secretsManagerKeySetLoader(client, arn);

  // The issuer: signs with the `current` key of the AWSCURRENT set it read at most ISSUER_KEY_CACHE_MS ago.
  const issuerKeys = cachedKeySource({ load: loadKeySet, ttlMs: ISSUER_KEY_CACHE_MS, clock: clock.now });
  const minter = new AccessTokenMinter(PROFILE, clock.now);
  const issue = async () => minter.mint(currentSigningKey(await issuerKeys()), SUBJECT);

  // A long-running verifier, as the authorizer runs it: JWKS cached for its TTL, re-loaded for an unknown kid
  // (at most once per 5 s).
  const warmJwks = new JwksCache({ load: () => store.load(), clock: clock.now, ttlMs: JWKS_TTL_MS });
  const warmVerifier = new AccessTokenVerifier({
    ...PROFILE,
    clockSkewSeconds: SKEW_S,
    clock: clock.now,
    keys: warmJwks.get,
  });
  const verifyWarm = async (token: string) => {
    await warmJwks.ensureFresh();
    try {
      return warmVerifier.verify(token);
    } catch (error) {
      if (
        error instanceof TokenError &&
        error.code === 'unknown_kid' &&
        (await warmJwks.refreshForUnknownKid())
      ) {
        return warmVerifier.verify(token);
      }
      throw error;
    }
  };
  /** A verifier that has just started (a new authorizer instance): it loads the JWKS as it is now. */
  const coldVerifier = async (profile: AccessTokenProfile = PROFILE) => {
    const published = importJwks(await store.load());
    return new AccessTokenVerifier({
      ...profile,
      clockSkewSeconds: SKEW_S,
      clock: clock.now,
      keys: (kid) => published.keys.get(kid),
    });
  };
  return { clock, initial, standIn, arn, store, rotation, loadKeySet, issue, verifyWarm, coldVerifier };
}

/** The TokenError code, or 'verified'. */
async function outcome(verify: () => unknown): Promise<string> {
  try {
    await verify();
    return 'verified';
  } catch (error) {
    if (error instanceof TokenError) return error.code;
    throw error;
  }
}

interface LiveToken {
  readonly token: string;
  readonly kid: string;
  readonly iat: number;
  readonly exp: number;
}

test('tokens minted every 5 s across 5 rotations all verify until they expire (warm and cold verifiers)', async () => {
  const p = await platform();
  const start = p.clock.now();
  const TICK_S = 5;
  // Seconds after the start. 125 → 470 and 470 → 500 and 1205 → 1250 are inside the retention window
  // (390 s) of each other; 500 → 1205 is not, so keys are also dropped along the way. Each rotation falls
  // 5 s after the issuer re-read its key set (it re-reads at 0, 60, 120, ...), so it keeps signing with
  // the retired key for up to 55 s more: the case the issuer-cache term of the retention is there for.
  const rotateAt = [125, 470, 500, 1205, 1250];
  const endS = 1250 + RETENTION_S + 60;
  const live: LiveToken[] = [];
  const failures: string[] = [];
  const mintedKids = new Set<string>();
  const publishedSizes = new Set<number>();
  let minted = 0;
  let verifications = 0;
  let rotations = 0;

  /** Verifies every token still within exp + skew with both verifiers; drops the others. */
  const verifyAllLive = async (where: string) => {
    const nowS = (p.clock.now() - start) / 1000;
    for (let i = live.length - 1; i >= 0; i--) {
      if ((live[i]?.exp ?? 0) + SKEW_S <= p.clock.now() / 1000) live.splice(i, 1);
    }
    const cold = await p.coldVerifier();
    for (const token of live) {
      for (const [verifier, verify] of [
        ['warm', () => p.verifyWarm(token.token)],
        ['cold', () => cold.verify(token.token)],
      ] as const) {
        const result = await outcome(verify);
        verifications += 1;
        if (result !== 'verified') {
          failures.push(
            `t=${nowS}s ${where}: ${verifier} verifier refused a token of t=${token.iat - start / 1000}s ` +
              `(kid ${token.kid}): ${result}`,
          );
        }
      }
    }
  };
  const mintOne = async () => {
    const { token, kid, claims } = await p.issue();
    live.push({ token, kid, iat: claims.iat, exp: claims.exp });
    mintedKids.add(kid);
    minted += 1;
  };

  for (let t = 0; t <= endS; t += TICK_S) {
    p.clock.nowMs = start + t * 1000;
    if (rotateAt.includes(t)) {
      // Between the steps, too, tokens are minted (by an issuer reading AWSCURRENT afresh) and verified.
      await p.standIn.rotate(p.arn, async (event) => {
        await p.rotation(event);
        const fresh = await p.loadKeySet();
        const { token, kid, claims } = await new AccessTokenMinter(PROFILE, p.clock.now).mint(
          currentSigningKey(fresh),
          SUBJECT,
        );
        live.push({ token, kid, iat: claims.iat, exp: claims.exp });
        minted += 1;
        await verifyAllLive(`after ${event.Step}`);
      });
      rotations += 1;
      publishedSizes.add(((await p.store.load()) as { keys: unknown[] }).keys.length);
    }
    await mintOne();
    await verifyAllLive('tick');
  }

  process.stdout.write(
    `\ncontinuous verification: ${rotations} rotations, ${minted} tokens, ${mintedKids.size} signing kids, ` +
      `${verifications} verifications over ${endS} simulated s, ${failures.length} failures\n`,
  );
  expect(failures).toEqual([]);
  expect(rotations).toBe(5);
  expect(mintedKids.size).toBeGreaterThanOrEqual(3);
  expect(minted).toBeGreaterThan(endS / TICK_S);
  expect(verifications).toBeGreaterThan(minted * 2 * 30);
  // The JWKS both grew (rotations inside the retention window) and shrank (keys past it were dropped).
  expect(Math.max(...publishedSizes)).toBeGreaterThanOrEqual(4);
  expect(Math.min(...publishedSizes)).toBe(3);
}, 60_000);

test('two rotations inside the overlap window: a token signed before both still verifies', async () => {
  const p = await platform();
  const original = currentSigningKey(p.initial);
  const { token } = await p.issue();
  expect((await p.issue()).kid).toBe(original.kid);

  p.clock.advance(10);
  await p.standIn.rotate(p.arn, p.rotation);
  p.clock.advance(30);
  await p.standIn.rotate(p.arn, p.rotation);

  // Two rotations later the original key is two generations back, still published as `previous`.
  const set = await p.loadKeySet();
  expect(set.signingKeys.filter((key) => key.state === 'previous').map((key) => key.kid)).toContain(
    original.kid,
  );
  p.clock.advance(300 - 40 + SKEW_S - 1); // the last second the verifier accepts the token
  expect(await outcome(async () => (await p.coldVerifier()).verify(token))).toBe('verified');
  expect(await outcome(() => p.verifyWarm(token))).toBe('verified');
});

test('once the retention has passed, the next rotation removes the key: its tokens are refused (unknown_kid)', async () => {
  const p = await platform();
  const start = p.clock.now();
  // A token that lives far longer than the policy's 300 s (a profile the rotation policy does not cover),
  // checked by a verifier that accepts such lifetimes: at the end its exp is still an hour ahead, so the
  // only possible reason for a refusal is that its key is no longer published.
  const LONG: AccessTokenProfile = { ...PROFILE, ttlSeconds: 7200 };
  const longMinter = new AccessTokenMinter(LONG, p.clock.now);
  const original: SigningKey = currentSigningKey(p.initial);
  const signedByOriginal = (await longMinter.mint(original, SUBJECT)).token;

  p.clock.advance(10);
  await p.standIn.rotate(p.arn, p.rotation); // original → previous (retired at start + 10 s)
  const second = currentSigningKey(await p.loadKeySet());
  const signedBySecond = (await longMinter.mint(second, SUBJECT)).token;
  p.clock.advance(30);
  await p.standIn.rotate(p.arn, p.rotation); // second → previous (retired at start + 40 s)

  // Exactly at the end of the retention a rotation still keeps the original key...
  p.clock.nowMs = start + 10_000 + RETENTION_S * 1000;
  await p.standIn.rotate(p.arn, p.rotation);
  expect(await outcome(async () => (await p.coldVerifier(LONG)).verify(signedByOriginal))).toBe('verified');

  // ...one second later it is dropped; the key retired 30 s after it is kept.
  p.clock.advance(1);
  await p.standIn.rotate(p.arn, p.rotation);
  const published = ((await p.store.load()) as { keys: Array<{ kid: string }> }).keys.map((key) => key.kid);
  expect(published).not.toContain(original.kid);
  expect(published).toContain(second.kid);
  const verifier = await p.coldVerifier(LONG);
  expect(await outcome(() => verifier.verify(signedByOriginal))).toBe('unknown_kid');
  expect(await outcome(() => verifier.verify(signedBySecond))).toBe('verified');
  // The long token is otherwise valid: its exp is still far ahead of the verifier's clock.
  expect(
    JSON.parse(Buffer.from(signedByOriginal.split('.')[1] ?? '', 'base64url').toString()).exp,
  ).toBeGreaterThan(p.clock.now() / 1000 + 3600);
  // A token of the policy's own lifetime signed with that key would have expired long before.
  expect(RETENTION_S).toBeGreaterThan(PROFILE.ttlSeconds + SKEW_S);
});

// Regression: rotateKeySet stamps `retiredAt` when createSecret derives the pending set, not when finishSecret
// moves AWSCURRENT. When a rotation fails after createSecret and is retried later with the same token, the
// pending set keeps its old stamps while the issuers kept signing with the old key until the retry finished
// (+ their key cache). Retention is therefore measured from no earlier than the secret's LastRotatedDate.
test('a rotation retried an hour after its createSecret, then another one 100 s later: the live tokens of the key retired by the retry still verify', async () => {
  const p = await platform();
  const original = currentSigningKey(p.initial);
  const outage = new Error('injected: DynamoDB throttled the JWKS read');

  await expect(
    p.standIn.rotate(
      p.arn,
      async (event) => {
        if (event.Step === 'testSecret') p.standIn.failNext('GetSecretValueCommand', outage);
        return p.rotation(event);
      },
      { token: RETRIED },
    ),
  ).rejects.toBe(outage);
  p.clock.advance(3600);
  expect((await p.issue()).kid).toBe(original.kid); // the issuer still signs with the original key
  await p.standIn.rotate(p.arn, p.rotation, { token: RETRIED }); // the retry succeeds
  p.clock.advance(50);
  const { token, kid } = await p.issue(); // within its key cache TTL, the issuer still signs with it
  expect(kid).toBe(original.kid);
  p.clock.advance(50);
  await p.standIn.rotate(p.arn, p.rotation); // 100 s after the retried rotation finished

  expect(await outcome(async () => (await p.coldVerifier()).verify(token))).toBe('verified');
});
