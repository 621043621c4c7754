import { readdirSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';

/** Process-tree helpers for the tests that stop `npm start`: what a process left behind, read from /proc. */

export interface Proc {
  readonly pid: number;
  readonly ppid: number;
  /** Start time in clock ticks since boot: tells a live process from a later one that reused its pid. */
  readonly startTime: string;
  readonly state: string;
  readonly command: string;
}

export function readProc(pid: number): Proc | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The fields after the command name (which may contain spaces and parentheses).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const command = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
    return {
      pid,
      state: fields[0] ?? '',
      ppid: Number(fields[1]),
      startTime: fields[19] ?? '',
      command,
    };
  } catch {
    return undefined;
  }
}

/** Every live process below `root`. */
export function descendants(root: number): Proc[] {
  const all = readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map((name) => readProc(Number(name)))
    .filter((proc): proc is Proc => proc !== undefined);
  const found: Proc[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const parent = queue.shift();
    for (const proc of all) {
      if (proc.ppid === parent) {
        found.push(proc);
        queue.push(proc.pid);
      }
    }
  }
  return found;
}

export function stillRunning(proc: Proc): boolean {
  const now = readProc(proc.pid);
  return now !== undefined && now.startTime === proc.startTime && now.state !== 'Z';
}

export function refusesConnections(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'ECONNREFUSED'));
  });
}
