import { DEMO_USERS, startLocalPlatform } from './platform';

/** Reads a positive integer from the environment, or exits with a message naming the variable. */
function envInt(name: string, fallback: number, min = 0): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) {
    process.stderr.write(`${name} must be an integer of at least ${min}, got ${JSON.stringify(raw)}\n`);
    process.exit(2);
  }
  return value;
}

async function main(): Promise<void> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const platform = await startLocalPlatform({
    host: process.env.HOST || '127.0.0.1',
    port: envInt('PORT', 3000),
    dataDir: process.env.LOCAL_DATA_DIR || '.local',
    accessTokenTtlSeconds: envInt('ACCESS_TOKEN_TTL_SECONDS', 300, 1),
    refreshGraceSeconds: envInt('REFRESH_GRACE_SECONDS', 10),
    sessionCacheTtlSeconds: envInt('SESSION_CACHE_TTL_SECONDS', 1),
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
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    platform.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((error: unknown) => {
  process.stderr.write(
    `hybrid-auth local platform failed to start: ${(error as Error)?.message ?? String(error)}\n`,
  );
  process.exit(1);
});
