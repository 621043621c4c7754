import { randomBytes } from 'node:crypto';
import { SETTINGS } from '../settings';
import { AccessTokenMinter, type AccessTokenProfile, type MintedAccessToken } from './access-token';
import type { Clock } from './clock';
import { GrantError } from './errors';
import { currentMacKey, currentSigningKey, type KeySet, type MacKey } from './keys';
import {
  deriveRefreshToken,
  LEGACY_REFRESH_TOKEN_VERSION,
  MAX_GENERATION,
  parseRefreshToken,
  type RefreshTokenParts,
  saltsEqual,
  verifyRefreshMac,
} from './refresh-token';
import {
  type RefreshRotationOutcome,
  type RevokeReason,
  type SessionRecord,
  type SessionStore,
  sessionStatus,
} from './session';
import { type SubjectRecord, type SubjectStore, subjectKey, watermarkAt, watermarkRefusal } from './subject';

/** Lifetimes of sessions and refresh tokens. */
export interface SessionPolicy {
  /** A session dies this long after its last refresh. @default 86400 (1 day; lambda/settings.ts) */
  readonly idleTimeoutSeconds?: number;
  /** A session dies this long after login, however often it is refreshed. @default 604800 (7 days) */
  readonly absoluteLifetimeSeconds?: number;
  /**
   * How long after a rotation the previous refresh token still returns the same successor (concurrent tabs,
   * retried requests). 0 is strict rotation: every replay counts as reuse. @default 10 (lambda/settings.ts)
   */
  readonly refreshGraceSeconds?: number;
  /**
   * How far ahead of this clock a subject watermark is set: the clock difference between regions it absorbs.
   * @default 1 (lambda/settings.ts)
   */
  readonly revocationClockMarginSeconds?: number;
}

/** A security-relevant event for the log and the metrics (never carries a token). */
export interface SecurityEvent {
  readonly type: 'refresh_token_reuse';
  readonly sid: string;
  readonly sub: string;
  readonly clientId: string;
  readonly presentedGeneration: number;
  readonly currentGeneration: number;
}

/** Collaborators of {@link SessionService}. */
export interface SessionServiceDeps {
  readonly store: SessionStore;
  /** The subjects' revocation watermarks (log out everywhere, password change, disable). */
  readonly subjects: SubjectStore;
  /** The private key set (cached by the caller: Secrets Manager, or the local key file). */
  readonly keys: () => Promise<KeySet>;
  readonly profile: AccessTokenProfile;
  readonly policy?: SessionPolicy;
  readonly clock?: Clock;
  /**
   * Receives security events. What it returns is awaited before the refusal it reports is answered (so a
   * publication to an event bus finishes inside the invocation), and otherwise ignored. It must not reject:
   * its outcome is never the refresh's. @default drops them
   */
  readonly onSecurityEvent?: (event: SecurityEvent) => unknown;
}

/** What login and refresh return. */
export interface TokenSet {
  readonly accessToken: string;
  /** Seconds until the access token expires. */
  readonly expiresIn: number;
  readonly scope: string;
  readonly refreshToken: string;
  readonly sid: string;
  /** The signing key's id, for logs. */
  readonly kid: string;
  readonly jti: string;
  /** Epoch ms at which the session ends, however often it is refreshed (a refresh cookie lives no longer). */
  readonly sessionExpiresAt: number;
}

/** Who logs in, from where. */
export interface LoginRequest {
  readonly sub: string;
  readonly clientId: string;
  readonly scope: string;
  readonly userAgent?: string;
  readonly ip?: string;
}

/** How many times a refresh writes again after its condition failed on an item that allows it. */
const MAX_REFRESH_ATTEMPTS = 4;
const MAX_USER_AGENT_LENGTH = 256;
/** How many sessions' immutable fields one instance remembers for signing during the refresh write. */
const MAX_REMEMBERED_SESSIONS = 10_000;

/** The fields of a session fixed at login (never written again): all an access token is minted from. */
interface SessionSubject {
  readonly sub: string;
  readonly clientId: string;
  readonly scope: string;
  readonly absoluteExpiresAt: number;
}

/** An access token signed while the refresh write was in flight, and the fields it was signed from. */
interface SpeculativeAccess {
  readonly subject: SessionSubject;
  readonly access: Promise<MintedAccessToken>;
}

/** The error that tells a caller the session is gone, per status. */
const STATUS_ERRORS = {
  revoked: () => new GrantError('session_revoked', 'the session has been revoked'),
  expired: () => new GrantError('session_expired', 'the session has expired'),
  idle: () => new GrantError('session_idle', 'the session has been idle too long'),
  logged_out_everywhere: () =>
    new GrantError('session_logged_out_everywhere', 'every session of this user was ended'),
  disabled: () => new GrantError('subject_disabled', 'the account is disabled'),
} as const;

