import { Env } from '../../lambda/adapters/env';
import { createLogger } from '../../lambda/adapters/logger';
import { authorizerSettingsFromEnv, createAuthorizer } from '../../lambda/authorizer/create-authorizer';
import { issuerSettingsFromEnv } from '../../lambda/issuer/create-issuer';
import { authenticated } from '../../lambda/policies';
import { SETTINGS } from '../../lambda/settings';

/** The variables the CDK constructs always set; every other setting may be left to its default. */
const REQUIRED = {
  ISSUER: 'https://auth.example.test',
  AUDIENCE: 'api',
  CLIENTS: '[{"clientId":"web","refreshTokenDelivery":"cookie","allowedOrigins":[]}]',
};

describe('settings from the environment', () => {
  test("the issuer takes every unset setting's declared default", () => {
    expect(issuerSettingsFromEnv(new Env(REQUIRED))).toEqual({
      issuer: REQUIRED.ISSUER,
      audience: REQUIRED.AUDIENCE,
      clients: [{ clientId: 'web', refreshTokenDelivery: 'cookie', allowedOrigins: [] }],
      accessTokenTtlSeconds: SETTINGS.accessTokenTtlSeconds.default,
      sessionIdleTimeoutSeconds: SETTINGS.sessionIdleTimeoutSeconds.default,
      sessionAbsoluteLifetimeSeconds: SETTINGS.sessionAbsoluteLifetimeSeconds.default,
      refreshGraceSeconds: SETTINGS.refreshGraceSeconds.default,
      issuerKeyCacheTtlSeconds: SETTINGS.issuerKeyCacheTtlSeconds.default,
      jwksCacheTtlSeconds: SETTINGS.jwksCacheTtlSeconds.default,
      revocationClockMarginSeconds: SETTINGS.revocationClockMarginSeconds.default,
    });
  });

  test("the authorizer takes every unset setting's declared default", () => {
    expect(authorizerSettingsFromEnv(new Env(REQUIRED))).toEqual({
      issuer: REQUIRED.ISSUER,
      audience: REQUIRED.AUDIENCE,
      accessTokenTtlSeconds: SETTINGS.accessTokenTtlSeconds.default,
      clockSkewSeconds: SETTINGS.clockSkewSeconds.default,
      sessionCacheTtlSeconds: SETTINGS.sessionCacheTtlSeconds.default,
      jwksCacheTtlSeconds: SETTINGS.jwksCacheTtlSeconds.default,
      consistentRead: false,
      expectedReplicationLagSeconds: SETTINGS.expectedReplicationLagSeconds.default,
    });
  });

  test.each(Object.values(SETTINGS))('fails on $env outside $min to $max, naming the range', (spec) => {
    for (const value of [spec.min - 1, spec.max + 1]) {
      const env = new Env({ ...REQUIRED, [spec.env]: String(value) });
      const read = () => ({ ...issuerSettingsFromEnv(env), ...authorizerSettingsFromEnv(env) });
      expect(read).toThrow(new RegExp(`${spec.env} must be an integer from ${spec.min} to ${spec.max}`));
    }
  });

  test.each(Object.entries(SETTINGS))('accepts %s at both ends of its range', (name, spec) => {
    for (const value of [spec.min, spec.max]) {
      const env = new Env({ ...REQUIRED, [spec.env]: String(value) });
      const read: Record<string, unknown> = {
        ...issuerSettingsFromEnv(env),
        ...authorizerSettingsFromEnv(env),
      };
      expect(read[name]).toBe(value);
    }
  });
});

describe('createAuthorizer', () => {
  test('fails at start-up on a route table with two identical routes', () => {
    const route = { method: 'GET', path: '/api/me', policy: authenticated() } as const;
    expect(() =>
      createAuthorizer(authorizerSettingsFromEnv(new Env(REQUIRED)), {
        sessions: { get: async () => undefined } as never,
        loadPublicJwks: async () => ({ keys: [] }),
        routes: [route, route],
        logger: createLogger('authorizer', () => {}),
      }),
    ).toThrow(/GET \/api\/me/);
  });
});
