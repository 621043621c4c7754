import { type Clock, systemClock } from '../core/clock';
import { definePolicy, type Policy } from '.';

/** Options of {@link businessHours}. */
export interface BusinessHoursOptions {
  /** First allowed hour, UTC, inclusive. @default 8 (08:00 UTC) */
  readonly startHourUtc?: number;
  /** First hour no longer allowed, UTC, exclusive. @default 18 (allowed until 17:59:59.999 UTC) */
  readonly endHourUtc?: number;
  /** The clock that says what time it is now. @default the system clock */
  readonly clock?: Clock;
}

/**
 * A custom policy (the worked example of `docs/custom-policies.md`): allows requests only on weekdays
 * (Monday to Friday) between `startHourUtc` and `endHourUtc`, UTC, by the injected clock. It reads the
 * clock rather than the token's `iat`: a token minted at 17:59 is still valid at 18:04, and the question is
 * when the request is made, not when the token was. Decides `within_business_hours`, `outside_business_hours`
 * or `weekend`.
 *
 * @throws {TypeError} when an hour is not an integer from 0 to 24 or the start is not before the end.
 *
 * @example
 * allOf(requireScope('reports:read'), businessHours())
 */
export function businessHours(options: BusinessHoursOptions = {}): Policy {
  const { startHourUtc = 8, endHourUtc = 18, clock = systemClock } = options;
  for (const [name, hour] of [
    ['startHourUtc', startHourUtc],
    ['endHourUtc', endHourUtc],
  ] as const) {
    if (!Number.isInteger(hour) || hour < 0 || hour > 24) {
      throw new TypeError(`businessHours: ${name} must be an integer from 0 to 24, got ${hour}`);
    }
  }
  if (startHourUtc >= endHourUtc) {
    throw new TypeError(
      `businessHours: startHourUtc (${startHourUtc}) must be before endHourUtc (${endHourUtc})`,
    );
  }
  const name =
    startHourUtc === 8 && endHourUtc === 18
      ? 'businessHours()'
      : `businessHours(${startHourUtc}-${endHourUtc} UTC)`;
  return definePolicy(name, () => {
    const now = new Date(clock());
    // A broken clock is a policy error, and so a deny (fail closed).
    if (Number.isNaN(now.getTime())) throw new RangeError('businessHours: the clock returned no valid time');
    const day = now.getUTCDay();
    if (day === 0 || day === 6) return { allow: false, reason: 'weekend' };
    const hour = now.getUTCHours();
    return hour >= startHourUtc && hour < endHourUtc
      ? { allow: true, reason: 'within_business_hours' }
      : { allow: false, reason: 'outside_business_hours' };
  });
}
