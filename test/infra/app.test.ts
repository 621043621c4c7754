import 'aws-cdk-lib/testhelpers/jest-autoclean';
import type { App, CfnElement, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { Bucket } from 'aws-cdk-lib/aws-s3';
import { buildApp, stackNameOf } from '../../lib/app';
import type { HybridAuthStack } from '../../lib/hybrid-auth-stack';
import { cdkJsonApp } from './cdk-json';

/** The app `cdk synth` builds: cdk.json's context (feature flags included), `config` over its configuration. */
function app(config: Record<string, unknown> = {}, options: Parameters<typeof cdkJsonApp>[1] = {}): App {
  return cdkJsonApp(config, options);
}

describe('the whole app', () => {
  // Bundling seven functions takes a few seconds: synthesize the default app once.
  const defaultApp = app();
  const stacks = buildApp(defaultApp);

  test('synthesizes one stack per configured region, the primary after the replicas', () => {
    expect(stacks.map((stack) => [stack.stackName, stack.region])).toEqual([
      ['HybridAuth-us-east-1', 'us-east-1'],
      ['HybridAuth-us-east-2', 'us-east-2'],
      ['HybridAuth-us-west-2', 'us-west-2'],
    ]);
    const [primary, ...replicas] = stacks;
    expect(primary?.dependencies).toEqual(replicas);
  });

  test('passes every AWS Solutions check (cdk-nag) with only the acknowledged findings', () => {
    expect(() => defaultApp.synth()).not.toThrow();
  });

  test('holds the global table, the secret and its rotation in the primary region only', () => {
    const [primaryStack, replicaStack] = stacks as [HybridAuthStack, HybridAuthStack];
    const [primary, replica] = [primaryStack, replicaStack].map((stack) => Template.fromStack(stack));
    primary?.resourceCountIs('AWS::DynamoDB::GlobalTable', 1);
    primary?.resourceCountIs('AWS::SecretsManager::RotationSchedule', 1);
    expect(primaryStack.signingKeys.rotationFunction).toBeDefined();
    replica?.resourceCountIs('AWS::DynamoDB::GlobalTable', 0);
    replica?.resourceCountIs('AWS::SecretsManager::Secret', 0);
    replica?.resourceCountIs('AWS::SecretsManager::RotationSchedule', 0);
    expect(replicaStack.signingKeys.rotationFunction).toBeUndefined();
  });

  test('creates the rotation schedule (which rotates at once and writes the JWKS item) after the table', () => {
    const primaryStack = stacks[0] as HybridAuthStack;
    const table = primaryStack.sessions?.table.node.defaultChild as CfnElement;
    const schedules = Template.fromStack(primaryStack).findResources('AWS::SecretsManager::RotationSchedule');
    for (const schedule of Object.values(schedules)) {
      expect(schedule.DependsOn).toContain(primaryStack.getLogicalId(table));
    }
    expect(Object.keys(schedules)).toHaveLength(1);
  });

  test('runs an issuer and an authorizer in every region', () => {
    for (const stack of stacks) {
      const functions = Template.fromStack(stack).findResources('AWS::Lambda::Function');
      for (const fn of [stack.issuer.function, stack.authorizer.function]) {
        expect(Object.keys(functions)).toContain(stack.getLogicalId(fn.node.defaultChild as CfnElement));
      }
    }
  });

  test('keeps the logical IDs of the API, its web ACL, gateway responses and dashboard', () => {
    // Construct IDs are a public contract (docs/design.md Conventions 5): a changed logical ID replaces the
    // resource on the next deploy. These are the IDs deployed stacks have.
    const contract: Record<string, string> = {
      ApiCD79AAA0: 'AWS::ApiGateway::RestApi',
      ApiDeploymentStagev1149A6FAE: 'AWS::ApiGateway::Stage',
      ApiUnauthorizedDBC6C07F: 'AWS::ApiGateway::GatewayResponse',
      ApiDefault5XX796CA430: 'AWS::ApiGateway::GatewayResponse',
      ApiWebAcl796CF128: 'AWS::WAFv2::WebACL',
      ApiWebAclAssociation8D930937: 'AWS::WAFv2::WebACLAssociation',
      AlarmsTopic3A2DFEBA: 'AWS::SNS::Topic',
      AlarmsDashboard690E1A42: 'AWS::CloudWatch::Dashboard',
    };
    const resources = Template.fromStack(stacks[1] as Stack).toJSON().Resources as Record<
      string,
      { Type: string }
    >;
    // The authorizer exists once a protected method does (a sample backend or a route of lib/backends.ts).
    if (stacks[1]?.api.authorizer !== undefined) {
      contract.ApiAuthorizer787544C1 = 'AWS::ApiGateway::Authorizer';
    }
    for (const [logicalId, type] of Object.entries(contract)) expect(resources[logicalId]?.Type).toBe(type);
    expect(stacks[1]?.api.webAclMetricName).toBe('HybridAuthuseast2ApiA26D08F2');
  });

  test('gives the authorizer the configured cache TTL, not the 5-minute API Gateway default', () => {
    Template.fromStack(stacks[1] as Stack).hasResourceProperties('AWS::ApiGateway::Authorizer', {
      AuthorizerResultTtlInSeconds: 2,
    });
  });
});

describe('stack names', () => {
  test('keep HybridAuth-<region> for the default name', () => {
    expect(stackNameOf('hybrid-auth', 'us-east-1')).toBe('HybridAuth-us-east-1');
  });

  test('come from the configured name, so two copies of the platform have disjoint stacks', () => {
    // GIVEN production and staging, each in the same two regions
    const namesOf = (name: string) =>
      buildApp(app({ name, replicaRegions: ['us-west-2'] }, { bundle: false, validate: false })).map(
        (stack) => stack.stackName,
      );
    // WHEN
    const production = namesOf('hybrid-auth');
    const staging = namesOf('hybrid-auth-staging');
    // THEN
    expect(staging.sort()).toEqual(['HybridAuthStaging-us-east-1', 'HybridAuthStaging-us-west-2']);
    expect(production.filter((name) => staging.includes(name))).toEqual([]);
  });

  test.each([
    ['hybrid-auth', 'hybridauth'],
    ['hybrid--auth', 'hybrid-auth'],
    ['auth-1b', 'auth1b'],
    ['acme-us', 'acme'],
  ])('differ for the names %p and %p in every region', (one, other) => {
    for (const region of ['us-east-1', 'us-gov-west-1', 'eu-west-2']) {
      expect(stackNameOf(one, region)).not.toBe(stackNameOf(other, region));
    }
  });

  test('are valid CloudFormation stack names: a letter first, then letters, digits and -, at most 128', () => {
    for (const name of ['abc', 'a-1-b', 'x--y', 'a'.repeat(32), 'z0-9']) {
      expect(stackNameOf(name, 'ap-southeast-1')).toMatch(/^[A-Za-z][A-Za-z0-9-]{0,127}$/);
    }
  });
});

describe('cdk-nag on every synth', () => {
  test('fails synth on an unacknowledged finding', () => {
    const nagged = app({ replicaRegions: [] }, { bundle: false });
    const [primary] = buildApp(nagged);
    new Bucket(primary as Stack, 'UnencryptedLoggingLessBucket');
    expect(() => nagged.synth()).toThrow(/[Vv]alidation/);
  });
});

describe('configuration errors fail synth', () => {
  test('fails with a blown revocation budget', () => {
    expect(() => buildApp(app({ authorizerCacheTtlSeconds: 300 }, { bundle: false }))).toThrow(
      /= 303 s; allowed: at most the revocation budget, revocationBudgetSeconds \(5 s\)/,
    );
  });

  test('fails on MRSC regions outside one region set', () => {
    expect(() =>
      buildApp(
        app(
          {
            consistency: 'strong',
            primaryRegion: 'us-east-1',
            replicaRegions: ['eu-west-1', 'us-west-2'],
          },
          { bundle: false },
        ),
      ),
    ).toThrow(/exactly three regions of one region set/);
  });
});
