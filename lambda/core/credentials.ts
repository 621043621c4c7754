import { randomBytes, randomUUID } from 'node:crypto';
import type { Clock } from './clock';
import { AccountLockedError, GrantError, InvalidRequestError } from './errors';
import type { MacKey } from './keys';
import { currentMacKey } from './keys';
import {
  inBackoff,
  issueDeviceToken,
  type LoginRefusal,
  type LoginThrottlePolicy,
  resolveLoginThrottlePolicy,
  type ThrottleStore,
  throttleSource,
  usernameHash,
  verifyDeviceToken,
} from './login-throttle';
import {
  normalizePassword,
  type PasswordHasher,
  resolveScryptParams,
  type ScryptParams,
  scryptHasher,
} from './password-hashing';
import { enforcePasswordPolicy } from './password-policy';
import { enforceUsername } from './username';

export { MAX_USERNAME_LENGTH } from './username';

/**
 * Password credentials for the built-in login (docs/design.md "Sessions": user items with scrypt hashes and
 * login throttles): the credential service, the users it reads and the storage port it needs.
 * Hashing is in `password-hashing.ts`, the throttle in `login-throttle.ts`, usernames in `username.ts`.
 */

/**
 * Checks a username and returns its canonical form (RFC 8265 UsernameCaseMapped, see `username.ts`).
 * @throws {InvalidRequestError} for a name the profile refuses.
 */
