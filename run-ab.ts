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
    const entries = { old: 'lambda/authorizer/index-old.ts', new: 'lambda/authorizer/index.ts' };
    for (const [k, e] of Object.entries(entries))
      await build({
        entryPoints: [e],
        bundle: true,
        platform: 'node',
        format: 'esm',
        target: 'node22',
        outfile: join(out, k, 'index.mjs'),
        minify: true,
        mainFields: ['module', 'main'],
        banner: {
          js: "import { createRequire } from 'module';const require = createRequire(import.meta.url);",
        },
        logLevel: 'silent',
      });
    writeFileSync(
      join(out, 'h.mjs'),
      `
const mod = await import(process.env.BENCH_BUNDLE);
const r = await mod.handler(JSON.parse(process.env.BENCH_EVENT));
if (r.policyDocument.Statement[0].Effect !== 'Allow') throw new Error('not allowed');
process.exit(0);
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
      BENCH_EVENT: JSON.stringify(requestEvent(fx.token)),
    };
    const res: Record<string, number[]> = { bare: [], old: [], new: [] };
    const run = (args: string[], e: NodeJS.ProcessEnv) => {
      const t = performance.now();
      const r = spawnSync(process.execPath, args, { env: e, encoding: 'utf8' });
      if (r.status !== 0) throw new Error(r.stderr);
      return performance.now() - t;
    };
    for (let i = 0; i < Number(process.env.N ?? 15); i++) {
      res.bare.push(run(['-e', '0'], { PATH: process.env.PATH }));
      for (const k of ['old', 'new'])
        res[k].push(run([join(out, 'h.mjs')], { ...env, BENCH_BUNDLE: join(out, k, 'index.mjs') }));
    }
    const med = (v: number[]) => {
      const s = [...v].sort((a, b) => a - b);
      return s[s.length >> 1];
    };
    for (const [k, v] of Object.entries(res))
      console.log(k, med(v).toFixed(1), 'above bare', (med(v) - med(res.bare)).toFixed(1));
  } finally {
    await d.stop();
  }
})();
