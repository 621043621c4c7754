import { cpus, platform, release } from 'node:os';

/** One figure of the report (bench/results/latest.json). */
export interface Figure {
  /** Which benchmark it belongs to (1 to 5). */
  readonly bench: string;
  readonly name: string;
  readonly value: number;
  readonly unit: string;
  /** The target as text (`>= 0.8`), when the figure has one. */
  readonly target?: string;
  /** Whether the target is met; absent when the figure has no target. */
  readonly pass?: boolean;
  /** For ratios: the smallest and largest per-round ratio. */
  readonly min?: number;
  readonly max?: number;
  readonly note?: string;
}

/** A contender of a side-by-side comparison: one operation, synchronous or asynchronous. */
export interface Contender {
  readonly name: string;
  readonly run: () => unknown;
  /** Await each call (sequentially). */
  readonly async?: boolean;
}

/** Per-contender result of {@link compare}. */
export interface Compared {
  readonly name: string;
  /** Median over rounds of the mean time per operation, microseconds. */
  readonly medianUs: number;
  /** Median, min and max over rounds of baseline time / contender time (1 = as fast as the baseline). */
  readonly ratio: { readonly median: number; readonly min: number; readonly max: number };
  readonly rounds: number;
  readonly opsPerRound: number;
  /** Mean time per operation in each round, microseconds. */
  readonly roundUs: readonly number[];
}

/** Settings of {@link compare}. */
export interface CompareOptions {
  readonly rounds: number;
  /** Time spent on each contender in each round, ms. */
  readonly roundMs: number;
  /** Rounds run first and discarded (JIT warm-up). @default 1 */
  readonly warmupRounds?: number;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  if (sorted.length === 0) return Number.NaN;
  return sorted.length % 2 === 1
    ? (sorted[mid] ?? Number.NaN)
    : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

/** Runs one contender for about `ms`; returns the mean time per operation in microseconds and the count. */
async function timeSlice(contender: Contender, ms: number): Promise<{ us: number; ops: number }> {
  const deadline = performance.now() + ms;
  const started = performance.now();
  let ops = 0;
  let now = started;
  if (contender.async === true) {
    while (now < deadline) {
      for (let i = 0; i < 8; i++) await contender.run();
      ops += 8;
      now = performance.now();
    }
  } else {
    while (now < deadline) {
      for (let i = 0; i < 32; i++) contender.run();
      ops += 32;
      now = performance.now();
    }
  }
  return { us: ((now - started) * 1000) / ops, ops };
}

/**
 * Measures contenders side by side in one process, in interleaved rounds (each round runs every contender
 * for `roundMs`, the order rotating from round to round), and reports for each the median time per
 * operation and the median, min and max per-round ratio against the first contender (the baseline).
 * Interleaving makes the ratio robust against a noisy machine: both sides of each ratio ran within a few
 * hundred milliseconds of each other.
 */
export async function compare(
  contenders: readonly Contender[],
  options: CompareOptions,
): Promise<Compared[]> {
  const times = contenders.map(() => [] as number[]);
  const ops = contenders.map(() => [] as number[]);
  const warmup = options.warmupRounds ?? 1;
  for (let round = 0; round < warmup + options.rounds; round++) {
    for (let k = 0; k < contenders.length; k++) {
      const index = (k + round) % contenders.length;
      const contender = contenders[index];
      if (contender === undefined) continue;
      const result = await timeSlice(contender, options.roundMs);
      if (round >= warmup) {
        times[index]?.push(result.us);
        ops[index]?.push(result.ops);
      }
    }
  }
  const base = times[0] ?? [];
  return contenders.map((contender, index) => {
    const own = times[index] ?? [];
    const ratios = own.map((us, round) => (base[round] ?? Number.NaN) / us);
    return {
      name: contender.name,
      medianUs: median(own),
      ratio: { median: median(ratios), min: Math.min(...ratios), max: Math.max(...ratios) },
      rounds: own.length,
      opsPerRound: Math.round(median(ops[index] ?? [])),
      roundUs: own,
    };
  });
}

/** The per-round ratio of `contender` against another contender `base` of the same comparison. */
export function rebase(contender: Compared, base: Compared): Compared {
  const ratios = contender.roundUs.map((us, round) => (base.roundUs[round] ?? Number.NaN) / us);
  return {
    ...contender,
    ratio: { median: median(ratios), min: Math.min(...ratios), max: Math.max(...ratios) },
  };
}

/** A ratio figure with a `>=` target. */
export function ratioFigure(
  bench: string,
  name: string,
  result: Compared,
  target?: number,
  note?: string,
): Figure {
  const value = round3(result.ratio.median);
  return {
    bench,
    name,
    value,
    unit: 'x',
    ...(target === undefined ? {} : { target: `>= ${target}`, pass: value >= target }),
    min: round3(result.ratio.min),
    max: round3(result.ratio.max),
    ...(note === undefined ? {} : { note }),
  };
}

export function round3(value: number): number {
  return Math.round(value * 1000) / 1000;
}

/** The machine the figures were measured on. */
export function machine() {
  const list = cpus();
  return {
    cpuModel: list[0]?.model ?? 'unknown',
    cores: list.length,
    os: `${platform()} ${release()}`,
    node: process.version,
  };
}

/** Prints figures as a terminal table. */
export function printTable(figures: readonly Figure[]): void {
  const rows = figures.map((f) => [
    f.bench,
    f.name,
    `${f.value} ${f.unit}`,
    f.min === undefined ? '' : `${f.min}..${f.max}`,
    f.target ?? '',
    f.pass === undefined ? '' : f.pass ? 'PASS' : 'MISS',
  ]);
  const header = ['#', 'figure', 'value', 'min..max', 'target', ''];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ');
  process.stdout.write(`${line(header)}\n${widths.map((w) => '-'.repeat(w)).join('  ')}\n`);
  for (const row of rows) process.stdout.write(`${line(row)}\n`);
}

/** Progress on stderr (the table is the stdout). */
export function progress(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}