export function normalizeUsername(username: unknown): string {
  return enforceUsername(username);
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
 * The port the credential service needs from storage: users by normalised username, and the login throttle's
 * counters (kept for unknown names too, keyed identically).
 */
export interface UserStore extends ThrottleStore {
  /** Reads a user by normalised username. */
  getUser(username: string): Promise<UserRecord | undefined>;
  /**
   * Writes a user.
   * @returns false when the username exists and `overwrite` was not requested (nothing is written).
   */
  putUser(user: UserRecord, options?: { readonly overwrite?: boolean }): Promise<boolean>;
  /**
   * The normalised username of the user whose subject is `userId` (strongly consistent where storage offers
   * it), or undefined when none was written for it.
   */
  getUsername(userId: string): Promise<string | undefined>;
  /**
   * Replaces a user's password hash, only if the user still has this `userId` and still holds `expectedHash`
   * (a concurrent change or re-creation wins, and this write does nothing).
   * @returns false when nothing was written.
   */
  replacePasswordHash(
    username: string,
    userId: string,
    expectedHash: string,
    passwordHash: string,
  ): Promise<boolean>;
}

/** Who logged in. */
export interface AuthenticatedUser {
  readonly userId: string;
  readonly username: string;
  readonly scope: string;
  /** A fresh device token for this account and device (absent when the service has no MAC keys). */
  readonly deviceToken?: string;
}

/** Where a login attempt comes from. */
export interface LoginAttempt {
  /** The source address (API Gateway's `requestContext.identity.sourceIp`). @default 'unknown' */
  readonly source?: string;
  /** The device token the client presents (cookie or `device_token` field), if any. */
  readonly deviceToken?: string;
}

/** One refused login, for the `login refused` log line: never the username, never the password. */
export interface LoginRefusedEvent {
  readonly reason: LoginRefusal;
  readonly source: string;
  /** The keyed hash of the enforced username (login-throttle.ts `usernameHash`); absent without MAC keys. */
  readonly userHash?: string;
  /** Whether the attempt presented a valid device token. */
  readonly knownDevice: boolean;
  readonly retryAfterSeconds?: number;
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
  /** @default {@link LOGIN_THROTTLE_DEFAULTS} */
  readonly throttle?: LoginThrottlePolicy;
  /**
   * The MAC keys of the signing key set: they sign device tokens and key the username hash of log lines.
   * Without them no device token is issued or accepted.
   */
  readonly macKeys?: () => Promise<readonly MacKey[]>;
  /** Called once for every refused login (wrong credentials or throttled). */
  readonly onRefused?: (event: LoginRefusedEvent) => void;
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
 * Password login behind the login throttle (login-throttle.ts). `authenticate` reserves the attempt
 * atomically for its account and source (the device when its token is valid, else the address) and, for an
 * unknown device while the account is under attack, takes an account-wide back-off slot, all before any
 * password work; then checks the password of a known user or, for an unknown name, a dummy hash with the same
 * parameters (the same scrypt work), and answers both failures with the identical error. A failure is counted
 * account-wide; a success resets its source's count and hands out a (renewed) device token.
 *
 * Limit (documented, accepted): the first unknown-name attempt of a fresh instance also computes the dummy
 * hash unless {@link prepare} ran.
 */
export class CredentialService {
  private readonly users: UserStore;
  private readonly clock: Clock;
  private readonly policy: ReturnType<typeof resolveLoginThrottlePolicy>;
  private readonly params: Required<ScryptParams>;
  private readonly hasher: PasswordHasher;
  private readonly macKeys: (() => Promise<readonly MacKey[]>) | undefined;
  private readonly onRefused: (event: LoginRefusedEvent) => void;
  private dummyHash: Promise<string> | undefined;

  public constructor(deps: CredentialServiceDeps) {
    this.users = deps.users;
    this.clock = deps.clock ?? Date.now;
    this.policy = resolveLoginThrottlePolicy(deps.throttle);
    this.params = resolveScryptParams(deps.scrypt);
    this.hasher = deps.hasher ?? scryptHasher;
    this.macKeys = deps.macKeys;
    this.onRefused = deps.onRefused ?? (() => {});
  }

  /** Computes the dummy hash now (call it at start-up so the first unknown-name login costs no extra work). */
  public async prepare(): Promise<void> {
    await this.dummy();
  }

  /**
   * Checks a username and password.
   * @throws {InvalidRequestError} for input outside the limits (before any read).
   * @throws {AccountLockedError} when the throttle refuses the attempt, before any password work.
   * @throws {GrantError} `invalid_credentials` for a wrong password and an unknown username alike.
   * @throws {TypeError} when the stored hash of the user is corrupt.
   */
  public async authenticate(
    username: unknown,
    password: unknown,
    attempt: LoginAttempt = {},
  ): Promise<AuthenticatedUser> {
    const name = normalizeUsername(username);
    const secret = normalizePassword(password);
    const checked = await this.checkPassword(name, secret, attempt, (user) => user);
    const { user, keys, deviceId, now } = checked;
    const newest = keys.length === 0 ? undefined : currentMacKey({ signingKeys: [], macKeys: keys });
    return {
      userId: user.userId,
      username: user.username,
      scope: user.scope,
      ...(newest === undefined ? {} : { deviceToken: issueDeviceToken(newest, name, now, deviceId) }),
    };
  }

  /**
   * Changes the password of the user whose subject is `userId` (the bearer token's `sub`): finds the
   * username through the store, checks the new password against the policy (password-policy.ts), then the
   * current password behind the login throttle exactly as {@link authenticate} does (the same counters: a
   * wrong current password is a failed login of the account), and only then writes the new hash, on the
   * condition that the stored hash is still the one checked. Sessions are the caller's business.
   * @throws {InvalidRequestError} for input outside the limits, or when the subject has no password login.
   * @throws {PasswordPolicyError} naming the rule the new password breaks (before any password work).
   * @throws {AccountLockedError} when the throttle refuses the attempt, before any password work.
   * @throws {GrantError} `invalid_credentials` for a wrong current password, or when the stored hash changed
   * after it was checked (a concurrent change won).
   */
  public async changePassword(
    userId: string,
    currentPassword: unknown,
    newPassword: unknown,
    attempt: LoginAttempt = {},
  ): Promise<{ readonly username: string }> {
    const current = normalizePassword(currentPassword);
    const name = await this.users.getUsername(userId);
    if (name === undefined) throw new InvalidRequestError('this account has no password to change');
    const next = enforcePasswordPolicy(newPassword, name);
    // A user re-created under this name with another subject is not this subject's account.
    const { user } = await this.checkPassword(name, current, attempt, (found) =>
      found.userId === userId ? found : undefined,
    );
    const passwordHash = await this.hasher.hash(next, this.params);
    if (!(await this.users.replacePasswordHash(name, userId, user.passwordHash, passwordHash))) {
      throw invalidCredentials();
    }
    return { username: name };
  }

  /**
   * The throttled password check of login and password change: reserves the attempt for the account and its
   * source (and a back-off slot when due) before any password work, checks the password against the user
   * `accept` keeps (a dummy hash when none: the same scrypt work), clears the source's count on success and
   * counts a failure account-wide.
   */
  private async checkPassword(
    name: string,
    secret: string,
    attempt: LoginAttempt,
    accept: (user: UserRecord) => UserRecord | undefined,
  ): Promise<{ user: UserRecord; keys: readonly MacKey[]; deviceId: string | undefined; now: number }> {
    const address = attempt.source ?? 'unknown';
    const now = this.clock();
    const keys = this.macKeys === undefined ? [] : await this.macKeys();
    const deviceId = verifyDeviceToken(
      attempt.deviceToken,
      name,
      keys,
      now,
      this.policy.deviceTokenLifetimeSeconds,
    );
    const refused = (reason: LoginRefusal, retryAfterSeconds?: number) =>
      this.onRefused({
        reason,
        source: address,
        knownDevice: deviceId !== undefined,
        ...(keys.length === 0
          ? {}
          : { userHash: usernameHash(currentMacKey({ signingKeys: [], macKeys: keys }), name) }),
        ...(retryAfterSeconds === undefined ? {} : { retryAfterSeconds }),
      });
    const windowMs = this.policy.windowSeconds * 1000;
    const sourceKey = { username: name, source: throttleSource(address, deviceId) };

    // The account-wide state first (one read), so a throttled unknown device does not spend its source's budget.
    const account = deviceId === undefined ? await this.users.getAccount(name) : undefined;
    const backoff = inBackoff(account, now, this.policy);
    const reserved = await this.users.reserve(sourceKey, {
      at: now,
      windowMs,
      limit: this.policy.sourceMaxAttempts,
    });
    if (!reserved.reserved) {
      // A full window waits for its end. Below the limit the store lost its race to other requests of this
      // source every time (UserStore.reserve): those are in flight now, so a second is enough.
      const full = reserved.count >= this.policy.sourceMaxAttempts;
      const retryAfter = full ? Math.max(1, Math.ceil((reserved.windowStart + windowMs - now) / 1000)) : 1;
      refused('source_throttled', retryAfter);
      throw new AccountLockedError(retryAfter);
    }
    if (backoff && !(await this.users.reserveSlot(name, now, this.policy.accountBackoffSeconds * 1000))) {
      refused('account_backoff', this.policy.accountBackoffSeconds);
      throw new AccountLockedError(this.policy.accountBackoffSeconds);
    }

    const found = await this.users.getUser(name);
    const user = found === undefined ? undefined : accept(found);
    const stored = user?.passwordHash ?? (await this.dummy());
    const matches = await this.hasher.verify(secret, stored);
    if (user !== undefined && matches) {
      await this.users.clear(sourceKey);
      return { user, keys, deviceId, now };
    }
    await this.users.reserve({ username: name }, { at: now, windowMs, limit: Number.MAX_SAFE_INTEGER });
    refused('invalid_credentials');
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
