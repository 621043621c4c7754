import { Env } from '../lambda/adapters/env';
import { SETTINGS } from '../lambda/settings';
import {
  DEMO_USERS,
  type LocalPlatform,
  removeOwnStateFile,
  STOP_SIGNALS,
  startLocalPlatform,
  stopOnce,
} from './platform';
import { DEFAULT_REPLICATION_LAG_MS, parseRegions } from './regions';

/** Reads the environment once; a bad value exits with a message naming the variable and its range. */
function readEnvironment() {
  const env = new Env();
  try {
    const regions = parseRegions(process.env.REGIONS);
    return {
      // With REGIONS, region k listens on PORT + k, so PORT must leave room for them (and 0 picks nothing).
      port: env.int('PORT', 3000, regions === undefined ? 0 : 1, 65_535 - (regions?.length ?? 0)),
      accessTokenTtlSeconds: env.setting(SETTINGS.accessTokenTtlSeconds),
      refreshGraceSeconds: env.setting(SETTINGS.refreshGraceSeconds),
      sessionCacheTtlSeconds: env.setting(SETTINGS.sessionCacheTtlSeconds),
      regions,
      replicationLagMs: env.int('REPLICATION_LAG_MS', DEFAULT_REPLICATION_LAG_MS, 0, 60_000),
    };
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    process.exit(2);
  }
}

async function main(): Promise<void> {
  const { regions, replicationLagMs, ...settings } = readEnvironment();
  const dataDir = process.env.LOCAL_DATA_DIR || '.local';
  if (regions !== undefined) {
    // Several regions run in a child process that this one supervises (local/multi-region-main.ts), loaded
    // only then.
    const { superviseMultiRegion } = await import('./multi-region-main');
    superviseMultiRegion({
      host: process.env.HOST || '127.0.0.1',
      dataDir,
      regions,
      replicationLagMs,
      ...settings,
    });
    return;
  }
  let platform: LocalPlatform | undefined;
  // npm and tsx may each pass the same Ctrl-C on: one stop is enough.
  const stop = stopOnce(() => platform);
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
