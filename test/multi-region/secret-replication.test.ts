import { mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serializeKeySet } from '../../lambda/core/key-set-format';
import { generateKeySet } from '../../lambda/core/keys';
import { readKeySet, writeKeySet } from '../../local/keys-file';
import { type SecretReplication, startSecretReplication } from '../../local/secret-replication';

// The stand-in for Secrets Manager's replication of the signing-keys secret: the primary region's key file
// reaches every other region's after the lag, and not while the replication is paused.

const LAG_MS = 400;

let dataDir: string;
let replication: SecretReplication | undefined;
const primary = () => join(dataDir, 'us-east-1', 'keys.json');
const replicas = () =>
  ['us-west-2', 'eu-west-1'].map((region) => ({ region, path: join(dataDir, region, 'keys.json') }));

beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'hybrid-auth-secret-replication-'));
  for (const region of ['us-east-1', 'us-west-2', 'eu-west-1']) await mkdir(join(dataDir, region));
  await writeKeySet(primary(), await generateKeySet({ now: Date.now() }));
});

afterEach(async () => {
  await replication?.stop();
  replication = undefined;
  await rm(dataDir, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const contents = async () => Promise.all(replicas().map((replica) => readFile(replica.path, 'utf8')));

test('brings every replica to the primary version at start, written owner-only', async () => {
  replication = await startSecretReplication({ source: primary(), replicas: replicas(), lagMs: LAG_MS });
  const source = await readFile(primary(), 'utf8');
  expect(await contents()).toEqual([source, source]);
  for (const replica of replicas()) expect((await stat(replica.path)).mode & 0o777).toBe(0o600);
});

test('delivers a new version of the primary to every replica after the lag, not before', async () => {
  replication = await startSecretReplication({
    source: primary(),
    replicas: replicas(),
    lagMs: LAG_MS,
    pollMs: 20,
  });
  const before = await readFile(primary(), 'utf8');
  const rotated = await generateKeySet({ now: Date.now() });
  await writeKeySet(primary(), rotated);
  const written = Date.now();
  await sleep(LAG_MS / 4);
  expect(await contents()).toEqual([before, before]);
  await replication.settled(5000);
  expect(Date.now() - written).toBeGreaterThanOrEqual(LAG_MS - 50);
  for (const replica of replicas()) {
    expect(serializeKeySet(await readKeySet(replica.path))).toBe(serializeKeySet(rotated));
  }
});

test('holds every new version while paused and delivers the latest once resumed', async () => {
  replication = await startSecretReplication({
    source: primary(),
    replicas: replicas(),
    lagMs: 50,
    pollMs: 20,
  });
  const before = await readFile(primary(), 'utf8');
  replication.pause();
  expect(replication.state).toBe('paused');
  await writeKeySet(primary(), await generateKeySet({ now: Date.now() }));
  await sleep(100);
  const latest = await generateKeySet({ now: Date.now() });
  await writeKeySet(primary(), latest);
  await sleep(300);
  expect(await contents()).toEqual([before, before]);
  await expect(replication.settled(200)).rejects.toThrow(
    /did not reach every replica within 200 ms \(replication paused\)/,
  );

  replication.resume();
  expect(replication.state).toBe('running');
  await replication.settled(5000);
  const expected = await readFile(primary(), 'utf8');
  expect(expected).toBe(serializeKeySet(latest));
  expect(await contents()).toEqual([expected, expected]);
});
