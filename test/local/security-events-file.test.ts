import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { METRIC_NAMES } from '../../lambda/adapters/metrics';
import { SECURITY_EVENT_DETAIL_TYPES } from '../../lambda/adapters/security-events';
import {
  DEMO_USERS,
  type LocalPlatform,
  SECURITY_EVENTS_FILE,
  startLocalPlatform,
} from '../../local/platform';

/**
 * `npm start` shows a developer the security events: a refresh-token reuse on the local platform goes through
 * the issuer's EventBridge publisher to the EventBridge stand-in, which appends the event, as a rule would see
 * it, to `<dataDir>/security-events.jsonl`.
 */
let dataDir: string;
let platform: LocalPlatform;
const lines: string[] = [];

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'hybrid-auth-events-'));
  platform = await startLocalPlatform({
    port: 0,
    dataDir,
    dynamoDbEndpoint: process.env.DYNAMODB_LOCAL_ENDPOINT,
    refreshGraceSeconds: 0,
    write: (line) => lines.push(line),
  });
}, 60_000);

afterAll(async () => {
  await platform?.close();
  if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true });
});

async function readEvents(): Promise<Record<string, unknown>[]> {
  try {
    const text = await readFile(join(dataDir, SECURITY_EVENTS_FILE), 'utf8');
    return text
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  } catch {
    return [];
  }
}

test('a refresh-token reuse is appended to security-events.jsonl, once, without a token', async () => {
  const stdout = jest.spyOn(process.stdout, 'write');
  const [demo] = DEMO_USERS;
  const post = (path: string, body: string, type: string) =>
    fetch(`${platform.url}${path}`, { method: 'POST', headers: { 'Content-Type': type }, body });
  const login = await post(
    '/auth/login',
    JSON.stringify({ username: demo.username, password: demo.password, client_id: 'native' }),
    'application/json',
  );
  expect(login.status).toBe(200);
  const { refresh_token: first } = (await login.json()) as { refresh_token: string };
  const form = `grant_type=refresh_token&client_id=native&refresh_token=${encodeURIComponent(first)}`;
  expect((await post('/auth/token', form, 'application/x-www-form-urlencoded')).status).toBe(200);
  const reuse = await post('/auth/token', form, 'application/x-www-form-urlencoded');
  expect(reuse.status).toBe(400);

  // The stand-in appends after it has answered: wait for the line.
  const deadline = Date.now() + 5000;
  let events = await readEvents();
  while (events.length === 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    events = await readEvents();
  }
  expect(events).toEqual([
    expect.objectContaining({
      source: 'hybrid-auth',
      'detail-type': SECURITY_EVENT_DETAIL_TYPES.refresh_token_reuse,
      region: 'us-east-1',
      detail: expect.objectContaining({ type: 'refresh_token_reuse', sub: demo.userId, clientId: 'native' }),
    }),
  ]);
  expect(JSON.stringify(events)).not.toContain(first);
  // Its metric (EMF) line goes where the platform's log lines go, as both go to stdout in Lambda; none to
  // stdout when the caller takes the lines.
  const emf = lines
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((line) => line._aws !== undefined && METRIC_NAMES.refreshTokenReuse in line);
  expect(emf).toEqual([expect.objectContaining({ [METRIC_NAMES.refreshTokenReuse]: 1, service: 'issuer' })]);
  expect(stdout.mock.calls.filter(([chunk]) => String(chunk).includes('"_aws"'))).toEqual([]);
  stdout.mockRestore();
});
