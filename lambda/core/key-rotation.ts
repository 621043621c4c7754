import {
  generateMacKey,
  generateSigningKey,
  type KeySet,
  type MacKey,
  type SigningAlg,
  type SigningKey,
} from './keys';

/** How long retired keys are kept. */
export interface RotationPolicy {
  /** Algorithm of new signing keys. @default 'ES256' */
  readonly alg?: SigningAlg;
  /** The longest access-token lifetime any issuer uses, seconds. */
  readonly accessTokenTtlSeconds: number;
  /** The verifiers' clock skew, seconds. @default 30 */
  readonly clockSkewSeconds?: number;
  /**
   * How long an issuer may keep signing with a key after it stopped being `current` (its key cache TTL),
   * seconds. @default 300
   */
  readonly issuerKeyCacheSeconds?: number;
  /** The longest absolute session lifetime, seconds: how long a superseded MAC key is kept. */
  readonly sessionLifetimeSeconds: number;
}

/**
 * How long a key that stopped being `current` may still have live tokens, ms: an issuer may sign with it
 * for its cache TTL after the switch, each such token lives the access-token TTL, and verifiers allow the
 * clock skew.
 */
export function previousKeyRetentionMs(policy: RotationPolicy): number {
  return (
    (policy.accessTokenTtlSeconds + (policy.clockSkewSeconds ?? 30) + (policy.issuerKeyCacheSeconds ?? 300)) *
    1000
  );
}

/**
 * One scheduled rotation (docs/design.md "Keys and rotation"): `next` becomes `current`, `current` becomes
 * `previous`, a new `next` is generated; a `previous` key is dropped only once it stopped signing longer
 * ago than {@link previousKeyRetentionMs}, so two rotations in quick succession keep every key that may
 * still have live tokens; `lastSwitchAt` (Secrets Manager's `LastRotatedDate`) corrects the retirement time of
 * the key the last rotation retired when that rotation finished later than it started. A new MAC key is added on the same schedule; a MAC key is dropped only once it
 * was superseded longer ago than the longest session lifetime (a session's refresh tokens keep the MAC key
 * of its login).
 */
export async function rotateKeySet(
  set: KeySet,
  now: number,
  policy: RotationPolicy,
  lastSwitchAt = Number.NEGATIVE_INFINITY,
): Promise<KeySet> {
  const next = set.signingKeys.find((key) => key.state === 'next');
  const current = set.signingKeys.find((key) => key.state === 'current');
  const alg = policy.alg ?? 'ES256';
  const promoted: SigningKey =
    next === undefined
      ? { ...(await generateSigningKey(alg, { now })), state: 'current', activatedAt: now }
      : { ...next, state: 'current', activatedAt: now };
  const retired: SigningKey[] =
    current === undefined ? [] : [{ ...current, state: 'previous', retiredAt: now }];
  const retention = previousKeyRetentionMs(policy);
  // A key's `retiredAt` is stamped when its rotation's pending set was derived; the switch itself happened
  // when that rotation finished, possibly much later (a failed step retried with the same token). The last
  // completed rotation retired the most recently retired key: correct its stamp to that rotation's end, once,
  // and persist it. Earlier keys were corrected by the rotations after theirs.
  const previous = set.signingKeys.filter((key) => key.state === 'previous');
  const lastRetired = previous.reduce<SigningKey | undefined>(
    (latest, key) => (latest === undefined || (key.retiredAt ?? 0) > (latest.retiredAt ?? 0) ? key : latest),
    undefined,
  );
  const kept = previous
    .map((key) =>
      key === lastRetired && lastSwitchAt > (key.retiredAt ?? key.createdAt)
        ? { ...key, retiredAt: lastSwitchAt }
        : key,
    )
    .filter((key) => now - (key.retiredAt ?? key.createdAt) <= retention);
  const fresh = await generateSigningKey(alg, { state: 'next', now });
  return {
    signingKeys: [promoted, fresh, ...retired, ...kept],
    macKeys: pruneMacKeys([...set.macKeys, generateMacKey(now)], now, policy.sessionLifetimeSeconds * 1000),
  };
}

/** Keeps the newest MAC key and every key superseded less than `lifetimeMs` ago. */
function pruneMacKeys(keys: readonly MacKey[], now: number, lifetimeMs: number): MacKey[] {
  const newestFirst = [...keys].sort((a, b) => b.createdAt - a.createdAt);
  return newestFirst.filter((_key, index) => {
    const successor = newestFirst[index - 1];
    return successor === undefined || now - successor.createdAt <= lifetimeMs;
  });
}

/**
 * The emergency path: removes the named key at once, whatever its state. A compromised `current` is
 * rotated out first (`next` signs from now on); a compromised `next` is replaced by a fresh one; a MAC key
 * id removes that MAC key (its sessions can no longer refresh). Tokens signed by the key die with it: that
 * is the point.
 *
 * @throws {TypeError} when no signing or MAC key has that id.
 */
export async function revokeKey(
  set: KeySet,
  kid: string,
  now: number,
  policy: RotationPolicy,
  lastSwitchAt?: number,
): Promise<KeySet> {
  const signing = set.signingKeys.find((key) => key.kid === kid);
  const mac = set.macKeys.find((key) => key.kid === kid);
  if (signing === undefined && mac === undefined) throw new TypeError(`no key with id ${kid} in the key set`);
  let rotated = set;
  if (signing?.state === 'current') rotated = await rotateKeySet(set, now, policy, lastSwitchAt);
  if (signing?.state === 'next') {
    const fresh = await generateSigningKey(policy.alg ?? 'ES256', { state: 'next', now });
    rotated = { ...set, signingKeys: [...set.signingKeys, fresh] };
  }
  const macKeys = rotated.macKeys.filter((key) => key.kid !== kid);
  return {
    signingKeys: rotated.signingKeys.filter((key) => key.kid !== kid),
    macKeys: macKeys.length > 0 ? macKeys : [generateMacKey(now)],
  };
}

/** Age of the signing key, seconds since it became `current` (the key-age metric). */
export function signingKeyAgeSeconds(set: KeySet, now: number): number {
  const current = set.signingKeys.find((key) => key.state === 'current');
  if (current === undefined) return Number.POSITIVE_INFINITY;
  return Math.max(0, Math.floor((now - (current.activatedAt ?? current.createdAt)) / 1000));
}
