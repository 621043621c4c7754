import type { Clock } from './clock';
import { NotReadyError } from './errors';
import { parseKeySet, UNINITIALIZED_SECRET } from './key-set-format';
import { currentMacKey, currentSigningKey, type KeySet } from './keys';

/** Options of {@link cachedKeySource}. */
export interface CachedKeySourceOptions {
  /** Reads the private key set (Secrets Manager AWSCURRENT, or the local key file). */
  readonly load: () => Promise<KeySet>;
  /**
   * How long a read set is used, ms. After a rotation the issuer keeps signing with the old key for at most
   * this long, which is why the rotation keeps retired keys this much longer (RotationPolicy).
   */
  readonly ttlMs: number;
  /**
   * How long a failed read is answered from memory (the same error), ms: a burst of requests or of health
   * checks while the keys are unusable costs one read per this long, not one each. Never longer than `ttlMs`.
   * @default 0 (every call after a failure reads again)
   */
  readonly failureTtlMs?: number;
  readonly clock?: Clock;
  /** Told about each fresh read (to publish the key-age metric). */
  readonly onLoad?: (set: KeySet) => void;
}

/**
 * The issuer's view of the private key set: read once per TTL, one read in flight at a time. A failed
 * re-read keeps serving nothing stale past the TTL: the error propagates (503), never an old key forever.
 */
export function cachedKeySource(options: CachedKeySourceOptions): () => Promise<KeySet> {
  const clock = options.clock ?? Date.now;
  const failureTtlMs = Math.min(options.failureTtlMs ?? 0, options.ttlMs);
  let cached: { set: KeySet; readAt: number } | undefined;
  let failed: { error: unknown; at: number } | undefined;
  let loading: Promise<KeySet> | undefined;
  return async () => {
    if (cached !== undefined && clock() - cached.readAt < options.ttlMs) return cached.set;
    if (failed !== undefined && clock() - failed.at < failureTtlMs) throw failed.error;
    loading ??= options
      .load()
      .then(
        (set) => {
          cached = { set, readAt: clock() };
          failed = undefined;
          options.onLoad?.(set);
          return set;
        },
        (error: unknown) => {
          failed = { error, at: clock() };
          throw error;
        },
      )
      .finally(() => {
        loading = undefined;
      });
    return loading;
  };
}

/**
 * The key set a secret's string value holds, or a {@link NotReadyError}: `signing_keys_uninitialized` while
 * it is still the deployment's {@link UNINITIALIZED_SECRET} placeholder, `signing_keys_unreadable` when it
 * is absent or not a key set. The error message names `source` and never echoes the value.
 */
export function keySetFromSecretString(text: string | undefined, source: string): KeySet {
  if (text === undefined) throw new NotReadyError('signing_keys_unreadable', `${source} has no string value`);
  try {
    return parseKeySet(text, source);
  } catch (error) {
    if (isPlaceholder(text)) {
      throw new NotReadyError(
        'signing_keys_uninitialized',
        `${source} still holds the deployment placeholder (no rotation has run yet)`,
      );
    }
    throw new NotReadyError('signing_keys_unreadable', (error as Error).message, { cause: error });
  }
}

/** The placeholder, byte for byte or as JSON with other whitespace. */
function isPlaceholder(text: string): boolean {
  if (text === UNINITIALIZED_SECRET) return true;
  try {
    const value = JSON.parse(text) as { uninitialized?: unknown } | null;
    return typeof value === 'object' && value !== null && value.uninitialized === true;
  } catch {
    return false;
  }
}

/**
 * Wraps a key-set loader so that it yields a set the issuer can sign with, or rejects with a
 * {@link NotReadyError}: a failed read (the secret unreachable, refused, not a key set) becomes
 * `signing_keys_unreadable` unless it already says why, and a set without a current signing key or a MAC
 * key is refused as `signing_keys_unreadable`.
 */
export function usableKeySetLoader(load: () => Promise<KeySet>): () => Promise<KeySet> {
  return async () => {
    let set: KeySet;
    try {
      set = await load();
    } catch (error) {
      if (error instanceof NotReadyError) throw error;
      throw new NotReadyError('signing_keys_unreadable', `the key set cannot be read: ${errorName(error)}`, {
        cause: error,
      });
    }
    try {
      currentSigningKey(set);
      currentMacKey(set);
    } catch (error) {
      throw new NotReadyError('signing_keys_unreadable', (error as Error).message, { cause: error });
    }
    return set;
  };
}

function errorName(error: unknown): string {
  return error instanceof Error ? error.name : typeof error;
}
