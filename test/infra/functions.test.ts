import 'aws-cdk-lib/testhelpers/jest-autoclean';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { PlatformFunction } from '../../lib/platform-function';
import { SigningKeys } from '../../lib/signing-keys';
import { TokenAuthorizer, TokenIssuer } from '../../lib/token-functions';

const LIFETIMES = {
  signingAlg: 'ES256' as const,
  accessTokenTtl: Duration.minutes(5),
  clockSkew: Duration.seconds(30),
  issuerKeyCacheTtl: Duration.minutes(5),
  sessionAbsoluteLifetime: Duration.days(7),
};

function synth(role: 'primary' | 'replica' = 'primary'): Template {
  const stack = new Stack(new App(), 'Test', { env: { account: '111111111111', region: 'us-east-1' } });
  const signingKeys = new SigningKeys(stack, 'SigningKeys', {
    name: 'hybrid-auth',
    role,
    replicaRegions: ['us-east-2', 'us-west-2'],
    tableName: 'hybrid-auth-sessions',
    ...LIFETIMES,
  });
  const common = {
    tableName: 'hybrid-auth-sessions',
    issuer: 'https://auth.example.com',
    audience: 'api',
    accessTokenTtl: Duration.minutes(5),
    clockSkew: Duration.seconds(30),
  };
  new TokenAuthorizer(stack, 'Authorizer', { ...common, sessionCacheTtl: Duration.seconds(1) });
  new TokenIssuer(stack, 'Issuer', {
    ...common,
    signingKeys,
    clients: [{ clientId: 'native', refreshTokenDelivery: 'body' }],
    sessionIdleTimeout: Duration.days(1),
    sessionAbsoluteLifetime: Duration.days(7),
    refreshGrace: Duration.seconds(10),
    issuerKeyCacheTtl: Duration.minutes(5),
  });
  return Template.fromStack(stack);
}

// Bundling each function with esbuild takes a moment: synthesize once per role.
const primary = synth('primary');

function policyOf(template: Template, functionLogicalIdPrefix: string): unknown[] {
  const policies = template.findResources('AWS::IAM::Policy');
  return Object.entries(policies)
    .filter(([id]) => id.startsWith(functionLogicalIdPrefix))
    .flatMap(
      ([, policy]) =>
        (policy as { Properties: { PolicyDocument: { Statement: unknown[] } } }).Properties.PolicyDocument
          .Statement,
    );
}

