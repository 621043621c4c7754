import type { Clock } from './clock';
import type { SessionRecord } from './session';
import type { SubjectRecord } from './subject';

/** A session item and its subject's watermark item, read together. `undefined`: no such item. */
export interface SessionAndSubject {
  readonly session: SessionRecord | undefined;
  readonly subject: SubjectRecord | undefined;
}

/**
 * The port the session check reads through: the session item `SESSION#<sid>` and the watermark item of the
 * token's subject `SUBJECT#<subjectKey(sub)>` in one round trip (DynamoDB `BatchGetItem`), so that a
 * session-cache miss still costs one request. Errors propagate (the caller fails closed).
 */
export interface SessionSubjectReader {
  /** `consistent` asks for strongly consistent reads of both items. */
  read(sid: string, sub: string, options: { readonly consistent: boolean }): Promise<SessionAndSubject>;
}

/** Options of {@link SessionCache}. */
export interface SessionCacheOptions {
  readonly reader: SessionSubjectReader;
  /**
   * How long a read session and watermark are reused, ms. Part of the revocation budget: a logout, a logout
   * everywhere and a disable all reach this cache within it. 0 disables the cache.
   */
  readonly ttlMs: number;
  /** Most sessions kept; the oldest entry is dropped first. @default 10000 */
  readonly maxEntries?: number;
  /** Read strongly consistent (MRSC deployments). @default false */
  readonly consistentRead?: boolean;
  readonly clock?: Clock;
}

/** What a lookup answers: both items, and whether they came from the cache. */
export interface CachedSessionAndSubject extends SessionAndSubject {
  readonly cacheHit: boolean;
}

interface Entry extends SessionAndSubject {
  /** The subject the watermark was read for: an entry answers only a lookup for the same `sub`. */
  readonly sub: string;
  readonly expiresAt: number;
}

/**
 * The authorizer's short in-memory cache of sessions and their subjects' watermarks: one read of both by
 * `sid` and `sub` per TTL, bounded in size so that memory stays flat however many sessions pass through one
 * warm Lambda. Absent items are cached too, so a flood of tokens naming a deleted session costs one read per
 * TTL.
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
   * The cached items when their entry is fresh, synchronously; `undefined` when {@link get} must read. Lets
   * the warm path skip a promise on a hit; `get` answers the same.
   */
  public peek(sid: string, sub: string): CachedSessionAndSubject | undefined {
    const entry = this.entries.get(sid);
    return entry !== undefined && entry.sub === sub && entry.expiresAt > this.clock()
      ? { session: entry.session, subject: entry.subject, cacheHit: true }
      : undefined;
  }

  /**
   * The session and its subject's watermark, from the cache when fresh. Store errors propagate.
   *
   * @param options.absentUntil when the read finds no session item, its entry lasts until this instant at the
   *   latest (epoch ms, inclusive): the end of a token's replication-lag bound, so that a token accepted while
   *   its session may still be replicating is never refused from an absence cached before the session arrived.
   */
  public async get(
    sid: string,
    sub: string,
    options: { readonly absentUntil?: number } = {},
  ): Promise<CachedSessionAndSubject> {
    const cached = this.peek(sid, sub);
    if (cached !== undefined) return cached;
    const now = this.clock();
    const { session, subject } = await this.options.reader.read(sid, sub, {
      consistent: this.options.consistentRead ?? false,
    });
    if (this.options.ttlMs > 0) {
      let expiresAt = now + this.options.ttlMs;
      if (session === undefined && options.absentUntil !== undefined && options.absentUntil >= now) {
        expiresAt = Math.min(expiresAt, options.absentUntil + 1);
      }
      this.entries.delete(sid);
      this.entries.set(sid, { sub, session, subject, expiresAt });
      if (this.entries.size > this.maxEntries) {
        const oldest = this.entries.keys().next();
        if (oldest.done !== true) this.entries.delete(oldest.value);
      }
    }
    return { session, subject, cacheHit: false };
  }

  /** Number of cached sessions (for tests and metrics). */
  public get size(): number {
    return this.entries.size;
  }
}
