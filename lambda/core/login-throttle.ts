import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { MacKey } from './keys';
import { definedOnly } from './password-hashing';

/**
 * The login throttle (OWASP ASVS 5.0 V6.1.1/V6.3.1, NIST SP 800-63B section 5.2.2, CWE-645), built so that an
 * attacker without the password cannot keep the legitimate user out:
 *
 * - **Per account and source**: from one source (an address, or a known device), at most
 *   {@link LOGIN_THROTTLE_DEFAULTS}.`sourceMaxAttempts` password checks per account per window. The attempt is
 *   reserved atomically (a conditional counter update) *before* the password is checked, so a burst of
 *   parallel requests gets no more checks than a sequence; a success resets that source's count.
 * - **Per account, soft**: once the account has collected `accountSoftThreshold` failures in the window (an
 *   attack from many addresses), requests from unknown devices get one password check per
 *   `accountBackoffSeconds`, account-wide; never a hard lock.
 * - **Device tokens** (OWASP "Slow down online guessing attacks with device cookies"): a successful login
 *   hands out an HMAC-signed token naming the account and a device id. A request that presents a valid one is
 *   counted under its device instead of its address and is exempt from the account-wide back-off, so a
 *   browser or client that has logged in before keeps logging in while the account is attacked from
 *   elsewhere.
 *
 * The settings are declared here, once (the issuer has no runtime setting for them).
 */

/** The throttle settings. Every duration is in whole seconds. */
export interface LoginThrottlePolicy {
  /** Password checks per account from one source (address or known device) per window. @default 10 */
  readonly sourceMaxAttempts?: number;
  /** The fixed window both counts run in. @default 900 (15 minutes) */
  readonly windowSeconds?: number;
  /** Account-wide failures in a window above which unknown devices are slowed down. @default 100 */
  readonly accountSoftThreshold?: number;
  /** Above the soft threshold, one password check from an unknown device per this many seconds. @default 5 */
  readonly accountBackoffSeconds?: number;
  /** How long a device token stays valid; each login with it renews it. @default 2592000 (30 days) */
  readonly deviceTokenLifetimeSeconds?: number;
}

/**
 * The defaults: 10 checks per account per source per 15 minutes (the issue's figure); above 100 account-wide
 * failures in 15 minutes, one check from an unknown device every 5 seconds (at most 180 per window, a slow
 * down, not a lock-out); device tokens valid for 30 days, renewed on every login.
 */
export const LOGIN_THROTTLE_DEFAULTS: Required<LoginThrottlePolicy> = Object.freeze({
  sourceMaxAttempts: 10,
  windowSeconds: 900,
  accountSoftThreshold: 100,
  accountBackoffSeconds: 5,
  deviceTokenLifetimeSeconds: 30 * 24 * 3600,
});

/**
 * Resolves a throttle policy against the defaults and validates it.
 * @throws {TypeError} with the value given and the values allowed.
 */
export function resolveLoginThrottlePolicy(policy: LoginThrottlePolicy = {}): Required<LoginThrottlePolicy> {
  const resolved = { ...LOGIN_THROTTLE_DEFAULTS, ...definedOnly(policy) };
  const check = (name: keyof LoginThrottlePolicy, min: number, max: number) => {
    const value = resolved[name];
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new TypeError(`${name} must be an integer from ${min} to ${max}, got ${value}`);
    }
  };
  check('sourceMaxAttempts', 1, 1000);
  check('windowSeconds', 1, 86_400);
  check('accountSoftThreshold', 1, 1_000_000);
  check('accountBackoffSeconds', 1, 3600);
  check('deviceTokenLifetimeSeconds', 60, 400 * 24 * 3600);
  return resolved;
}

/**
 * A throttle counter: the account-wide one (`source` absent) or the one of an account and a source
 * (`ip:<address>` or `device:<id>`).
 */
export interface ThrottleKey {
  /** The enforced username (username.ts). */
  readonly username: string;
  readonly source?: string;
}

/** One count to reserve in a fixed window. */
export interface WindowReservation {
  /** Epoch ms of the attempt. */
  readonly at: number;
  readonly windowMs: number;
  /** Reserve only while the window's count is below this. */
  readonly limit: number;
}

/** The outcome of a reservation. */
export interface WindowCount {
  /** True when the count was taken. */
  readonly reserved: boolean;
  /** The count in the current window (with this one when reserved). */
  readonly count: number;
  /** Epoch ms at which the current window started. */
  readonly windowStart: number;
}

/** The account-wide state: failures in the current window. */
export interface AccountThrottleState {
  readonly failures: number;
  readonly windowStart: number;
}

