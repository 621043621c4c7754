import {
  previousKeyRetentionMs,
  revokeKey,
  rotateKeySet,
  signingKeyAgeSeconds,
} from '../../lambda/core/key-rotation';
import { parseKeySet, serializeKeySet } from '../../lambda/core/key-set-format';
import { cachedKeySource } from '../../lambda/core/key-source';
import { currentSigningKey, generateKeySet, type KeySet } from '../../lambda/core/keys';
import { FrozenClock } from '../support/fixtures';

const POLICY = {
  accessTokenTtlSeconds: 300,
  clockSkewSeconds: 30,
  issuerKeyCacheSeconds: 60,
  sessionLifetimeSeconds: 7 * 86_400,
};
const RETENTION_S = 300 + 30 + 60;

function byState(set: KeySet) {
  return Object.fromEntries(
    (['next', 'current', 'previous'] as const).map((state) => [
      state,
      set.signingKeys.filter((key) => key.state === state).map((key) => key.kid),
    ]),
  );
}

describe('rotateKeySet', () => {
  test('promotes next to current, retires current, and generates a new next', async () => {
    const clock = new FrozenClock();
    const before = await generateKeySet({ now: clock.now() });
    const { next: [next] = [], current: [current] = [] } = byState(before);
    clock.advance(86_400);
    const after = await rotateKeySet(before, clock.now(), POLICY);
    const states = byState(after);
    expect(states.current).toEqual([next]);
    expect(states.previous).toEqual([current]);
    expect(states.next).toHaveLength(1);
    expect([next, current]).not.toContain(states.next?.[0]);
    expect(currentSigningKey(after).activatedAt).toBe(clock.now());
    expect(after.signingKeys.find((key) => key.kid === current)?.retiredAt).toBe(clock.now());
  });

  test('two rotations in quick succession keep both previous keys', async () => {
    const clock = new FrozenClock();
    const first = await generateKeySet({ now: clock.now() });
    const original = currentSigningKey(first).kid;
    const second = await rotateKeySet(first, clock.now(), POLICY);
    clock.advance(RETENTION_S);
    const third = await rotateKeySet(second, clock.now(), POLICY);
    expect(byState(third).previous).toContain(original);
    expect(byState(third).previous).toHaveLength(2);
  });

  test('drops a previous key once it stopped signing longer ago than TTL + skew + issuer cache', async () => {
    const clock = new FrozenClock();
    const first = await generateKeySet({ now: clock.now() });
    const original = currentSigningKey(first).kid;
    const second = await rotateKeySet(first, clock.now(), POLICY);
    clock.advance(RETENTION_S + 1);
    const third = await rotateKeySet(second, clock.now(), POLICY);
    expect(third.signingKeys.map((key) => key.kid)).not.toContain(original);
    expect(previousKeyRetentionMs(POLICY)).toBe(RETENTION_S * 1000);
  });

  test('measures retention from the end of a rotation that finished late (LastRotatedDate)', async () => {
    const clock = new FrozenClock();
    const first = await generateKeySet({ now: clock.now() });
    const original = currentSigningKey(first).kid;
    const second = await rotateKeySet(first, clock.now(), POLICY); // derived now, finished an hour later
    clock.advance(3600);
    const finishedAt = clock.now();
    clock.advance(RETENTION_S);
    const third = await rotateKeySet(second, clock.now(), POLICY, finishedAt);
    expect(byState(third).previous).toContain(original);
    expect(third.signingKeys.find((key) => key.kid === original)?.retiredAt).toBe(finishedAt);
    clock.advance(1);
    const fourth = await rotateKeySet(third, clock.now(), POLICY, clock.now() - 1);
    expect(fourth.signingKeys.map((key) => key.kid)).not.toContain(original);
  });

  test('adds a MAC key per rotation and drops one superseded longer ago than the session lifetime', async () => {
    const clock = new FrozenClock();
    const first = await generateKeySet({ now: clock.now() });
    const [originalMac] = first.macKeys;
    clock.advance(86_400);
    const second = await rotateKeySet(first, clock.now(), POLICY);
    expect(second.macKeys).toHaveLength(2);
    clock.advance(7 * 86_400);
    const third = await rotateKeySet(second, clock.now(), POLICY);
    expect(third.macKeys.map((key) => key.kid)).toContain(originalMac?.kid);
    clock.advance(1);
    const fourth = await rotateKeySet(third, clock.now(), POLICY);
    expect(fourth.macKeys.map((key) => key.kid)).not.toContain(originalMac?.kid);
  });

  test('generates keys of the configured algorithm, and a current key when none was next', async () => {
    const clock = new FrozenClock();
    const set = await generateKeySet({ now: clock.now() });
    const withoutNext = { ...set, signingKeys: set.signingKeys.filter((key) => key.state !== 'next') };
    const rotated = await rotateKeySet(withoutNext, clock.now(), { ...POLICY, alg: 'EdDSA' });
    expect(currentSigningKey(rotated).alg).toBe('EdDSA');
    expect(rotated.signingKeys.find((key) => key.state === 'next')?.alg).toBe('EdDSA');
  });
});

