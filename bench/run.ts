import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { benchAuthorizer } from './authorizer';
import { benchColdStart } from './cold-start';
import { benchCrossRegion } from './cross-region';
import { startBenchDynamo } from './dynamo';
import { type Figure, machine, printTable, progress } from './harness';
import { benchIssuer } from './issuer';
import { benchLogoutAll } from './logout-all';
import { benchPlatformLoad } from './platform-load';
import { benchVerify } from './verify';

/**
 * `npm run bench` (about 6 minutes) and `npm run bench -- --quick` (under 2 minutes): the seven benchmarks of
 * docs/performance.md. Prints a table and writes bench/results/latest.json. Exits 0 whether or not a target
 * is met (a timing never fails CI); exits 1 only when a benchmark could not run at all.
 *
 * `-- --only 3,4` runs only the benchmarks named by their numbers, at the chosen settings, and prints their
 * table without writing latest.json: a partial run never replaces the record of a whole one.
 */
async function main(): Promise<void> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const quick = process.argv.includes('--quick');
  const onlyIndex = process.argv.indexOf('--only');
  const only =
    onlyIndex < 0 ? undefined : new Set((process.argv[onlyIndex + 1] ?? '').split(',').map((n) => n.trim()));
  if (only !== undefined && ![...only].every((n) => /^[1-7]$/.test(n))) {
    process.stderr.write('usage: npm run bench -- [--quick] [--only N[,N...]] (N: 1 to 7)\n');
    process.exit(2);
  }
  const settings = quick
    ? { rounds: 5, roundMs: 150, logins: 3, coldRounds: 5, loadSeconds: 5, connections: 10, sessions: 2 }
    : { rounds: 15, roundMs: 400, logins: 10, coldRounds: 20, loadSeconds: 60, connections: 10, sessions: 4 };
  const started = Date.now();
  const figures: Figure[] = [];
  const failures: string[] = [];
  const attempt = async (name: string, run: () => Promise<Figure[]>) => {
    if (only !== undefined && !only.has(name.slice(0, name.indexOf(' ')))) return;
    try {
      figures.push(...(await run()));
    } catch (error) {
      failures.push(`${name}: ${(error as Error)?.stack ?? String(error)}`);
      progress(`${name} FAILED: ${(error as Error)?.message ?? String(error)}`);
    }
  };
  const options = { rounds: settings.rounds, roundMs: settings.roundMs };

  await attempt('1 verify', () => benchVerify(options));
  let dynamoDbLocal = '';
  if (only === undefined || ['2', '3', '4', '5', '7'].some((n) => only.has(n))) {
    progress('starting DynamoDB Local');
    const dynamo = await startBenchDynamo();
    dynamoDbLocal = dynamo.local.version;
    try {
      await attempt('2 authorizer', () => benchAuthorizer(dynamo, options));
      await attempt('3 cold start', () => benchColdStart(dynamo, { rounds: settings.coldRounds }));
      await attempt('4 issuer', () => benchIssuer(dynamo, { ...options, logins: settings.logins }));
      await attempt('7 logout-all', () => benchLogoutAll(dynamo, { rounds: quick ? 3 : 10 }));
      await attempt('5 platform', () =>
        benchPlatformLoad(dynamo, {
          durationSeconds: settings.loadSeconds,
          connections: settings.connections,
          sessions: settings.sessions,
        }),
      );
    } finally {
      await dynamo.stop();
    }
  }
  await attempt('6 cross-region', () => benchCrossRegion({ lagsMs: [200, 1000], samples: quick ? 2 : 5 }));

  printTable(figures);
  const missed = figures.filter((figure) => figure.pass === false);
  if (only !== undefined) {
    process.stdout.write(
      `\npartial run (${[...only].join(', ')}) in ${Math.round((Date.now() - started) / 1000)} s; ` +
        `${missed.length} target(s) missed; bench/results/latest.json not written\n`,
    );
    if (failures.length > 0) {
      process.stderr.write(`\n${failures.join('\n\n')}\n`);
      process.exitCode = 1;
    }
    return;
  }
  const report = {
    date: new Date().toISOString(),
    mode: quick ? 'quick' : 'full',
    durationSeconds: Math.round((Date.now() - started) / 1000),
    machine: { ...machine(), dynamoDbLocal },
    settings,
    figures,
    summary: {
      targets: figures.filter((f) => f.pass !== undefined).length,
      missed: missed.map((f) => f.name),
      failures,
    },
  };
  const dir = join(__dirname, 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'latest.json');
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  // In the repository's own JSON format, so that `npm run lint` stays clean after a run.
  spawnSync(process.execPath, [require.resolve('@biomejs/biome/bin/biome'), 'format', '--write', file], {
    stdio: 'ignore',
  });
  process.stdout.write(
    `\n${report.mode} run in ${report.durationSeconds} s on ${report.machine.cpuModel} x${report.machine.cores}, Node ${report.machine.node}; ` +
      `${missed.length} target(s) missed${missed.length > 0 ? ` (${missed.map((f) => f.name).join('; ')})` : ''}; results in bench/results/latest.json\n`,
  );
  if (failures.length > 0) {
    process.stderr.write(`\n${failures.join('\n\n')}\n`);
    process.exitCode = 1;
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${(error as Error)?.stack ?? String(error)}\n`);
  process.exit(1);
});
