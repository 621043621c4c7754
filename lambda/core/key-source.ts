import type { Clock } from './clock';
import type { KeySet } from './keys';

/** Options of {@link cachedKeySource}. */
export interface CachedKeySourceOptions {
  /** Reads the private key set (Secrets Manager AWSCURRENT, or the local key file). */
  readonly load: () => Promise<KeySet>;
  /**
   * How long a read set is used, ms. After a rotation the issuer keeps signing with the old key for at most
   * this long, which is why the rotation keeps retired keys this much longer (RotationPolicy).
   */
  readonly ttlMs: number;
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
  let cached: { set: KeySet; readAt: number } | undefined;
  let loading: Promise<KeySet> | undefined;
  return async () => {
    if (cached !== undefined && clock() - cached.readAt < options.ttlMs) return cached.set;
    loading ??= options
      .load()
      .then((set) => {
        cached = { set, readAt: clock() };
        options.onLoad?.(set);
        return set;
      })
      .finally(() => {
        loading = undefined;
      });
    return loading;
  };
}
