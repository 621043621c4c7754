import { COMMON_PASSWORDS_TEXT } from './common-passwords';
import { InvalidRequestError } from './errors';
import { MAX_PASSWORD_LENGTH, normalizePassword } from './password-hashing';
import { enforceUsername } from './username';

/**
 * The policy a new password must meet (a password change; NIST SP 800-63B section 5.1.1.2: a minimum length,
 * a blocklist of commonly used values, no composition rules):
 *
 * - `min_length`: at least {@link MIN_PASSWORD_CODE_POINTS} Unicode code points, counted after the NFC
 *   normalization login applies (password-hashing.ts `normalizePassword`), so a character typed as a base
 *   letter and a combining mark counts once, as it is stored;
 * - `max_length`: at most {@link MAX_PASSWORD_LENGTH} UTF-16 code units after NFC, the bound login enforces
 *   (a password login could not accept is never stored);
 * - `same_as_username`: not the account's username, compared case-insensitively (lower case, and the
 *   username profile's own width and case mapping);
 * - `common_password`: not one of the 10,000 most common passwords of zxcvbn's list
 *   (common-passwords.SOURCE.md), compared case-insensitively.
 */

/** Fewest Unicode code points a new password may have. */
export const MIN_PASSWORD_CODE_POINTS = 12;

/** The rule a refused password broke: stable, clients may key on it. */
export type PasswordPolicyRule = 'min_length' | 'max_length' | 'same_as_username' | 'common_password';

const DESCRIPTIONS: Readonly<Record<PasswordPolicyRule, string>> = {
  min_length: `the new password must be at least ${MIN_PASSWORD_CODE_POINTS} characters`,
  max_length: `the new password must be at most ${MAX_PASSWORD_LENGTH} characters`,
  same_as_username: 'the new password must not be the username',
  common_password: 'the new password is on the list of common passwords',
};

/**
 * A new password the policy refuses: 400 `invalid_request`, the description naming the rule (never the
 * password).
 */
export class PasswordPolicyError extends InvalidRequestError {
  public constructor(public readonly rule: PasswordPolicyRule) {
    super(`${DESCRIPTIONS[rule]} (password policy: ${rule})`);
  }
}

let commonPasswords: ReadonlySet<string> | undefined;

/** The list as a set, built on first use (not at cold start: only a password change needs it). */
function common(): ReadonlySet<string> {
  commonPasswords ??= new Set(COMMON_PASSWORDS_TEXT.split('\n'));
  return commonPasswords;
}

/** Whether a password is on the common-password list, case-insensitively. */
export function isCommonPassword(password: string): boolean {
  return common().has(password.toLowerCase());
}

/**
 * Checks a new password against the policy, the rules in the order of the module comment.
 * @param username the account's enforced username (username.ts).
 * @returns the password normalized as login normalizes it (what is hashed).
 * @throws {PasswordPolicyError} naming the first rule broken.
 * @throws {InvalidRequestError} for a value that is not a well-formed, non-empty string.
 */
export function enforcePasswordPolicy(password: unknown, username: string): string {
  if (typeof password === 'string' && password.length > MAX_PASSWORD_LENGTH) {
    throw new PasswordPolicyError('max_length');
  }
  if (password === '') throw new PasswordPolicyError('min_length');
  let normalized: string;
  try {
    normalized = normalizePassword(password);
  } catch (error) {
    // Over the bound only after NFC (which can expand): the same rule.
    if (typeof password === 'string' && !/\p{Cs}/u.test(password))
      throw new PasswordPolicyError('max_length');
    throw error;
  }
  if ([...normalized].length < MIN_PASSWORD_CODE_POINTS) throw new PasswordPolicyError('min_length');
  if (normalized.toLowerCase() === username || asUsername(normalized) === username) {
    throw new PasswordPolicyError('same_as_username');
  }
  if (isCommonPassword(normalized)) throw new PasswordPolicyError('common_password');
  return normalized;
}

/** The password read as a username (width and case mapped), or undefined when it is not a valid username. */
function asUsername(password: string): string | undefined {
  try {
    return enforceUsername(password);
  } catch {
    return undefined;
  }
}
