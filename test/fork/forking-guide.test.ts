import { execFile, execFileSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

/**
 * docs/forking.md, followed to the letter: the project is copied, every whole file the guide prints (a `ts`
 * block whose first line is `// <path>`) is written into the copy as printed, and the copy must then
 * type-check, lint clean and pass every suite whose expectations depend on the protected route table or the
 * deployed functions. A test that compares against the sample route table instead of deriving from the route
 * table fails here, and so does a guide whose code no longer compiles.
 */
const ROOT = path.join(__dirname, '../..');
const GUIDE = path.join(ROOT, 'docs/forking.md');

/** The suites whose expectations depend on the route table or on what the stacks deploy. */
const ROUTE_DEPENDENT_SUITES = [
  'test/core/authorizer.test.ts',
  'test/handlers/authorizer-handler.test.ts',
  'test/security/token-attacks.test.ts',
  'test/security/fail-closed.test.ts',
  'test/infra/app.test.ts',
  'test/infra/auth-api.test.ts',
  'test/e2e/local-platform.test.ts',
  'test/policies',
];

const run = promisify(execFile);

/** Every whole file the guide prints, by its path in the project. */
function guideFiles(markdown: string): Map<string, string> {
  const files = new Map<string, string>();
  for (const match of markdown.matchAll(/^```ts\n\/\/ ([\w./-]+\.ts)\n([\s\S]*?)^```$/gm)) {
    const [, file, body] = match;
    if (file !== undefined && body !== undefined) files.set(file, body);
  }
  return files;
}

/** A copy of the project as git sees it (tracked and untracked, not ignored), sharing node_modules. */
function copyProject(): string {
  const copy = mkdtempSync(path.join(tmpdir(), 'hybrid-auth-fork-'));
  const listed = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  for (const file of listed.split('\0')) {
    if (file === '' || !existsSync(path.join(ROOT, file))) continue;
    mkdirSync(path.dirname(path.join(copy, file)), { recursive: true });
    copyFileSync(path.join(ROOT, file), path.join(copy, file));
  }
  symlinkSync(path.join(ROOT, 'node_modules'), path.join(copy, 'node_modules'), 'dir');
  return copy;
}

const files = guideFiles(readFileSync(GUIDE, 'utf8'));
let fork: string;

beforeAll(() => {
  fork = copyProject();
  for (const [file, body] of files) {
    mkdirSync(path.dirname(path.join(fork, file)), { recursive: true });
    writeFileSync(path.join(fork, file), body);
  }
});

afterAll(() => {
  if (fork !== undefined) rmSync(fork, { recursive: true, force: true });
});

/** Runs a command in the fork; a failure shows what the command printed. */
async function inFork(command: string, args: string[]): Promise<void> {
  const { JEST_WORKER_ID: _worker, DYNAMODB_LOCAL_ENDPOINT: _endpoint, ...inherited } = process.env;
  const env = { ...inherited, CI: 'true' };
  try {
    await run(command, args, { cwd: fork, env, maxBuffer: 64 * 1024 * 1024, timeout: 15 * 60_000 });
  } catch (error) {
    const { stdout = '', stderr = '' } = error as { stdout?: string; stderr?: string };
    throw new Error(`${command} ${args.join(' ')} failed in the fork:\n${stdout}\n${stderr}`.slice(-20_000));
  }
}

test('the guide prints the route table, a backend, its CDK wiring and a policy with its test', () => {
  expect([...files.keys()].sort()).toEqual([
    'lambda/policies/require-client.ts',
    'lambda/protected-routes.ts',
    'lambda/reports/index.ts',
    'lib/backends.ts',
    'test/policies/require-client.test.ts',
  ]);
  // The fork really extends the table: the guide's route is new.
  expect(readFileSync(path.join(ROOT, 'lambda/protected-routes.ts'), 'utf8')).not.toContain('/api/reports');
  expect(files.get('lambda/protected-routes.ts')).toContain("path: '/api/reports/{id}'");
});

test('the fork type-checks and lints clean', async () => {
  await inFork('npx', ['tsc']);
  await inFork('npx', ['biome', 'check', ...files.keys()]);
}, 120_000);

test("the route-dependent suites pass on the fork's route table and backend", async () => {
  // One worker: this suite already runs beside the outer run's other workers.
  await inFork('npx', ['jest', '--ci', '--coverage=false', '--maxWorkers=1', ...ROUTE_DEPENDENT_SUITES]);
}, 900_000);
