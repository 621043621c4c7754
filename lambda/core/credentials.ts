import { randomBytes, randomUUID } from 'node:crypto';
import type { Clock } from './clock';
import { AccountLockedError, GrantError, InvalidRequestError } from './errors';
import type { FailedAttempt, FailureRecord, LockoutPolicy } from './login-throttle';
import { DEFAULT_LOCKOUT_POLICY, lockState, resolveLockoutPolicy } from './login-throttle';
import {
  DEFAULT_SCRYPT_PARAMS,
  normalizePassword,
  type PasswordHasher,
  resolveScryptParams,
  type ScryptParams,
  scryptHasher,
} from './password-hashing';

/**
 * Password credentials for the built-in login (docs/design.md "Sessions": user items with scrypt hashes and
 * failed-attempt counters): the credential service, the users it reads and the storage port it needs.
 * Hashing is in `password-hashing.ts`, the lock-out rule in `login-throttle.ts`.
 */

/** Longest username accepted, in UTF-16 code units after normalisation. */
export const MAX_USERNAME_LENGTH = 128;

/**
 * Checks a username and returns its canonical form, the key every lookup and every throttle record uses:
 * NFKC (full-width and compatibility forms fold), lower case, NFKC again, trimmed.
 * @throws {InvalidRequestError} unless 1 to {@link MAX_USERNAME_LENGTH} characters without control
 * characters remain.
 */
export function normalizeUsername(username: unknown): string {
  // Bound the input before normalising: NFKC can expand a character up to 18 times.
  if (typeof username !== 'string' || username.length > 8 * MAX_USERNAME_LENGTH) {
    throw new InvalidRequestError(`the username must be 1 to ${MAX_USERNAME_LENGTH} characters`);
  }
  if (/[\p{Cc}\p{Cs}]/u.test(username)) {
    throw new InvalidRequestError('the username contains control characters or is not well-formed Unicode');
  }
  const normalized = username.normalize('NFKC').toLowerCase().normalize('NFKC').trim();
  if (normalized.length === 0 || normalized.length > MAX_USERNAME_LENGTH) {
    throw new InvalidRequestError(`the username must be 1 to ${MAX_USERNAME_LENGTH} characters`);
  }
  return normalized;
}

/** A user of the built-in password login, as stored. */
export interface UserRecord {
  /** The normalised username ({@link normalizeUsername}). */
  readonly username: string;
  /** The subject (`sub`) of the user's sessions and tokens. */
  readonly userId: string;
  /** Space-separated scopes granted at login. */
  readonly scope: string;
  /** The stored scrypt hash ({@link hashPassword}). */
  readonly passwordHash: string;
}

/**
 * The port the credential service needs from storage: users by normalised username, and the per-username
 * failed-login records (kept for unknown names too, keyed identically).
 */
export interface UserStore {
  /** Reads a user by normalised username. */
  getUser(username: string): Promise<UserRecord | undefined>;
  /**
   * Writes a user.
   * @returns false when the username exists and `overwrite` was not requested (nothing is written).
   */
  putUser(user: UserRecord, options?: { readonly overwrite?: boolean }): Promise<boolean>;
  /** Reads the failure record of a normalised username (strongly consistent where storage offers it). */
  getFailures(username: string): Promise<FailureRecord | undefined>;
  /** Counts one failure atomically and returns the record as written. */
  recordFailure(username: string, attempt: FailedAttempt): Promise<FailureRecord>;
  /** Forgets the failures of a username (after a successful login). */
  clearFailures(username: string): Promise<void>;
}

/** Who logged in. */
export interface AuthenticatedUser {
  readonly userId: string;
  readonly username: string;
  readonly scope: string;
}

/** A user to create. */
export interface NewUser {
  /** Normalised before storing. */
  readonly username: string;
  readonly password: string;
  /** Space-separated scopes granted at login. @default '' */
  readonly scope?: string;
  /** The subject. @default a random UUID */
  readonly userId?: string;
}

/** Collaborators and settings of {@link CredentialService}. */
export interface CredentialServiceDeps {
  readonly users: UserStore;
  readonly clock?: Clock;
  /** @default {@link DEFAULT_LOCKOUT_POLICY} */
  readonly lockout?: LockoutPolicy;
  /**
   * The parameters of new hashes and of the dummy hash that unknown usernames are checked against. Keep them
   * equal to those of the stored hashes, or an unknown name costs different work than a known one.
   * @default {@link DEFAULT_SCRYPT_PARAMS}
   */
  readonly scrypt?: ScryptParams;
  /** @default {@link scryptHasher} */
  readonly hasher?: PasswordHasher;
}

