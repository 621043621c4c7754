/**
 * Display helpers of the demo page. Pure functions (no DOM), so the page's logic reads on its own.
 *
 * The page decodes the access token's payload **for display only**: it never trusts or verifies it (the
 * API's authorizer does that on every call), and it never stores the token outside memory.
 */

/** The access-token claims the page shows (RFC 9068 plus `sid`); anything else is shown as it came. */
export interface DisplayClaims {
  readonly sub?: unknown;
  readonly scope?: unknown;
  readonly sid?: unknown;
  readonly jti?: unknown;
  readonly exp?: unknown;
  readonly [name: string]: unknown;
}

/** Decodes a JWS compact token's payload without verifying it; `undefined` when it is not one. */
export function decodeClaims(token: string): DisplayClaims | undefined {
  const parts = token.split('.');
  if (parts.length !== 3 || parts[1] === undefined) return undefined;
  try {
    const base64 = parts[1].replace(/-/g, '+').replace(/_/g, '/');
    const binary = atob(base64.padEnd(base64.length + ((4 - (base64.length % 4)) % 4), '='));
    const bytes = Uint8Array.from(binary, (char) => char.charCodeAt(0));
    const parsed: unknown = JSON.parse(new TextDecoder().decode(bytes));
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)
      ? (parsed as DisplayClaims)
      : undefined;
  } catch {
    return undefined;
  }
}

/** Seconds left until `exp` (epoch seconds) at `nowMs`; 0 once expired or when `exp` is not a number. */
export function secondsLeft(exp: unknown, nowMs: number): number {
  if (typeof exp !== 'number' || !Number.isFinite(exp)) return 0;
  return Math.max(0, Math.floor(exp - nowMs / 1000));
}

/** `m:ss` for a number of seconds: `4:59`, `0:07`. */
export function formatCountdown(seconds: number): string {
  const whole = Math.max(0, Math.floor(seconds));
  return `${Math.floor(whole / 60)}:${String(whole % 60).padStart(2, '0')}`;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** A moment's two readable halves: `5 Dec 2026` and `14:03:12 UTC`; `undefined` when it is not one. */
export function timeParts(ms: number): { readonly day: string; readonly clock: string } | undefined {
  const date = new Date(ms);
  if (!Number.isFinite(date.getTime())) return undefined;
  const two = (value: number) => String(value).padStart(2, '0');
  return {
    day: `${date.getUTCDate()} ${MONTHS[date.getUTCMonth()]} ${date.getUTCFullYear()}`,
    clock: `${two(date.getUTCHours())}:${two(date.getUTCMinutes())}:${two(date.getUTCSeconds())} UTC`,
  };
}

/**
 * A moment (epoch milliseconds) as `5 Dec 2026, 14:03:12 UTC`: one unambiguous form, whatever the
 * browser's locale and time zone (the same clock as the issuer's ISO times). An em dash when it is not one.
 */
export function formatTime(ms: number): string {
  const parts = timeParts(ms);
  return parts === undefined ? '\u2014' : `${parts.day}, ${parts.clock}`;
}

/** The claims as indented JSON, with the time claims followed by their time for reading. */
export function formatClaims(claims: DisplayClaims): string {
  const shown: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(claims)) {
    shown[name] =
      (name === 'exp' || name === 'iat' || name === 'nbf') && typeof value === 'number'
        ? `${value} (${formatTime(value * 1000)})`
        : value;
  }
  return JSON.stringify(shown, null, 2);
}

/** A claim as text: strings as they are, anything else as JSON, absent as an em dash. */
export function claimText(value: unknown): string {
  if (value === undefined || value === null) return '\u2014';
  return typeof value === 'string' ? value : JSON.stringify(value);
}
