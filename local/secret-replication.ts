import { readFile, rename, writeFile } from 'node:fs/promises';
import type { Logger } from '../lambda/adapters/logger';

/** One region's copy of the signing-keys secret: its `keys.json`. */
export interface SecretReplica {
  readonly region: string;
  /** The region's key file, which its issuer reads (`<LOCAL_DATA_DIR>/<region>/keys.json`). */
  readonly path: string;
}

/** Settings of {@link startSecretReplication}. */
export interface SecretReplicationOptions {
  /** The primary region's key file: the secret that rotation writes. */
  readonly source: string;
  /** Every other region's key file. */
  readonly replicas: readonly SecretReplica[];
  /** How long each new version takes to reach the replicas, ms. @default 200 */
  readonly lagMs?: number;
  /** How often the primary's file is read for a new version, ms. @default 100 */
  readonly pollMs?: number;
  /** Where the replication's log lines go. @default none */
  readonly logger?: Logger;
}

/** The running stand-in for Secrets Manager's replication of the signing-keys secret. */
export interface SecretReplication {
  /** Holds every new version in the primary until {@link resume}, as a replication outage would. */
  pause(): void;
  /** Delivers the held versions (each once its lag has passed) and every later one. */
  resume(): void;
  readonly state: 'running' | 'paused';
  /**
   * Resolves once every replica holds the primary's current version (read now); rejects after `timeoutMs`
   * (default 10 s), for example while paused with a version held back.
   */
  settled(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The local stand-in for Secrets Manager's replication of the signing-keys secret: the primary region's
 * `keys.json` is the secret, every other region's `keys.json` its replica. Secrets Manager propagates each
 * new version of a rotated primary secret to its replicas, asynchronously
 * (https://docs.aws.amazon.com/secretsmanager/latest/userguide/replicate-secrets.html): here each new
 * content of the primary's file reaches every replica's file `lagMs` later, in order, written atomically
 * (temporary file, then rename) with owner-only permissions, as `writeKeySet` writes it. At start every
 * replica is brought to the primary's current version at once, as a replica is created from the primary's
 * value. Each region's issuer reads its own file, so a paused replication leaves a replica region signing
 * with (and the platform's health reflecting) the version it last received.
 */
export async function startSecretReplication(options: SecretReplicationOptions): Promise<SecretReplication> {
  const lagMs = options.lagMs ?? 200;
  const pollMs = options.pollMs ?? 100;
  const logger = options.logger;
  let state: 'running' | 'paused' = 'running';
  let stopped = false;
  /** The versions read from the primary and not yet delivered, oldest first. */
  const pending: { readonly content: string; readonly dueAt: number }[] = [];
  /** What every replica holds (after start-up: the primary's version then). */
  let delivered = await readFile(options.source, 'utf8');
  let lastSeen = delivered;
  await Promise.all(options.replicas.map((replica) => writeReplica(replica.path, delivered)));

  const tick = async () => {
    const now = Date.now();
    try {
      const content = await readFile(options.source, 'utf8');
      if (content !== lastSeen) {
        lastSeen = content;
        pending.push({ content, dueAt: now + lagMs });
      }
    } catch (error) {
      // Between runs of `npm start` the file may briefly be missing; the next poll reads it again.
      logger?.warn('secret replication cannot read the primary', {
        error: (error as NodeJS.ErrnoException).code ?? 'unknown',
      });
    }
    while (state === 'running' && pending.length > 0 && (pending[0]?.dueAt ?? Infinity) <= Date.now()) {
      const version = pending[0];
      if (version === undefined) break;
      try {
        await Promise.all(options.replicas.map((replica) => writeReplica(replica.path, version.content)));
      } catch (error) {
        logger?.warn('secret replication failed; retrying', {
          error: (error as NodeJS.ErrnoException).code ?? 'unknown',
        });
        break;
      }
      pending.shift();
      delivered = version.content;
      logger?.info('secret replicated', { regions: options.replicas.map((r) => r.region).join(',') });
    }
  };
  let running: Promise<void> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  // One poll at a time: the next is scheduled when the last has finished.
  const schedule = () => {
    timer = setTimeout(() => {
      running = tick()
        .catch(() => {})
        .finally(() => {
          if (!stopped) schedule();
        });
    }, pollMs);
    timer.unref();
  };
  schedule();

  return {
    pause: () => {
      state = 'paused';
    },
    resume: () => {
      state = 'running';
    },
    get state() {
      return state;
    },
    settled: async (timeoutMs = 10_000) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const current = await readFile(options.source, 'utf8');
        if (current === delivered && pending.length === 0 && current === lastSeen) return;
        if (Date.now() > deadline || stopped) {
          throw new Error(
            `the signing-keys secret did not reach every replica within ${timeoutMs} ms (replication ${state})`,
          );
        }
        await new Promise((resolve) => setTimeout(resolve, pollMs));
      }
    },
    stop: async () => {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}

/** Writes a replica's key file atomically with owner-only permissions (as local/keys-file.ts does). */
async function writeReplica(path: string, content: string): Promise<void> {
  const temporary = `${path}.${process.pid}.replica.tmp`;
  await writeFile(temporary, content, { mode: 0o600 });
  await rename(temporary, path);
}
