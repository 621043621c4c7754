import 'aws-cdk-lib/testhelpers/jest-autoclean';
import type { CfnElement, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { CURRENTLY_RECOMMENDED_FLAGS } from 'aws-cdk-lib/cx-api';
import { buildApp } from '../../lib/app';
import { CDK_JSON_CONTEXT, cdkJsonApp } from './cdk-json';

describe("cdk.json's feature flags", () => {
  test('are every flag cdk init recommends for the installed aws-cdk-lib, with its recommended value', () => {
    // THEN: what `cdk init` writes into a new project's context (the CLI sorts the same map)
    const flags = Object.fromEntries(
      Object.entries(CDK_JSON_CONTEXT).filter(([key]) => key.startsWith('@aws-cdk')),
    );
    expect(flags).toEqual(CURRENTLY_RECOMMENDED_FLAGS);
  });

  test('redeploy the stage when the authorizer cache TTL changes (authorizerChangeDeploymentLogicalId)', () => {
    // GIVEN the same app with two authorizer cache TTLs, both within the revocation budget
    const deploymentOf = (authorizerCacheTtlSeconds: number) => {
      const [stack] = buildApp(
        cdkJsonApp({ replicaRegions: [], authorizerCacheTtlSeconds }, { bundle: false, validate: false }),
      );
      const template = Template.fromStack(stack as Stack);
      const deployments = Object.keys(template.findResources('AWS::ApiGateway::Deployment'));
      const stage = stack?.api.restApi.deploymentStage.node.defaultChild as CfnElement;
      const stageResource = template.toJSON().Resources[(stack as Stack).getLogicalId(stage)];
      return { deployments, stageDeployment: stageResource.Properties.DeploymentId.Ref as string };
    };
    // WHEN
    const before = deploymentOf(2);
    const after = deploymentOf(1);
    // THEN: a new deployment, which the stage points to, so the new TTL goes live
    expect(before.deployments).toEqual([before.stageDeployment]);
    expect(after.deployments).toEqual([after.stageDeployment]);
    expect(after.stageDeployment).not.toBe(before.stageDeployment);
  });
});
