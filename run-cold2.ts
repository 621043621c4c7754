import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { requestEvent } from './bench/authorizer';
import { startBenchDynamo } from './bench/dynamo';
import { AUDIENCE, ISSUER, tokenFixture } from './bench/fixtures';

(async () => {
  const d = await startBenchDynamo();
  try {
    const sid = 'cold-sid';
    await d.seedSession(sid, 'user-bench');
    const fx = await tokenFixture('ES256', sid, 'user-bench');
    await d.publishJwks(fx.jwks);
    const out = mkdtempSync(join(tmpdir(), 'cold-'));
    await build({
      entryPoints: ['lambda/authorizer/index.ts'],
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node22',
      outfile: join(out, 'index.mjs'),
      minify: process.env.MIN === '1',
      mainFields: ['module', 'main'],
      banner: {
        js: "import { createRequire } from 'module';const require = createRequire(import.meta.url);",
      },
      logLevel: 'silent',
    });
    writeFileSync(
      join(out, 'h.mjs'),
      `
const t0 = performance.now();
const mod = await import(process.env.BENCH_BUNDLE);
const t1 = performance.now();
const r = await mod.handler(JSON.parse(process.env.BENCH_EVENT));
const t2 = performance.now();
const r2 = await mod.handler(JSON.parse(process.env.BENCH_EVENT));
const t3 = performance.now();
process.stderr.write(JSON.stringify({ boot: t0, importAndInit: t1 - t0, codeLoaded: mod.initTimings.codeLoadedMs, warmed: mod.initTimings.warmedUpMs, first: t2 - t1, second: t3 - t2, effect: r.policyDocument.Statement[0].Effect }) + '\\n');
`,
    );
    const env = {
      PATH: process.env.PATH,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      AWS_ENDPOINT_URL_DYNAMODB: d.local.endpoint,
      TABLE_NAME: d.tableName,
      ISSUER,
      AUDIENCE,
      BENCH_BUNDLE: join(out, 'index.mjs'),
      BENCH_EVENT: JSON.stringify(requestEvent(fx.token)),
    };
    for (let i = 0; i < 6; i++) {
      const r = spawnSync(
        process.execPath,
        [
          ...(process.env.PROF ? ['--cpu-prof', '--cpu-prof-interval=100', '--cpu-prof-dir=/tmp/prof2'] : []),
          join(out, 'h.mjs'),
        ],
        { env, encoding: 'utf8' },
      );
      console.log(r.stderr.trim().split('\n').pop());
    }
  } finally {
    await d.stop();
  }
})();
