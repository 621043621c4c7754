import type { Duration } from 'aws-cdk-lib';
import { SETTINGS } from '../../lambda/settings';
import { checkRevocationBudget, DEFAULT_CONFIG, loadConfig } from '../../lib/config';

describe('loadConfig', () => {
  test('gives the documented defaults for an empty configuration', () => {
    const config = loadConfig(undefined);
    expect(config).toMatchObject({
      name: 'hybrid-auth',
      primaryRegion: 'us-east-1',
      replicaRegions: ['us-east-2', 'us-west-2'],
      consistency: 'eventual',
      signingAlg: 'ES256',
      sampleBackends: true,
    });
    expect(config.accessTokenTtl.toSeconds()).toBe(300);
    expect(config.keyRotationInterval.toDays()).toBe(30);
    expect(config.revocationBudget.toSeconds()).toBe(5);
    expect(config.authorizerCacheTtl.toSeconds()).toBe(2);
  });

  test('reads a JSON string (cdk -c hybrid-auth=...) and durations in seconds', () => {
    const config = loadConfig(
      '{"accessTokenTtlSeconds":120,"refreshGraceSeconds":0,"keyRotationIntervalDays":7}',
    );
    expect(config.accessTokenTtl.toSeconds()).toBe(120);
    expect(config.refreshGrace.toSeconds()).toBe(0);
    expect(config.keyRotationInterval.toDays()).toBe(7);
  });

  test('puts allowed origins on the cookie client', () => {
    const config = loadConfig({ allowedOrigins: ['https://app.example.com'] });
    expect(config.clients.find((client) => client.clientId === 'web')?.allowedOrigins).toEqual([
      'https://app.example.com',
    ]);
  });

  test('accepts strong consistency with three regions of one region set and defaults its lag to 0', () => {
    const config = loadConfig({
      consistency: 'strong',
      primaryRegion: 'eu-west-1',
      replicaRegions: ['eu-west-2', 'eu-west-3'],
    });
    expect(config.expectedReplicationLag.toSeconds()).toBe(0);
  });

  test.each([
    [{ nmae: 'x' }, /nmae is "x"; allowed: one of the keys/],
    [{ name: 'Bad Name' }, /name is "Bad Name"/],
    [{ primaryRegion: 'mars-1' }, /primaryRegion is "mars-1"; allowed: an AWS region/],
    [{ replicaRegions: ['us-east-1'] }, /replicaRegions .* regions other than the primary/],
    [
      { consistency: 'sometimes' },
      /consistency is "sometimes"; allowed: "eventual" \(MREC\) or "strong" \(MRSC\)/,
    ],
    [
      { consistency: 'strong', replicaRegions: ['eu-west-1', 'us-west-2'] },
      /exactly three regions of one region set/,
    ],
    [{ consistency: 'strong', replicaRegions: ['us-east-2'] }, /exactly three regions/],
    [{ signingAlg: 'RS256' }, /signingAlg is "RS256"; allowed: "ES256" or "EdDSA"/],
    [
      { accessTokenTtlSeconds: 30 },
      /accessTokenTtlSeconds is 30; allowed: an integer number of seconds from 60 to 3600/,
    ],
    [{ accessTokenTtlSeconds: '300' }, /accessTokenTtlSeconds is "300"/],
    [{ sessionIdleTimeoutSeconds: 300, accessTokenTtlSeconds: 300 }, /more than accessTokenTtlSeconds/],
    [
      { sessionAbsoluteLifetimeSeconds: 3600, sessionIdleTimeoutSeconds: 7200 },
      /at least sessionIdleTimeoutSeconds/,
    ],
    [{ refreshGraceSeconds: 61 }, /refreshGraceSeconds is 61/],
    [{ keyRotationIntervalDays: 0 }, /keyRotationIntervalDays is 0/],
    [{ allowedOrigins: ['http://insecure.example.com'] }, /allowedOrigins/],
    [{ issuerUrl: 'https://auth.example.com/' }, /issuerUrl .* without a trailing slash/],
    [{ alarmEmail: 'nobody' }, /alarmEmail is "nobody"; allowed: an e-mail address/],
    [{ wafLoginLimit: 5 }, /wafLoginLimit is 5; allowed: an integer from 10/],
    [
      { clients: [{ clientId: 'web', refreshTokenDelivery: 'carrier-pigeon' }] },
      /clients\[0\]\.refreshTokenDelivery/,
    ],
    [{ sampleBackends: 'yes' }, /sampleBackends is "yes"; allowed: true or false/],
  ])('fails on %p with what was given and what is allowed', (input, message) => {
    expect(() => loadConfig(input)).toThrow(message);
  });
});