/**
 * The session engine (docs/design.md "Refresh tokens" and "Sessions"): login creates a session and its first
 * tokens; refresh rotates the refresh token on every use, returns the identical successor to concurrent
 * refreshes inside the grace window, and revokes the whole session when an older token comes back; logout,
 * logout everywhere, listing and per-session revocation.
 */
export class SessionService {
  private readonly store: SessionStore;
  private readonly minter: AccessTokenMinter;
  private readonly clock: Clock;
  private readonly idleMs: number;
  private readonly absoluteMs: number;
  private readonly graceMs: number;
  private readonly marginMs: number;
  /** sid to the session's immutable fields, as last confirmed by the table (bounded, oldest dropped first). */
  private readonly subjects = new Map<string, SessionSubject>();

  public constructor(private readonly deps: SessionServiceDeps) {
    const idle = deps.policy?.idleTimeoutSeconds ?? SETTINGS.sessionIdleTimeoutSeconds.default;
    const absolute = deps.policy?.absoluteLifetimeSeconds ?? SETTINGS.sessionAbsoluteLifetimeSeconds.default;
    const grace = deps.policy?.refreshGraceSeconds ?? SETTINGS.refreshGraceSeconds.default;
    const { min, max } = SETTINGS.refreshGraceSeconds;
    if (!Number.isInteger(grace) || grace < min || grace > max) {
      throw new TypeError(`refreshGraceSeconds must be an integer from ${min} to ${max}, got ${grace}`);
    }
    if (!Number.isInteger(idle) || idle <= deps.profile.ttlSeconds) {
      throw new TypeError(`idleTimeoutSeconds must be an integer above the access token TTL, got ${idle}`);
    }
    if (!Number.isInteger(absolute) || absolute < idle) {
      throw new TypeError(
        `absoluteLifetimeSeconds must be an integer of at least idleTimeoutSeconds, got ${absolute}`,
      );
    }
    this.store = deps.store;
    this.clock = deps.clock ?? Date.now;
    this.minter = new AccessTokenMinter(deps.profile, this.clock);
    this.idleMs = idle * 1000;
    this.absoluteMs = absolute * 1000;
    this.graceMs = grace * 1000;
    const margin = deps.policy?.revocationClockMarginSeconds ?? SETTINGS.revocationClockMarginSeconds.default;
    const marginRange = SETTINGS.revocationClockMarginSeconds;
    if (!Number.isInteger(margin) || margin < marginRange.min || margin > marginRange.max) {
      throw new TypeError(
        `revocationClockMarginSeconds must be an integer from ${marginRange.min} to ${marginRange.max}, got ${margin}`,
      );
    }
    this.marginMs = margin * 1000;
  }

  /** Creates a new session (never adopts one the client brought) and its first tokens. */
  public async login(request: LoginRequest): Promise<TokenSet> {
    const subject = await this.deps.subjects.get(request.sub, { consistent: true });
    if (subject?.disabled === true) throw STATUS_ERRORS.disabled();
    const now = this.clock();
    const session: SessionRecord = {
      sid: randomBytes(16).toString('base64url'),
      sub: request.sub,
      clientId: request.clientId,
      scope: request.scope,
      createdAt: now,
      authenticatedAt: now,
      lastUsedAt: now,
      absoluteExpiresAt: now + this.absoluteMs,
      idleExpiresAt: Math.min(now + this.idleMs, now + this.absoluteMs),
      generation: 0,
      salt: randomBytes(16).toString('base64url'),
      rotatedAt: now,
      ...(request.userAgent === undefined
        ? {}
        : { userAgent: request.userAgent.slice(0, MAX_USER_AGENT_LENGTH) }),
      ...(request.ip === undefined ? {} : { ip: request.ip }),
    };
    await this.store.create(session);
    const keys = await this.deps.keys();
    return this.issue(session, session.generation, keys, currentMacKey(keys));
  }

