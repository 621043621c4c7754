import * as oauth from 'oauth4webapi';
import {
  apiStatusBecomes,
  type InteropPlatform,
  nativeLogin,
  SESSION_CACHE_TTL_SECONDS,
  startInteropPlatform,
} from './interop-platform';

// oauth4webapi (panva/oauth4webapi), a certified OAuth 2 client library, as a public `native` client: it
// discovers the endpoints, performs the refresh-token grant (RFC 6749 section 6) and revocation (RFC 7009),
// and validates every response its own way. It insists on HTTPS unless told otherwise: the local platform is
// plain HTTP on loopback, so every request passes `allowInsecureRequests`.

let platform: InteropPlatform;
let as: oauth.AuthorizationServer;
const client: oauth.Client = { client_id: 'native' };
const loopback = () => ({ [oauth.allowInsecureRequests]: true });

beforeAll(async () => {
  platform = await startInteropPlatform();
  const issuer = new URL(platform.url);
  as = await oauth.processDiscoveryResponse(
    issuer,
    await oauth.discoveryRequest(issuer, { algorithm: 'oidc', ...loopback() }),
  );
}, 90_000);

afterAll(async () => {
  await platform?.stop();
}, 40_000);

function refreshGrant(refreshToken: string): Promise<oauth.TokenEndpointResponse> {
  return oauth
    .refreshTokenGrantRequest(as, client, oauth.None(), refreshToken, loopback())
    .then((response) => oauth.processRefreshTokenResponse(as, client, response));
}

async function revoke(token: string, hint: 'refresh_token' | 'access_token'): Promise<undefined> {
  const response = await oauth.revocationRequest(as, client, oauth.None(), token, {
    ...loopback(),
    additionalParameters: { token_type_hint: hint },
  });
  return oauth.processRevocationResponse(response);
}

test('discovery: the issuer, token and revocation endpoints', () => {
  expect(as).toMatchObject({
    issuer: platform.url,
    token_endpoint: `${platform.url}/auth/token`,
    revocation_endpoint: `${platform.url}/auth/revoke`,
  });
});

test('RFC 8414 metadata at /.well-known/oauth-authorization-server passes oauth4webapi, and agrees with OIDC discovery', async () => {
  const issuer = new URL(platform.url);
  const metadata = await oauth.processDiscoveryResponse(
    issuer,
    await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...loopback() }),
  );
  expect(metadata).toMatchObject({
    issuer: platform.url,
    token_endpoint: `${platform.url}/auth/token`,
    revocation_endpoint: `${platform.url}/auth/revoke`,
    jwks_uri: `${platform.url}/.well-known/jwks.json`,
    response_types_supported: expect.any(Array),
  });
  // The two documents are one description of one server.
  expect(metadata).toEqual(as);
});

test('the refresh-token grant rotates the refresh token and returns a working access token', async () => {
  const { refreshToken } = await nativeLogin(platform.url);

  const tokens = await refreshGrant(refreshToken);

  expect(tokens).toMatchObject({ token_type: 'bearer', expires_in: 300, scope: 'profile' });
  expect(tokens.refresh_token).toEqual(expect.any(String));
  expect(tokens.refresh_token).not.toBe(refreshToken);
  expect(await apiStatusBecomes(platform.url, tokens.access_token, 200, 0)).toBe(200);
  // And the successor works in turn.
  const next = await refreshGrant(tokens.refresh_token ?? '');
  expect(next.refresh_token).not.toBe(tokens.refresh_token);
});

test('RFC 7009 revocation of the refresh token: the next refresh fails with invalid_grant', async () => {
  const { refreshToken } = await nativeLogin(platform.url);
  const { refresh_token: current = '', access_token: accessToken } = await refreshGrant(refreshToken);

  await expect(revoke(current, 'refresh_token')).resolves.toBeUndefined();

  const refused = await refreshGrant(current).catch((error: unknown) => error);
  expect(refused).toBeInstanceOf(oauth.ResponseBodyError);
  expect(refused).toMatchObject({ error: 'invalid_grant', status: 400 });
  // The whole session is gone: its access token too, within the revocation budget.
  expect(await apiStatusBecomes(platform.url, accessToken, 401, (SESSION_CACHE_TTL_SECONDS + 1) * 1000)).toBe(
    401,
  );
});

test('RFC 7009 revocation of the access token ends its session: the refresh fails too', async () => {
  const { accessToken, refreshToken } = await nativeLogin(platform.url);

  await expect(revoke(accessToken, 'access_token')).resolves.toBeUndefined();

  await expect(refreshGrant(refreshToken)).rejects.toMatchObject({ error: 'invalid_grant' });
});

test('revoking an unknown token is still a 200 (RFC 7009 section 2.2)', async () => {
  await expect(revoke('not-a-token-this-platform-issued', 'refresh_token')).resolves.toBeUndefined();
});
