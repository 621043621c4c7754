import 'aws-cdk-lib/testhelpers/jest-autoclean';
import { App, type CfnElement, type Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { Bucket } from 'aws-cdk-lib/aws-s3';
import { buildApp } from '../../lib/app';
import type { HybridAuthStack } from '../../lib/hybrid-auth-stack';

function app(config: Record<string, unknown> = {}): App {
  // Built-in CloudFormation validation costs seconds per synth; cdk-nag is what these tests are about.
  return new App({ context: { 'hybrid-auth': config }, outdir: undefined });
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

describe('cdk-nag on every synth', () => {
  test('fails synth on an unacknowledged finding', () => {
    const nagged = app({ replicaRegions: [] });
    const [primary] = buildApp(nagged);
    new Bucket(primary as Stack, 'UnencryptedLoggingLessBucket');
    expect(() => nagged.synth()).toThrow(/[Vv]alidation/);
  });
});

describe('configuration errors fail synth', () => {
  test('fails with a blown revocation budget', () => {
    expect(() => buildApp(app({ authorizerCacheTtlSeconds: 300 }))).toThrow(
      /= 303 s; allowed: at most the revocation budget, revocationBudgetSeconds \(5 s\)/,
    );
  });

  test('fails on MRSC regions outside one region set', () => {
    expect(() =>
      buildApp(
        app({
          consistency: 'strong',
          primaryRegion: 'us-east-1',
          replicaRegions: ['eu-west-1', 'us-west-2'],
        }),
      ),
    ).toThrow(/exactly three regions of one region set/);
  });
});
