import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DescribeSecretCommand,
  GetSecretValueCommand,
  InternalServiceError,
  ResourceNotFoundException,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import type { SecretsManagerRotationEvent } from 'aws-lambda';
import { DynamoDbJwksStore } from '../../lambda/adapters/dynamodb-jwks-store';
import { createLogger } from '../../lambda/adapters/logger';
import { AccessTokenMinter, AccessTokenVerifier } from '../../lambda/core/access-token';
import { TokenError } from '../../lambda/core/errors';
import { JwksCache } from '../../lambda/core/jwks-cache';
import { importJwks } from '../../lambda/core/jws';
import type { RotationPolicy } from '../../lambda/core/key-rotation';
import {
  type KeySetDocument,
  parseKeySet,
  serializeKeySet,
  UNINITIALIZED_SECRET,
} from '../../lambda/core/key-set-format';
import {
  currentSigningKey,
  generateKeySet,
  type KeySet,
  type PublicJwks,
  type SigningKey,
  toPublicJwks,
} from '../../lambda/core/keys';
import { createRotationHandler, type JwksPublisher } from '../../lambda/rotation/handler';
import { SecretsManagerStandIn } from '../../local/secrets-manager-stand-in';
import { freshTable } from '../support/dynamodb';
import { AUDIENCE, FrozenClock, ISSUER } from '../support/fixtures';

// The real rotation function (lambda/rotation/handler.ts) against the stateful Secrets Manager stand-in and
// a real JWKS item in DynamoDB Local, with a frozen clock.

const NAME = 'hybrid-auth/signing-keys';
const V1 = '11111111-1111-4111-8111-111111111111';
const V2 = '22222222-2222-4222-8222-222222222222';
const V3 = '33333333-3333-4333-8333-333333333333';
const UNKNOWN = '99999999-9999-4999-8999-999999999999';
const POLICY: RotationPolicy = {
  accessTokenTtlSeconds: 300,
  clockSkewSeconds: 30,
  issuerKeyCacheSeconds: 60,
  sessionLifetimeSeconds: 7 * 86_400,
};
const PROFILE = { issuer: ISSUER, audience: AUDIENCE, ttlSeconds: 300 };
const SUBJECT = { sub: 'user-1', sid: 'session-1', clientId: 'native', scope: 'profile' };
/** The public members of an EC P-256 JWK plus the members every published key carries. */
const PUBLIC_EC_MEMBERS = ['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y'];

let table: { client: DynamoDBClient; tableName: string };
const cleanups: Array<() => void> = [];

beforeAll(async () => {
  table = await freshTable();
});
afterAll(() => table?.client.destroy());
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

interface SetupOptions {
  readonly rotationEnabled?: boolean;
  /** The initial value of the secret. @default a fresh key set */
  readonly secretString?: string;
  /** Wraps the publisher the handler gets (the DynamoDB JWKS store, instrumented). */
  readonly jwks?: (publisher: JwksPublisher) => JwksPublisher;
}

/**
 * A secret holding a fresh key set (version V1, AWSCURRENT), the stand-in attached to one client, the
 * table's JWKS item holding that set's public keys (as the platform publishes it), and the handler.
 */