  /**
   * Exchanges a refresh token for new tokens (docs/design.md branches: rotate, grace replay, reuse, generation
   * ahead, bad MAC, strict when the grace window is 0, behind the subject's watermark).
   *
   * The happy path is one round trip: the token is authenticated before any I/O (its MAC covers the salt and
   * the subject key it carries), then one conditional write whose condition is the rotate branch and, in
   * parallel with it, the read of the subject's watermark. When the condition fails the write returns the
   * item, and the grace, reuse and replication-lag branches decide from it. No token is handed out before the
   * watermark allows the session; a watermark that refuses it revokes it. A version 2 token (no subject key)
   * reads the watermark after its write; a version 1 token (no salt) is verified after a consistent read of
   * the session, then writes and reads the watermark in parallel. Both get a version 3 successor.
   *
   * @throws {GrantError} `refresh_token_malformed`, `unknown_mac_key`, `bad_mac`, `session_not_found`,
   * `client_mismatch`, `session_revoked`, `session_expired`, `session_idle`, `refresh_token_reused`,
   * `session_logged_out_everywhere` or `subject_disabled`.
   */
  public async refresh(refreshToken: unknown, clientId: string): Promise<TokenSet> {
    const parts = parseRefreshToken(refreshToken);
    const keys = await this.deps.keys();
    const macKey = this.macKeyOf(parts, keys);
    const bound = await this.authenticate(parts, keys);
    const salt = bound.salt;
    let watermark: Promise<SubjectRecord | undefined> | undefined;
    let speculative: SpeculativeAccess | undefined;
    const presented = parts.generation;
    const generation = presented + 1;
    /** The subject's watermark item, once it is known which subject the session is (the token said so). */
    const subjectOf = (session: SessionRecord): Promise<SubjectRecord | undefined> => {
      const key = subjectKey(session.sub);
      // Only a holder of the MAC key can make a token name another subject than its session's.
      if (bound.subjectKey !== undefined && bound.subjectKey !== key) {
        throw new GrantError('bad_mac', 'the refresh token does not verify');
      }
      watermark ??= this.readWatermark(key);
      return watermark;
    };
    // Known once a write has returned the item: the cap of the idle expiry (the write refuses to pass it).
    let absoluteExpiresAt = Number.POSITIVE_INFINITY;
    for (let attempt = 0; attempt < MAX_REFRESH_ATTEMPTS; attempt++) {
      const now = this.clock();
      let outcome: RefreshRotationOutcome | undefined;
      if (generation <= MAX_GENERATION) {
        const write = this.store.rotateForRefresh(parts.sid, {
          presentedGeneration: presented,
          generation,
          salt,
          clientId,
          at: now,
          idleExpiresAt: Math.min(now + this.idleMs, absoluteExpiresAt),
        });
        // Version 3 (and 1, after its read): the watermark read goes out beside the write, after it.
        if (watermark === undefined && bound.subjectKey !== undefined) {
          watermark = this.readWatermark(bound.subjectKey);
        }
        if (attempt === 0) speculative = this.signDuringWrite(parts.sid, clientId, keys);
        outcome = await write;
        // Current, or ahead (this region has not seen a rotation another region made; the MAC proves the
        // token was issued, so the presented generation is the current one): rotated.
        if (outcome.applied) {
          await this.refuseBehindWatermark(outcome.session, now, await subjectOf(outcome.session));
          return this.issue(outcome.session, generation, keys, macKey, speculative, bound.subjectKey);
        }
      } else {
        outcome = { applied: false, session: await this.store.get(parts.sid, { consistent: true }) };
      }
      const session = outcome.session;
      // A token that does not match its session revokes nothing: a forger who knows a sid must not log anyone out.
      if (session === undefined) throw new GrantError('session_not_found', 'no such session');
      if (!saltsEqual(session.salt, salt))
        throw new GrantError('bad_mac', 'the refresh token does not verify');
      if (session.clientId !== clientId) {
        throw new GrantError('client_mismatch', 'the refresh token was issued to another client');
      }
      const status = sessionStatus(session, now);
      if (status !== 'active') throw STATUS_ERRORS[status]();

      const stored = session.generation;
      if (presented >= stored) {
        if (generation > MAX_GENERATION) {
          throw new GrantError('session_expired', 'the session has run out of rotations');
        }
        // Everything held but the idle cap (the session's last idle period), or the item changed between the
        // condition and now: write again, capped at the absolute expiry the item returned.
        absoluteExpiresAt = session.absoluteExpiresAt;
        continue;
      }
      if (presented === stored - 1 && now - session.rotatedAt < this.graceMs) {
        // A concurrent or retried refresh: hand out the same successor, no fork, no false theft alarm.
        await this.refuseBehindWatermark(session, now, await subjectOf(session));
        return this.issue(session, stored, keys, macKey, speculative, bound.subjectKey);
      }
      await this.store.revoke(session.sid, 'refresh_token_reuse', now);
      await this.deps.onSecurityEvent?.({
        type: 'refresh_token_reuse',
        sid: session.sid,
        sub: session.sub,
        clientId: session.clientId,
        presentedGeneration: presented,
        currentGeneration: stored,
      });
      throw new GrantError(
        'refresh_token_reused',
        'the refresh token was already used; the session is revoked',
      );
    }
    throw new Error(`refresh lost ${MAX_REFRESH_ATTEMPTS} races in a row`);
  }

