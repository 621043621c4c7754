import { randomBytes, randomUUID, scrypt, timingSafeEqual } from 'node:crypto';
import type { Clock } from './clock';
import { AccountLockedError, GrantError, InvalidRequestError } from './errors';

/**
 * Password credentials for the built-in login (docs/design.md "Sessions": user items with scrypt hashes and
 * failed-attempt counters): scrypt hashing with a per-user salt and the parameters stored beside the hash,
 * constant-time verification, and a per-username lock-out with exponential back-off that behaves the same
 * for names that exist and names that do not.
 */

/** The scrypt cost parameters. */
export interface ScryptParams {
  /** CPU and memory cost; a power of two. @default 32768 (2^15) */
  readonly N?: number;
  /** Block size. @default 8 */
  readonly r?: number;
  /** Parallelisation. @default 1 */
  readonly p?: number;
  /** Length of the derived key (the stored hash) in bytes. @default 32 */
  readonly keyLength?: number;
}

/**
 * The defaults: N = 2^15, r = 8, p = 3 and a 32-byte key: one of the equivalent minimums of OWASP's Password
 * Storage Cheat Sheet (N = 2^17, p = 1 needs 128 MiB; N = 2^15, p = 3 needs 32 MiB at the same work), so a
 * login Lambda keeps a small memory size. About 0.27 s per hash on one current x86 core: login is meant to
 * be slow. Stored hashes keep their own parameters, and {@link needsRehash} finds the old ones.
 */
export const DEFAULT_SCRYPT_PARAMS: Required<ScryptParams> = Object.freeze({
  N: 2 ** 15,
  r: 8,
  p: 3,
  keyLength: 32,
});

/**
 * The bounds every parameter set must respect, for hashing and, above all, when a stored hash is parsed: a
 * tampered or corrupt hash must not make a login burn gigabytes of memory or seconds of CPU.
 */
export const SCRYPT_LIMITS = Object.freeze({
  /** log2 N from 10 (N = 1024, test-grade) to 20. */
  minLog2N: 10,
  maxLog2N: 20,
  maxR: 32,
  maxP: 16,
  /** 128 * N * r, the memory scrypt needs: at most 256 MiB. */
  maxMemoryBytes: 256 * 1024 * 1024,
  /** N * r * p, the work: at most 16 times the default's. */
  maxWork: 2 ** 22,
  minKeyLength: 16,
  maxKeyLength: 64,
  minSaltLength: 16,
  maxSaltLength: 64,
});

/** Bytes of random salt per hash. */
export const SALT_LENGTH = 16;

/** Longest password accepted, in UTF-16 code units (before and after normalisation). */
export const MAX_PASSWORD_LENGTH = 1024;

/** Longest username accepted, in UTF-16 code units after normalisation. */
export const MAX_USERNAME_LENGTH = 128;

/** A parsed stored password hash. */
export interface PasswordHash {
  readonly algorithm: 'scrypt';
  readonly N: number;
  readonly r: number;
  readonly p: number;
  /** The length of `hash` in bytes. */
  readonly keyLength: number;
  readonly salt: Buffer;
  readonly hash: Buffer;
}

/**
 * The stored format, PHC string style: `$scrypt$ln=<log2 N>,r=<r>,p=<p>$<salt>$<hash>`, salt and hash in
 * standard base64 without padding; the key length is the hash's length.
 */
const HASH_FORMAT =
  /^\$scrypt\$ln=([1-9][0-9]?),r=([1-9][0-9]?),p=([1-9][0-9]?)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/;

/** Longest stored hash string considered at all (parameters plus a 64-byte salt and a 64-byte hash). */
const MAX_STORED_HASH_LENGTH = 256;