async function setup(options: SetupOptions = {}) {
  const clock = new FrozenClock();
  const initial = await generateKeySet({ now: clock.now() });
  const standIn = new SecretsManagerStandIn({ clock: clock.now });
  const arn = standIn.createSecret(NAME, options.secretString ?? serializeKeySet(initial), {
    versionId: V1,
    rotationEnabled: options.rotationEnabled ?? true,
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

  const currentVersion = () =>
    standIn.versions(arn).find((version) => version.stages.includes('AWSCURRENT'))?.versionId;
  /** For each publish: which version was AWSCURRENT at that moment, and the kids published. */
  const publications: Array<{ awsCurrent: string | undefined; kids: string[]; at: number }> = [];
  const recording: JwksPublisher = {
    publish: async (jwks, at) => {
      publications.push({ awsCurrent: currentVersion(), kids: jwks.keys.map((key) => key.kid), at });
      await store.publish(jwks, at);
    },
    load: () => store.load(),
  };
  const lines: string[] = [];
  const metrics: Array<[string, number]> = [];
  const handler = createRotationHandler({
    secrets: client,
    jwks: options.jwks?.(recording) ?? recording,
    policy: POLICY,
    logger: createLogger('rotation', (line) => lines.push(line)),
    metric: (name, value) => metrics.push([name, value]),
    clock: clock.now,
  });

  const stages = async () =>
    (await client.send(new DescribeSecretCommand({ SecretId: arn }))).VersionIdsToStages;
  const current = () => parseKeySet(standIn.current(arn), 'AWSCURRENT');
  const published = async () => (await store.load()) as PublicJwks;
  const publishedKids = async () => kidsOf(await published());
  /** What a test compares before and after a call that must change nothing. */
  const snapshot = async () => ({
    versions: standIn.versions(arn),
    jwks: (await store.load()) as unknown,
  });
  return {
    clock,
    initial,
    standIn,
    arn,
    client,
    store,
    handler,
    lines,
    metrics,
    publications,
    stages,
    current,
    published,
    publishedKids,
    snapshot,
    currentVersion,
  };
}

function kidsOf(jwks: { readonly keys: ReadonlyArray<{ readonly kid: string }> }): string[] {
  return jwks.keys.map((key) => key.kid).sort();
}

function kidOf(set: KeySet, state: 'next' | 'current'): string {
  const key = set.signingKeys.find((candidate) => candidate.state === state);
  if (key === undefined) throw new Error(`no ${state} key in the set`);
  return key.kid;
}

function kidsByState(set: KeySet): Record<string, string[]> {
  const states: Record<string, string[]> = { next: [], current: [], previous: [] };
  for (const key of set.signingKeys) states[key.state]?.push(key.kid);
  return states;
}

function event(step: SecretsManagerRotationEvent['Step'], arn: string, token: string) {
  return { Step: step, SecretId: arn, ClientRequestToken: token } satisfies SecretsManagerRotationEvent;
}

async function mint(key: SigningKey, clock: FrozenClock): Promise<string> {
  return (await new AccessTokenMinter(PROFILE, clock.now).mint(key, SUBJECT)).token;
}

/** A verifier over the JWKS item as it is now (a verifier that just loaded it). */
async function verifierOver(store: DynamoDbJwksStore, clock: FrozenClock): Promise<AccessTokenVerifier> {
  const jwks = new JwksCache({ load: () => store.load(), clock: clock.now });
  await jwks.ensureFresh();
  return new AccessTokenVerifier({ ...PROFILE, clock: clock.now, keys: jwks.get });
}

/** The TokenError code `verify` throws, or 'verified'. */
function outcome(verifier: AccessTokenVerifier, token: string): string {
  try {
    verifier.verify(token);
    return 'verified';
  } catch (error) {
    if (error instanceof TokenError) return error.code;
    throw error;
  }
}

describe('a scheduled rotation through the four steps', () => {
  test('moves AWSCURRENT to the new version; the old version becomes AWSPREVIOUS', async () => {
    const { standIn, arn, handler, stages } = await setup();

    await standIn.rotate(arn, handler, { token: V2 });

    const after = await stages();
    expect(Object.keys(after ?? {}).sort()).toEqual([V1, V2]);
    expect(after?.[V1]).toEqual(['AWSPREVIOUS']);
    expect(after?.[V2]).toContain('AWSCURRENT');
    expect(standIn.versions(arn).filter((version) => version.stages.includes('AWSCURRENT'))).toHaveLength(1);
  });

  test('the new AWSCURRENT (keys.json format): next → current, current → previous, a new next', async () => {
    const { clock, initial, standIn, arn, handler } = await setup();
    const oldCurrent = kidOf(initial, 'current');
    const oldNext = kidOf(initial, 'next');
    clock.advance(86_400);

    await standIn.rotate(arn, handler, { token: V2 });

    const document = JSON.parse(standIn.current(arn)) as KeySetDocument;
    const byKid = new Map(document.keys.map((key) => [key.kid, key]));
    expect(document.keys).toHaveLength(3);
    expect(byKid.get(oldNext)).toMatchObject({ state: 'current', activated_at: clock.now(), use: 'sig' });
    expect(byKid.get(oldCurrent)).toMatchObject({ state: 'previous', retired_at: clock.now(), use: 'sig' });
    const fresh = document.keys.filter((key) => key.kid !== oldNext && key.kid !== oldCurrent);
    expect(fresh).toEqual([
      expect.objectContaining({ state: 'next', created_at: clock.now(), alg: 'ES256', use: 'sig' }),
    ]);
    for (const key of document.keys) expect(key.d).toEqual(expect.any(String));
    expect(document.mac_keys).toHaveLength(2);
    // The stored document is exactly what the format module writes and reads back.
    expect(serializeKeySet(parseKeySet(standIn.current(arn), 'AWSCURRENT'))).toBe(standIn.current(arn));
  });

  test('the JWKS item holds next, current and previous, with public members only', async () => {
    const { clock, standIn, arn, handler, current, published } = await setup();
    clock.advance(3600);

    await standIn.rotate(arn, handler, { token: V2 });

    const set = current();
    const jwks = await published();
    expect(kidsOf(jwks)).toEqual(set.signingKeys.map((key) => key.kid).sort());
    expect(Object.values(kidsByState(set)).map((kids) => kids.length)).toEqual([1, 1, 1]);
    for (const key of jwks.keys) {
      expect(Object.keys(key).sort()).toEqual(PUBLIC_EC_MEMBERS);
      expect(key).not.toHaveProperty('d');
    }
    const privateValues = set.signingKeys.map((key) => key.privateJwk.d);
    const raw = JSON.stringify(jwks);
    for (const value of privateValues) expect(raw).not.toContain(String(value));
    for (const mac of set.macKeys) expect(raw).not.toContain(mac.secret);
  });

  test('the JWKS is written while the old version is still AWSCURRENT, with the keys of the new one', async () => {
    const { standIn, arn, handler, publications, current } = await setup();

    await standIn.rotate(arn, handler, { token: V2 });

    const after = current();
    expect(publications).toEqual([{ awsCurrent: V1, kids: expect.any(Array), at: expect.any(Number) }]);
    expect([...(publications[0]?.kids ?? [])].sort()).toEqual(after.signingKeys.map((key) => key.kid).sort());
  });

  test('when finishSecret fails, AWSCURRENT has not moved but the JWKS already holds the new keys', async () => {
    const { initial, standIn, arn, handler, stages, current, publishedKids } = await setup();
    const outage = new InternalServiceError({ message: 'injected outage', $metadata: {} });
    standIn.failNext('UpdateSecretVersionStageCommand', outage);

    await expect(standIn.rotate(arn, handler, { token: V2 })).rejects.toBe(outage);

    expect(await stages()).toEqual({ [V1]: ['AWSCURRENT'], [V2]: ['AWSPENDING'] });
    expect(current()).toEqual(initial);
    const pending = parseKeySet(standIn.versions(arn)[1]?.secretString ?? '', 'AWSPENDING');
    expect(await publishedKids()).toEqual(pending.signingKeys.map((key) => key.kid).sort());
    expect(await publishedKids()).toContain(kidOf(pending, 'next'));

    // Secrets Manager retries the same rotation: it finishes with the pending set created the first time.
    await standIn.rotate(arn, handler, { token: V2 });
    expect(current()).toEqual(pending);
  });

  test('publishes SigningKeyAgeSeconds on finishSecret, 0 right after the rotation', async () => {
    const { clock, standIn, arn, handler, metrics } = await setup();
    clock.advance(30 * 86_400);
    const calls: Array<{ step: string; metrics: number }> = [];

    await standIn.rotate(
      arn,
      async (rotationEvent) => {
        await handler(rotationEvent);
        calls.push({ step: rotationEvent.Step, metrics: metrics.length });
      },
      { token: V2 },
    );

    expect(calls).toEqual([
      { step: 'createSecret', metrics: 0 },
      { step: 'setSecret', metrics: 0 },
      { step: 'testSecret', metrics: 0 },
      { step: 'finishSecret', metrics: 1 },
    ]);
    expect(metrics).toEqual([['SigningKeyAgeSeconds', 0]]);
  });
});

describe('the first rotation after deployment', () => {
  test('replaces the placeholder with a fresh key set and publishes its JWKS before it is AWSCURRENT', async () => {
    const { clock, standIn, arn, handler, current, publishedKids, publications, metrics } = await setup({
      secretString: UNINITIALIZED_SECRET,
    });

    await standIn.rotate(arn, handler, { token: V2 });

    const set = current();
    expect(kidsByState(set)).toEqual({
      next: [expect.any(String)],
      current: [expect.any(String)],
      previous: [],
    });
    expect(currentSigningKey(set).activatedAt).toBe(clock.now());
    expect(await publishedKids()).toEqual(set.signingKeys.map((key) => key.kid).sort());
    expect(publications.map((publication) => publication.awsCurrent)).toEqual([V1]);
    expect(metrics).toEqual([['SigningKeyAgeSeconds', 0]]);
  });

  test('an emergency revoke on the placeholder fails and changes nothing', async () => {
    const { arn, handler, snapshot } = await setup({ secretString: UNINITIALIZED_SECRET });
    const before = await snapshot();

    await expect(
      handler({ action: 'revoke', SecretId: arn, kid: 'any', ClientRequestToken: V2 }),
    ).rejects.toThrow(/holds no key set yet/);

    expect(await snapshot()).toEqual(before);
  });
});

describe('retries and stray events', () => {
  test('each step called twice with one token: one pending version, same content, same JWKS, no error', async () => {
    const { standIn, arn, handler, store, stages, current, snapshot } = await setup();
    const afterFirstCall: Record<string, Awaited<ReturnType<typeof snapshot>>> = {};
    const afterSecondCall: Record<string, Awaited<ReturnType<typeof snapshot>>> = {};

    await standIn.rotate(
      arn,
      async (rotationEvent) => {
        await handler(rotationEvent);
        afterFirstCall[rotationEvent.Step] = await snapshot();
        await handler(rotationEvent);
        afterSecondCall[rotationEvent.Step] = await snapshot();
      },
      { token: V2 },
    );

    for (const step of ['createSecret', 'setSecret', 'testSecret'] as const) {
      expect({ step, ...afterSecondCall[step] }).toEqual({ step, ...afterFirstCall[step] });
    }
    // createSecret twice: one pending version (V2), with one content.
    expect(afterFirstCall.createSecret?.versions.map((version) => version.versionId)).toEqual([V1, V2]);
    expect(afterFirstCall.createSecret?.versions[1]?.secretString).toEqual(expect.any(String));
    // finishSecret twice: no error, AWSCURRENT stays on V2, V1 stays AWSPREVIOUS, the content is unchanged.
    expect(afterSecondCall.finishSecret?.versions).toEqual(afterFirstCall.finishSecret?.versions);
    expect(await stages()).toMatchObject({
      [V1]: ['AWSPREVIOUS'],
      [V2]: expect.arrayContaining(['AWSCURRENT']),
    });
    expect(serializeKeySet(current())).toBe(afterFirstCall.createSecret?.versions[1]?.secretString);
    expect(await store.load()).toEqual(afterFirstCall.setSecret?.jwks);
  });

  test('every step with the token of the AWSCURRENT version returns without a change', async () => {
    const { standIn, arn, handler, metrics, lines, publications, snapshot } = await setup();
    await standIn.rotate(arn, handler, { token: V2 });
    const before = await snapshot();
    const metricsBefore = metrics.length;
    const publicationsBefore = publications.length;
    lines.length = 0;

    for (const step of ['createSecret', 'setSecret', 'testSecret', 'finishSecret'] as const) {
      await handler(event(step, arn, V2));
    }
    // Secrets Manager retrying the whole finished rotation does the same.
    await standIn.rotate(arn, handler, { token: V2 });

    expect(await snapshot()).toEqual(before);
    expect(publications).toHaveLength(publicationsBefore);
    expect(metrics).toHaveLength(metricsBefore);
    expect(lines).toHaveLength(8);
    for (const line of lines) expect(JSON.parse(line)).toMatchObject({ outcome: 'version already current' });
  });

  test('a token that is neither AWSPENDING nor AWSCURRENT is refused, and nothing changes', async () => {
    const { standIn, arn, handler, stages, snapshot } = await setup();
    await standIn.rotate(arn, handler, { token: V2 });
    expect((await stages())?.[V1]).toEqual(['AWSPREVIOUS']);
    const before = await snapshot();

    for (const step of ['createSecret', 'setSecret', 'testSecret', 'finishSecret'] as const) {
      await expect(handler(event(step, arn, UNKNOWN))).rejects.toThrow(/has no stage for rotation/);
      await expect(handler(event(step, arn, V1))).rejects.toThrow(/is not AWSPENDING/);
    }

    expect(await snapshot()).toEqual(before);
  });

  test('refuses every step when rotation is not enabled on the secret', async () => {
    const { arn, handler, snapshot } = await setup({ rotationEnabled: false });
    const before = await snapshot();

    for (const step of ['createSecret', 'setSecret', 'testSecret', 'finishSecret'] as const) {
      await expect(handler(event(step, arn, V1))).rejects.toThrow(/rotation is not enabled/);
    }

    expect(await snapshot()).toEqual(before);
  });
});

describe('failures leave the issuer signing with a published key', () => {
  test('a JWKS that lacks a pending key fails testSecret: AWSCURRENT untouched, the old key still verifies', async () => {
    let hidden: string | undefined;
    const { clock, initial, standIn, arn, handler, store, stages, current, metrics } = await setup({
      // A table that does not hold what was written (a replica lagging, a wrong table): load() lacks the
      // pending set's new next key.
      jwks: (publisher) => ({
        publish: publisher.publish,
        load: async () => {
          const jwks = (await publisher.load()) as PublicJwks;
          return { keys: jwks.keys.filter((key) => key.kid !== hidden) };
        },
      }),
    });
    const oldCurrent = currentSigningKey(initial);
    const issuedBefore = await mint(oldCurrent, clock);
    clock.advance(60);

    await expect(
      standIn.rotate(
        arn,
        async (rotationEvent) => {
          if (rotationEvent.Step === 'testSecret') {
            const pending = standIn.versions(arn).find((version) => version.versionId === V2);
            hidden = kidOf(parseKeySet(pending?.secretString ?? '', 'AWSPENDING'), 'next');
          }
          return handler(rotationEvent);
        },
        { token: V2 },
      ),
    ).rejects.toThrow(/is not published/);

    expect(await stages()).toEqual({ [V1]: ['AWSCURRENT'], [V2]: ['AWSPENDING'] });
    expect(current()).toEqual(initial);
    expect(metrics).toEqual([]);
    // The issuer keeps signing with the old current key: the JWKS written by setSecret still lists it.
    const verifier = await verifierOver(store, clock);
    expect(outcome(verifier, issuedBefore)).toBe('verified');
    expect(outcome(verifier, await mint(currentSigningKey(current()), clock))).toBe('verified');
  });

  test('a failed read in testSecret leaves AWSCURRENT untouched; a retry with the same token succeeds', async () => {
    const { clock, initial, standIn, arn, handler, store, stages, current } = await setup();
    const outage = new InternalServiceError({ message: 'injected outage', $metadata: {} });
    const issuedBefore = await mint(currentSigningKey(initial), clock);

    await expect(
      standIn.rotate(
        arn,
        async (rotationEvent) => {
          if (rotationEvent.Step === 'testSecret') standIn.failNext('GetSecretValueCommand', outage);
          return handler(rotationEvent);
        },
        { token: V2 },
      ),
    ).rejects.toBe(outage);

    expect(await stages()).toEqual({ [V1]: ['AWSCURRENT'], [V2]: ['AWSPENDING'] });
    expect(current()).toEqual(initial);
    expect(outcome(await verifierOver(store, clock), issuedBefore)).toBe('verified');

    await standIn.rotate(arn, handler, { token: V2 });
    expect(kidOf(current(), 'current')).toBe(kidOf(initial, 'next'));
    expect(outcome(await verifierOver(store, clock), issuedBefore)).toBe('verified');
  });

  test('PutSecretValue failing fails createSecret: nothing pending is stored, the JWKS is untouched, a retry succeeds', async () => {
    const { initial, standIn, arn, client, handler, stages, current, publishedKids, publications } =
      await setup();
    const outage = new InternalServiceError({ message: 'injected outage', $metadata: {} });
    standIn.failNext('PutSecretValueCommand', outage);

    await expect(standIn.rotate(arn, handler, { token: V2 })).rejects.toBe(outage);

    // Only the value-less version RotateSecret made is there: no pending value was stored.
    expect(standIn.versions(arn).map((version) => version.secretString !== undefined)).toEqual([true, false]);
    await expect(
      client.send(new GetSecretValueCommand({ SecretId: arn, VersionId: V2, VersionStage: 'AWSPENDING' })),
    ).rejects.toBeInstanceOf(ResourceNotFoundException);
    expect(current()).toEqual(initial);
    expect(publications).toEqual([]);
    expect(await publishedKids()).toEqual(initial.signingKeys.map((key) => key.kid).sort());

    await standIn.rotate(arn, handler, { token: V2 });
    expect((await stages())?.[V2]).toContain('AWSCURRENT');
    expect(kidOf(current(), 'current')).toBe(kidOf(initial, 'next'));
  });
});

describe('emergency revoke', () => {
  test('revoking the current kid: AWSCURRENT and the JWKS lack it, its tokens are refused, next signs', async () => {
    const { clock, initial, arn, handler, store, stages, current, publishedKids } = await setup();
    const compromised = currentSigningKey(initial);
    const signedByCompromised = await mint(compromised, clock);
    const warm = new JwksCache({ load: () => store.load(), clock: clock.now });
    await warm.ensureFresh();
    const warmVerifier = new AccessTokenVerifier({ ...PROFILE, clock: clock.now, keys: warm.get });
    expect(outcome(warmVerifier, signedByCompromised)).toBe('verified');
    clock.advance(10);

    await handler({ action: 'revoke', SecretId: arn, kid: compromised.kid, ClientRequestToken: V2 });

    const after = current();
    expect((await stages())?.[V2]).toContain('AWSCURRENT');
    expect(after.signingKeys.map((key) => key.kid)).not.toContain(compromised.kid);
    expect(kidOf(after, 'current')).toBe(kidOf(initial, 'next'));
    expect(kidsByState(after).previous).toEqual([]);
    expect(await publishedKids()).toEqual(after.signingKeys.map((key) => key.kid).sort());
    expect(await publishedKids()).not.toContain(compromised.kid);
    // A verifier that loads the JWKS now refuses the token; one that had it cached, once its TTL is over.
    expect(outcome(await verifierOver(store, clock), signedByCompromised)).toBe('unknown_kid');
    clock.advance(60);
    await warm.ensureFresh();
    expect(outcome(warmVerifier, signedByCompromised)).toBe('unknown_kid');
    expect(outcome(warmVerifier, await mint(currentSigningKey(after), clock))).toBe('verified');
  });

  test('revoking the current kid throws a TokenError unknown_kid from an AccessTokenVerifier over the JWKS', async () => {
    const { clock, initial, arn, handler, store } = await setup();
    const compromised = currentSigningKey(initial);
    const token = await mint(compromised, clock);

    await handler({ action: 'revoke', SecretId: arn, kid: compromised.kid, ClientRequestToken: V2 });

    const published = importJwks(await store.load());
    const verifier = new AccessTokenVerifier({
      ...PROFILE,
      clock: clock.now,
      keys: (kid) => published.keys.get(kid),
    });
    expect(() => verifier.verify(token)).toThrow(TokenError);
    expect(() => verifier.verify(token)).toThrow('no verification key has this kid');
  });

  test('a revoke retried with the same token does no harm', async () => {
    const { initial, arn, handler, current, snapshot } = await setup();
    const revoke = {
      action: 'revoke' as const,
      SecretId: arn,
      kid: kidOf(initial, 'current'),
      ClientRequestToken: V2,
    };
    await handler(revoke);
    const before = await snapshot();
    const set = current();

    await handler(revoke);

    const after = await snapshot();
    expect(after.versions).toEqual(before.versions);
    expect(after.jwks).toEqual(before.jwks);
    expect(current()).toEqual(set);
  });

  test('revoking an unknown kid fails and changes nothing', async () => {
    const { initial, arn, handler, stages, current, snapshot } = await setup();
    const before = await snapshot();

    await expect(
      handler({ action: 'revoke', SecretId: arn, kid: 'no-such-kid', ClientRequestToken: V3 }),
    ).rejects.toThrow(/no key with id no-such-kid/);

    expect(await snapshot()).toEqual(before);
    expect(await stages()).toEqual({ [V1]: ['AWSCURRENT'] });
    expect(current()).toEqual(initial);
  });
});

describe('logs', () => {
  test('one line per step with its outcome, and never key material', async () => {
    const { initial, standIn, arn, handler, lines, current } = await setup();

    await standIn.rotate(arn, handler, { token: V2 });
    const rotated = current();
    await handler({ action: 'revoke', SecretId: arn, kid: kidOf(rotated, 'next'), ClientRequestToken: V3 });
    await handler({
      action: 'revoke',
      SecretId: arn,
      kid: kidOf(current(), 'current'),
      ClientRequestToken: UNKNOWN,
    });

    const parsed = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(parsed.slice(0, 4).map((line) => [line.message, line.step])).toEqual([
      ['rotation step', 'createSecret'],
      ['rotation step', 'setSecret'],
      ['rotation step', 'testSecret'],
      ['rotation step', 'finishSecret'],
    ]);
    expect(parsed.filter((line) => line.message === 'emergency key revocation')).toHaveLength(2);
    // Every private value that existed in any version of the secret.
    const material = new Set<string>();
    const sets = [
      initial,
      ...standIn.versions(arn).map((version) => parseKeySet(version.secretString ?? '', 'v')),
    ];
    for (const set of sets) {
      for (const key of set.signingKeys) material.add(String(key.privateJwk.d));
      for (const mac of set.macKeys) material.add(mac.secret);
    }
    expect(material.size).toBeGreaterThanOrEqual(8);
    const all = lines.join('\n');
    expect(all).not.toContain('"d"');
    expect(all).not.toMatch(/"(d|secret)":/);
    for (const value of material) expect(all).not.toContain(value);
  });
});
