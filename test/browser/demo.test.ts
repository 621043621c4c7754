/// <reference lib="dom" />
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { type PlatformProcess, startPlatformProcess } from '../support/platform-process';

// The demo page in a real browser: Debian's Chromium (`.ci/run` installs the `chromium` package) driven by
// playwright-core against the platform as `npm start` runs it. Screenshots of the main states go to
// test-results/demo/ (git-ignored).
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/** No sandbox (CI runs as root), and nothing that reaches for the network on its own. */
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const SCREENSHOTS = join(__dirname, '../../test-results/demo');
const SESSION_CACHE_TTL_SECONDS = 1;
/** The revocation budget of this configuration: the authorizer's session cache TTL plus 1 s. */
const REVOCATION_BUDGET_MS = (SESSION_CACHE_TTL_SECONDS + 1) * 1000;
const CSP_MESSAGE = /Content[- ]Security[- ]Policy/i;
/** The page's non-secret "this browser may hold a refresh cookie" hint (local/demo/session-hint.ts). */
const SESSION_HINT_KEY = 'hybrid-auth.demo.has-session';
/** A time as the page shows it: `5 Dec 2026, 14:03:12 UTC`. */
const READABLE_TIME =
  /^\d{1,2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4}, \d{2}:\d{2}:\d{2} UTC$/;

jest.setTimeout(60_000);

let platform: PlatformProcess;
let dataDir: string;
let browser: Browser;

/**
 * A page of the demo with everything it reported: console errors, uncaught exceptions, every request it
 * made (`METHOD /path`) and every request that failed or was answered 4xx/5xx.
 */
interface DemoPage {
  readonly page: Page;
  readonly context: BrowserContext;
  readonly consoleErrors: string[];
  readonly pageErrors: string[];
  readonly requests: string[];
  readonly failures: string[];
}

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'hybrid-auth-browser-'));
  await mkdir(SCREENSHOTS, { recursive: true });
  [platform, browser] = await Promise.all([
    startPlatformProcess({
      dataDir,
      env: { SESSION_CACHE_TTL_SECONDS: String(SESSION_CACHE_TTL_SECONDS) },
    }),
    chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS }),
  ]);
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await platform?.stop();
  if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true });
}, 40_000);

/** Opens the demo page in a fresh browser context (its own cookie jar and storage: another "device"). */
async function openDemo(viewport = { width: 1100, height: 900 }): Promise<DemoPage> {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  const consoleErrors: string[] = [];
  const pageErrors: string[] = [];
  const requests: string[] = [];
  const failures: string[] = [];
  const pathOf = (url: string) => new URL(url).pathname;
  page.on('console', (message) => {
    if (message.type() === 'error') consoleErrors.push(message.text());
  });
  page.on('pageerror', (error) => pageErrors.push(error.message));
  page.on('request', (request) => requests.push(`${request.method()} ${pathOf(request.url())}`));
  page.on('requestfailed', (request) => failures.push(`${request.method()} ${pathOf(request.url())} failed`));
  page.on('response', (response) => {
    if (response.status() >= 400) {
      failures.push(`${response.request().method()} ${pathOf(response.url())} ${response.status()}`);
    }
  });
  await page.goto(`${platform.url}/`);
  await settled(page);
  return { page, context, consoleErrors, pageErrors, requests, failures };
}

/** Waits until the page has loaded and decided whether it is logged in (it may restore a session). */
async function settled(page: Page): Promise<void> {
  await statusMatches(
    page,
    /^(Not logged in\.|Not logged in: the previous session has ended\.|Session restored from the refresh cookie\.)$/,
  );
  await page.waitForLoadState('networkidle');
}

