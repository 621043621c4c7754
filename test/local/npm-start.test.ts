import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../../local/dynamodb-local';
import { descendants, refusesConnections, stillRunning } from '../support/process-tree';

// `npm start` exactly as the README has a developer run it (npm -> tsx -> node, with DynamoDB Local's java
// and esbuild's service below), and what a second shell or a process manager does to it: add a user with
// `npm run create-user -- --local`, then stop it with a signal. Linux only: the process tree is read from /proc.

const ROOT = join(__dirname, '../..');
const READY = /hybrid-auth local platform ready at (http:\/\/\S+)/;
/** How long everything may take to be gone after the signal. */
const STOP_BUDGET_MS = 5_000;

jest.setTimeout(90_000);

interface NpmStart {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly url: string;
  readonly port: number;
  readonly dataDir: string;
  readonly exited: Promise<void>;
  output(): string;
}

const started: NpmStart[] = [];

/** `npm start` in its own process group (as a terminal's foreground job is), on a free port. */
async function npmStart(): Promise<NpmStart> {
  const dataDir = await mkdtemp(join(tmpdir(), 'hybrid-auth-npm-start-'));
  const port = await freePort();
  const child = spawn('npm', ['start'], {
    cwd: ROOT,
    env: { ...process.env, HOST: '127.0.0.1', PORT: String(port), LOCAL_DATA_DIR: dataDir },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  if (child.pid === undefined) throw new Error('npm start did not start');
  const chunks: string[] = [];
  const output = () => chunks.join('');
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`npm start was not ready within 60 s:\n${output()}`)),
      60_000,
    );
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
    exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`npm start exited before it was ready:\n${output()}`));
    });
  });
  const run: NpmStart = { child, pid: child.pid, url, port, dataDir, exited, output };
  started.push(run);
  return run;
}

afterAll(async () => {
  for (const run of started) {
    try {
      process.kill(-run.pid, 'SIGKILL');
    } catch {
      // already gone
    }
    await rm(run.dataDir, { recursive: true, force: true });
  }
});

/**
 * Sends `signal` (to npm alone, or to its whole process group as a closed terminal does) and waits until
 * npm has exited, nothing it started runs any more, and the port refuses connections.
 */
async function stopAndCheck(run: NpmStart, signal: NodeJS.Signals, target: 'npm' | 'group'): Promise<number> {
  // The demo script is bundled by esbuild on its first request: make sure its service runs too.
  const script = await fetch(`${run.url}/demo/demo.js`);
  expect(script.status).toBe(200);
  await script.text();
  const tree = descendants(run.pid);
  const commands = tree.map((proc) => proc.command);
  expect(commands.some((command) => /\bjava\b.*DynamoDBLocal\.jar/.test(command))).toBe(true);
  expect(commands.some((command) => /esbuild.*--service/.test(command))).toBe(true);
  expect(commands.some((command) => /local\/main\.ts/.test(command))).toBe(true);
  expect(existsSync(join(run.dataDir, 'platform.json'))).toBe(true);

  const signalled = Date.now();
  process.kill(target === 'npm' ? run.pid : -run.pid, signal);
  const deadline = signalled + STOP_BUDGET_MS;
  for (;;) {
    const npmExited = run.child.exitCode !== null || run.child.signalCode !== null;
    const survivors = tree.filter(stillRunning);
    const portFree = await refusesConnections(run.port);
    if (npmExited && survivors.length === 0 && portFree) break;
    if (Date.now() > deadline) {
      throw new Error(
        `${STOP_BUDGET_MS} ms after ${signal} to ${target}: npm ${npmExited ? 'exited' : 'still runs'}, ` +
          `port ${portFree ? 'free' : 'still served'}, still running:\n` +
          survivors.map((proc) => `  ${proc.pid} ${proc.command}`).join('\n'),
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const tookMs = Date.now() - signalled;
  // A graceful stop: the platform removed the file that tells other commands it runs.
  expect(existsSync(join(run.dataDir, 'platform.json'))).toBe(false);
  return tookMs;
}

const linux = process.platform === 'linux';

(linux ? describe : describe.skip)('npm start', () => {
  let run: NpmStart;

  beforeAll(async () => {
    run = await npmStart();
  }, 90_000);

  test('npm run create-user -- --local adds a user to the running platform without AWS credentials', async () => {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      LOCAL_DATA_DIR: run.dataDir,
      HYBRID_AUTH_PASSWORD: 'local horse battery',
    };
    for (const name of Object.keys(env))
      if (name.startsWith('AWS_') && !name.startsWith('AWS_SDK_JS')) delete env[name];
    env.AWS_CONFIG_FILE = join(run.dataDir, 'no-aws-config');
    env.AWS_SHARED_CREDENTIALS_FILE = join(run.dataDir, 'no-aws-credentials');
    const { stdout } = await promisify(execFile)(
      'npm',
      ['run', '--silent', 'create-user', '--', '--local', '--username', 'alice', '--scope', 'profile'],
      { cwd: ROOT, env, timeout: 30_000 },
    );
    expect(stdout).toContain('created user alice');
    expect(stdout).toContain(run.url);

    const response = await fetch(`${run.url}/auth/login`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ username: 'alice', password: 'local horse battery', client_id: 'native' }),
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ scope: 'profile' });
  });

  test('SIGTERM to npm stops the server, DynamoDB Local (java) and esbuild, and frees the port', async () => {
    const tookMs = await stopAndCheck(run, 'SIGTERM', 'npm');
    process.stdout.write(`\nnpm start: everything gone ${tookMs} ms after SIGTERM to npm\n`);
  });

  test.each([
    ['SIGINT', 'npm'],
    ['SIGHUP', 'group'],
  ] as const)('%s to %s stops everything as well', async (signal, target) => {
    const tookMs = await stopAndCheck(await npmStart(), signal, target);
    process.stdout.write(`\nnpm start: everything gone ${tookMs} ms after ${signal} to ${target}\n`);
  });
});
