import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { freePort } from '../../local/dynamodb-local';

/** The repository root: the platform process runs from here, as `npm start` does. */
const ROOT = join(__dirname, '../..');
const READY = /hybrid-auth local platform ready at (http:\/\/\S+)/;

/** Settings of {@link startPlatformProcess}. */
export interface PlatformProcessOptions {
  /** `LOCAL_DATA_DIR`: where `keys.json` lives. */
  readonly dataDir: string;
  /** More environment variables (`SESSION_CACHE_TTL_SECONDS`, ...). */
  readonly env?: Readonly<Record<string, string>>;
  /** How long to wait for the ready line, ms. @default 60000 */
  readonly readyTimeoutMs?: number;
}

/** A local platform running as a child process (`tsx local/main.ts`), exactly as `npm start` runs it. */
export interface PlatformProcess {
  /** The URL from the ready line. */
  readonly url: string;
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
  const port = await freePort();
  const child = spawn(join(ROOT, 'node_modules/.bin/tsx'), ['local/main.ts'], {
    cwd: ROOT,
    env: {
      ...process.env,
      HOST: '127.0.0.1',
      PORT: String(port),
      LOCAL_DATA_DIR: options.dataDir,
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

  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      killGroup(child);
      reject(
        new Error(`the platform was not ready within ${options.readyTimeoutMs ?? 60_000} ms:\n${output()}`),
      );
    }, options.readyTimeoutMs ?? 60_000);
    const onData = (chunk: Buffer) => {
      chunks.push(chunk.toString('utf8'));
      const match = READY.exec(output());
      if (match?.[1] !== undefined) {
        clearTimeout(timer);
        resolve(match[1]);
      }
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

/** SIGKILL to the child's process group (the child was spawned detached, so it leads its own group). */
function killGroup(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // already gone
  }
}
