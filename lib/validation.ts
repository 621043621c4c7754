import { Duration, Token } from 'aws-cdk-lib';

/**
 * A construct prop or a configuration value that is not allowed. Every check in `lib/` throws it (the
 * configuration reader throws its subclass `ConfigError`) with one message format (docs/design.md
 * Conventions 5):
 *
 *     <owner>: <setting> is <given>; allowed: <allowed>
 *
 * e.g. `AuthApi: wafLoginLimit is 9; allowed: an integer from 10 to 2000000000`. Strings and lists are
 * given as JSON, numbers as they are, durations in seconds (or days, where the setting is counted in days).
 */
export class InvalidValueError extends Error {
  public override readonly name: string = 'InvalidValueError';
  /** The construct or configuration the value belongs to, e.g. `AuthApi` or `hybrid-auth config`. */
  public readonly owner: string;
  /** The prop or configuration key, e.g. `wafLoginLimit` or `replicaRegions[1]`. */
  public readonly setting: string;
  /** The value given. */
  public readonly given: unknown;
  /** What is allowed instead, in words. */
  public readonly allowed: string;

  /**
   * @param given the value given: formatted by {@link describeValue} unless it is a {@link DescribedValue}.
   */
  public constructor(owner: string, setting: string, given: unknown, allowed: string) {
    super(`${owner}: ${setting} is ${describeValue(given)}; allowed: ${allowed}`);
    this.owner = owner;
    this.setting = setting;
    this.given = given;
    this.allowed = allowed;
  }
}

/** A given value already put in words, for values that {@link describeValue} would not say well. */
export class DescribedValue {
  /** The words, used as they are in the message. */
  public readonly text: string;

  public constructor(text: string) {
    this.text = text;
  }
}

/** How a given value appears in a validation message (see {@link InvalidValueError}). */
export function describeValue(value: unknown, unit: DurationUnit = 'seconds'): string {
  if (value instanceof DescribedValue) return value.text;
  if (value instanceof Duration) {
    return unit === 'days'
      ? `${value.toDays({ integral: false })} days`
      : `${value.toSeconds({ integral: false })} s`;
  }
  if (typeof value === 'number' || typeof value === 'bigint' || value === undefined) return String(value);
  return JSON.stringify(value) ?? String(value);
}

/** The unit a duration is given and checked in. */
export type DurationUnit = 'seconds' | 'days';

/** An inclusive range of integers; an absent bound is no bound. */
export interface IntegerRange {
  /** @default no lower bound */
  readonly min?: number;
  /** @default no upper bound */
  readonly max?: number;
  /** What the integer counts, for the message (e.g. `requests per source IP per 5 minutes`). @default none */
  readonly unit?: string;
}

/** The words for an {@link IntegerRange}, e.g. `an integer from 10 to 2000000000`. */
export function describeIntegerRange(range: IntegerRange, kind = 'an integer'): string {
  const { min, max, unit } = range;
  const bounds =
    min !== undefined && max !== undefined
      ? ` from ${min} to ${max}`
      : min !== undefined
        ? ` of at least ${min}`
        : max !== undefined
          ? ` of at most ${max}`
          : '';
  return `${kind}${bounds}${unit === undefined ? '' : ` ${unit}`}`;
}

/**
 * Checks that `value` is an integer within `range` and returns it; an unresolved token passes unchecked.
 *
 * @throws {InvalidValueError} `<owner>: <setting> is <value>; allowed: an integer from <min> to <max>`
 */
export function requireInteger(owner: string, setting: string, value: unknown, range: IntegerRange): number {
  if (typeof value === 'number' && Token.isUnresolved(value)) return value;
  if (!isIntegerIn(value, range))
    throw new InvalidValueError(owner, setting, value, describeIntegerRange(range));
  return value;
}

/** Whether `value` is an integer within `range` (the test of {@link requireInteger}, without the throw). */
export function isIntegerIn(value: unknown, range: IntegerRange): value is number {
  return (
    typeof value === 'number' &&
    Number.isInteger(value) &&
    (range.min === undefined || value >= range.min) &&
    (range.max === undefined || value <= range.max)
  );
}

/**
 * Checks that `value` is a finite number above 0; an unresolved token passes unchecked.
 *
 * @throws {InvalidValueError} `<owner>: <setting> is <value>; allowed: a finite number above 0`
 */
export function requirePositiveNumber(owner: string, setting: string, value: number, unit?: string): number {
  if (Token.isUnresolved(value)) return value;
  if (!(Number.isFinite(value) && value > 0)) {
    throw new InvalidValueError(
      owner,
      setting,
      value,
      `a finite number above 0${unit === undefined ? '' : ` ${unit}`}`,
    );
  }
  return value;
}

/** An inclusive range of durations, counted in one unit. */
export interface DurationRange {
  /** @default no lower bound (but never below 0) */
  readonly min?: number;
  /** @default no upper bound */
  readonly max?: number;
  /** The unit of `min`, `max` and of the message. @default 'seconds' */
  readonly unit?: DurationUnit;
  /** Whether only whole units are allowed. @default false */
  readonly whole?: boolean;
}

/**
 * Checks that `value` lies within `range`; an unresolved duration passes unchecked.
 *
 * @throws {InvalidValueError} e.g. `<owner>: <setting> is 1.5 s; allowed: whole seconds from 0 to 3600`
 */
export function requireDuration(
  owner: string,
  setting: string,
  value: Duration,
  range: DurationRange,
): Duration {
  if (value.isUnresolved()) return value;
  const unit = range.unit ?? 'seconds';
  const amount = unit === 'days' ? value.toDays({ integral: false }) : value.toSeconds({ integral: false });
  if (
    amount < 0 ||
    (range.whole === true && !Number.isInteger(amount)) ||
    (range.min !== undefined && amount < range.min) ||
    (range.max !== undefined && amount > range.max)
  ) {
    const kind = `${range.whole === true ? 'whole ' : 'a duration in '}${unit}`;
    throw new InvalidValueError(
      owner,
      setting,
      new DescribedValue(describeValue(value, unit)),
      describeIntegerRange({ min: range.min, max: range.max }, kind),
    );
  }
  return value;
}

/**
 * Checks that `value` is longer than 0; an unresolved duration passes unchecked.
 *
 * @throws {InvalidValueError} `<owner>: <setting> is 0 s; allowed: a duration longer than 0`
 */
export function requirePositiveDuration(owner: string, setting: string, value: Duration): Duration {
  if (value.isUnresolved()) return value;
  if (!(value.toMilliseconds() > 0)) {
    throw new InvalidValueError(owner, setting, value, 'a duration longer than 0');
  }
  return value;
}

/**
 * Checks that `value` matches `pattern`; an unresolved token passes unchecked.
 *
 * @param allowed what the pattern allows, in words.
 * @throws {InvalidValueError} `<owner>: <setting> is "<value>"; allowed: <allowed>`
 */
export function requireMatch(
  owner: string,
  setting: string,
  value: string,
  pattern: RegExp,
  allowed: string,
): string {
  if (Token.isUnresolved(value)) return value;
  if (!pattern.test(value)) throw new InvalidValueError(owner, setting, value, allowed);
  return value;
}
