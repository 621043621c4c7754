import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FAULTS_PATH, REGION_HEADER } from '../../local/global-endpoint';
import { type PlatformProcess, startPlatformProcess } from '../support/platform-process';
import { descendants, type Proc, readProc, refusesConnections, stillRunning } from '../support/process-tree';

// `REGIONS=us-east-1,us-west-2 npm start` exactly as the README has a developer run it (npm -> tsx -> node,
// with one DynamoDB Local per region): ready on PORT, PORT + 1 and PORT + 2, and gone, with every child, after
// SIGTERM to npm. Linux only: the process tree is read from /proc.

const REGIONS = ['us-east-1', 'us-west-2'] as const;
/** How long everything may take to be gone after the signal (the platform gives itself 10 s). */
const STOP_BUDGET_MS = 10_000;

jest.setTimeout(180_000);

const portOf = (url: string) => Number(new URL(url).port);

/** SIGKILL to everything a failed test may have left in the run's process group (npm or tsx leads it). */
function killGroup(run: PlatformProcess | undefined): void {
  if (run === undefined) return;
  try {
    process.kill(-run.pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/**
 * Waits until none of `tree` runs and every port refuses connections, at most {@link STOP_BUDGET_MS} after
 * `since`; returns how long it took.
 */
async function untilGone(
  tree: readonly Proc[],
  ports: readonly number[],
  since: number,
  what: string,
): Promise<number> {
  const deadline = since + STOP_BUDGET_MS;
  for (;;) {
    const survivors = tree.filter(stillRunning);
    const open: number[] = [];
    for (const port of ports) if (!(await refusesConnections(port))) open.push(port);
    if (survivors.length === 0 && open.length === 0) return Date.now() - since;
    if (Date.now() > deadline) {
      throw new Error(
        `${STOP_BUDGET_MS} ms after ${what}: ports still served: ${open.join(', ') || 'none'}, still running:\n` +
          survivors.map((proc) => `  ${proc.pid} ${proc.command}`).join('\n'),
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Every port a run serves: the global endpoint, each region, each fault proxy and each DynamoDB Local. */
function portsOf(run: PlatformProcess, dataDir: string, javas: readonly Proc[]): number[] {
  const tableEndpoints = REGIONS.map(
    (region) =>
      (
        JSON.parse(readFileSync(join(dataDir, region, 'platform.json'), 'utf8')) as {
          dynamoDbEndpoint: string;
        }
      ).dynamoDbEndpoint,
  );
  return [
    portOf(run.url),
    ...run.regions.map((region) => portOf(region.url)),
    ...tableEndpoints.map(portOf),
    ...javas.map((proc) => Number(/-port (\d+)/.exec(proc.command)?.[1])),
  ];
}

/** The DynamoDB Local servers in a process tree. */
const javasIn = (tree: readonly Proc[]) =>
  tree.filter((proc) => /\bjava\b.*DynamoDBLocal\.jar/.test(proc.command));

/** No state file claims a platform runs: the stop was graceful. */
function expectNoStateFiles(dataDir: string): void {
  for (const dir of [dataDir, ...REGIONS.map((region) => join(dataDir, region))]) {
    expect(existsSync(join(dir, 'platform.json'))).toBe(false);
  }
}

(process.platform === 'linux' ? describe : describe.skip)('REGIONS=us-east-1,us-west-2 npm start', () => {
  let dataDir: string;
  let run: PlatformProcess;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'hybrid-auth-regions-npm-start-'));
    run = await startPlatformProcess({ dataDir, regions: REGIONS, command: 'npm' });
  }, 180_000);

  afterAll(async () => {
    killGroup(run);
    if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true });
  });

  test('is ready with the global endpoint on PORT and region k on PORT + k, each answering its JWKS', async () => {
    expect(run.regions.map((region) => region.name)).toEqual([...REGIONS]);
    const port = portOf(run.url);
    expect(run.regions.map((region) => portOf(region.url))).toEqual([port + 1, port + 2]);
    for (const url of [run.url, ...run.regions.map((region) => region.url)]) {
      const response = await fetch(`${url}/.well-known/jwks.json`);
      expect(response.status).toBe(200);
      expect(((await response.json()) as { keys: unknown[] }).keys.length).toBeGreaterThan(0);
    }
    // The global endpoint forwards to the primary while it is healthy.
    const health = await fetch(`${run.url}/health`);
    expect(health.status).toBe(200);
    expect(health.headers.get(REGION_HEADER)).toBe('us-east-1');
    const faults = await fetch(`${run.url}${FAULTS_PATH}`);
    expect(await faults.json()).toEqual({
      regions: {
        'us-east-1': { table: 'up', healthy: true },
        'us-west-2': { table: 'up', healthy: true },
      },
      replication: 'running',
      replicationLagMs: 200,
    });
    // One secret, replicated: every region holds the primary's key set.
    const [primary, replica] = await Promise.all(
      run.regions.map((region) => readFile(region.keysPath, 'utf8')),
    );
    expect(replica).toBe(primary);
  });

  test('SIGTERM to npm stops the global endpoint, every region, every DynamoDB Local and proxy, and frees the ports', async () => {
    const tree = descendants(run.pid);
    const javas = javasIn(tree);
    expect(javas).toHaveLength(REGIONS.length);
    expect(tree.some((proc) => /local\/main\.ts/.test(proc.command))).toBe(true);
    expect(tree.some((proc) => /local\/multi-region-main\.ts/.test(proc.command))).toBe(true);
    const ports = portsOf(run, dataDir, javas);
    expect(ports.every((port) => Number.isInteger(port) && port > 0)).toBe(true);
    for (const port of ports) expect(await refusesConnections(port)).toBe(false);
    expect(existsSync(join(dataDir, 'platform.json'))).toBe(true);

    const signalled = Date.now();
    process.kill(run.pid, 'SIGTERM');
    const npm = readProc(run.pid);
    const tookMs = await untilGone(
      npm === undefined ? tree : [npm, ...tree],
      ports,
      signalled,
      'SIGTERM to npm',
    );
    process.stdout.write(`\nREGIONS npm start: everything gone ${tookMs} ms after SIGTERM to npm\n`);
    expectNoStateFiles(dataDir);
  });
});

(process.platform === 'linux' ? describe : describe.skip)(
  'REGIONS=... npm start whose supervisor is killed',
  () => {
    let dataDir: string;
    let run: PlatformProcess;

    beforeAll(async () => {
      dataDir = await mkdtemp(join(tmpdir(), 'hybrid-auth-regions-orphan-'));
      run = await startPlatformProcess({ dataDir, regions: REGIONS });
    }, 180_000);

    afterAll(async () => {
      killGroup(run);
      if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true });
    });

    test('stops every region and DynamoDB Local by itself when its supervising process dies with SIGKILL', async () => {
      // tsx runs the supervisor (local/main.ts), which runs the regions (local/multi-region-main.ts).
      const tree = descendants(run.pid);
      const supervisor = tree.find((proc) => /local\/main\.ts/.test(proc.command) && proc.ppid === run.pid);
      if (supervisor === undefined)
        throw new Error(`no supervisor in:\n${tree.map((proc) => proc.command).join('\n')}`);
      const javas = javasIn(tree);
      expect(javas).toHaveLength(REGIONS.length);
      const ports = portsOf(run, dataDir, javas);

      const killed = Date.now();
      process.kill(supervisor.pid, 'SIGKILL');
      const tookMs = await untilGone(
        tree.filter((proc) => proc.pid !== supervisor.pid),
        ports,
        killed,
        'SIGKILL to the supervisor',
      );
      process.stdout.write(
        `\nREGIONS npm start: everything gone ${tookMs} ms after SIGKILL to the supervisor\n`,
      );
      expectNoStateFiles(dataDir);
    });
  },
);
