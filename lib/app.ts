import { type App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { loadConfig } from './config';
import { HybridAuthStack } from './hybrid-auth-stack';

/**
 * Builds the whole app from its configuration (the `hybrid-auth` context value): one stack per region, the
 * replica regions first (their KMS keys encrypt the secret's replicas), and cdk-nag's AWS Solutions checks
 * on every synth.
 */
export function buildApp(app: App): HybridAuthStack[] {
  const config = loadConfig(app.node.tryGetContext('hybrid-auth'));
  const account = process.env.CDK_DEFAULT_ACCOUNT;
  const stackName = (region: string) => `HybridAuth-${region}`;
  const replicas = config.replicaRegions.map(
    (region) => new HybridAuthStack(app, stackName(region), { config, region, env: { account } }),
  );
  const primary = new HybridAuthStack(app, stackName(config.primaryRegion), {
    config,
    region: config.primaryRegion,
    env: { account },
  });
  for (const replica of replicas)
    primary.addStackDependency(replica, 'the secret replica needs its region key first');
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return [primary, ...replicas];
}
