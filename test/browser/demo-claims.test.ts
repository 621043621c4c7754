import { claimText, decodeClaims, formatClaims, formatCountdown, secondsLeft } from '../../local/demo/claims';

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
  expect(JSON.parse(formatClaims({ sub: 'u', exp: 0 }))).toEqual({
    sub: 'u',
    exp: '0 (1970-01-01T00:00:00.000Z)',
  });
  expect([claimText('a'), claimText(['x']), claimText(undefined)]).toEqual(['a', '["x"]', '\u2014']);
});
