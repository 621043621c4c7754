/// <reference lib="dom" />
/**
 * The demo page (served by `npm start` at `/`, bundled by esbuild from this file): log in as the `web`
 * client, look at the session, call the protected routes, refresh through the cookie, list and revoke
 * sessions, log out and log out everywhere. No framework, no inline script, no `innerHTML`: every value
 * reaches the page through `textContent`.
 *
 * The access token is kept in this module's memory only (never `localStorage`, never a cookie): a reload
 * forgets it, and the page gets a new one through the `HttpOnly` refresh cookie it cannot read; it asks
 * for one only when its non-secret session hint says there may be a cookie (see `session-hint.ts`).
 */
import {
  type ApiReply,
  callApi,
  isTokenReply,
  listSessions,
  login,
  logout,
  logoutEverywhere,
  refresh,
  revokeSession,
  sessionsOf,
} from './api';
import {
  claimText,
  type DisplayClaims,
  decodeClaims,
  formatClaims,
  formatCountdown,
  formatTime,
  secondsLeft,
  timeParts,
} from './claims';
import { forgetSession, mayHaveSession, rememberSession } from './session-hint';

/** The page state: the access token and its decoded claims, in memory only. */
let accessToken: string | undefined;
let claims: DisplayClaims | undefined;
let countdownTimer: number | undefined;

function element<T extends HTMLElement>(id: string, type: new () => T): T {
  const found = document.getElementById(id);
  if (!(found instanceof type)) throw new Error(`the page has no #${id}`);
  return found;
}

const view = {
  login: element('login-view', HTMLElement),
  loginForm: element('login-form', HTMLFormElement),
  username: element('username', HTMLInputElement),
  password: element('password', HTMLInputElement),
  session: element('session-view', HTMLElement),
  sessions: element('sessions-view', HTMLElement),
  sessionRows: element('sessions', HTMLTableSectionElement),
  countdown: element('countdown', HTMLElement),
  expiresAt: element('expires-at', HTMLElement),
  claims: element('claims', HTMLPreElement),
  status: element('status', HTMLElement),
  result: element('result', HTMLPreElement),
};

function setStatus(text: string, kind: 'ok' | 'error' | 'info'): void {
  view.status.textContent = text;
  view.status.className = kind;
}

function errorCode(reply: ApiReply): string {
  const body = reply.body;
  if (typeof body === 'object' && body !== null && 'error' in body) {
    return ` ${String((body as { error: unknown }).error)}`;
  }
  return '';
}

/** Shows a reply: the status line and the body (a token response's `access_token` abbreviated). */
function showReply(label: string, reply: ApiReply): void {
  const ok = reply.status >= 200 && reply.status < 300;
  setStatus(`${label}: ${reply.status}${ok ? '' : errorCode(reply)}`, ok ? 'ok' : 'error');
  let body = reply.body;
  if (typeof body === 'object' && body !== null && 'access_token' in body) {
    const token = String((body as { access_token: unknown }).access_token);
    body = {
      ...body,
      access_token: `${token.slice(0, 16)}\u2026 (${token.length} characters, in memory only)`,
    };
  }
  view.result.textContent = body === undefined ? '(no body)' : JSON.stringify(body, null, 2);
  view.result.hidden = false;
}

function tick(): void {
  const left = secondsLeft(claims?.exp, Date.now());
  view.countdown.textContent = left > 0 ? formatCountdown(left) : 'expired: refresh to get a new token';
  view.countdown.classList.toggle('expiring', left <= 30);
}

/** A token response arrived: the issuer has (re)set the refresh cookie along with it. */
function startSession(token: string): void {
  accessToken = token;
  claims = decodeClaims(token) ?? {};
  rememberSession();
  for (const name of ['sub', 'scope', 'sid', 'jti'] as const) {
    element(`claim-${name}`, HTMLElement).textContent = claimText(claims[name]);
  }
  view.expiresAt.textContent = typeof claims.exp === 'number' ? formatTime(claims.exp * 1000) : '\u2014';
  view.claims.textContent = formatClaims(claims);
  view.login.hidden = true;
  view.session.hidden = false;
  tick();
  if (countdownTimer === undefined) countdownTimer = window.setInterval(tick, 1000);
}

function endSession(message: string, kind: 'ok' | 'error' | 'info'): void {
  accessToken = undefined;
  claims = undefined;
  forgetSession();
  if (countdownTimer !== undefined) window.clearInterval(countdownTimer);
  countdownTimer = undefined;
  view.session.hidden = true;
  view.sessions.hidden = true;
  view.sessionRows.replaceChildren();
  view.login.hidden = false;
  setStatus(message, kind);
}

/** Runs an action with every button disabled, so a double click cannot send it twice. */
async function busy(action: () => Promise<void>): Promise<void> {
  const buttons = [...document.querySelectorAll('button')];
  for (const button of buttons) button.disabled = true;
  try {
    await action();
  } catch (error) {
    setStatus(`request failed: ${(error as Error)?.message ?? String(error)}`, 'error');
  } finally {
    for (const button of buttons) button.disabled = false;
  }
}

function withToken(action: (token: string) => Promise<void>): () => Promise<void> {
  return async () => {
    if (accessToken === undefined) {
      endSession('Not logged in.', 'info');
      return;
    }
    await action(accessToken);
  };
}

async function doLogin(): Promise<void> {
  const reply = await login(view.username.value, view.password.value);
  view.password.value = '';
  showReply('POST /auth/login', reply);
  if (isTokenReply(reply)) startSession(reply.accessToken);
}

