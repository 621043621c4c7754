import type { PolicyContext } from '../../lambda/policies';
import { allOf, evaluatePolicy, requireScope } from '../../lambda/policies';
import { businessHours } from '../../lambda/policies/business-hours';
import { FrozenClock } from '../support/fixtures';
import { policyContext } from '../support/policy-context';

/** A verified request by a token with `scope`; the time comes from the policy's clock, not from here. */
function context(scope = 'reports:read'): PolicyContext {
  return policyContext({ claims: { scope }, route: { method: 'GET', path: '/api/reports/{id}' } });
}

/** The policy with its clock frozen at a UTC time; 2026-11-27 is a Friday. */
function at(isoTime: string) {
  const clock = new FrozenClock(Date.parse(isoTime));
  return { clock, policy: businessHours({ clock: clock.now }) };
}

test('allows on a weekday at 08:00 UTC', async () => {
  const { policy } = at('2026-11-27T08:00:00Z');

  await expect(evaluatePolicy(policy, context())).resolves.toEqual({
    allow: true,
    policy: 'businessHours()',
    reason: 'within_business_hours',
  });
});

test('allows on a weekday until 17:59:59.999 UTC', async () => {
  const { policy } = at('2026-11-30T17:59:59.999Z');

  await expect(evaluatePolicy(policy, context())).resolves.toMatchObject({ allow: true });
});

test('denies on a weekday from 18:00 UTC', async () => {
  const { policy } = at('2026-11-27T18:00:00Z');

  await expect(evaluatePolicy(policy, context())).resolves.toEqual({
    allow: false,
    policy: 'businessHours()',
    reason: 'outside_business_hours',
  });
});

test('denies on a weekday before 08:00 UTC', async () => {
  const { policy } = at('2026-11-27T07:59:59Z');

  await expect(evaluatePolicy(policy, context())).resolves.toMatchObject({
    allow: false,
    reason: 'outside_business_hours',
  });
});

test.each(['2026-11-28T12:00:00Z', '2026-11-29T12:00:00Z'])(
  'denies at noon on the weekend (%s)',
  async (time) => {
    const { policy } = at(time);

    await expect(evaluatePolicy(policy, context())).resolves.toMatchObject({
      allow: false,
      reason: 'weekend',
    });
  },
);

test('decides by the clock at each request, not once', async () => {
  // GIVEN a policy built at 17:58 on a Friday
  const { clock, policy } = at('2026-11-27T17:58:00Z');
  await expect(evaluatePolicy(policy, context())).resolves.toMatchObject({ allow: true });

  // WHEN the clock passes 18:00
  clock.advance(180);

  // THEN the same token is refused
  await expect(evaluatePolicy(policy, context())).resolves.toMatchObject({ allow: false });
});

test('takes other hours, and names them', async () => {
  const clock = new FrozenClock(Date.parse('2026-11-27T20:30:00Z'));
  const policy = businessHours({ startHourUtc: 20, endHourUtc: 24, clock: clock.now });

  await expect(evaluatePolicy(policy, context())).resolves.toEqual({
    allow: true,
    policy: 'businessHours(20-24 UTC)',
    reason: 'within_business_hours',
  });
});

test('denies with policy_error when the clock is broken', async () => {
  const policy = businessHours({ clock: () => Number.NaN });

  await expect(evaluatePolicy(policy, context())).resolves.toEqual({
    allow: false,
    policy: 'businessHours()',
    reason: 'policy_error',
    failed: true,
  });
});

test('combines with a scope check on a route', async () => {
  const { clock } = at('2026-11-27T12:00:00Z');
  const policy = allOf(requireScope('reports:read'), businessHours({ clock: clock.now }));

  await expect(evaluatePolicy(policy, context('items:read'))).resolves.toEqual({
    allow: false,
    policy: 'requireScope(reports:read)',
    reason: 'scope_missing:reports:read',
  });
});

test.each([
  [{ startHourUtc: -1 }, /startHourUtc must be an integer from 0 to 24, got -1/],
  [{ endHourUtc: 18.5 }, /endHourUtc must be an integer from 0 to 24, got 18.5/],
  [{ startHourUtc: 18, endHourUtc: 8 }, /startHourUtc \(18\) must be before endHourUtc \(8\)/],
  [{ startHourUtc: 9, endHourUtc: 9 }, /startHourUtc \(9\) must be before endHourUtc \(9\)/],
])('fails on the hours %j', (options, message) => {
  expect(() => businessHours(options)).toThrow(message);
});
