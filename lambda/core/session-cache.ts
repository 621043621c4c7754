import type { Clock } from './clock';
import type { SessionRecord, SessionStore } from './session';

/** Options of {@link SessionCache}. */
export interface SessionCacheOptions {
  readonly store: SessionStore;
  /** How long a read session is reused, ms. Part of the revocation budget. 0 disables the cache. */
  readonly ttlMs: number;
  /** Most sessions kept; the oldest entry is dropped first. @default 10000 */
  readonly maxEntries?: number;
  /** Read strongly consistent (MRSC deployments). @default false */
  readonly consistentRead?: boolean;
  readonly clock?: Clock;
}

interface Entry {
  readonly session: SessionRecord | undefined;
  readonly expiresAt: number;
}

/**
 * The authorizer's short in-memory session cache: one `GetItem` by `sid` per TTL, bounded in size so that
 * memory stays flat however many sessions pass through one warm Lambda. Absent sessions are cached too, so a
 * flood of tokens naming a deleted session costs one read per TTL.
 */
export class SessionCache {
  private readonly entries = new Map<string, Entry>();
  private readonly maxEntries: number;
  private readonly clock: Clock;

  public constructor(private readonly options: SessionCacheOptions) {
    if (!Number.isFinite(options.ttlMs) || options.ttlMs < 0) {
      throw new TypeError(`session cache ttlMs must be a non-negative number, got ${options.ttlMs}`);
    }
    this.maxEntries = options.maxEntries ?? 10_000;
    this.clock = options.clock ?? Date.now;
  }

  /**
   * The cached session when its entry is fresh, synchronously; `undefined` when {@link get} must read. Lets the
   * warm path skip a promise on a hit; `get` answers the same.
   */
  public peek(sid: string): { session: SessionRecord | undefined; cacheHit: true } | undefined {
    const entry = this.entries.get(sid);
    return entry !== undefined && entry.expiresAt > this.clock()
      ? { session: entry.session, cacheHit: true }
      : undefined;
  }

  /** The session, from the cache when fresh. Store errors propagate (the caller fails closed). */
  public async get(sid: string): Promise<{ session: SessionRecord | undefined; cacheHit: boolean }> {
    const now = this.clock();
    const entry = this.entries.get(sid);
    if (entry !== undefined && entry.expiresAt > now) return { session: entry.session, cacheHit: true };
    const session = await this.options.store.get(sid, { consistent: this.options.consistentRead ?? false });
    if (this.options.ttlMs > 0) {
      this.entries.delete(sid);
      this.entries.set(sid, { session, expiresAt: now + this.options.ttlMs });
      if (this.entries.size > this.maxEntries) {
        const oldest = this.entries.keys().next();
        if (oldest.done !== true) this.entries.delete(oldest.value);
      }
    }
    return { session, cacheHit: false };
  }

  /** Number of cached sessions (for tests and metrics). */
  public get size(): number {
    return this.entries.size;
  }
}
