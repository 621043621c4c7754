import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { parseKeySet, serializeKeySet } from '../lambda/core/key-set-format';
import { generateKeySet, type KeySet } from '../lambda/core/keys';

/**
 * The local platform's key set on disk (`$LOCAL_DATA_DIR/keys.json`): the same document the Secrets
 * Manager secret holds (lambda/core/key-set-format.ts), a JWK Set with the private keys. Tests read it to
 * forge tokens. Written with mode 0600, atomically.
 */

/** Loads the key set at `path`, or generates one and writes it there when the file does not exist. */
export async function loadOrCreateKeySet(
  path: string,
  now: number,
): Promise<{ keys: KeySet; created: boolean }> {
  try {
    return { keys: await readKeySet(path), created: false };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const keys = await generateKeySet({ now });
  await writeKeySet(path, keys);
  return { keys, created: true };
}

/** Writes a key set atomically (temporary file, then rename) with owner-only permissions. */
export async function writeKeySet(path: string, keys: KeySet): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, serializeKeySet(keys), { mode: 0o600 });
  await rename(temporary, path);
}

/** Reads the key set at `path` (the running platform re-reads it within its cache TTL). */
export async function readKeySet(path: string): Promise<KeySet> {
  return parseKeySet(await readFile(path, 'utf8'), path);
}
