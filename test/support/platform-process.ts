import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { freePort } from '../../local/dynamodb-local';

/** The repository root: the platform process runs from here, as `npm start` does. */
const ROOT = join(__dirname, '../..');
const READY = /hybrid-auth local platform ready at (http:\/\/\S+)/;
/** One region's line in the ready message of `REGIONS=... npm start`. */
const REGION_LINE = /^ {4}([a-z0-9-]+)(?: \(primary\))? at (http:\/\/\S+), keys: (\S+)$/gm;

/** Settings of {@link startPlatformProcess}. */
export interface PlatformProcessOptions {
  /** `LOCAL_DATA_DIR`: where `keys.json` lives. */
  readonly dataDir: string;
  /** More environment variables (`SESSION_CACHE_TTL_SECONDS`, ...). */
  readonly env?: Readonly<Record<string, string>>;
  /** How long to wait for the ready line, ms. @default 60000, 120000 with `regions` */
  readonly readyTimeoutMs?: number;
  /**
   * `REGIONS`: start several regions behind the global endpoint (the first the primary). The global endpoint
   * gets a free port with the next `regions.length` ports free too.
   */
  readonly regions?: readonly string[];
  /**
   * `tsx` runs `tsx local/main.ts`; `npm` runs `npm start` (npm, its shell, tsx and node: the process a
   * signal reaches first is npm's).
   * @default 'tsx'
   */
  readonly command?: 'tsx' | 'npm';
}

/** One region of a platform started with `regions`, from its ready message. */
export interface RegionProcess {
  readonly name: string;
  /** The region's own API (`PORT + k`). */
  readonly url: string;
  readonly keysPath: string;
}

/** A local platform running as a child process (`tsx local/main.ts`), exactly as `npm start` runs it. */
export interface PlatformProcess {
  /** The URL from the ready line (with `regions`: the global endpoint's). */
  readonly url: string;
  /** With `regions`: each region in the order given; else empty. */
  readonly regions: readonly RegionProcess[];
  readonly dataDir: string;
  readonly keysPath: string;
  readonly pid: number;
  /** Everything the process wrote so far, stdout and stderr interleaved in arrival order. */
  output(): string;
  /** SIGTERM, then waits for the exit (SIGKILL to the process group after `graceMs`); idempotent. */
  stop(graceMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Starts the platform on a free loopback port with its own DynamoDB Local and waits for the
 * "ready at <url>" line. The process leads its own process group, so a hung shutdown can be killed whole
 * (tsx, the platform and its DynamoDB Local) without touching anything else.
 */
export async function startPlatformProcess(options: PlatformProcessOptions): Promise<PlatformProcess> {
  const regionCount = options.regions?.length ?? 0;
  const port = regionCount === 0 ? await freePort() : await freePortRun(regionCount + 1);
  const readyTimeoutMs = options.readyTimeoutMs ?? (regionCount === 0 ? 60_000 : 120_000);
  const [command, args] =
    options.command === 'npm' ? ['npm', ['start']] : [join(ROOT, 'node_modules/.bin/tsx'), ['local/main.ts']];
  const child = spawn(command, args, {
    cwd: ROOT,
    env: {
      ...process.env,
      HOST: '127.0.0.1',
      PORT: String(port),
      LOCAL_DATA_DIR: options.dataDir,
      ...(options.regions === undefined ? {} : { REGIONS: options.regions.join(',') }),
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error('the platform process did not start');
  const chunks: string[] = [];
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const output = () => chunks.join('');

  let regions: RegionProcess[] = [];
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      killGroup(child);
      reject(new Error(`the platform was not ready within ${readyTimeoutMs} ms:\n${output()}`));
    }, readyTimeoutMs);
    const onData = (chunk: Buffer) => {
      chunks.push(chunk.toString('utf8'));
      const text = output();
      const match = READY.exec(text);
      if (match?.[1] === undefined) return;
      // With regions, the ready message is complete once every region's line has arrived.
      const found = [...text.slice(match.index).matchAll(REGION_LINE)].map(
        ([, name = '', at = '', keys = '']) => ({
          name,
          url: at,
          keysPath: keys,
        }),
      );
      if (found.length < regionCount) return;
      regions = found.slice(0, regionCount);
      clearTimeout(timer);
      resolve(match[1]);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`the platform exited (${code ?? signal}) before it was ready:\n${output()}`));
    });
  });

  let stopping: Promise<{ code: number | null; signal: NodeJS.Signals | null }> | undefined;
  return {
    url,
    regions,
    dataDir: options.dataDir,
    keysPath: join(options.dataDir, 'keys.json'),
    pid,
    output,
    stop: (graceMs = 15_000) => {
      stopping ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
        const timer = setTimeout(() => killGroup(child), graceMs);
        const result = await exited;
        clearTimeout(timer);
        return result;
      })();
      return stopping;
    },
  };
}

/**
 * A free loopback port `p` with `p + 1` ... `p + count - 1` free as well (as `REGIONS=... npm start` needs:
 * region k listens on `PORT + k`). Free when looked at: another process may still take one before use.
 */
export async function freePortRun(count: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const first = await freePort();
    if (first + count - 1 > 65_535) continue;
    let free = true;
    for (let offset = 1; offset < count && free; offset++) free = await isFree(first + offset);
    if (free) return first;
  }
  throw new Error(`no run of ${count} free ports found`);
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** SIGKILL to the child's process group (the child was spawned detached, so it leads its own group). */
function killGroup(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // already gone
  }
}