/** The requests the page made to the issuer (`/auth/...`) since the `from`-th request. */
function authRequests(demo: DemoPage, from = 0): string[] {
  return demo.requests.slice(from).filter((request) => / \/auth\//.test(request));
}

/** Visible elements of the page with nothing in them (an empty box), as `tag#id`. */
function emptyBoxes(page: Page): Promise<string[]> {
  return page.evaluate(() =>
    [...document.querySelectorAll('main *')]
      .filter(
        (found) =>
          found instanceof HTMLElement &&
          !(found instanceof HTMLInputElement) &&
          found.checkVisibility() &&
          (found.textContent ?? '').trim() === '',
      )
      .map((found) => `${found.tagName.toLowerCase()}#${found.id}`),
  );
}

/** The page's storage as script sees it. */
function storageOf(page: Page) {
  return page.evaluate(() => ({
    cookie: document.cookie,
    local: Object.fromEntries(Object.keys(localStorage).map((key) => [key, localStorage.getItem(key)])),
    session: Object.keys(sessionStorage).length,
  }));
}

/** Waits until the page's status line matches. */
async function statusMatches(page: Page, pattern: RegExp): Promise<void> {
  await page.locator('#status', { hasText: pattern }).waitFor({ timeout: 5_000 });
}

async function text(page: Page, selector: string): Promise<string> {
  return (await page.locator(selector).textContent()) ?? '';
}

async function screenshot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/** Logs in through the form; returns the access token of the login response (the page keeps its own). */
async function logIn(page: Page, user: 'demo' | 'admin'): Promise<string> {
  await page.click(user === 'demo' ? '#fill-demo' : '#fill-admin');
  const [response] = await Promise.all([
    page.waitForResponse((candidate) => candidate.url().endsWith('/auth/login')),
    page.click('#login'),
  ]);
  expect(response.status()).toBe(200);
  const body = (await response.json()) as Record<string, unknown>;
  expect(body.refresh_token).toBeUndefined();
  await page.locator('#session-view').waitFor({ state: 'visible' });
  const token = body.access_token;
  if (typeof token !== 'string') throw new Error('no access_token in the login response');
  return token;
}

async function click(page: Page, selector: string, status: RegExp): Promise<void> {
  await page.click(selector);
  await statusMatches(page, status);
}

/** The page reported no CSP violation and threw nothing. */
function expectCleanConsole(demo: DemoPage): void {
  expect(demo.consoleErrors.filter((message) => CSP_MESSAGE.test(message))).toEqual([]);
  expect(demo.pageErrors).toEqual([]);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

test('serves the page and its assets with a strict CSP and no inline script or style', async () => {
  const page = await fetch(`${platform.url}/`);
  const html = await page.text();

  expect(page.status).toBe(200);
  expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
  const csp = page.headers.get('content-security-policy') ?? '';
  expect(csp.split('; ')).toEqual(
    expect.arrayContaining([
      "default-src 'self'",
      "script-src 'self'",
      "style-src 'self'",
      "object-src 'none'",
      "base-uri 'none'",
      "frame-ancestors 'none'",
      "form-action 'self'",
    ]),
  );
  expect(csp).not.toMatch(/unsafe-inline|unsafe-eval|\*/);
  expect(page.headers.get('x-content-type-options')).toBe('nosniff');
  expect(page.headers.get('referrer-policy')).toBe('no-referrer');
  expect(page.headers.get('cache-control')).toBe('no-store');
  // Every script is an external file; no inline style, no inline event handler.
  expect(html.match(/<script\b[^>]*>/g)).toEqual(['<script type="module" src="/demo/demo.js">']);
  expect(html).not.toMatch(/<style\b|\sstyle=|\son[a-z]+=/i);

  for (const [path, type] of [
    ['/demo/demo.js', 'text/javascript; charset=utf-8'],
    ['/demo/demo.css', 'text/css; charset=utf-8'],
    ['/demo/favicon.svg', 'image/svg+xml'],
  ] as const) {
    const asset = await fetch(`${platform.url}${path}`);
    expect({ path, status: asset.status, type: asset.headers.get('content-type') }).toEqual({
      path,
      status: 200,
      type,
    });
    expect(asset.headers.get('content-security-policy')).toBe(csp);
    expect(asset.headers.get('x-content-type-options')).toBe('nosniff');
  }
  const post = await fetch(`${platform.url}/`, { method: 'POST' });
  expect(post.status).toBe(405);
  expect(post.headers.get('allow')).toBe('GET, HEAD');
});

test('a fresh visit: no request bound to fail, no console error, no empty box, an autofillable form', async () => {
  const demo = await openDemo();
  const { page } = demo;

  expect(await text(page, '#status')).toBe('Not logged in.');
  // No session hint, so no refresh-cookie probe that could only be answered 400.
  expect(authRequests(demo)).toEqual([]);
  expect(demo.failures).toEqual([]);
  expect(demo.consoleErrors).toEqual([]);
  expect(demo.pageErrors).toEqual([]);
  expect(await emptyBoxes(page)).toEqual([]);
  expect(await page.locator('#result').isVisible()).toBe(false);

  // Password managers can fill the login form.
  expect(await page.getAttribute('#login-form', 'autocomplete')).toBeNull();
  expect(await page.getAttribute('#username', 'autocomplete')).toBe('username');
  expect(await page.getAttribute('#password', 'autocomplete')).toBe('current-password');
  await screenshot(page, '00-fresh-visit');
  await demo.context.close();
});

test('admin: logs in, sees the session, calls the API, refreshes through the cookie, reloads, logs out', async () => {
  const demo = await openDemo();
  const { page, context } = demo;
  expect(await text(page, '#status')).toBe('Not logged in.');
  await screenshot(page, '01-login');

  const loginToken = await logIn(page, 'admin');

  // The session: claims decoded for display, and a countdown to the token's expiry (5 minutes).
  expect(await text(page, '#claim-sub')).toBe('user-admin');
  expect(await text(page, '#claim-scope')).toBe('profile admin');
  const sid = await text(page, '#claim-sid');
  const firstJti = await text(page, '#claim-jti');
  expect(sid).toMatch(/^[A-Za-z0-9_-]{16,}$/);
  expect(await text(page, '#countdown')).toMatch(/^(5:00|4:[45]\d)$/);
  expect(await text(page, '#expires-at')).toMatch(READABLE_TIME);
  expect(JSON.parse(await text(page, '#claims'))).toMatchObject({
    sub: 'user-admin',
    client_id: 'web',
    aud: `${platform.url}/api`,
    iss: platform.url,
  });
  await page.click('#session-view summary');
  await screenshot(page, '02-session');

  // The refresh token exists only as an HttpOnly cookie: the browser has it, script cannot see it, and the
  // access token is in no storage either. Storage holds only the constant session hint.
  const cookies = await context.cookies();
  expect(
    cookies.map(({ name, httpOnly, secure, sameSite, path }) => ({ name, httpOnly, secure, sameSite, path })),
  ).toEqual([
    // The device cookie of the login throttle: this browser logged in here before (login only).
    { name: 'login_device', httpOnly: true, secure: true, sameSite: 'Strict', path: '/auth/login' },
    { name: 'refresh_token', httpOnly: true, secure: true, sameSite: 'Strict', path: '/auth' },
  ]);
  expect(await storageOf(page)).toEqual({ cookie: '', local: { [SESSION_HINT_KEY]: '1' }, session: 0 });

  // The protected routes, with the in-memory access token.
  await click(page, '#call-me', /^GET \/api\/me: 200$/);
  expect(JSON.parse(await text(page, '#result'))).toMatchObject({
    route: 'GET /api/me',
    authorizer: { sub: 'user-admin', sid },
  });
  await click(page, '#call-admin', /^GET \/api\/admin: 200$/);
  await screenshot(page, '03-api-admin');

  // Refresh through the cookie: the browser sends it with its Origin; the token and the cookie rotate.
  const [refreshResponse] = await Promise.all([
    page.waitForResponse((candidate) => candidate.url().endsWith('/auth/token')),
    page.click('#refresh'),
  ]);
  const refreshHeaders = await refreshResponse.request().allHeaders();
  expect(refreshHeaders.origin).toBe(platform.url);
  expect(refreshHeaders.cookie).toMatch(/^refresh_token=/);
  await statusMatches(page, /^POST \/auth\/token \(refresh cookie\): 200$/);
  expect(await text(page, '#claim-sid')).toBe(sid);
  expect(await text(page, '#claim-jti')).not.toBe(firstJti);
  const refreshCookie = (all: readonly { name: string; value: string }[]) =>
    all.find(({ name }) => name === 'refresh_token')?.value;
  const rotated = refreshCookie(await context.cookies());
  expect(rotated).toBeDefined();
  expect(rotated).not.toBe(refreshCookie(cookies));

  // A reload forgets the access token; the cookie brings the same session back.
  await page.reload();
  await statusMatches(page, /^Session restored from the refresh cookie\.$/);
  expect(await text(page, '#claim-sid')).toBe(sid);

  // Log out: the session is revoked, the cookie cleared, and even the first access token stops working.
  await click(page, '#logout', /^Logged out: this session is revoked\.$/);
  expect(await page.locator('#login-view').isVisible()).toBe(true);
  // Only the device cookie stays: it says this browser logged in before, and lets it log in again.
  expect((await context.cookies()).map(({ name }) => name)).toEqual(['login_device']);
  expect(await storageOf(page)).toEqual({ cookie: '', local: {}, session: 0 });
  await screenshot(page, '08-logged-out');

  // Logged out, a reload does not ask the issuer for anything.
  const beforeReload = demo.requests.length;
  await page.reload();
  await settled(page);
  expect(await text(page, '#status')).toBe('Not logged in.');
  expect(authRequests(demo, beforeReload)).toEqual([]);
  await sleep(REVOCATION_BUDGET_MS);
  const afterLogout = await fetch(`${platform.url}/api/me`, {
    headers: { Authorization: `Bearer ${loginToken}` },
  });
  expect(afterLogout.status).toBe(401);

  expectCleanConsole(demo);
  await context.close();
});

test('two browsers as demo: one revokes the other from the list, then logs out everywhere', async () => {
  const first = await openDemo();
  const second = await openDemo();
  await logIn(first.page, 'demo');
  await logIn(second.page, 'demo');
  const firstSid = await text(first.page, '#claim-sid');
  const secondSid = await text(second.page, '#claim-sid');
  expect(firstSid).not.toBe(secondSid);

  // demo has scope `profile` only: /api/admin is a policy denial.
  await click(first.page, '#call-admin', /^GET \/api\/admin: 403 insufficient_scope$/);
  await screenshot(first.page, '04-admin-refused');

  // The session list shows both browsers, this one marked; revoke the other one.
  await click(first.page, '#list-sessions', /^GET \/auth\/sessions: 200$/);
  const rows = first.page.locator('#sessions tr');
  expect(await rows.evaluateAll((all) => all.map((row) => (row as HTMLElement).dataset.sid))).toEqual(
    expect.arrayContaining([firstSid, secondSid]),
  );
  expect(await text(first.page, `#sessions tr[data-sid="${firstSid}"] .current`)).toBe('this session');
  await screenshot(first.page, '05-sessions');
  await click(
    first.page,
    `#sessions button.revoke[data-sid="${secondSid}"]`,
    new RegExp(`^Session ${secondSid} revoked`),
  );
  expect(await first.page.locator(`#sessions tr[data-sid="${secondSid}"]`).count()).toBe(0);

  // The revoked browser's refresh through its cookie fails, and the page returns to the login form.
  await click(second.page, '#refresh', /^Refresh refused: 400 invalid_grant\./);
  expect(await second.page.locator('#login-view').isVisible()).toBe(true);
  await screenshot(second.page, '06-revoked-elsewhere');

  // Log in again in the second browser, then log out everywhere from the first.
  await logIn(second.page, 'demo');
  await click(second.page, '#call-me', /^GET \/api\/me: 200$/);
  await click(first.page, '#logout-all', /^Logged out everywhere/);
  expect(await first.page.locator('#login-view').isVisible()).toBe(true);

  // The second browser's next API call fails within the revocation budget, and so does its refresh.
  const started = Date.now();
  for (;;) {
    await second.page.click('#call-me');
    await statusMatches(second.page, /^GET \/api\/me: (200|401 invalid_token)$/);
    if ((await text(second.page, '#status')) === 'GET /api/me: 401 invalid_token') break;
    expect(Date.now() - started).toBeLessThan(REVOCATION_BUDGET_MS + 1_000);
    await sleep(200);
  }
  await screenshot(second.page, '07-logged-out-everywhere');
  await click(second.page, '#refresh', /^Refresh refused: 400 invalid_grant\./);

  for (const demo of [first, second]) {
    expectCleanConsole(demo);
    await demo.context.close();
  }
});

test('a stale session hint costs one refused probe, then the page stops asking', async () => {
  const demo = await openDemo();
  const { page } = demo;
  const token = await logIn(page, 'demo');
  expect((await storageOf(page)).local).toEqual({ [SESSION_HINT_KEY]: '1' });

  // The session ends behind the page's back (another device logs out everywhere).
  const logoutAll = await fetch(`${platform.url}/auth/logout-all`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}` },
  });
  expect(logoutAll.status).toBe(204);

  let from = demo.requests.length;
  await page.reload();
  await settled(page);
  expect(await text(page, '#status')).toBe('Not logged in: the previous session has ended.');
  expect(authRequests(demo, from)).toEqual(['POST /auth/token']);
  expect((await storageOf(page)).local).toEqual({});

  from = demo.requests.length;
  await page.reload();
  await settled(page);
  expect(await text(page, '#status')).toBe('Not logged in.');
  expect(authRequests(demo, from)).toEqual([]);
  expect(demo.pageErrors).toEqual([]);
  await demo.context.close();
  // The watermark ends sessions created up to its clock margin (1 s) after it: the next test logs in later.
  await sleep(1100);
});

test('on a narrow screen: readable times, session ids that wrap, nothing wider than the page', async () => {
  const first = await openDemo({ width: 480, height: 900 });
  const second = await openDemo({ width: 480, height: 900 });
  await logIn(second.page, 'demo');
  const { page } = first;
  await logIn(page, 'demo');
  await page.click('#session-view summary');
  await click(page, '#list-sessions', /^GET \/auth\/sessions: 200$/);

  // Times read as dates, the exact value kept in <time datetime>; no epoch seconds or ISO strings alone.
  const times = await page
    .locator('#sessions time')
    .evaluateAll((all) => all.map((time) => [time.textContent, time.getAttribute('datetime')]));
  expect(times.length).toBeGreaterThanOrEqual(4);
  for (const [shown, exact] of times) {
    expect(shown).toMatch(READABLE_TIME);
    expect(exact).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/);
  }
  expect(await text(page, '#expires-at')).toMatch(READABLE_TIME);
  const decoded = JSON.parse(await text(page, '#claims')) as Record<string, unknown>;
  for (const name of ['exp', 'iat', 'nbf']) {
    expect(String(decoded[name])).toMatch(/^\d+ \(\d{1,2} [A-Z][a-z]{2} \d{4}, \d{2}:\d{2}:\d{2} UTC\)$/);
  }

  // Session ids wrap inside their cells; no cell is wider than its box, and the page does not scroll
  // sideways: as a table (900 px) and as cards (480 px).
  for (const width of [900, 480]) {
    await page.setViewportSize({ width, height: 900 });
    const overflow = await page.evaluate(() => {
      const root = document.documentElement;
      const sessions = document.getElementById('sessions-view');
      return {
        page: root.scrollWidth - root.clientWidth,
        sessions: (sessions?.scrollWidth ?? 0) - (sessions?.clientWidth ?? 0),
        cells: [...document.querySelectorAll('#sessions td, .facts dd')]
          .filter((cell) => cell.scrollWidth > cell.clientWidth)
          .map((cell) => cell.textContent),
      };
    });
    expect({ width, ...overflow }).toEqual({ width, page: 0, sessions: 0, cells: [] });
    await screenshot(page, `09-sessions-${width}px`);
  }

  expectCleanConsole(first);
  expect(first.consoleErrors).toEqual([]);
  for (const demo of [first, second]) await demo.context.close();
});

test('the CSP is enforced: an injected inline script does not run and is reported', async () => {
  const demo = await openDemo();
  const outcome = await demo.page.evaluate(
    () =>
      new Promise<{ ran: boolean; violated: string }>((resolve) => {
        document.addEventListener('securitypolicyviolation', (event) =>
          resolve({ ran: 'injected' in window, violated: event.effectiveDirective }),
        );
        const script = document.createElement('script');
        script.textContent = 'window.injected = true;';
        document.body.append(script);
      }),
  );

  expect(outcome).toEqual({ ran: false, violated: 'script-src-elem' });
  expect(demo.consoleErrors.some((message) => CSP_MESSAGE.test(message))).toBe(true);
  await demo.context.close();
});