async function doRefresh(): Promise<void> {
  const reply = await refresh();
  showReply('POST /auth/token (refresh cookie)', reply);
  if (isTokenReply(reply)) {
    startSession(reply.accessToken);
    return;
  }
  endSession(
    `Refresh refused: ${reply.status}${errorCode(reply)}. This session has ended; log in again.`,
    'error',
  );
}

/**
 * A table cell with an API time, readable, and the exact value kept in `<time datetime>`. `data-label`
 * names the cell where a narrow screen shows each session as a card instead of a table row (demo.css).
 */
function timeCell(label: string, iso: string): HTMLTableCellElement {
  const cell = document.createElement('td');
  cell.dataset.label = label;
  const time = document.createElement('time');
  time.dateTime = iso;
  const parts = timeParts(Date.parse(iso));
  if (parts === undefined) {
    time.textContent = iso;
  } else {
    // Two unbreakable halves: a narrow column breaks between the day and the clock, not inside them.
    const day = document.createElement('span');
    day.textContent = `${parts.day},`;
    const clock = document.createElement('span');
    clock.textContent = parts.clock;
    time.append(day, ' ', clock);
  }
  cell.append(time);
  return cell;
}

function renderSessions(reply: ApiReply): void {
  const rows = sessionsOf(reply.body).map((session) => {
    const row = document.createElement('tr');
    row.dataset.sid = session.id;
    const id = document.createElement('td');
    id.className = 'id';
    id.textContent = session.id;
    const device = document.createElement('td');
    device.className = 'device';
    device.dataset.label = 'Device';
    device.textContent =
      [session.userAgent, session.ip].filter((part) => part !== null).join(' from ') || '\u2014';
    const cells = [
      id,
      timeCell('Created', session.createdAt),
      timeCell('Last used', session.lastUsedAt),
      device,
    ];
    const action = document.createElement('td');
    if (session.current) {
      const label = document.createElement('span');
      label.className = 'current';
      label.textContent = 'this session';
      action.append(label, ' ');
    }
    const revoke = document.createElement('button');
    revoke.type = 'button';
    revoke.className = 'secondary revoke';
    revoke.dataset.sid = session.id;
    revoke.textContent = 'Revoke';
    revoke.addEventListener('click', () => void busy(withToken((token) => doRevoke(token, session.id))));
    action.append(revoke);
    row.append(...cells, action);
    return row;
  });
  view.sessionRows.replaceChildren(...rows);
  view.sessions.hidden = false;
}

async function doListSessions(token: string): Promise<void> {
  const reply = await listSessions(token);
  showReply('GET /auth/sessions', reply);
  if (reply.status === 200) renderSessions(reply);
}

async function doRevoke(token: string, id: string): Promise<void> {
  const reply = await revokeSession(token, id);
  showReply(`DELETE /auth/sessions/${id}`, reply);
  if (reply.status !== 204) return;
  if (id === claims?.sid) {
    endSession('This session was revoked: log in again.', 'info');
    return;
  }
  const listed = await listSessions(token);
  if (listed.status === 200) renderSessions(listed);
  setStatus(`Session ${id} revoked: its refresh token and access tokens no longer work.`, 'ok');
}

async function doLogout(): Promise<void> {
  let reply = await logout(accessToken);
  // An expired or revoked access token cannot log out; the refresh cookie still can.
  if (reply.status === 401) reply = await logout(undefined);
  showReply('POST /auth/logout', reply);
  endSession(reply.status === 204 ? 'Logged out: this session is revoked.' : 'Logged out.', 'info');
}

async function doLogoutEverywhere(token: string): Promise<void> {
  const reply = await logoutEverywhere(token);
  showReply('POST /auth/logout-all', reply);
  if (reply.status === 204) endSession('Logged out everywhere: every session of this user is revoked.', 'ok');
}

/**
 * A reload forgets the access token; the refresh cookie gets a new one. Only asked for when the session
 * hint says this browser may hold a cookie: without one the issuer can only answer 400, which the browser
 * would log as an error on every fresh visit.
 */
async function restore(): Promise<void> {
  if (!mayHaveSession()) {
    setStatus('Not logged in.', 'info');
    return;
  }
  const reply = await refresh();
  if (isTokenReply(reply)) {
    showReply('POST /auth/token (refresh cookie, on load)', reply);
    startSession(reply.accessToken);
    setStatus('Session restored from the refresh cookie.', 'ok');
  } else if (reply.status >= 500) {
    // Not a refusal (the platform is starting or failing): keep the hint, so a reload tries again.
    showReply('POST /auth/token (refresh cookie, on load)', reply);
  } else {
    // A stale hint: the cookie expired or its session was revoked elsewhere.
    endSession('Not logged in: the previous session has ended.', 'info');
  }
}

function on(id: string, action: () => Promise<void>): void {
  element(id, HTMLButtonElement).addEventListener('click', () => void busy(action));
}

view.loginForm.addEventListener('submit', (event) => {
  event.preventDefault();
  void busy(doLogin);
});
element('fill-demo', HTMLButtonElement).addEventListener('click', () => {
  view.username.value = 'demo';
  view.password.value = 'demo-password';
});
element('fill-admin', HTMLButtonElement).addEventListener('click', () => {
  view.username.value = 'admin';
  view.password.value = 'admin-password';
});
on(
  'call-me',
  withToken(async (token) => showReply('GET /api/me', await callApi('/api/me', token))),
);
on(
  'call-admin',
  withToken(async (token) => showReply('GET /api/admin', await callApi('/api/admin', token))),
);
on('refresh', doRefresh);
on('list-sessions', withToken(doListSessions));
on('logout', doLogout);
on('logout-all', withToken(doLogoutEverywhere));

void busy(restore);
