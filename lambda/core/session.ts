import { type SubjectRecord, watermarkRefusal } from './subject';

/** Why a session was revoked. Stable: logs and metrics key on it. */
export type RevokeReason =
  | 'logout'
  | 'logout_all'
  | 'refresh_token_reuse'
  | 'revoked_by_user'
  | 'token_revocation';

/** One server-side session: the state every access token points at through its `sid`. */
export interface SessionRecord {
  readonly sid: string;
  readonly sub: string;
  readonly clientId: string;
  readonly scope: string;
  /** Epoch milliseconds, as every time in this record. */
  readonly createdAt: number;
  /**
   * When the user last proved their password for this session: `createdAt` at login, moved past the new
   * watermark by a password change in this session. The subject watermark compares against it
   * (lambda/core/subject.ts). Items written before it existed lack it and are read as `createdAt`.
   */
  readonly authenticatedAt: number;
  readonly lastUsedAt: number;
  /** Never moves: refreshing cannot extend a session past this. */
  readonly absoluteExpiresAt: number;
  /** Moves forward on each refresh, never past `absoluteExpiresAt`. */
  readonly idleExpiresAt: number;
  /** Generation of the newest refresh token. */
  readonly generation: number;
  /** Random per-session MAC salt, base64url. Not a secret on its own: the MAC keys are. */
  readonly salt: string;
  /** When `generation` last advanced (`createdAt` before the first refresh). */
  readonly rotatedAt: number;
  readonly revokedAt?: number;
  readonly revokedReason?: RevokeReason;
  /** The client's `User-Agent` at login, truncated. */
  readonly userAgent?: string;
  /** The source IP at login. */
  readonly ip?: string;
}

/** Whether a session may be used now, and if not why. */
export type SessionStatus =
  | 'active'
  | 'revoked'
  | 'expired'
  | 'idle'
  /** Behind its subject's watermark: "log out everywhere", a password change or a disable ended it. */
  | 'logged_out_everywhere'
  /** Its subject is disabled. */
  | 'disabled';

/**
 * The rules every session check applies (the authorizer and the refresh path alike). `subject` is the
 * subject's watermark item when the caller read it (undefined: no item, nothing refused by it).
 */
export function sessionStatus(session: SessionRecord, now: number, subject?: SubjectRecord): SessionStatus {
  if (session.revokedAt !== undefined) return 'revoked';
  const refusal = watermarkRefusal(subject, session.authenticatedAt);
  if (refusal !== undefined) return refusal;
  if (now >= session.absoluteExpiresAt) return 'expired';
  if (now >= session.idleExpiresAt) return 'idle';
  return 'active';
}

/** The changes one refresh-token rotation writes. */
export interface Rotation {
  /** The generation the item must hold for the write to apply. */
  readonly expectedGeneration: number;
  readonly generation: number;
  readonly rotatedAt: number;
  readonly idleExpiresAt: number;
}

/**
 * One refresh as one conditional write (docs/design.md "Refresh tokens": the rotate branch as the write's
 * condition). The write applies when the item exists, holds `salt` and `clientId`, is not revoked, is neither
 * expired nor idle at `at`, holds a generation not ahead of `presentedGeneration`, and `idleExpiresAt` does
 * not pass its absolute expiry.
 */
export interface RefreshRotation {
  /** The generation of the presented (already authenticated) token. */
  readonly presentedGeneration: number;
  /** The generation written: `presentedGeneration + 1`. */
  readonly generation: number;
  /** The salt the token carries. */
  readonly salt: string;
  readonly clientId: string;
  /** Now, epoch ms: the time of the checks and the new `rotatedAt` and `lastUsedAt`. */
  readonly at: number;
  readonly idleExpiresAt: number;
}

/** What a {@link RefreshRotation} did, with the item it decided on (no second read needed). */
export type RefreshRotationOutcome =
  | { readonly applied: true; readonly session: SessionRecord }
  /** The condition failed: `session` is the item as it was (undefined when there is none). */
  | { readonly applied: false; readonly session: SessionRecord | undefined };

/**
 * The port the session service needs from storage. The DynamoDB adapter implements it; every write that
 * races is conditional and reports whether it applied.
 */
export interface SessionStore {
  /** Writes a new session; fails if the `sid` exists. */
  create(session: SessionRecord): Promise<void>;
  /** Reads a session; `consistent` asks for a strongly consistent read. */
  get(sid: string, options?: { readonly consistent?: boolean }): Promise<SessionRecord | undefined>;
  /**
   * Advances the generation if the item still holds `expectedGeneration` and is not revoked.
   * @returns false when the condition failed (another rotation or a revocation won the race).
   */
  rotate(sid: string, rotation: Rotation): Promise<boolean>;
  /**
   * The refresh write: advances the generation when every condition of `rotation` holds, in one request.
   * @returns the item after the write, or the item as it was when the condition failed.
   */
  rotateForRefresh(sid: string, rotation: RefreshRotation): Promise<RefreshRotationOutcome>;
  /**
   * Revokes a session unless already revoked; when `sub` is given, only if the session belongs to it.
   * @returns false when nothing was revoked.
   */
  revoke(sid: string, reason: RevokeReason, at: number, sub?: string): Promise<boolean>;
  /**
   * Sets `authenticatedAt` (a password change in this session), if the session belongs to `sub` and is not
   * revoked. @returns false when nothing was written.
   */
  markAuthenticated(sid: string, sub: string, authenticatedAt: number): Promise<boolean>;
  /** Every session of a subject, newest first, revoked and expired ones included. */
  listBySubject(sub: string): Promise<SessionRecord[]>;
}
