import {
  claimText,
  decodeClaims,
  formatClaims,
  formatCountdown,
  formatTime,
  secondsLeft,
  timeParts,
} from '../../local/demo/claims';
import {
  forgetSession,
  type HintStorage,
  mayHaveSession,
  rememberSession,
  SESSION_HINT_KEY,
} from '../../local/demo/session-hint';

// The demo page's display helpers (pure: no DOM), run in Node.
const b64u = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

test('decodes the payload of a compact JWS for display, without verifying it', () => {
  const claims = { sub: 'user-demo', scope: 'profile', exp: 1_795_000_300, name: 'Zoë' };

  expect(decodeClaims(`${b64u({ alg: 'ES256' })}.${b64u(claims)}.c2ln`)).toEqual(claims);
});

test('decodes nothing from what is not a three-part token with a JSON object payload', () => {
  for (const token of ['', 'a.b', 'a.b.c.d', `x.${b64u([1, 2])}.y`, `x.${b64u('text')}.y`, 'x.%%%.y']) {
    expect(decodeClaims(token)).toBeUndefined();
  }
});

test('counts down to exp and stops at zero', () => {
  expect(secondsLeft(1_000, 700_000)).toBe(300);
  expect(secondsLeft(1_000, 999_500)).toBe(0);
  expect(secondsLeft(1_000, 2_000_000)).toBe(0);
  expect(secondsLeft('1000', 0)).toBe(0);
  expect([300, 299, 61, 7, 0, -5].map(formatCountdown)).toEqual([
    '5:00',
    '4:59',
    '1:01',
    '0:07',
    '0:00',
    '0:00',
  ]);
});

test('formats claims with readable times and shows absent claims as a dash', () => {
  expect(JSON.parse(formatClaims({ sub: 'u', exp: 0, iat: 1_796_148_227 }))).toEqual({
    sub: 'u',
    exp: '0 (1 Jan 1970, 00:00:00 UTC)',
    iat: '1796148227 (1 Dec 2026, 18:03:47 UTC)',
  });
  expect([claimText('a'), claimText(['x']), claimText(undefined)]).toEqual(['a', '["x"]', '\u2014']);
});

test('shows times as day, month, year and UTC clock, whatever the time zone', () => {
  expect(formatTime(Date.UTC(2026, 11, 5, 14, 3, 12, 999))).toBe('5 Dec 2026, 14:03:12 UTC');
  expect(timeParts(Date.parse('2026-12-01T07:08:09.324Z'))).toEqual({
    day: '1 Dec 2026',
    clock: '07:08:09 UTC',
  });
  expect(formatTime(Number.NaN)).toBe('\u2014');
  expect(timeParts(Date.parse('yesterday'))).toBeUndefined();
});

test('the session hint is a constant flag, set at login and cleared at the end of a session', () => {
  const items = new Map<string, string>();
  const store: HintStorage = {
    getItem: (key) => items.get(key) ?? null,
    setItem: (key, value) => void items.set(key, value),
    removeItem: (key) => void items.delete(key),
  };

  expect(mayHaveSession(store)).toBe(false);
  rememberSession(store);
  expect([...items]).toEqual([[SESSION_HINT_KEY, '1']]);
  expect(mayHaveSession(store)).toBe(true);
  forgetSession(store);
  expect(items.size).toBe(0);
  expect(mayHaveSession(store)).toBe(false);
});

test('without usable storage the page probes as before, and keeping the hint never throws', () => {
  const broken: HintStorage = {
    getItem: () => {
      throw new Error('SecurityError');
    },
    setItem: () => {
      throw new Error('QuotaExceededError');
    },
    removeItem: () => {
      throw new Error('SecurityError');
    },
  };

  expect(mayHaveSession(undefined)).toBe(true);
  expect(mayHaveSession(broken)).toBe(true);
  expect(() => rememberSession(broken)).not.toThrow();
  expect(() => forgetSession(broken)).not.toThrow();
});
