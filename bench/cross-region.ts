import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SETTINGS } from '../lambda/settings';
import { DEFAULT_CONFIG as budget } from '../lib/config';
import { startPlatformProcess } from '../test/support/platform-process';
import { type Figure, progress } from './harness';

/** What the local platform adds to the replication lag: no API Gateway result cache, its session cache. */
const SESSION_CACHE_TTL_SECONDS = SETTINGS.sessionCacheTtlSeconds.default;

async function post(url: string, body: string, headers: Record<string, string>): Promise<Response> {
  return fetch(url, { method: 'POST', headers, body });
}

/**
 * 6. Cross-region revocation latency: on `REGIONS=us-east-1,us-west-2 npm start` with the replication lag
 * given, the time from a logout answered in region 1 to the first refusal of the same access token in region
 * 2 (polled every 20 ms), for each lag, beside the revocation budget of the deployed default (the lag plus
 * the authorizer's caches must fit it). Median of `samples` logouts per lag.
 */
export async function benchCrossRegion(options: {
  lagsMs: readonly number[];
  samples: number;
}): Promise<Figure[]> {
  const figures: Figure[] = [];
  for (const lagMs of options.lagsMs) {
    progress(`6 cross-region: starting two regions with a ${lagMs} ms replication lag`);
    const dataDir = mkdtempSync(path.join(tmpdir(), 'hybrid-auth-bench-regions-'));
    const platform = await startPlatformProcess({
      dataDir,
      regions: ['us-east-1', 'us-west-2'],
      env: {
        REPLICATION_LAG_MS: String(lagMs),
        SESSION_CACHE_TTL_SECONDS: String(SESSION_CACHE_TTL_SECONDS),
      },
    });
    try {
      const [region1, region2] = platform.regions.map((region) => region.url) as [string, string];
      const latencies: number[] = [];
      for (let sample = 0; sample < options.samples; sample++) {
        const login = await post(
          `${region1}/auth/login`,
          JSON.stringify({ username: 'demo', password: 'demo-password', client_id: 'native' }),
          { 'Content-Type': 'application/json' },
        );
        const { access_token: token } = (await login.json()) as { access_token: string };
        const authorization = { Authorization: `Bearer ${token}` };
        // Replicated and seen as live in region 2 first, so that only the logout has to travel.
        await new Promise((resolve) => setTimeout(resolve, lagMs * 2 + 300));
        const live = await fetch(`${region2}/api/me`, { headers: authorization });
        await live.arrayBuffer();
        if (live.status !== 200) throw new Error(`region 2 answered ${live.status} before the logout`);
        await (await post(`${region1}/auth/logout`, '', authorization)).arrayBuffer();
        const loggedOut = performance.now();
        for (;;) {
          const reply = await fetch(`${region2}/api/me`, { headers: authorization });
          await reply.arrayBuffer();
          if (reply.status === 401) break;
          if (performance.now() - loggedOut > 30_000) throw new Error('region 2 never refused the token');
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        latencies.push(performance.now() - loggedOut);
      }
      latencies.sort((a, b) => a - b);
      const median = latencies[Math.floor(latencies.length / 2)] ?? Number.NaN;
      const bound = lagMs + SESSION_CACHE_TTL_SECONDS * 1000;
      figures.push({
        bench: '6 cross-region',
        name: `cross-region revocation latency, replication lag ${lagMs} ms`,
        value: Math.round(median),
        unit: 'ms',
        target: `<= ${bound} + 500 (lag + session cache)`,
        pass: median <= bound + 500,
        min: Math.round(latencies[0] ?? Number.NaN),
        max: Math.round(latencies[latencies.length - 1] ?? Number.NaN),
        note:
          `logout in region 1 to the first 401 in region 2, ${latencies.length} samples; the deployed default ` +
          `budget is ${budget.revocationBudget.toSeconds()} s (lag ${budget.expectedReplicationLag.toSeconds()} s + ` +
          `session cache ${budget.sessionCacheTtl.toSeconds()} s + API Gateway result cache ${budget.authorizerCacheTtl.toSeconds()} s)`,
      });
    } finally {
      await platform.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  }
  return figures;
}
