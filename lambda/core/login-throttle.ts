import { definedOnly } from './password-hashing';

/**
 * The login throttle: failed logins are counted per normalised username, for names that exist and names
 * that do not alike, and a username is locked with exponential back-off after too many failures. The rule
 * is a pure function of the stored record, the time and the policy.
 */

/** The failed-login record of one normalised username, whether or not such a user exists. */
export interface FailureRecord {
  /** Failed attempts counted since `firstFailureAt`. */
  readonly failures: number;
  /** Epoch ms of the first failure counted. */
  readonly firstFailureAt: number;
  /** Epoch ms of the latest failure counted; a lock runs from here. */
  readonly lastFailureAt: number;
}

/** One failed attempt to record. */
export interface FailedAttempt {
  /** Epoch ms of the attempt. */
  readonly at: number;
  /** Epoch ms after which the record is irrelevant and storage may delete it. */
  readonly expiresAt: number;
  /**
   * Start a new count (failures = 1 at `at`) instead of incrementing, provided the stored record still has
   * this `lastFailureAt`, i.e. no failure was recorded since the caller read it and judged it stale. When the
   * condition does not hold, the failure is counted on top of what is stored: concurrent failures are never
   * lost.
   */
  readonly resetIfLastFailureAt?: number;
}

/** The lock-out rules. Every value is in whole seconds. */
export interface LockoutPolicy {
  /** Failures after which the username is locked. @default 5 */
  readonly maxFailures?: number;
  /**
   * Quiet period after which the count starts over: a failure more than this long after the previous one
   * (or after the end of the lock the previous one caused, whichever is later) counts as the first again.
   * @default 900 (15 minutes)
   */
  readonly windowSeconds?: number;
  /** The lock after the `maxFailures`-th failure; each further failure doubles it. @default 30 */
  readonly baseLockSeconds?: number;
  /** The longest lock. @default 900 (15 minutes) */
  readonly maxLockSeconds?: number;
}

/** The lock-out defaults: 5 failures, a 15-minute quiet window, 30 s doubling up to 15 minutes. */
export const DEFAULT_LOCKOUT_POLICY: Required<LockoutPolicy> = Object.freeze({
  maxFailures: 5,
  windowSeconds: 900,
  baseLockSeconds: 30,
  maxLockSeconds: 900,
});

/**
 * Resolves a lock-out policy against the defaults and validates it.
 * @throws {TypeError} with the value given and the values allowed.
 */
export function resolveLockoutPolicy(policy: LockoutPolicy = {}): Required<LockoutPolicy> {
  const resolved = { ...DEFAULT_LOCKOUT_POLICY, ...definedOnly(policy) };
  const { maxFailures, windowSeconds, baseLockSeconds, maxLockSeconds } = resolved;
  if (!Number.isInteger(maxFailures) || maxFailures < 1 || maxFailures > 100) {
    throw new TypeError(`maxFailures must be an integer from 1 to 100, got ${maxFailures}`);
  }
  if (!Number.isInteger(windowSeconds) || windowSeconds < 1 || windowSeconds > 86_400) {
    throw new TypeError(`windowSeconds must be an integer from 1 to 86400, got ${windowSeconds}`);
  }
  if (!Number.isInteger(baseLockSeconds) || baseLockSeconds < 1 || baseLockSeconds > 86_400) {
    throw new TypeError(`baseLockSeconds must be an integer from 1 to 86400, got ${baseLockSeconds}`);
  }
  if (!Number.isInteger(maxLockSeconds) || maxLockSeconds < baseLockSeconds || maxLockSeconds > 86_400) {
    throw new TypeError(
      `maxLockSeconds must be an integer from baseLockSeconds (${baseLockSeconds}) to 86400, got ${maxLockSeconds}`,
    );
  }
  return resolved;
}

/** What a failure record means now. */
export interface LockState {
  /** Epoch ms until which attempts are refused; absent when not locked. */
  readonly lockedUntil?: number;
  /** True when the record is past its quiet window: the next failure starts a new count. */
  readonly stale: boolean;
}

/**
 * The lock-out rule, a pure function of the record, the time and the policy: from the `maxFailures`-th
 * failure on, the username is locked for `baseLockSeconds * 2^(failures - maxFailures)` (at most
 * `maxLockSeconds`) after the latest failure; the count is stale once `windowSeconds` have passed since the
 * latest failure or the end of its lock, whichever is later, so waiting out a lock does not reset it.
 */
export function lockState(record: FailureRecord | undefined, now: number, policy?: LockoutPolicy): LockState {
  if (record === undefined) return { stale: true };
  const { maxFailures, windowSeconds, baseLockSeconds, maxLockSeconds } = resolveLockoutPolicy(policy);
  let lockEnd = record.lastFailureAt;
  if (record.failures >= maxFailures) {
    const doublings = Math.min(record.failures - maxFailures, 32);
    lockEnd += Math.min(baseLockSeconds * 2 ** doublings, maxLockSeconds) * 1000;
  }
  const stale = now - lockEnd >= windowSeconds * 1000;
  return lockEnd > now ? { lockedUntil: lockEnd, stale } : { stale };
}
