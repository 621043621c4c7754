/**
 * The per-subject revocation watermark (docs/design.md "Log out everywhere: the subject watermark"): one item
 * per subject that ends every session of the subject authenticated at or before `notBefore`, in every region,
 * as soon as the item has replicated, whatever the `bySubject` index or the sessions' own items say.
 */
import { createHash } from 'node:crypto';

/** The watermark state of one subject. A subject without an item has never been logged out everywhere. */
export interface SubjectRecord {
  readonly sub: string;
  /**
   * Epoch ms: every session whose `authenticatedAt` is at or before this is dead. Written as the writer's
   * clock plus the revocation clock margin (see {@link watermarkAt}).
   */
  readonly notBefore?: number;
  /** A disabled subject cannot log in, refresh or call anything. */
  readonly disabled?: boolean;
  /** Epoch ms of the last change. */
  readonly updatedAt: number;
}

/**
 * The key of a subject's watermark item, derived from its `sub`: the first 16 bytes of SHA-256 over
 * `hybrid-auth/subject/v1\0<sub>`, base64url. Fixed length, so a refresh token can carry it (version 3) and
 * the issuer can read the watermark in parallel with its one conditional write; the authorizer derives it
 * from the access token's `sub`. Not a secret: the access token carries the `sub` itself.
 */
export function subjectKey(sub: string): string {
  return createHash('sha256')
    .update('hybrid-auth/subject/v1\0')
    .update(sub, 'utf8')
    .digest()
    .subarray(0, 16)
    .toString('base64url');
}

/** Why a subject's watermark refuses a session, or `undefined` when it allows it. */
export type WatermarkRefusal = 'disabled' | 'logged_out_everywhere';

/**
 * Whether a subject's watermark allows a session authenticated at `authenticatedAt` (epoch ms).
 * `subject` undefined (no item) allows everything.
 */
export function watermarkRefusal(
  subject: SubjectRecord | undefined,
  authenticatedAt: number,
): WatermarkRefusal | undefined {
  if (subject === undefined) return undefined;
  if (subject.disabled === true) return 'disabled';
  if (subject.notBefore !== undefined && authenticatedAt <= subject.notBefore) return 'logged_out_everywhere';
  return undefined;
}

/**
 * The `notBefore` a watermark written now gets: `now + marginMs`. The margin bounds the clock difference
 * between regions: a session created in another region up to `marginMs` before this write, by a clock up to
 * `marginMs` ahead of this one, still carries an `authenticatedAt` at or before the watermark. Sessions
 * created within the margin after the write die too (a user logs in again a second later, not sooner).
 */
export function watermarkAt(now: number, marginMs: number): number {
  return now + marginMs;
}

/** The port the issuer, the scripts and the tests need for watermark items. */
export interface SubjectStore {
  /** The subject's watermark item; `consistent` asks for a strongly consistent read. */
  get(sub: string, options?: { readonly consistent?: boolean }): Promise<SubjectRecord | undefined>;
  /**
   * The watermark item of the subject whose {@link subjectKey} is `key` (what a version 3 refresh token
   * carries: the refresh reads it before it knows the `sub`). Same read as {@link get}.
   */
  getByKey(key: string, options?: { readonly consistent?: boolean }): Promise<SubjectRecord | undefined>;
  /**
   * Moves `notBefore` forward to `notBefore` (never back: a later watermark already there is kept). One
   * write, whatever the number of sessions. `at` is `updatedAt`.
   */
  moveWatermark(sub: string, notBefore: number, at: number): Promise<void>;
  /**
   * Disables (`disabled: true`, and `notBefore` moved forward as by {@link moveWatermark}, so enabling again
   * revives no old session) or enables (`disabled` removed) the subject. One write.
   */
  setDisabled(sub: string, disabled: boolean, notBefore: number, at: number): Promise<void>;
}
