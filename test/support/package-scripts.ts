import { type SpawnSyncReturns, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(__dirname, '../..');

/**
 * Runs an npm script as package.json names it (`tsx <file>`), with `args`, in an environment of `PATH` and
 * `env` only: what `npm run <name> -- <args>` runs, so a script whose file does nothing fails its test.
 */
export function runPackageScript(
  name: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
): SpawnSyncReturns<string> {
  const scripts = (
    JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }
  ).scripts;
  const [runner, file, ...rest] = (scripts[name] ?? '').split(' ');
  if (runner !== 'tsx' || file === undefined || rest.length > 0) {
    throw new Error(`package.json script ${name} is not "tsx <file>": ${JSON.stringify(scripts[name])}`);
  }
  return spawnSync(process.execPath, [require.resolve('tsx/cli'), file, ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
}
