import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Env } from '../lambda/adapters/env';
import { SETTINGS } from '../lambda/settings';
import { DEMO_USERS, type LocalPlatform, PLATFORM_STATE_FILE, startLocalPlatform } from './platform';

/**
 * The signals that stop the platform: Ctrl-C (SIGINT, to the whole foreground process group), `kill` or a
 * process manager (SIGTERM: npm forwards it to this script's tsx, which relays it here) and a closed
 * terminal (SIGHUP). Each closes the HTTP server, stops DynamoDB Local and removes `platform.json`.
 */
const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
/** How long a graceful stop may take before the process exits anyway (DynamoDB Local is killed on exit). */
const STOP_BUDGET_MS = 10_000;

/** Reads the environment once; a bad value exits with a message naming the variable and its range. */
function readEnvironment() {
  const env = new Env();
  try {
    return {
      port: env.int('PORT', 3000, 0, 65_535),
      accessTokenTtlSeconds: env.setting(SETTINGS.accessTokenTtlSeconds),
      refreshGraceSeconds: env.setting(SETTINGS.refreshGraceSeconds),
      sessionCacheTtlSeconds: env.setting(SETTINGS.sessionCacheTtlSeconds),
    };
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    process.exit(2);
  }
}

/** Removes `platform.json` if this process wrote it (a second `npm start` on the same directory did not). */
function removeOwnStateFile(dataDir: string): void {
  const path = join(dataDir, PLATFORM_STATE_FILE);
  try {
    const state = JSON.parse(readFileSync(path, 'utf8')) as { pid?: unknown };
    if (state.pid === process.pid) rmSync(path, { force: true });
  } catch {
    // no file, or not ours to remove
  }
}

async function main(): Promise<void> {
  const settings = readEnvironment();
  const dataDir = process.env.LOCAL_DATA_DIR || '.local';
  let platform: LocalPlatform | undefined;
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    // npm and tsx may each pass the same Ctrl-C on: one stop is enough.
    if (stopping) return;
    stopping = true;
    setTimeout(() => {
      process.stderr.write(`the platform did not stop within ${STOP_BUDGET_MS} ms of ${signal}; exiting\n`);
      process.exit(1);
    }, STOP_BUDGET_MS).unref();
    // Still starting: exit now; the exit hooks stop DynamoDB Local and remove platform.json.
    if (platform === undefined) process.exit(0);
    platform.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  for (const signal of STOP_SIGNALS) process.on(signal, stop);
  // Whatever the way out (a failed start included), no platform.json is left claiming this process runs.
  process.on('exit', () => removeOwnStateFile(dataDir));

  platform = await startLocalPlatform({
    host: process.env.HOST || '127.0.0.1',
    dataDir,
    ...settings,
  });
  process.stdout.write(
    [
      '',
      `hybrid-auth local platform ready at ${platform.url}`,
      `  demo page: ${platform.url}/`,
      `  keys: ${platform.keysPath}`,
      '  users:',
      ...DEMO_USERS.map((user) => `    ${user.username} / ${user.password} (scope: ${user.scope})`),
      '',
      `  try: curl -s -X POST ${platform.url}/auth/login -H 'Content-Type: application/json' \\`,
      `         -d '{"username":"demo","password":"demo-password"}'`,
      '',
    ].join('\n'),
  );
}

main().catch((error: unknown) => {
  process.stderr.write(
    `hybrid-auth local platform failed to start: ${(error as Error)?.message ?? String(error)}\n`,
  );
  process.exit(1);
});