describe('the project function defaults', () => {
  test('no function role uses an AWS managed policy: each writes only its own log group', () => {
    for (const role of Object.values(primary.findResources('AWS::IAM::Role'))) {
      expect((role as { Properties: Record<string, unknown> }).Properties.ManagedPolicyArns).toBeUndefined();
    }
  });

  test('every function runs Node.js 22 on ARM64; all but the authorizer with source maps enabled', () => {
    const functions = primary.findResources('AWS::Lambda::Function');
    expect(Object.keys(functions)).toHaveLength(3);
    for (const [id, fn] of Object.entries(functions)) {
      expect(fn).toMatchObject({ Properties: { Runtime: 'nodejs22.x', Architectures: ['arm64'] } });
      const variables = (fn as { Properties: { Environment: { Variables: Record<string, unknown> } } })
        .Properties.Environment.Variables;
      if (id.startsWith('AuthorizerFunction')) expect(variables.NODE_OPTIONS).toBeUndefined();
      else expect(variables.NODE_OPTIONS).toBe('--enable-source-maps');
    }
  });

  test('sourceMaps: false ships no .map and no --enable-source-maps; the default ships both', () => {
    // GIVEN one function with the default and one without source maps
    const outdir = mkdtempSync(join(tmpdir(), 'functions-test-'));
    try {
      const app = new App({ outdir });
      const stack = new Stack(app, 'Maps', { env: { account: '111111111111', region: 'us-east-1' } });
      new PlatformFunction(stack, 'WithMaps', { entry: 'rotation/index.ts' });
      new PlatformFunction(stack, 'NoMaps', { entry: 'authorizer/index.ts', sourceMaps: false });
      // WHEN synthesized
      const assembly = app.synth();
      const template = Template.fromJSON(assembly.getStackByName('Maps').template);
      // THEN the environment and the bundles differ only as asked
      const functions = template.findResources('AWS::Lambda::Function');
      const nodeOptions = (prefix: string) =>
        Object.entries(functions).find(([id]) => id.startsWith(prefix))?.[1]?.Properties?.Environment
          ?.Variables?.NODE_OPTIONS;
      expect(nodeOptions('WithMaps')).toBe('--enable-source-maps');
      expect(nodeOptions('NoMaps')).toBeUndefined();
      const bundles = readdirSync(outdir)
        .filter((name) => name.startsWith('asset.'))
        .map((name) => readdirSync(join(outdir, name)).sort());
      expect(bundles).toHaveLength(2);
      expect(bundles).toEqual(expect.arrayContaining([['index.mjs'], ['index.mjs', 'index.mjs.map']]));
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  });

  test("requireShim: false bundles without the require banner; the authorizer's bundle needs none", () => {
    // GIVEN the authorizer as TokenAuthorizer builds it, and a function with the default
    const outdir = mkdtempSync(join(tmpdir(), 'functions-test-'));
    try {
      const app = new App({ outdir });
      const stack = new Stack(app, 'Shim', { env: { account: '111111111111', region: 'us-east-1' } });
      new TokenAuthorizer(stack, 'Authorizer', {
        tableName: 'hybrid-auth-sessions',
        issuer: 'https://auth.example.com',
        audience: 'api',
        accessTokenTtl: Duration.minutes(5),
        clockSkew: Duration.seconds(30),
        sessionCacheTtl: Duration.seconds(1),
      });
      new PlatformFunction(stack, 'Default', { entry: 'rotation/index.ts', sourceMaps: false });
      // WHEN synthesized
      const assembly = app.synth();
      const bundles = readdirSync(assembly.directory)
        .filter((name) => name.startsWith('asset.'))
        .map((name) => readFileSync(join(assembly.directory, name, 'index.mjs'), 'utf8'));
      expect(bundles).toHaveLength(2);
      const [authorizer, other] = bundles.sort((a, b) => a.length - b.length);
      // THEN the default keeps the banner; the authorizer has none, and no CommonJS require that would need it
      // (esbuild's stand-in for a missing require throws 'Dynamic require of "x" is not supported' when called)
      const banner = "import { createRequire } from 'node:module';";
      expect(other?.startsWith(banner)).toBe(true);
      expect({
        importsNodeModule: authorizer?.includes('node:module'),
        hasRequireStandIn: authorizer?.includes('Dynamic require of'),
        callsRequire: /[^.\w$]require\(/.test(authorizer ?? ''),
      }).toEqual({ importsNodeModule: false, hasRequireStandIn: false, callsRequire: false });
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  });

  test('every function logs to an explicit log group with a retention', () => {
    const groups = primary.findResources('AWS::Logs::LogGroup');
    expect(Object.keys(groups)).toHaveLength(3);
    for (const group of Object.values(groups))
      expect(group).toMatchObject({ Properties: { RetentionInDays: 365 } });
  });
});

describe('TokenAuthorizer', () => {
  test('may only read session, subject watermark and JWKS items: no write, no secret, no user items', () => {
    expect(policyOf(primary, 'AuthorizerFunctionRoleDefaultPolicy')).toEqual([
      { Action: ['logs:CreateLogStream', 'logs:PutLogEvents'], Effect: 'Allow', Resource: expect.anything() },
      {
        Action: ['dynamodb:GetItem', 'dynamodb:BatchGetItem'],
        Effect: 'Allow',
        Resource: expect.anything(),
        Condition: {
          'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['SESSION#*', 'SUBJECT#*', 'JWKS'] },
        },
      },
    ]);
    const text = JSON.stringify(policyOf(primary, 'AuthorizerFunctionRoleDefaultPolicy'));
    expect(text).not.toContain('secretsmanager');
    expect(text).not.toContain('PutItem');
  });

  test('is configured through its environment', () => {
    primary.hasResourceProperties('AWS::Lambda::Function', {
      Handler: 'index.handler',
      Environment: {
        Variables: Match.objectLike({
          TABLE_NAME: 'hybrid-auth-sessions',
          ISSUER: 'https://auth.example.com',
          AUDIENCE: 'api',
          SESSION_CACHE_TTL_SECONDS: '1',
          CONSISTENT_READ: 'false',
        }),
      },
    });
  });
});

describe('TokenIssuer', () => {
  test('reads the secret and writes only sessions and login throttles', () => {
    const statements = policyOf(primary, 'IssuerFunctionRoleDefaultPolicy');
    const text = JSON.stringify(statements);
    expect(text).toContain('secretsmanager:GetSecretValue');
    expect(text).not.toContain('secretsmanager:PutSecretValue');
    expect(statements).toContainEqual({
      Action: ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'],
      Effect: 'Allow',
      Resource: expect.anything(),
      Condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['SESSION#*', 'LOGIN#*'] } },
    });
  });

  test("puts security events on the region's default bus, with its source only", () => {
    primary.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({ SECURITY_EVENT_BUS: 'default', SECURITY_EVENT_SOURCE: 'hybrid-auth' }),
      },
    });
    expect(policyOf(primary, 'IssuerFunctionRoleDefaultPolicy')).toContainEqual({
      Action: 'events:PutEvents',
      Effect: 'Allow',
      Resource: {
        'Fn::Join': [
          '',
          ['arn:', { Ref: 'AWS::Partition' }, ':events:us-east-1:111111111111:event-bus/default'],
        ],
      },
      Condition: { 'ForAllValues:StringEquals': { 'events:source': ['hybrid-auth'] } },
    });
    const authorizer = JSON.stringify(policyOf(primary, 'AuthorizerFunctionRoleDefaultPolicy'));
    expect(authorizer).not.toContain('events:');
  });
});

