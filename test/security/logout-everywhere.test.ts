import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { sdkSessionSubjectReader } from '../../lambda/adapters/dynamodb-sdk-batch-get';
import { DynamoDbSessionStore } from '../../lambda/adapters/dynamodb-session-store';
import { DynamoDbSubjectStore } from '../../lambda/adapters/dynamodb-subject-store';
import { AccessTokenVerifier } from '../../lambda/core/access-token';
import { BearerAuthenticator } from '../../lambda/core/bearer-authenticator';
import { JwksCache } from '../../lambda/core/jwks-cache';
import { generateKeySet, type KeySet, toPublicJwks } from '../../lambda/core/keys';
import type { SessionRecord, SessionStore } from '../../lambda/core/session';
import { SessionCache } from '../../lambda/core/session-cache';
import { SessionService } from '../../lambda/core/session-service';
import { freshTable } from '../support/dynamodb';
import { AUDIENCE, grantCode, ISSUER } from '../support/fixtures';

/**
 * "Log out everywhere" must not depend on the `bySubject` index: a GSI read is eventually consistent, so the
 * newest session (a stolen one, opened a moment ago from another device) may not be listed yet. Here the
 * store's listing hides it, as a lagging index would; that session must still be refused, by the refresh
 * path and by the bearer check the authorizer and the issuer's bearer routes share.
 */
let client: DynamoDBClient;
let tableName: string;
let keys: KeySet;

beforeAll(async () => {
  ({ client, tableName } = await freshTable());
  keys = await generateKeySet({ now: Date.now() });
});

afterAll(() => client.destroy());

/** A session store whose listing (the `bySubject` index) has not seen the subject's newest session yet. */
function laggingIndex(store: SessionStore): SessionStore & { readonly hidden: Set<string> } {
  const hidden = new Set<string>();
  return Object.assign(Object.create(store) as SessionStore, {
    hidden,
    listBySubject: async (sub: string): Promise<SessionRecord[]> =>
      (await store.listBySubject(sub)).filter((session) => !hidden.has(session.sid)),
  });
}

function setup() {
  const store = laggingIndex(new DynamoDbSessionStore({ client, tableName }));
  const profile = { issuer: ISSUER, audience: AUDIENCE, ttlSeconds: 300 };
  const service = new SessionService({
    store,
    subjects: new DynamoDbSubjectStore({ client, tableName }),
    keys: async () => keys,
    profile,
  });
  const jwks = new JwksCache({ load: async () => toPublicJwks(keys) });
  const authenticator = new BearerAuthenticator({
    verifier: new AccessTokenVerifier({ ...profile, keys: jwks.get }),
    jwks,
    sessions: new SessionCache({ reader: sdkSessionSubjectReader(client, tableName), ttlMs: 0 }),
  });
  return { store, service, authenticator };
}

test('a session the index has not listed yet is still ended by log out everywhere', async () => {
  const { store, service, authenticator } = setup();
  const sub = 'lagging-index-user';
  const older = await service.login({ sub, clientId: 'native', scope: 'profile' });
  const stolen = await service.login({ sub, clientId: 'native', scope: 'profile' });
  store.hidden.add(stolen.sid);
  // The index really lags: the listing (and so the sessions page) does not show the stolen session.
  expect((await store.listBySubject(sub)).map((session) => session.sid)).toEqual([older.sid]);
  expect((await authenticator.authenticate(`Bearer ${stolen.accessToken}`)).outcome).toBe('authenticated');

  await service.logoutAll(sub);
  // One write, of the watermark: no session item was written.
  expect((await store.get(stolen.sid, { consistent: true }))?.revokedAt).toBeUndefined();

  for (const tokens of [older, stolen]) {
    expect(await authenticator.authenticate(`Bearer ${tokens.accessToken}`)).toMatchObject({
      outcome: 'unauthorized',
      reason: 'session_logged_out_everywhere',
    });
    expect(await grantCode(service.refresh(tokens.refreshToken, 'native'))).toBe(
      'session_logged_out_everywhere',
    );
  }
});
