import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SessionRecord } from '../lambda/core/session';
import { SessionCache, type SessionSubjectReader } from '../lambda/core/session-cache';
import { DEMO_USERS, startLocalPlatform } from '../local/platform';
import type { BenchDynamo } from './dynamo';
import { type Figure, progress, round3 } from './harness';

/** Settings of {@link benchPlatformLoad}. */
export interface PlatformLoadOptions {
  /** How long autocannon runs, seconds. */
  readonly durationSeconds: number;
  readonly connections: number;
  /** Sessions whose tokens the load uses (one login each). */
  readonly sessions: number;
}

/** The load generator, run in its own process so it does not share the platform's event loop. */
const LOAD_CHILD = `
const { createRequire } = require('node:module');
const autocannon = createRequire(process.env.BENCH_ROOT + '/package.json')('autocannon');
const settings = JSON.parse(process.env.BENCH_LOAD);
autocannon(
  {
    url: settings.url,
    connections: settings.connections,
    duration: settings.duration,
    requests: settings.tokens.map((token) => ({ method: 'GET', path: '/api/me', headers: { authorization: 'Bearer ' + token } })),
  },
  (error, result) => {
    if (error) { console.error(error); process.exit(1); }
    process.stdout.write(JSON.stringify({
      rps: result.requests.average, total: result.requests.total, p50: result.latency.p50, p99: result.latency.p99,
      errors: result.errors, timeouts: result.timeouts, non2xx: result.non2xx,
      statusCodeStats: result.statusCodeStats,
    }));
  },
);
`;

interface LoadResult {
  readonly rps: number;
  readonly total: number;
  readonly p50: number;
  readonly p99: number;
  readonly errors: number;
  readonly timeouts: number;
  readonly non2xx: number;
}

async function postJson(url: string, body: unknown): Promise<Record<string, unknown>> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (response.status !== 200) throw new Error(`${url} answered ${response.status}`);
  return (await response.json()) as Record<string, unknown>;
}

function runLoad(root: string, script: string, settings: unknown): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script], {
      env: { PATH: process.env.PATH, BENCH_ROOT: root, BENCH_LOAD: JSON.stringify(settings) },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
    });
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0
        ? resolve(JSON.parse(out) as LoadResult)
        : reject(new Error(`load generator exited ${code}`)),
    );
  });
}

const mb = (bytes: number) => round3(bytes / (1024 * 1024));

/** Benchmark 5: the local platform under load (autocannon on /api/me, refreshes alongside), memory bounded. */
export async function benchPlatformLoad(
  dynamo: BenchDynamo,
  options: PlatformLoadOptions,
): Promise<Figure[]> {
  const bench = '5 platform';
  const dataDir = mkdtempSync(join(tmpdir(), 'hybrid-auth-bench-platform-'));
  let logLines = 0;
  const platform = await startLocalPlatform({
    port: 0,
    dataDir,
    dynamoDbEndpoint: dynamo.local.endpoint,
    write: () => {
      logLines++;
    },
  });
  try {
    const user = DEMO_USERS[0];
    progress(`platform: ${options.sessions} logins`);
    const tokens: string[] = [];
    let refreshToken = '';
    for (let i = 0; i < options.sessions; i++) {
      const login = await postJson(`${platform.url}/auth/login`, {
        username: user.username,
        password: user.password,
      });
      tokens.push(String(login.access_token));
      refreshToken = String(login.refresh_token);
    }
    const script = join(dataDir, 'load.cjs');
    writeFileSync(script, LOAD_CHILD);
    // Warm-up, then the measured run.
    await runLoad(process.cwd(), script, {
      url: platform.url,
      connections: options.connections,
      duration: 1,
      tokens,
    });
    global.gc?.();
    const before = process.memoryUsage();

    progress(
      `platform: autocannon ${options.durationSeconds} s x ${options.connections} connections on /api/me, refreshes alongside`,
    );
    let refreshes = 0;
    let refreshErrors = 0;
    let running = true;
    const refreshLoop = (async () => {
      while (running) {
        const response = await fetch(`${platform.url}/auth/token`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({
            grant_type: 'refresh_token',
            refresh_token: refreshToken,
            client_id: 'native',
          }),
        });
        const body = (await response.json()) as Record<string, unknown>;
        if (response.status === 200 && typeof body.refresh_token === 'string') {
          refreshToken = body.refresh_token;
          refreshes++;
        } else {
          refreshErrors++;
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    const result = await runLoad(process.cwd(), script, {
      url: platform.url,
      connections: options.connections,
      duration: options.durationSeconds,
      tokens,
    });
    running = false;
    await refreshLoop;
    global.gc?.();
    const after = process.memoryUsage();

    // The caches have a size limit: push far more distinct sessions than it holds through a SessionCache.
    const limit = 10_000;
    const fake: SessionSubjectReader = {
      read: async (sid: string) => ({ session: { sid } as unknown as SessionRecord, subject: undefined }),
    };
    const cache = new SessionCache({ reader: fake, ttlMs: 60_000 });
    for (let i = 0; i < 5 * limit; i++) await cache.get(`sid-${i}`, 'sub');

    const errors = result.errors + result.timeouts + result.non2xx + refreshErrors;
    return [
      {
        bench,
        name: '/api/me requests per second',
        value: round3(result.rps),
        unit: 'req/s',
        note: `${options.connections} connections, ${options.durationSeconds} s, ${options.sessions} sessions' tokens`,
      },
      { bench, name: '/api/me latency p50', value: result.p50, unit: 'ms' },
      { bench, name: '/api/me latency p99', value: result.p99, unit: 'ms' },
      { bench, name: '/api/me requests', value: result.total, unit: 'requests' },
      { bench, name: 'refreshes alongside', value: refreshes, unit: 'refreshes' },
      {
        bench,
        name: 'errors (socket, timeout, non-2xx, failed refresh)',
        value: errors,
        unit: 'errors',
        target: '== 0',
        pass: errors === 0,
      },
      {
        bench,
        name: 'RSS after the run',
        value: mb(after.rss),
        unit: 'MiB',
        note: `before ${mb(before.rss)} MiB`,
      },
      {
        bench,
        name: 'heap used after the run',
        value: mb(after.heapUsed),
        unit: 'MiB',
        note: `before ${mb(before.heapUsed)} MiB`,
      },
      {
        bench,
        name: 'SessionCache size after 50000 distinct sessions',
        value: cache.size,
        unit: 'entries',
        target: `<= ${limit}`,
        pass: cache.size <= limit,
      },
      { bench, name: 'log and metric (EMF) lines written by the platform', value: logLines, unit: 'lines' },
    ];
  } finally {
    await platform.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
