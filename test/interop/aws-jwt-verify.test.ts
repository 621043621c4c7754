import { JwtVerifier } from 'aws-jwt-verify';
import { JwtInvalidClaimError, JwtInvalidSignatureError } from 'aws-jwt-verify/error';
import type { Fetcher } from 'aws-jwt-verify/https';
import { SimpleJwksCache } from 'aws-jwt-verify/jwk';
import type { JwtHeader } from 'aws-jwt-verify/jwt-model';
import { discoveryField, type InteropPlatform, nativeLogin, startInteropPlatform } from './interop-platform';

// aws-jwt-verify (awslabs/aws-jwt-verify), the JWT verifier of the AWS ecosystem, verifying the platform's
// tokens through the JWKS the discovery document names. Its built-in fetcher speaks HTTPS only, and the
// local platform is plain HTTP on loopback, so these tests give it HTTP in one of the two ways it supports:
// a custom Fetcher (its own JWKS cache still selects the key by `kid` and checks it), or cacheJwks with a
// JWKS fetched here (its offline path).
let platform: InteropPlatform;

beforeAll(async () => {
  platform = await startInteropPlatform();
}, 90_000);

afterAll(async () => {
  await platform?.stop();
}, 40_000);

/** Fetches over plain HTTP, and only from the local platform. */
function loopbackFetcher(requested: string[]): Fetcher {
  return {
    fetch: async (uri) => {
      if (!uri.startsWith(`${platform.url}/`)) throw new Error(`refusing to fetch ${uri}`);
      requested.push(uri);
      const response = await fetch(uri);
      if (response.status !== 200) throw new Error(`${uri} answered ${response.status}`);
      return response.arrayBuffer();
    },
  };
}

/** RFC 9068: an access token says so in its header. */
function requireAtJwt({ header }: { readonly header: JwtHeader }): void {
  if (header.typ !== 'at+jwt') throw new Error(`typ must be at+jwt, got ${String(header.typ)}`);
}

function verifierWith(fetcher: Fetcher, audience = `${platform.url}/api`) {
  return JwtVerifier.create(
    {
      issuer: platform.url,
      audience,
      jwksUri: discoveryField(platform, 'jwks_uri'),
      customJwtCheck: requireAtJwt,
    },
    { jwksCache: new SimpleJwksCache({ fetcher }) },
  );
}

test('verifies an issued access token, fetching the JWKS from the discovery document jwks_uri', async () => {
  const requested: string[] = [];
  const { accessToken } = await nativeLogin(platform.url);

  const payload = await verifierWith(loopbackFetcher(requested)).verify(accessToken);

  expect(payload).toMatchObject({ iss: platform.url, aud: `${platform.url}/api`, sub: 'user-demo' });
  expect(requested).toEqual([`${platform.url}/.well-known/jwks.json`]);
});

test('verifies offline with cacheJwks: the JWKS fetched over HTTP and handed to the verifier', async () => {
  const jwks = await (await fetch(discoveryField(platform, 'jwks_uri'))).json();
  const verifier = JwtVerifier.create({
    issuer: platform.url,
    audience: `${platform.url}/api`,
    jwksUri: discoveryField(platform, 'jwks_uri'),
    customJwtCheck: requireAtJwt,
  });
  verifier.cacheJwks(jwks);
  const { accessToken } = await nativeLogin(platform.url, { username: 'admin', password: 'admin-password' });

  expect(verifier.verifySync(accessToken)).toMatchObject({ sub: 'user-admin', scope: 'profile admin' });
});

test('refuses the token for another audience', async () => {
  const { accessToken } = await nativeLogin(platform.url);

  await expect(
    verifierWith(loopbackFetcher([]), 'https://other.example/api').verify(accessToken),
  ).rejects.toBeInstanceOf(JwtInvalidClaimError);
});

test('refuses a token whose payload was altered', async () => {
  const { accessToken } = await nativeLogin(platform.url);
  const [header = '', payload = '', signature = ''] = accessToken.split('.');
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
  const altered = Buffer.from(JSON.stringify({ ...claims, sub: 'user-admin' })).toString('base64url');

  await expect(
    verifierWith(loopbackFetcher([])).verify(`${header}.${altered}.${signature}`),
  ).rejects.toBeInstanceOf(JwtInvalidSignatureError);
});