function checkParams(N: number, r: number, p: number, keyLength: number): string | undefined {
  const { minLog2N, maxLog2N, maxR, maxP, maxMemoryBytes, maxWork, minKeyLength, maxKeyLength } =
    SCRYPT_LIMITS;
  if (!Number.isInteger(N) || N < 2 ** minLog2N || N > 2 ** maxLog2N || (N & (N - 1)) !== 0) {
    return `N must be a power of two from 2^${minLog2N} to 2^${maxLog2N}, got ${N}`;
  }
  if (!Number.isInteger(r) || r < 1 || r > maxR) return `r must be an integer from 1 to ${maxR}, got ${r}`;
  if (!Number.isInteger(p) || p < 1 || p > maxP) return `p must be an integer from 1 to ${maxP}, got ${p}`;
  if (128 * N * r > maxMemoryBytes) return `128 * N * r must be at most ${maxMemoryBytes} bytes`;
  if (N * r * p > maxWork) return `N * r * p must be at most ${maxWork}`;
  if (!Number.isInteger(keyLength) || keyLength < minKeyLength || keyLength > maxKeyLength) {
    return `keyLength must be an integer from ${minKeyLength} to ${maxKeyLength}, got ${keyLength}`;
  }
  return undefined;
}

/**
 * Resolves a parameter set against the defaults and validates it.
 * @throws {TypeError} when a parameter is outside {@link SCRYPT_LIMITS}.
 */
export function resolveScryptParams(params: ScryptParams = {}): Required<ScryptParams> {
  const resolved = { ...DEFAULT_SCRYPT_PARAMS, ...definedOnly(params) };
  const problem = checkParams(resolved.N, resolved.r, resolved.p, resolved.keyLength);
  if (problem !== undefined) throw new TypeError(`invalid scrypt parameters: ${problem}`);
  return resolved;
}

/** The entries that are not `undefined`: an option given as `undefined` takes its default. */
function definedOnly<T extends object>(options: T): Partial<T> {
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as Partial<T>;
}

function encodeBase64(bytes: Buffer): string {
  return bytes.toString('base64').replace(/=+$/, '');
}

function decodeBase64(text: string, what: string, min: number, max: number): Buffer {
  const bytes = Buffer.from(text, 'base64');
  // Canonical encodings only: a hash that does not round-trip has been altered.
  if (encodeBase64(bytes) !== text || bytes.length < min || bytes.length > max) {
    throw new TypeError(`corrupt password hash: bad ${what}`);
  }
  return bytes;
}

/**
 * Parses and validates a stored password hash. Parameters outside {@link SCRYPT_LIMITS} are refused before
 * any work is done, so a tampered hash cannot turn a login into a denial of service.
 * @throws {TypeError} when the stored value is not a well-formed scrypt hash within the limits.
 */
export function parsePasswordHash(stored: unknown): PasswordHash {
  if (typeof stored !== 'string' || stored.length > MAX_STORED_HASH_LENGTH) {
    throw new TypeError('corrupt password hash: not a scrypt hash string');
  }
  const match = HASH_FORMAT.exec(stored);
  if (match === null) throw new TypeError('corrupt password hash: not a scrypt hash string');
  const [, ln = '', r = '', p = '', salt = '', hash = ''] = match;
  const log2N = Number(ln);
  if (log2N < SCRYPT_LIMITS.minLog2N || log2N > SCRYPT_LIMITS.maxLog2N) {
    throw new TypeError(
      `corrupt password hash: ln must be from ${SCRYPT_LIMITS.minLog2N} to ${SCRYPT_LIMITS.maxLog2N}`,
    );
  }
  const N = 2 ** log2N;
  const saltBytes = decodeBase64(salt, 'salt', SCRYPT_LIMITS.minSaltLength, SCRYPT_LIMITS.maxSaltLength);
  const hashBytes = decodeBase64(hash, 'hash', SCRYPT_LIMITS.minKeyLength, SCRYPT_LIMITS.maxKeyLength);
  const problem = checkParams(N, Number(r), Number(p), hashBytes.length);
  if (problem !== undefined) throw new TypeError(`corrupt password hash: ${problem}`);
  return {
    algorithm: 'scrypt',
    N,
    r: Number(r),
    p: Number(p),
    keyLength: hashBytes.length,
    salt: saltBytes,
    hash: hashBytes,
  };
}