describe('revokeKey', () => {
  test('removes a compromised current key at once and lets next sign', async () => {
    const clock = new FrozenClock();
    const set = await generateKeySet({ now: clock.now() });
    const { current: [current] = [], next: [next] = [] } = byState(set);
    const revoked = await revokeKey(set, current ?? '', clock.now(), POLICY);
    expect(revoked.signingKeys.map((key) => key.kid)).not.toContain(current);
    expect(currentSigningKey(revoked).kid).toBe(next);
  });

  test('replaces a compromised next key, and removes a previous one', async () => {
    const clock = new FrozenClock();
    const rotated = await rotateKeySet(await generateKeySet({ now: clock.now() }), clock.now(), POLICY);
    const { next: [next] = [], previous: [previous] = [], current: [current] = [] } = byState(rotated);
    const withoutNext = await revokeKey(rotated, next ?? '', clock.now(), POLICY);
    expect(withoutNext.signingKeys.map((key) => key.kid)).not.toContain(next);
    expect(byState(withoutNext).next).toHaveLength(1);
    expect(currentSigningKey(withoutNext).kid).toBe(current);
    const withoutPrevious = await revokeKey(rotated, previous ?? '', clock.now(), POLICY);
    expect(byState(withoutPrevious).previous).toEqual([]);
  });

  test('removes a MAC key (its sessions cannot refresh) and keeps at least one', async () => {
    const clock = new FrozenClock();
    const set = await generateKeySet({ now: clock.now() });
    const [mac] = set.macKeys;
    const revoked = await revokeKey(set, mac?.kid ?? '', clock.now(), POLICY);
    expect(revoked.macKeys.map((key) => key.kid)).not.toContain(mac?.kid);
    expect(revoked.macKeys).toHaveLength(1);
  });

  test('fails for an unknown key id', async () => {
    const set = await generateKeySet({ now: Date.now() });
    await expect(revokeKey(set, 'no-such-kid', Date.now(), POLICY)).rejects.toThrow(
      /no key with id no-such-kid/,
    );
  });
});

describe('key set format', () => {
  test('round-trips a rotated key set', async () => {
    const clock = new FrozenClock();
    const set = await rotateKeySet(await generateKeySet({ now: clock.now() }), clock.now(), POLICY);
    expect(parseKeySet(serializeKeySet(set), 'test')).toEqual(set);
  });

  test.each([
    ['not JSON', 'nope', /not JSON/],
    ['no mac_keys', '{"keys":[]}', /not a key set/],
    [
      'no current key',
      '{"keys":[],"mac_keys":[{"kid":"a","secret":"b","createdAt":1}]}',
      /exactly one current/,
    ],
    [
      'a key without state',
      '{"keys":[{"kid":"a","alg":"ES256","d":"x","created_at":1}],"mac_keys":[]}',
      /state/,
    ],
    [
      'a public key only',
      '{"keys":[{"kid":"a","alg":"ES256","state":"current","created_at":1}],"mac_keys":[]}',
      /private/,
    ],
    ['a bad MAC key', '{"keys":[],"mac_keys":[{"kid":"a"}]}', /MAC key/],
  ])('fails on %s, naming the source and never echoing key material', (_name, text, message) => {
    expect(() => parseKeySet(text, 'secret X')).toThrow(message);
    expect(() => parseKeySet(text, 'secret X')).toThrow(/secret X/);
  });

  test('reports the signing key age from its activation', async () => {
    const clock = new FrozenClock();
    const set = await generateKeySet({ now: clock.now() });
    clock.advance(90);
    expect(signingKeyAgeSeconds(set, clock.now())).toBe(90);
  });
});

describe('cachedKeySource', () => {
  test('reads once per TTL, one read in flight, and reports each read', async () => {
    const clock = new FrozenClock();
    const set = await generateKeySet({ now: clock.now() });
    let reads = 0;
    const loaded: KeySet[] = [];
    const source = cachedKeySource({
      load: async () => {
        reads += 1;
        return set;
      },
      ttlMs: 1000,
      clock: clock.now,
      onLoad: (value) => loaded.push(value),
    });
    await Promise.all([source(), source(), source()]);
    expect(reads).toBe(1);
    clock.advance(0.999);
    await source();
    expect(reads).toBe(1);
    clock.advance(0.001);
    await source();
    expect(reads).toBe(2);
    expect(loaded).toHaveLength(2);
  });

  test('propagates a failed read instead of serving a stale set past the TTL', async () => {
    const clock = new FrozenClock();
    const set = await generateKeySet({ now: clock.now() });
    let fail = false;
    const source = cachedKeySource({
      load: async () => {
        if (fail) throw new Error('secrets manager down');
        return set;
      },
      ttlMs: 1000,
      clock: clock.now,
    });
    await source();
    fail = true;
    clock.advance(2);
    await expect(source()).rejects.toThrow('secrets manager down');
  });
});
