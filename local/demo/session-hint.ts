/**
 * Whether this browser may hold a refresh cookie, so that a fresh visit only asks `/auth/token` when a
 * session can be restored.
 *
 * Why a hint: the refresh cookie is `HttpOnly` (script cannot see it) and scoped to `Path=/auth` (the
 * browser does not send it with the request for the page itself), so neither the page nor the server that
 * serves it can tell on load whether there is one. Asking `/auth/token` blindly is answered
 * `400 invalid_request` on every visit without a cookie, and the browser logs that 400 as a console error.
 *
 * Why this hint: a `localStorage` flag, set when a token response arrives (the issuer has just set the
 * cookie) and removed when the session ends on this page. It holds the constant `'1'`: nothing secret,
 * nothing a stolen copy could spend, and it is never sent to any server (a script-readable "has session"
 * cookie would travel with every request, and a server-side probe route would need the cookie it cannot
 * see). The refresh token stays in its `HttpOnly` cookie and the access token in memory, as before.
 *
 * A stale hint (the cookie expired, or the session was revoked from another browser) costs one refused
 * probe, after which it is removed; a missing hint with a live cookie (storage cleared by hand) only shows
 * the login form, and logging in replaces the cookie.
 */

/** The `localStorage` key of the hint. */
export const SESSION_HINT_KEY = 'hybrid-auth.demo.has-session';

/** The part of `Storage` the hint uses. */
export type HintStorage = Pick<Storage, 'getItem' | 'setItem' | 'removeItem'>;

function storage(): HintStorage | undefined {
  try {
    return globalThis.localStorage ?? undefined;
  } catch {
    // Storage disabled (a sandboxed frame, some privacy settings): there is no hint to keep.
    return undefined;
  }
}

/**
 * Whether the page should try to restore a session through the refresh cookie. Without usable storage the
 * page cannot know, and probes as it would without this hint.
 */
export function mayHaveSession(store: HintStorage | undefined = storage()): boolean {
  if (store === undefined) return true;
  try {
    return store.getItem(SESSION_HINT_KEY) === '1';
  } catch {
    return true;
  }
}

/** Records that the issuer has just set the refresh cookie. */
export function rememberSession(store: HintStorage | undefined = storage()): void {
  try {
    store?.setItem(SESSION_HINT_KEY, '1');
  } catch {
    // Quota or storage disabled: the next visit probes or shows the login form; nothing breaks.
  }
}

/** Records that the session of this page has ended (logged out, revoked, refused). */
export function forgetSession(store: HintStorage | undefined = storage()): void {
  try {
    store?.removeItem(SESSION_HINT_KEY);
  } catch {
    // As above.
  }
}
