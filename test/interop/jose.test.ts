import { createRemoteJWKSet, decodeProtectedHeader, errors, jwtVerify } from 'jose';
import {
  apiStatusBecomes,
  discoveryField,
  type InteropPlatform,
  nativeLogin,
  SESSION_CACHE_TTL_SECONDS,
  startInteropPlatform,
} from './interop-platform';

// jose (panva/jose) as an independent resource server would use it: the JWKS found through the discovery
// document, fetched over HTTP by createRemoteJWKSet, and jwtVerify with the platform's issuer, audience and
// RFC 9068 `typ`.
let platform: InteropPlatform;

beforeAll(async () => {
  platform = await startInteropPlatform();
}, 90_000);

afterAll(async () => {
  await platform?.stop();
}, 40_000);

function remoteJwks() {
  return createRemoteJWKSet(new URL(discoveryField(platform, 'jwks_uri')));
}

function expectations() {
  return { issuer: platform.url, audience: `${platform.url}/api`, typ: 'at+jwt', algorithms: ['ES256'] };
}

test('the discovery document names this issuer and its JWKS', () => {
  expect(platform.discovery).toMatchObject({
    issuer: platform.url,
    jwks_uri: `${platform.url}/.well-known/jwks.json`,
    token_endpoint: `${platform.url}/auth/token`,
    revocation_endpoint: `${platform.url}/auth/revoke`,
  });
});

test('createRemoteJWKSet + jwtVerify verify an issued access token (iss, aud, typ at+jwt, every claim)', async () => {
  const { accessToken } = await nativeLogin(platform.url);

  const { payload, protectedHeader } = await jwtVerify(accessToken, remoteJwks(), {
    ...expectations(),
    requiredClaims: ['iss', 'sub', 'aud', 'exp', 'iat', 'nbf', 'jti', 'sid', 'client_id', 'scope'],
    maxTokenAge: '5m',
  });

  expect(protectedHeader).toEqual({ alg: 'ES256', typ: 'at+jwt', kid: expect.any(String) });
  expect(payload).toMatchObject({
    iss: platform.url,
    aud: `${platform.url}/api`,
    sub: 'user-demo',
    client_id: 'native',
    scope: 'profile',
  });
  expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBe(300);
});

test('verifies the access token of an admin login and of a refresh alike', async () => {
  const { refreshToken } = await nativeLogin(platform.url, { username: 'admin', password: 'admin-password' });
  const response = await fetch(`${platform.url}/auth/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'refresh_token',
      refresh_token: refreshToken,
      client_id: 'native',
    }),
  });
  const { access_token: refreshed } = (await response.json()) as { access_token: string };

  const { payload } = await jwtVerify(refreshed, remoteJwks(), expectations());

  expect(payload).toMatchObject({ sub: 'user-admin', scope: 'profile admin' });
});

test('refuses the token for another audience, another issuer or a plain JWT typ', async () => {
  const { accessToken } = await nativeLogin(platform.url);
  const jwks = remoteJwks();

  await expect(
    jwtVerify(accessToken, jwks, { ...expectations(), audience: 'https://other.example/api' }),
  ).rejects.toMatchObject({ code: 'ERR_JWT_CLAIM_VALIDATION_FAILED', claim: 'aud' });
  await expect(
    jwtVerify(accessToken, jwks, { ...expectations(), issuer: 'https://other.example' }),
  ).rejects.toMatchObject({ code: 'ERR_JWT_CLAIM_VALIDATION_FAILED', claim: 'iss' });
  await expect(jwtVerify(accessToken, jwks, { ...expectations(), typ: 'JWT' })).rejects.toBeInstanceOf(
    errors.JWTClaimValidationFailed,
  );
});

test('refuses a token whose payload was altered', async () => {
  const { accessToken } = await nativeLogin(platform.url);
  const [header = '', payload = '', signature = ''] = accessToken.split('.');
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
  const altered = Buffer.from(JSON.stringify({ ...claims, scope: 'profile admin' })).toString('base64url');

  await expect(
    jwtVerify(`${header}.${altered}.${signature}`, remoteJwks(), expectations()),
  ).rejects.toBeInstanceOf(errors.JWSSignatureVerificationFailed);
  expect(decodeProtectedHeader(accessToken).kid).toEqual(expect.any(String));
});

test('an offline verifier still accepts a logged-out session token until it expires; the authorizer does not', async () => {
  // The reason the platform is hybrid: a JWT alone cannot be revoked. The session check can.
  const { accessToken } = await nativeLogin(platform.url);
  const logout = await fetch(`${platform.url}/auth/logout`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${accessToken}` },
  });
  expect(logout.status).toBe(204);

  await expect(jwtVerify(accessToken, remoteJwks(), expectations())).resolves.toBeDefined();
  expect(await apiStatusBecomes(platform.url, accessToken, 401, (SESSION_CACHE_TTL_SECONDS + 1) * 1000)).toBe(
    401,
  );
});