  /**
   * Revokes the session a refresh token belongs to (logout by refresh token, RFC 7009). A token that does
   * not verify revokes nothing.
   *
   * @returns the revoked session's id, or `undefined` when nothing was revoked.
   */
  public async revokeByRefreshToken(
    refreshToken: unknown,
    clientId: string,
    reason: RevokeReason,
  ): Promise<string | undefined> {
    let parts: RefreshTokenParts;
    try {
      parts = parseRefreshToken(refreshToken);
    } catch {
      return undefined;
    }
    const keys = await this.deps.keys();
    // A version 3 or 2 token is authenticated before the read; a forged one costs no I/O.
    if (parts.version !== LEGACY_REFRESH_TOKEN_VERSION && !verifyRefreshMac(parts, keys.macKeys)) {
      return undefined;
    }
    const session = await this.store.get(parts.sid, { consistent: true });
    if (session === undefined || !verifyRefreshMac(parts, keys.macKeys, session.salt)) return undefined;
    if (session.clientId !== clientId) return undefined;
    return (await this.store.revoke(session.sid, reason, this.clock())) ? session.sid : undefined;
  }

  /** Revokes one session of `sub`; another subject's session is left alone. */
  public logout(sid: string, sub: string, reason: RevokeReason = 'logout'): Promise<boolean> {
    return this.store.revoke(sid, reason, this.clock(), sub);
  }

  /**
   * Ends every session of `sub`, in every region, with one write: the subject's watermark moves to now (plus
   * the clock margin). It reads no index and depends on no session item having replicated: a session this
   * region has not seen yet is as dead as the others (docs/design.md "Log out everywhere").
   */
  public async logoutAll(sub: string): Promise<void> {
    const now = this.clock();
    await this.deps.subjects.moveWatermark(sub, watermarkAt(now, this.marginMs), now);
  }

  /**
   * Ends every session of `sub` but `keepSid` (a password change in that session): the kept session is
   * marked re-authenticated past the new watermark first, then the watermark moves. If the second write
   * fails, the kept session has only been marked: nothing else changed.
   * @returns false when `keepSid` is not a live session of `sub` (nothing was written).
   */
  public async endOtherSessions(sub: string, keepSid: string): Promise<boolean> {
    const now = this.clock();
    const notBefore = watermarkAt(now, this.marginMs);
    if (!(await this.store.markAuthenticated(keepSid, sub, notBefore + 1))) return false;
    await this.deps.subjects.moveWatermark(sub, notBefore, now);
    return true;
  }

  /**
   * The sessions of `sub` that can still be used, newest first: the subject's watermark applies, so a
   * session ended by "log out everywhere" is not listed although its own item was never written.
   */
  public async listSessions(sub: string): Promise<SessionRecord[]> {
    const [subject, sessions] = await Promise.all([
      this.deps.subjects.get(sub, { consistent: true }),
      this.store.listBySubject(sub),
    ]);
    const now = this.clock();
    return sessions.filter((session) => sessionStatus(session, now, subject) === 'active');
  }

  /**
   * Starts the consistent read of a subject's watermark item. A failure surfaces where it is awaited (the
   * refresh fails closed); one that is never awaited (the write failed first) is not an unhandled rejection.
   */
  private readWatermark(key: string): Promise<SubjectRecord | undefined> {
    const read = this.deps.subjects.getByKey(key, { consistent: true });
    read.catch(() => undefined);
    return read;
  }

  /** Refuses (and revokes) a session its subject's watermark has ended. */
  private async refuseBehindWatermark(
    session: SessionRecord,
    now: number,
    subject: SubjectRecord | undefined,
  ): Promise<void> {
    const refusal = watermarkRefusal(subject, session.authenticatedAt);
    if (refusal !== undefined) {
      await this.store.revoke(session.sid, 'logout_all', now);
      throw STATUS_ERRORS[refusal]();
    }
  }