describe('the domain option', () => {
  const domain = {
    name: 'auth.example.com',
    hostedZoneId: 'Z0123456789ABCDEFGHIJ',
    hostedZoneName: 'example.com',
  };

  test('sets the issuer of every region to https://<name>', () => {
    const config = loadConfig({ domain });
    expect(config.domain).toEqual(domain);
    expect(config.issuerUrl).toBe('https://auth.example.com');
  });

  test('accepts the zone apex and an issuerUrl equal to https://<name>', () => {
    const apex = { ...domain, name: 'example.com' };
    expect(loadConfig({ domain: apex, issuerUrl: 'https://example.com' }).issuerUrl).toBe(
      'https://example.com',
    );
  });

  test('is absent by default, and so is the issuer', () => {
    const config = loadConfig({});
    expect(config.domain).toBeUndefined();
    expect(config.issuerUrl).toBeUndefined();
  });

  test.each([
    [
      'auth.example.org',
      /domain\.name is "auth\.example\.org"; allowed: a name within the hosted zone domain\.hostedZoneName \(example\.com\)/,
    ],
    ['authexample.com', /domain\.name is "authexample\.com"; allowed: a name within the hosted zone/],
    ['Auth.example.com', /domain\.name is "Auth\.example\.com"; allowed: a lowercase DNS name/],
    ['auth.example.com.', /domain\.name is "auth\.example\.com\."; allowed: a lowercase DNS name/],
    ['*.example.com', /domain\.name is "\*\.example\.com"; allowed: a lowercase DNS name/],
    ['localhost', /domain\.name is "localhost"; allowed: a lowercase DNS name/],
    [`${'a'.repeat(64)}.example.com`, /domain\.name is "a{64}\.example\.com"; allowed: a lowercase DNS name/],
  ])('fails on the name %p', (name, message) => {
    expect(() => loadConfig({ domain: { ...domain, name } })).toThrow(message);
  });

  test.each([
    [
      { ...domain, hostedZoneId: '/hostedzone/Z0123456789ABCDEFGHIJ' },
      /domain\.hostedZoneId is "\/hostedzone\/Z0123456789ABCDEFGHIJ"; allowed: a Route 53 hosted zone ID/,
    ],
    [{ ...domain, hostedZoneId: 7 }, /domain\.hostedZoneId is 7; allowed: a Route 53 hosted zone ID/],
    [
      { ...domain, hostedZoneName: 'example.com.' },
      /domain\.hostedZoneName is "example\.com\."; allowed: a lowercase DNS name/,
    ],
    [
      { name: domain.name, hostedZoneId: domain.hostedZoneId },
      /domain\.hostedZoneName is undefined; allowed: a lowercase DNS name/,
    ],
    [
      { ...domain, zone: 'example.com' },
      /domain\.zone is "example\.com"; allowed: one of the keys name, hostedZoneId, hostedZoneName/,
    ],
    ['auth.example.com', /domain is "auth\.example\.com"; allowed: an object/],
    [[domain], /domain is \[.*\]; allowed: an object/],
  ])('fails on %p with what was given and what is allowed', (value, message) => {
    expect(() => loadConfig({ domain: value })).toThrow(message);
  });

  test('fails on an issuerUrl other than https://<name>', () => {
    expect(() => loadConfig({ domain, issuerUrl: 'https://login.example.com' })).toThrow(
      /^hybrid-auth config: issuerUrl is "https:\/\/login\.example\.com"; allowed: "https:\/\/auth\.example\.com" \(the issuer domain\.name gives\), or leave it out$/,
    );
  });
});

describe('revocation budget', () => {
  test('fails synth when the caches and the lag exceed the budget, naming each term', () => {
    expect(() => loadConfig({ authorizerCacheTtlSeconds: 300 })).toThrow(
      /^hybrid-auth config: authorizerCacheTtlSeconds \+ sessionCacheTtlSeconds \+ expectedReplicationLagSeconds is 300 s \+ 1 s \+ 2 s = 303 s; allowed: at most the revocation budget, revocationBudgetSeconds \(5 s\)/,
    );
  });

  test('accepts a sum exactly at the budget', () => {
    expect(() =>
      loadConfig({
        authorizerCacheTtlSeconds: 3,
        sessionCacheTtlSeconds: 1,
        expectedReplicationLagSeconds: 1,
      }),
    ).not.toThrow();
  });

  test('holds for the defaults', () => {
    expect(() => checkRevocationBudget(DEFAULT_CONFIG)).not.toThrow();
  });
});

describe('the runtime settings the functions read (lambda/settings.ts)', () => {
  /** The configuration field each runtime setting becomes (`accessTokenTtlSeconds` -> `accessTokenTtl`). */
  const field = (name: string) => name.replace(/Seconds$/, '') as keyof typeof DEFAULT_CONFIG;
  const configured = Object.entries(SETTINGS).filter(([name]) => field(name) in DEFAULT_CONFIG);

  test('cover every duration the configuration hands a function', () => {
    expect(configured.map(([name]) => name).sort()).toEqual(
      [
        'accessTokenTtlSeconds',
        'clockSkewSeconds',
        'expectedReplicationLagSeconds',
        'issuerKeyCacheTtlSeconds',
        'refreshGraceSeconds',
        'sessionAbsoluteLifetimeSeconds',
        'sessionCacheTtlSeconds',
        'sessionIdleTimeoutSeconds',
      ].sort(),
    );
  });

  test.each(configured)('%s defaults to what the functions default to', (name, spec) => {
    expect((loadConfig({})[field(name)] as Duration).toSeconds()).toBe(spec.default);
  });

  test.each(configured)('fails on %s outside the range the functions accept', (name, spec) => {
    for (const value of [spec.min - 1, spec.max + 1]) {
      expect(() => loadConfig({ [name]: value })).toThrow(
        new RegExp(
          `${name} is ${value}; allowed: an integer number of seconds from ${spec.min} to ${spec.max}`,
        ),
      );
    }
  });
});
