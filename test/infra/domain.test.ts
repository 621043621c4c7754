import 'aws-cdk-lib/testhelpers/jest-autoclean';
import type { CfnElement, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { HEALTH_PATH } from '../../lambda/issuer/routes';
import { buildApp } from '../../lib/app';
import type { HybridAuthStack } from '../../lib/hybrid-auth-stack';
import { cdkJsonApp } from './cdk-json';

const DOMAIN = {
  name: 'auth.example.com',
  hostedZoneId: 'Z0123456789ABCDEFGHIJ',
  hostedZoneName: 'example.com',
};
const REGIONS = { primaryRegion: 'us-east-1', replicaRegions: ['us-west-2'] };
const WARNING = /Tokens are regional/;

/**
 * The stacks `cdk synth` builds from cdk.json with `overrides`. No test here reads the functions' code, so
 * none is bundled; `validate` runs the built-in CloudFormation rules too, as `cdk synth` does.
 */
function stacksOf(overrides: Record<string, unknown>, validate = false): HybridAuthStack[] {
  return buildApp(cdkJsonApp(overrides, { bundle: false, validate }));
}

function logicalIdOf(stack: Stack, element: unknown): string {
  return stack.getLogicalId(element as CfnElement);
}

function warningsOf(stack: Stack): string[] {
  return Annotations.fromStack(stack)
    .findWarning('*', Match.stringLikeRegexp('.*'))
    .map((message) => String(message.entry.data));
}

describe('with a domain', () => {
  // GIVEN two regions and the domain option
  const stacks = stacksOf({ ...REGIONS, domain: DOMAIN }, true);

  test('passes cdk-nag and the CloudFormation rules cdk.json makes errors', () => {
    expect(() => Template.fromStack(stacks[0] as Stack)).not.toThrow();
  });

  test.each(stacks.map((stack) => [stack.region, stack] as const))(
    'gives %s a certificate for the name, validated through DNS in the hosted zone',
    (_region, stack) => {
      // THEN
      Template.fromStack(stack).hasResourceProperties('AWS::CertificateManager::Certificate', {
        DomainName: DOMAIN.name,
        ValidationMethod: 'DNS',
        DomainValidationOptions: [{ DomainName: DOMAIN.name, HostedZoneId: DOMAIN.hostedZoneId }],
      });
    },
  );

  test.each(stacks.map((stack) => [stack.region, stack] as const))(
    'gives %s a regional custom domain with TLS 1.2 and this certificate, mapped at its root to the stage',
    (_region, stack) => {
      const template = Template.fromStack(stack);
      const domain = stack.domain;
      expect(domain).toBeDefined();
      // THEN
      template.hasResourceProperties('AWS::ApiGateway::DomainName', {
        DomainName: DOMAIN.name,
        EndpointConfiguration: { Types: ['REGIONAL'] },
        SecurityPolicy: 'TLS_1_2',
        RegionalCertificateArn: { Ref: logicalIdOf(stack, domain?.certificate.node.defaultChild) },
      });
      const mappings = template.findResources('AWS::ApiGateway::BasePathMapping');
      expect(Object.values(mappings)).toEqual([
        {
          Type: 'AWS::ApiGateway::BasePathMapping',
          Properties: {
            DomainName: { Ref: logicalIdOf(stack, domain?.domainName.node.defaultChild) },
            RestApiId: { Ref: logicalIdOf(stack, stack.api.restApi.node.defaultChild) },
            Stage: { Ref: logicalIdOf(stack, stack.api.restApi.deploymentStage.node.defaultChild) },
          },
        },
      ]);
    },
  );

  test.each(stacks.map((stack) => [stack.region, stack] as const))(
    "checks %s's health on its own execute-api host, not on the latency-routed name",
    (region, stack) => {
      // THEN: HTTPS on the regional API's host, at the stage's health route
      Template.fromStack(stack).hasResourceProperties('AWS::Route53::HealthCheck', {
        HealthCheckConfig: {
          Type: 'HTTPS',
          FullyQualifiedDomainName: {
            'Fn::Join': [
              '',
              [
                { Ref: logicalIdOf(stack, stack.api.restApi.node.defaultChild) },
                `.execute-api.${region}.`,
                { Ref: 'AWS::URLSuffix' },
              ],
            ],
          },
          Port: 443,
          EnableSNI: true,
          ResourcePath: `/v1${HEALTH_PATH}`,
          RequestInterval: 30,
          FailureThreshold: 3,
        },
      });
    },
  );

  test.each(stacks.map((stack) => [stack.region, stack] as const))(
    'gives %s a latency record for the name: its region, its health check, an alias to its custom domain',
    (region, stack) => {
      const domain = stack.domain;
      const domainNameId = logicalIdOf(stack, domain?.domainName.node.defaultChild);
      // THEN
      Template.fromStack(stack).hasResourceProperties('AWS::Route53::RecordSet', {
        Name: `${DOMAIN.name}.`,
        Type: 'A',
        HostedZoneId: DOMAIN.hostedZoneId,
        Region: region,
        SetIdentifier: region,
        HealthCheckId: { Ref: logicalIdOf(stack, domain?.healthCheck.node.defaultChild) },
        AliasTarget: {
          DNSName: { 'Fn::GetAtt': [domainNameId, 'RegionalDomainName'] },
          HostedZoneId: { 'Fn::GetAtt': [domainNameId, 'RegionalHostedZoneId'] },
        },
      });
    },
  );

  test.each(stacks.map((stack) => [stack.region, stack] as const))(
    'gives both functions of %s the issuer https://<name>',
    (_region, stack) => {
      const functions = Template.fromStack(stack).findResources('AWS::Lambda::Function');
      for (const fn of [stack.issuer.function, stack.authorizer.function]) {
        // THEN
        expect(
          functions[logicalIdOf(stack, fn.node.defaultChild)]?.Properties.Environment.Variables.ISSUER,
        ).toBe(`https://${DOMAIN.name}`);
      }
    },
  );

  test('does not warn that tokens are regional', () => {
    for (const stack of stacks) expect(warningsOf(stack)).not.toContainEqual(expect.stringMatching(WARNING));
  });
});

describe('without a domain', () => {
  // GIVEN two regions, cdk-nag and cdk.json's feature flags (annotations in the validation report)
  const app = cdkJsonApp(REGIONS, { bundle: false });
  const stacks = buildApp(app);

  test('creates no certificate, custom domain, mapping, health check or record', () => {
    for (const stack of stacks) {
      const template = Template.fromStack(stack);
      for (const type of [
        'AWS::CertificateManager::Certificate',
        'AWS::ApiGateway::DomainName',
        'AWS::ApiGateway::BasePathMapping',
        'AWS::Route53::HealthCheck',
        'AWS::Route53::RecordSet',
      ]) {
        template.resourceCountIs(type, 0);
      }
      expect(stack.domain).toBeUndefined();
    }
  });

  test('warns in every region, with more than one region, that tokens are regional, and synth still passes', () => {
    for (const stack of stacks) {
      const others = stacks.filter((other) => other !== stack).map((other) => other.region);
      expect(warningsOf(stack)).toContainEqual(expect.stringMatching(WARNING));
      expect(warningsOf(stack)).toContainEqual(
        expect.stringContaining(`are refused in ${others.join(', ')},`),
      );
    }
    expect(() => app.synth()).not.toThrow();
  });

  test('does not warn with one region', () => {
    const [stack] = stacksOf({ replicaRegions: [] });
    expect(warningsOf(stack as Stack)).not.toContainEqual(expect.stringMatching(WARNING));
  });

  test('does not warn with a shared issuerUrl, which every function uses', () => {
    const stacks = stacksOf({ ...REGIONS, issuerUrl: 'https://login.example.com' });
    for (const stack of stacks) {
      expect(warningsOf(stack)).not.toContainEqual(expect.stringMatching(WARNING));
      const functions = Template.fromStack(stack).findResources('AWS::Lambda::Function');
      expect(
        functions[logicalIdOf(stack, stack.issuer.function.node.defaultChild)]?.Properties.Environment
          .Variables.ISSUER,
      ).toBe('https://login.example.com');
    }
  });
});
