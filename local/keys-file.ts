import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { JWK } from 'jose';
import {
  generateKeySet,
  type KeySet,
  type KeyState,
  type MacKey,
  type SigningAlg,
  type SigningKey,
} from '../lambda/core/keys';

/**
 * The local platform's key set on disk: a JWK Set whose `keys` are the private signing keys (each with
 * `kid`, `alg`, `use` and this platform's `state` and `created_at` members) plus a `mac_keys` member with the
 * refresh-token MAC keys. Tests read it to forge tokens. Written with mode 0600, atomically.
 */
interface KeysFile {
  readonly keys: ReadonlyArray<
    JWK & { kid: string; alg: SigningAlg; state: KeyState; created_at: number; retired_at?: number }
  >;
  readonly mac_keys: readonly MacKey[];
}

/** Serializes a key set to the file format. */
export function toKeysFile(set: KeySet): KeysFile {
  return {
    keys: set.signingKeys.map((key) => ({
      ...key.privateJwk,
      kid: key.kid,
      alg: key.alg,
      use: 'sig',
      state: key.state,
      created_at: key.createdAt,
      ...(key.retiredAt === undefined ? {} : { retired_at: key.retiredAt }),
    })),
    mac_keys: set.macKeys,
  };
}

/** Parses the file format back into a key set; a malformed file is a TypeError naming the path. */
export function fromKeysFile(file: unknown, path: string): KeySet {
  const parsed = file as Partial<KeysFile>;
  if (!Array.isArray(parsed?.keys) || !Array.isArray(parsed?.mac_keys)) {
    throw new TypeError(`${path} is not a key set file (expected keys and mac_keys)`);
  }
  const signingKeys: SigningKey[] = parsed.keys.map(
    ({ state, created_at, retired_at, use: _use, ...jwk }) => ({
      kid: jwk.kid,
      alg: jwk.alg,
      state,
      createdAt: created_at,
      ...(retired_at === undefined ? {} : { retiredAt: retired_at }),
      privateJwk: jwk,
    }),
  );
  return { signingKeys, macKeys: parsed.mac_keys };
}

/** Loads the key set at `path`, or generates one and writes it there when the file does not exist. */
export async function loadOrCreateKeySet(
  path: string,
  now: number,
): Promise<{ keys: KeySet; created: boolean }> {
  try {
    return { keys: fromKeysFile(JSON.parse(await readFile(path, 'utf8')), path), created: false };
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
  await writeFile(temporary, `${JSON.stringify(toKeysFile(keys), null, 2)}\n`, { mode: 0o600 });
  await rename(temporary, path);
}

/** Reads the key set at `path` (the running platform re-reads it within its cache TTL). */
export async function readKeySet(path: string): Promise<KeySet> {
  return fromKeysFile(JSON.parse(await readFile(path, 'utf8')), path);
}
