import type { SettingSpec } from '../settings';

/** Reads the environment once at start-up; any problem is a TypeError that names the variable (fail fast). */
export class Env {
  public constructor(private readonly source: Readonly<Record<string, string | undefined>> = process.env) {}

  /** A required, non-empty string. */
  public string(name: string): string {
    const value = this.source[name];
    if (value === undefined || value === '') throw new TypeError(`environment variable ${name} is required`);
    return value;
  }

  /** An integer within bounds, or the default when unset. */
  public int(name: string, fallback: number, min: number, max: number): number {
    const raw = this.source[name];
    if (raw === undefined || raw === '') return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new TypeError(
        `environment variable ${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`,
      );
    }
    return value;
  }

  /** A runtime setting declared in `lambda/settings.ts`: its default when unset, else an integer in its range. */
  public setting(spec: SettingSpec): number {
    return this.int(spec.env, spec.default, spec.min, spec.max);
  }

  /** One of `allowed`, or the default when unset. */
  public oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
    const raw = this.source[name];
    if (raw === undefined || raw === '') return fallback;
    const value = allowed.find((candidate) => candidate === raw);
    if (value === undefined) {
      throw new TypeError(
        `environment variable ${name} must be one of ${allowed.join(', ')}, got ${JSON.stringify(raw)}`,
      );
    }
    return value;
  }

  /** `true` or `false`, or the default when unset. */
  public bool(name: string, fallback: boolean): boolean {
    const raw = this.source[name];
    if (raw === undefined || raw === '') return fallback;
    if (raw !== 'true' && raw !== 'false') {
      throw new TypeError(`environment variable ${name} must be true or false, got ${JSON.stringify(raw)}`);
    }
    return raw === 'true';
  }
}
