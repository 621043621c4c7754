/**
 * The demo page's client of the platform, as the `web` client: the refresh token is never visible to
 * script (an `HttpOnly` cookie on `/auth`, sent by the browser with `credentials: 'same-origin'`), and the
 * access token is passed in and out of memory, never stored.
 */

/** The client the demo page logs in as: its refresh token only travels in the cookie. */
export const CLIENT_ID = 'web';

/** A response as the page shows it. */
export interface ApiReply {
  readonly status: number;
  /** The parsed JSON body, or `undefined` for an empty or non-JSON body. */
  readonly body: unknown;
}

/** A successful token response (the refresh token is not in it: it went to the cookie). */
export interface TokenReply extends ApiReply {
  readonly accessToken: string;
}

async function send(path: string, init: RequestInit): Promise<ApiReply> {
  const response = await fetch(path, {
    ...init,
    credentials: 'same-origin',
    cache: 'no-store',
    redirect: 'error',
  });
  const text = await response.text();
  let body: unknown;
  try {
    body = text === '' ? undefined : JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: response.status, body };
}

function accessTokenOf(reply: ApiReply): TokenReply | ApiReply {
  const body = reply.body;
  if (reply.status === 200 && typeof body === 'object' && body !== null && 'access_token' in body) {
    const token = (body as { access_token: unknown }).access_token;
    if (typeof token === 'string') return { ...reply, accessToken: token };
  }
  return reply;
}

/** True when a reply carries a new access token. */
export function isTokenReply(reply: ApiReply): reply is TokenReply {
  return 'accessToken' in reply;
}

/** `POST /auth/login` as the web client: the refresh token comes back as the cookie. */
export async function login(username: string, password: string): Promise<TokenReply | ApiReply> {
  return accessTokenOf(
    await send('/auth/login', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ username, password, client_id: CLIENT_ID }),
    }),
  );
}

/**
 * `POST /auth/token` with the refresh cookie: the browser adds the cookie and the `Origin` header the
 * issuer requires before it spends a cookie; the rotated refresh token replaces the cookie.
 */
export async function refresh(): Promise<TokenReply | ApiReply> {
  return accessTokenOf(
    await send('/auth/token', {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', client_id: CLIENT_ID }).toString(),
    }),
  );
}

function bearer(accessToken: string): Record<string, string> {
  return { Authorization: `Bearer ${accessToken}` };
}

/** A protected route (`/api/me`, `/api/admin`) with the access token. */
export function callApi(path: string, accessToken: string): Promise<ApiReply> {
  return send(path, { method: 'GET', headers: bearer(accessToken) });
}

/** `GET /auth/sessions`: the subject's sessions. */
export function listSessions(accessToken: string): Promise<ApiReply> {
  return send('/auth/sessions', { method: 'GET', headers: bearer(accessToken) });
}

/** `DELETE /auth/sessions/{id}`: revokes one of the subject's sessions. */
export function revokeSession(accessToken: string, id: string): Promise<ApiReply> {
  return send(`/auth/sessions/${encodeURIComponent(id)}`, { method: 'DELETE', headers: bearer(accessToken) });
}

/**
 * `POST /auth/logout`: with the access token when there is one, else with the refresh cookie alone.
 * Either way the session is revoked and the cookie cleared.
 */
export function logout(accessToken: string | undefined): Promise<ApiReply> {
  return accessToken === undefined
    ? send('/auth/logout', { method: 'POST' })
    : send('/auth/logout', { method: 'POST', headers: bearer(accessToken) });
}

/** `POST /auth/logout-all`: revokes every session of the subject. */
export function logoutEverywhere(accessToken: string): Promise<ApiReply> {
  return send('/auth/logout-all', { method: 'POST', headers: bearer(accessToken) });
}

/** The fields of one `GET /auth/sessions` entry the page shows. */
export interface SessionEntry {
  readonly id: string;
  readonly createdAt: string;
  readonly lastUsedAt: string;
  readonly current: boolean;
  readonly userAgent: string | null;
  readonly ip: string | null;
}

/** The sessions of a `GET /auth/sessions` body, keeping only well-formed entries. */
export function sessionsOf(body: unknown): SessionEntry[] {
  if (typeof body !== 'object' || body === null) return [];
  const sessions = (body as { sessions?: unknown }).sessions;
  if (!Array.isArray(sessions)) return [];
  return sessions.filter(
    (entry): entry is SessionEntry =>
      typeof entry === 'object' &&
      entry !== null &&
      typeof entry.id === 'string' &&
      typeof entry.createdAt === 'string' &&
      typeof entry.lastUsedAt === 'string' &&
      typeof entry.current === 'boolean',
  );
}
