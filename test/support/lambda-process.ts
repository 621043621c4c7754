import { type ChildProcess, fork } from 'node:child_process';
import path from 'node:path';

/** What a synthesized function answered: its result, or the error it threw (as Lambda reports it). */
export type Invocation =
  | { readonly result: unknown; readonly error?: undefined }
  | { readonly result?: undefined; readonly error: { readonly name: string; readonly message: string } };

/** One synthesized Lambda bundle running in its own process, with the environment its template gives it. */
export interface LambdaProcess {
  invoke(event: unknown): Promise<Invocation>;
  /** Everything the function wrote to stdout and stderr so far (its log lines). */
  output(): string;
  stop(): Promise<void>;
}

const RUNTIME = path.join(__dirname, 'lambda-runtime.mjs');

/** Starts `bundle` (an `index.mjs` from cdk.out) in a fresh Node.js process with exactly `env` and waits until it has loaded. */
export async function startLambdaProcess(
  bundle: string,
  functionName: string,
  env: Readonly<Record<string, string>>,
): Promise<LambdaProcess> {
  const child: ChildProcess = fork(RUNTIME, [bundle, functionName], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString('utf8');
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString('utf8');
  });
  const pending = new Map<number, (invocation: Invocation) => void>();
  let next = 0;
  await new Promise<void>((resolve, reject) => {
    child.once('exit', (code) =>
      reject(new Error(`${functionName} exited with ${code} while loading:\n${output}`)),
    );
    child.on('message', (message: { ready?: true; id?: number } & Invocation) => {
      if (message.ready) return resolve();
      const settle = message.id === undefined ? undefined : pending.get(message.id);
      if (message.id !== undefined) pending.delete(message.id);
      settle?.(message.error === undefined ? { result: message.result } : { error: message.error });
    });
  });
  child.removeAllListeners('exit');
  return {
    invoke: (event) =>
      new Promise<Invocation>((resolve) => {
        const id = next++;
        pending.set(id, resolve);
        child.send({ id, event });
      }),
    output: () => output,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill();
      }),
  };
}