/** The storage the throttle needs: atomic conditional counters (DynamoDB `UpdateItem` in production). */
export interface ThrottleStore {
  /**
   * Counts one event in the fixed window of `key` atomically, only if the window's count is below the limit
   * (a window older than `windowMs` starts over at 1). Concurrent callers never get more than `limit`. A
   * refusal below the limit (`count < limit`) means the counter changed under every attempt (other requests
   * started the window or cleared it meanwhile): the caller may try again at once.
   */
  reserve(key: ThrottleKey, reservation: WindowReservation): Promise<WindowCount>;
  /** The account-wide counter (strongly consistent where storage offers it); undefined when none. */
  getAccount(username: string): Promise<AccountThrottleState | undefined>;
  /**
   * Takes the account's next back-off slot atomically: true when no slot was taken in the last
   * `intervalMs`.
   */
  reserveSlot(username: string, at: number, intervalMs: number): Promise<boolean>;
  /** Forgets a counter (after a success, or by the operator's unlock). */
  clear(key: ThrottleKey): Promise<void>;
  /** Forgets every counter of an account: the account-wide one and those of every source. @returns how many. */
  clearAll(username: string): Promise<number>;
}

/** Why a login was refused: the `reason` of the `login refused` log line. */
export type LoginRefusal = 'invalid_credentials' | 'source_throttled' | 'account_backoff';

/** The source of a login attempt for the throttle: the device when its token is valid, else the address. */
export function throttleSource(address: string, deviceId: string | undefined): string {
  return deviceId === undefined ? `ip:${address}` : `device:${deviceId}`;
}

/** Whether an account's failures in the current window put unknown devices under the soft back-off. */
export function inBackoff(
  state: AccountThrottleState | undefined,
  now: number,
  policy: Required<LoginThrottlePolicy>,
): boolean {
  if (state === undefined) return false;
  if (now - state.windowStart >= policy.windowSeconds * 1000) return false;
  return state.failures >= policy.accountSoftThreshold;
}

const DEVICE_TOKEN_VERSION = 'd1';
const DEVICE_KEY_LABEL = 'hybrid-auth device token v1';
const USER_HASH_LABEL = 'hybrid-auth login log v1';

/** A sub-key of a MAC key for one purpose, so a device token can never pass for a refresh token's MAC. */
function derivedKey(key: MacKey, label: string): Buffer {
  return createHmac('sha256', Buffer.from(key.secret, 'base64url')).update(label).digest();
}

function deviceMac(key: MacKey, username: string, deviceId: string, issuedAt: number): string {
  return createHmac('sha256', derivedKey(key, DEVICE_KEY_LABEL))
    .update(`${username}\n${deviceId}\n${issuedAt}`)
    .digest('base64url');
}

/**
 * Issues a device token for an account: `d1.<device id>.<issued at, s>.<MAC key id>.<HMAC>`, signed with a
 * sub-key of the newest MAC key of the signing key set (no new secret). It names the account only through
 * the MAC, so it reveals nothing. It stays valid while its MAC key is in the key set (MAC keys are kept for
 * the longest session lifetime) and for `lifetimeSeconds`.
 */
export function issueDeviceToken(
  key: MacKey,
  username: string,
  now: number,
  deviceId: string = randomBytes(16).toString('base64url'),
): string {
  const issuedAt = Math.floor(now / 1000);
  return [
    DEVICE_TOKEN_VERSION,
    deviceId,
    issuedAt,
    key.kid,
    deviceMac(key, username, deviceId, issuedAt),
  ].join('.');
}

/**
 * Verifies a device token for an account.
 * @returns the device id, or undefined for anything that is not a valid, unexpired token of this account.
 */
export function verifyDeviceToken(
  token: unknown,
  username: string,
  keys: readonly MacKey[],
  now: number,
  lifetimeSeconds: number,
): string | undefined {
  if (typeof token !== 'string' || token.length > 256) return undefined;
  const parts = token.split('.');
  if (parts.length !== 5) return undefined;
  const [version, deviceId = '', issued = '', kid, mac = ''] = parts;
  if (
    version !== DEVICE_TOKEN_VERSION ||
    !/^[A-Za-z0-9_-]{22}$/.test(deviceId) ||
    !/^\d{1,12}$/.test(issued)
  ) {
    return undefined;
  }
  const issuedAt = Number(issued);
  if (issuedAt * 1000 > now + 60_000 || now - issuedAt * 1000 >= lifetimeSeconds * 1000) return undefined;
  const key = keys.find((candidate) => candidate.kid === kid);
  if (key === undefined) return undefined;
  const expected = Buffer.from(deviceMac(key, username, deviceId, issuedAt));
  const presented = Buffer.from(mac);
  if (presented.length !== expected.length || !timingSafeEqual(presented, expected)) return undefined;
  return deviceId;
}

/**
 * The keyed hash of an enforced username for log lines: HMAC-SHA256 under a sub-key of the newest MAC key,
 * first 16 hex digits. Stable while that MAC key is the newest (between rotations), so Logs Insights can
 * group an attack by it; never the name itself.
 */
export function usernameHash(key: MacKey, username: string): string {
  return createHmac('sha256', derivedKey(key, USER_HASH_LABEL)).update(username).digest('hex').slice(0, 16);
}