describe('SigningKeys', () => {
  test('encrypts the secret with a customer-managed key that rotates', () => {
    primary.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
    primary.hasResourceProperties('AWS::KMS::Alias', { AliasName: 'alias/hybrid-auth/signing-keys' });
    primary.hasResourceProperties('AWS::SecretsManager::Secret', {
      Name: 'hybrid-auth/signing-keys',
      KmsKeyId: Match.anyValue(),
      SecretString: '{"uninitialized":true}',
    });
  });

  test('replicates the secret to every replica region under that region’s key alias', () => {
    primary.hasResourceProperties('AWS::SecretsManager::Secret', {
      ReplicaRegions: [
        { Region: 'us-east-2', KmsKeyId: 'alias/hybrid-auth/signing-keys' },
        { Region: 'us-west-2', KmsKeyId: 'alias/hybrid-auth/signing-keys' },
      ],
    });
  });

  test('rotates every 30 days with the rotation function, starting right after deployment', () => {
    primary.hasResourceProperties('AWS::SecretsManager::RotationSchedule', {
      RotationRules: { ScheduleExpression: 'rate(30 days)' },
      RotateImmediatelyOnUpdate: true,
    });
  });

  test('lets only the rotation function write the secret and the JWKS item', () => {
    const rotation = JSON.stringify(policyOf(primary, 'SigningKeysRotationRoleDefaultPolicy'));
    expect(rotation).toContain('secretsmanager:PutSecretValue');
    expect(rotation).toContain('"dynamodb:LeadingKeys":["JWKS"]');
  });

  test('creates only the region key in a replica region', () => {
    const replica = synth('replica');
    replica.resourceCountIs('AWS::SecretsManager::Secret', 0);
    replica.resourceCountIs('AWS::SecretsManager::RotationSchedule', 0);
    replica.hasResourceProperties('AWS::KMS::Alias', { AliasName: 'alias/hybrid-auth/signing-keys' });
  });

  test('fails on a rotation interval above a year', () => {
    const stack = new Stack(new App(), 'Bad');
    expect(
      () =>
        new SigningKeys(stack, 'Keys', {
          name: 'x',
          role: 'primary',
          tableName: 't',
          ...LIFETIMES,
          rotationInterval: Duration.days(400),
        }),
    ).toThrow(/^SigningKeys: rotationInterval is 400 days; allowed: whole days from 1 to 365$/);
  });
});