/** Formats a hash in the stored format (the inverse of {@link parsePasswordHash}). */
export function formatPasswordHash(hash: PasswordHash): string {
  return `$scrypt$ln=${Math.log2(hash.N)},r=${hash.r},p=${hash.p}$${encodeBase64(hash.salt)}$${encodeBase64(hash.hash)}`;
}

/**
 * Checks a password's type and size and returns it in Unicode NFC (RFC 8265 OpaqueString keeps the
 * characters and normalises to NFC, so the same password typed on different systems hashes alike).
 * @throws {InvalidRequestError} unless a well-formed string of 1 to {@link MAX_PASSWORD_LENGTH} characters.
 */
export function normalizePassword(password: unknown): string {
  if (typeof password !== 'string' || password.length === 0 || password.length > MAX_PASSWORD_LENGTH) {
    throw new InvalidRequestError(`the password must be 1 to ${MAX_PASSWORD_LENGTH} characters`);
  }
  if (/\p{Cs}/u.test(password)) throw new InvalidRequestError('the password is not well-formed Unicode');
  const normalized = password.normalize('NFC');
  if (normalized.length > MAX_PASSWORD_LENGTH) {
    throw new InvalidRequestError(`the password must be 1 to ${MAX_PASSWORD_LENGTH} characters`);
  }
  return normalized;
}

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

function deriveKey(password: string, salt: Buffer, N: number, r: number, p: number, keyLength: number) {
  return new Promise<Buffer>((resolve, reject) => {
    // maxmem: scrypt needs 128 * r * (N + p + 2) bytes; 256 * N * r covers it for every p <= N - 2.
    scrypt(password, salt, keyLength, { N, r, p, maxmem: 256 * N * r }, (error, key) =>
      error === null ? resolve(key) : reject(error),
    );
  });
}

/**
 * Hashes a password with scrypt and a fresh 16-byte salt (asynchronously, on libuv's thread pool).
 * @returns the self-describing stored string, e.g. `$scrypt$ln=15,r=8,p=1$<salt>$<hash>`.
 * @throws {InvalidRequestError} for a password outside the input limits.
 * @throws {TypeError} for parameters outside {@link SCRYPT_LIMITS}.
 */
export async function hashPassword(password: unknown, params?: ScryptParams): Promise<string> {
  const normalized = normalizePassword(password);
  const { N, r, p, keyLength } = resolveScryptParams(params);
  const salt = randomBytes(SALT_LENGTH);
  const hash = await deriveKey(normalized, salt, N, r, p, keyLength);
  return formatPasswordHash({ algorithm: 'scrypt', N, r, p, keyLength, salt, hash });
}

/**
 * Verifies a password against a stored hash with the stored parameters and salt, comparing in constant time.
 * @throws {InvalidRequestError} for a password outside the input limits.
 * @throws {TypeError} for a corrupt stored hash (never answered as a wrong password: it is a data fault).
 */
export async function verifyPassword(password: unknown, stored: unknown): Promise<boolean> {
  const normalized = normalizePassword(password);
  const parsed = parsePasswordHash(stored);
  const candidate = await deriveKey(normalized, parsed.salt, parsed.N, parsed.r, parsed.p, parsed.keyLength);
  return timingSafeEqual(candidate, parsed.hash);
}

/** Whether a stored hash was made with other parameters than `params` (then rehash it at the next login). */
export function needsRehash(stored: unknown, params?: ScryptParams): boolean {
  const parsed = parsePasswordHash(stored);
  const wanted = resolveScryptParams(params);
  return (
    parsed.N !== wanted.N ||
    parsed.r !== wanted.r ||
    parsed.p !== wanted.p ||
    parsed.keyLength !== wanted.keyLength
  );
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

/** How passwords are hashed and checked; a seam for tests that must observe the work being done. */
export interface PasswordHasher {
  /** Hashes a password into the stored format. */
  hash(password: string, params: ScryptParams): Promise<string>;
  /** Checks a password against a stored hash. */
  verify(password: string, stored: string): Promise<boolean>;
}

/** The real scrypt hasher ({@link hashPassword}, {@link verifyPassword}). */
export const scryptHasher: PasswordHasher = Object.freeze({ hash: hashPassword, verify: verifyPassword });

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