/** The one answer to a wrong password and to an unknown username alike. */
function invalidCredentials(): GrantError {
  return new GrantError('invalid_credentials', 'invalid username or password');
}

/**
 * Password login. `authenticate` refuses a locked username before any password work, checks the password of
 * a known user or, for an unknown name, a dummy hash with the same parameters (the same scrypt work), and
 * answers both failures with the identical error; failures are counted per normalised username, existing or
 * not, and a success clears them.
 *
 * Limits (documented, accepted): a burst of attempts that all read the record before the first failure is
 * written is evaluated in full (bounded by concurrency; the WAF rate rule covers bursts); the first
 * unknown-name attempt of a fresh instance also computes the dummy hash unless {@link prepare} ran.
 */
export class CredentialService {
  private readonly users: UserStore;
  private readonly clock: Clock;
  private readonly policy: Required<LockoutPolicy>;
  private readonly params: Required<ScryptParams>;
  private readonly hasher: PasswordHasher;
  private dummyHash: Promise<string> | undefined;

  public constructor(deps: CredentialServiceDeps) {
    this.users = deps.users;
    this.clock = deps.clock ?? Date.now;
    this.policy = resolveLockoutPolicy(deps.lockout);
    this.params = resolveScryptParams(deps.scrypt);
    this.hasher = deps.hasher ?? scryptHasher;
  }

  /** Computes the dummy hash now (call it at start-up so the first unknown-name login costs no extra work). */
  public async prepare(): Promise<void> {
    await this.dummy();
  }

  /**
   * Checks a username and password.
   * @throws {InvalidRequestError} for input outside the limits (before any read).
   * @throws {AccountLockedError} while the username is locked, before any password work.
   * @throws {GrantError} `invalid_credentials` for a wrong password and an unknown username alike.
   * @throws {TypeError} when the stored hash of the user is corrupt.
   */
  public async authenticate(username: unknown, password: unknown): Promise<AuthenticatedUser> {
    const name = normalizeUsername(username);
    const secret = normalizePassword(password);
    const [record, user] = await Promise.all([this.users.getFailures(name), this.users.getUser(name)]);
    const now = this.clock();
    const state = lockState(record, now, this.policy);
    if (state.lockedUntil !== undefined) {
      throw new AccountLockedError(Math.max(1, Math.ceil((state.lockedUntil - now) / 1000)));
    }
    const stored = user?.passwordHash ?? (await this.dummy());
    const matches = await this.hasher.verify(secret, stored);
    if (user !== undefined && matches) {
      if (record !== undefined) await this.users.clearFailures(name);
      return { userId: user.userId, username: user.username, scope: user.scope };
    }
    await this.users.recordFailure(name, {
      at: now,
      expiresAt: now + (this.policy.maxLockSeconds + this.policy.windowSeconds) * 1000,
      ...(record !== undefined && state.stale ? { resetIfLastFailureAt: record.lastFailureAt } : {}),
    });
    throw invalidCredentials();
  }

  /**
   * Creates (seeds) a user: normalises the username, hashes the password with the configured parameters and
   * writes the user through the store.
   * @returns the user as stored, or undefined when the username exists and `overwrite` was not requested.
   * @throws {InvalidRequestError} for a username or password outside the limits.
   */
  public async createUser(
    user: NewUser,
    options?: { readonly overwrite?: boolean },
  ): Promise<AuthenticatedUser | undefined> {
    const username = normalizeUsername(user.username);
    const password = normalizePassword(user.password);
    const userId = user.userId ?? randomUUID();
    if (userId.length === 0) throw new TypeError('userId must not be empty');
    const passwordHash = await this.hasher.hash(password, this.params);
    const record: UserRecord = { username, userId, scope: user.scope ?? '', passwordHash };
    if (!(await this.users.putUser(record, options))) return undefined;
    return { userId: record.userId, username, scope: record.scope };
  }

  private dummy(): Promise<string> {
    if (this.dummyHash === undefined) {
      const pending = this.hasher.hash(randomBytes(24).toString('base64url'), this.params);
      // A failed computation is retried by the next caller rather than cached.
      pending.catch(() => {
        if (this.dummyHash === pending) this.dummyHash = undefined;
      });
      this.dummyHash = pending;
    }
    return this.dummyHash;
  }
}