  /**
   * The MAC key the token names. The successor is derived under the same key as the presented token, so it is
   * a pure function of `(K, sid, generation, salt)`: concurrent refreshes and regions agree on it. MAC keys are
   * therefore kept for the longest absolute session lifetime.
   */
  private macKeyOf(parts: RefreshTokenParts, keys: KeySet): MacKey {
    const macKey = keys.macKeys.find((key) => key.kid === parts.macKid);
    if (macKey === undefined) {
      throw new GrantError('unknown_mac_key', 'the refresh token was signed by an unknown or retired key');
    }
    return macKey;
  }

  /**
   * Authenticates the token and returns the session salt and the subject key it is bound to. Versions 3 and
   * 2: the MAC covers the salt (and, in version 3, the subject key) the token carries, checked before any I/O
   * (the write then requires the item to hold that salt). Version 1: the salt is only in the item, so it is
   * read (consistently) first, and the subject key comes from the item's `sub`. Version 2 knows no subject
   * key before its write returns the item.
   */
  private async authenticate(
    parts: RefreshTokenParts,
    keys: KeySet,
  ): Promise<{ readonly salt: string; readonly subjectKey?: string }> {
    if (parts.version === LEGACY_REFRESH_TOKEN_VERSION) {
      const session = await this.store.get(parts.sid, { consistent: true });
      if (session === undefined) throw new GrantError('session_not_found', 'no such session');
      if (!verifyRefreshMac(parts, keys.macKeys, session.salt)) {
        throw new GrantError('bad_mac', 'the refresh token does not verify');
      }
      return { salt: session.salt, subjectKey: subjectKey(session.sub) };
    }
    if (parts.salt === undefined || !verifyRefreshMac(parts, keys.macKeys)) {
      throw new GrantError('bad_mac', 'the refresh token does not verify');
    }
    return parts.subjectKey === undefined
      ? { salt: parts.salt }
      : { salt: parts.salt, subjectKey: parts.subjectKey };
  }

  /**
   * Starts signing the access token before the refresh write returns, from the session's immutable fields
   * (`sub`, `clientId`, `scope`, `absoluteExpiresAt`) as this instance last saw them in the table. Called only
   * after the refresh token's MAC verified. The token is handed out only when the write's returned item
   * confirms every field (see {@link issue}); otherwise it is dropped, never sent.
   */
  private signDuringWrite(sid: string, clientId: string, keys: KeySet): SpeculativeAccess | undefined {
    const subject = this.subjects.get(sid);
    if (subject === undefined || subject.clientId !== clientId) return undefined;
    // Deferred until the requests are on the wire: the signing then fills the wait for their answers.
    const access = new Promise<MintedAccessToken>((resolve, reject) => {
      setImmediate(() => {
        this.minter
          .mint(
            currentSigningKey(keys),
            { sub: subject.sub, sid, clientId: subject.clientId, scope: subject.scope },
            subject.absoluteExpiresAt,
          )
          .then(resolve, reject);
      });
    });
    access.catch(() => undefined); // a dropped speculation must not surface as an unhandled rejection
    return { subject, access };
  }

  private remember(session: SessionRecord): void {
    this.subjects.delete(session.sid);
    this.subjects.set(session.sid, {
      sub: session.sub,
      clientId: session.clientId,
      scope: session.scope,
      absoluteExpiresAt: session.absoluteExpiresAt,
    });
    if (this.subjects.size > MAX_REMEMBERED_SESSIONS) {
      const oldest = this.subjects.keys().next().value;
      if (oldest !== undefined) this.subjects.delete(oldest);
    }
  }

  private async issue(
    session: SessionRecord,
    generation: number,
    keys: KeySet,
    macKey: MacKey,
    speculative?: SpeculativeAccess,
    /** The session's subject key when known already (checked against its `sub` by the caller). */
    key: string = subjectKey(session.sub),
  ): Promise<TokenSet> {
    const confirmed =
      speculative !== undefined &&
      speculative.subject.sub === session.sub &&
      speculative.subject.clientId === session.clientId &&
      speculative.subject.scope === session.scope &&
      speculative.subject.absoluteExpiresAt === session.absoluteExpiresAt;
    const access: MintedAccessToken = confirmed
      ? await speculative.access
      : await this.minter.mint(
          currentSigningKey(keys),
          { sub: session.sub, sid: session.sid, clientId: session.clientId, scope: session.scope },
          session.absoluteExpiresAt,
        );
    this.remember(session);
    return {
      accessToken: access.token,
      expiresIn: access.claims.exp - access.claims.iat,
      scope: session.scope,
      refreshToken: deriveRefreshToken(macKey, session.sid, generation, session.salt, key),
      sid: session.sid,
      kid: access.kid,
      jti: access.claims.jti,
      sessionExpiresAt: session.absoluteExpiresAt,
    };
  }
}
