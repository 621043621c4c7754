import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { InvalidRequestError } from './errors';

/**
 * Password hashing for the built-in login: scrypt with a per-user salt and its parameters stored beside the
 * hash, so parameters can be raised without invalidating stored hashes, and constant-time verification.
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
export function definedOnly<T extends object>(options: T): Partial<T> {
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

/** How passwords are hashed and checked; a seam for tests that must observe the work being done. */
export interface PasswordHasher {
  /** Hashes a password into the stored format. */
  hash(password: string, params: ScryptParams): Promise<string>;
  /** Checks a password against a stored hash. */
  verify(password: string, stored: string): Promise<boolean>;
}

/** The real scrypt hasher ({@link hashPassword}, {@link verifyPassword}). */
export const scryptHasher: PasswordHasher = Object.freeze({ hash: hashPassword, verify: verifyPassword });
