import { SETTINGS } from '../settings';
import type { Clock } from './clock';
import { importJwks, type VerificationKey } from './jws';

/** Options of {@link JwksCache}. */
export interface JwksCacheOptions {
  /** Loads the published public JWKS (the table item, a file, ...). */
  readonly load: () => Promise<unknown>;
  readonly clock?: Clock;
  /** How long a loaded JWKS is used before it is loaded again, ms. @default 60000 */
  readonly ttlMs?: number;
  /** The least time between two loads triggered by an unknown `kid`, ms. @default 5000 */
  readonly minRefreshIntervalMs?: number;
  /** Told about keys of the JWKS that were refused (unsupported, malformed). */
  readonly onRejected?: (kid: unknown, reason: string) => void;
}

/**
 * The verifier's view of the published JWKS: loaded once, kept for a TTL, re-loaded at most once per
 * `minRefreshIntervalMs` when a token names a `kid` it does not know (a key published after the last load).
 */
export class JwksCache {
  private keys: ReadonlyMap<string, VerificationKey> = new Map();
  private loadedAt = Number.NEGATIVE_INFINITY;
  private loading: Promise<void> | undefined;
  private readonly clock: Clock;
  private readonly ttlMs: number;
  private readonly minRefreshIntervalMs: number;

  public constructor(private readonly options: JwksCacheOptions) {
    this.clock = options.clock ?? Date.now;
    this.ttlMs = options.ttlMs ?? SETTINGS.jwksCacheTtlSeconds.default * 1000;
    this.minRefreshIntervalMs = options.minRefreshIntervalMs ?? 5_000;
  }

  /** The key for `kid` in the last loaded JWKS. */
  public readonly get = (kid: string): VerificationKey | undefined => this.keys.get(kid);

  /** Loads the JWKS unless the loaded one is younger than the TTL. */
  public async ensureFresh(): Promise<void> {
    if (this.clock() - this.loadedAt >= this.ttlMs) await this.reload();
  }

  /**
   * Re-loads the JWKS for an unknown `kid`, unless the last load is more recent than the minimum interval.
   * @returns whether it loaded.
   */
  public async refreshForUnknownKid(): Promise<boolean> {
    if (this.clock() - this.loadedAt < this.minRefreshIntervalMs) return false;
    await this.reload();
    return true;
  }

  private reload(): Promise<void> {
    this.loading ??= this.options
      .load()
      .then((jwks) => {
        const imported = importJwks(jwks);
        for (const { kid, reason } of imported.rejected) this.options.onRejected?.(kid, reason);
        this.keys = imported.keys;
        this.loadedAt = this.clock();
      })
      .finally(() => {
        this.loading = undefined;
      });
    return this.loading;
  }
}
