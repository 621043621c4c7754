import { fork } from 'node:child_process';
import { constants } from 'node:os';
import { join } from 'node:path';
import {
  type MultiRegionPlatform,
  type MultiRegionPlatformOptions,
  startMultiRegionPlatform,
} from './multi-region';
import { DEMO_USERS, removeOwnStateFile, STOP_BUDGET_MS, STOP_SIGNALS, stopOnce } from './platform';

/**
 * `REGIONS=... npm start` in two processes: the one npm's tsx runs (local/main.ts) supervises, and a child
 * process (this file) runs the regions.
 *
 * Why: tsx relays a SIGTERM or SIGINT that reaches it alone (npm forwards SIGTERM only to its script) to the
 * process it runs, and kills that process with SIGKILL unless it acknowledges the signal within about 30 ms
 * (tsx's `relaySignals`). With several regions (their HTTP servers, health checks, replication, fault
 * proxies) one event loop is too busy on a loaded machine to acknowledge in time, and a SIGKILL leaves
 * every DynamoDB Local running. The supervisor's event loop does nothing else, so it acknowledges at once
 * and passes the signal on; the child stops everything it started. Should the supervisor die anyway, the
 * child sees its IPC channel close and stops as well.
 */

/** How long the supervisor waits for the child after passing a signal on (longer than the child's budget). */
const SUPERVISOR_BUDGET_MS = STOP_BUDGET_MS + 5_000;

/** The settings the supervisor read from the environment and hands the child. */
export type MultiRegionSettings = Omit<MultiRegionPlatformOptions, 'write'> & {
  readonly dataDir: string;
};

/**
 * Starts the regions in a child process and supervises it: every stop signal is passed on, and this
 * process exits with the child's exit code once the child has stopped.
 */
export function superviseMultiRegion(settings: MultiRegionSettings): void {
  const child = fork(join(__dirname, 'multi-region-main.ts'), [JSON.stringify(settings)], {
    execArgv: process.execArgv,
    stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
  });
  let signalled = false;
  const pass = (signal: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    if (signalled) return;
    signalled = true;
    setTimeout(() => {
      process.stderr.write(
        `the regions did not stop within ${SUPERVISOR_BUDGET_MS} ms of ${signal}; exiting\n`,
      );
      child.kill('SIGKILL');
      process.exit(1);
    }, SUPERVISOR_BUDGET_MS).unref();
  };
  for (const signal of STOP_SIGNALS) process.on(signal, pass);
  child.once('exit', (code, signal) => {
    process.exit(code ?? (signal === null ? 1 : 128 + constants.signals[signal]));
  });
}

/** The child: starts the regions, prints where they are, and stops them on a signal or when orphaned. */
async function runMultiRegion(settings: MultiRegionSettings): Promise<void> {
  let platform: MultiRegionPlatform | undefined;
  // The supervisor passes on the Ctrl-C that the whole process group received too: one stop is enough.
  const stop = stopOnce(() => platform);
  for (const signal of STOP_SIGNALS) process.on(signal, stop);
  process.on('disconnect', () => stop('the supervising process going away'));
  // Whatever the way out (a failed start included), no platform.json is left claiming this process runs.
  process.on('exit', () => {
    removeOwnStateFile(settings.dataDir);
    for (const region of settings.regions) removeOwnStateFile(join(settings.dataDir, region));
  });

  platform = await startMultiRegionPlatform(settings);
  process.stdout.write(readyLines(platform));
}

/** What `REGIONS=... npm start` prints when the global endpoint and every region answer. */
function readyLines(platform: MultiRegionPlatform): string {
  const primary = platform.regions[0]?.name ?? '';
  return [
    '',
    `hybrid-auth local platform ready at ${platform.url} (the global endpoint: the first healthy region answers)`,
    `  demo page: ${platform.url}/`,
    '  regions (in order of preference):',
    ...platform.regions.map(
      (region) =>
        `    ${region.name}${region.primary ? ' (primary)' : ''} at ${region.url}, keys: ${region.keysPath}`,
    ),
    `  replication lag: ${platform.replicationLagMs} ms (table items and the signing-keys secret)`,
    `  faults: curl -s ${platform.url}/_local/faults`,
    `          curl -s -X POST ${platform.url}/_local/faults -d '{"region":"${primary}","table":"down"}'`,
    '  users:',
    ...DEMO_USERS.map((user) => `    ${user.username} / ${user.password} (scope: ${user.scope})`),
    '',
    `  try: curl -s -X POST ${platform.url}/auth/login -H 'Content-Type: application/json' \\`,
    `         -d '{"username":"demo","password":"demo-password"}'`,
    '',
  ].join('\n');
}

if (require.main === module) {
  runMultiRegion(JSON.parse(process.argv[2] ?? '{}') as MultiRegionSettings).catch((error: unknown) => {
    process.stderr.write(
      `hybrid-auth local platform failed to start: ${(error as Error)?.message ?? String(error)}\n`,
    );
    process.exit(1);
  });
}
