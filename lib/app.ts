import { type App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { loadConfig } from './config';
import { HybridAuthStack } from './hybrid-auth-stack';

/**
 * The name of a region's stack (its construct ID and its CloudFormation stack name), derived from the
 * configured `name`: the name in PascalCase, a hyphen, the region. The default `hybrid-auth` keeps the
 * names `HybridAuth-<region>`; `hybrid-auth-staging` gives `HybridAuthStaging-<region>`, so a second copy
 * of the platform in the same account and region never updates the first one's stacks.
 *
 * No two (name, region) pairs share a stack name. A name is lowercase letters, digits and hyphens, so each
 * capital after the first letter stands for a hyphen before that letter; the hyphens left stand before a
 * digit or another hyphen, and the hyphen before the region is the first one followed by a letter. So
 * `hybrid-auth` and `hybridauth` give `HybridAuth-...` and `Hybridauth-...`: stack names differ by case, and
 * CloudFormation stack names are case sensitive
 * (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CreateStack.html, StackName:
 * "alphanumeric characters (case sensitive) and hyphens", starting with a letter, at most 128 characters).
 *
 * @param name a validated configuration `name` (lib/config.ts: lowercase letters, digits and -, 3 to 32).
 */
export function stackNameOf(name: string, region: string): string {
  const pascal = name.replace(/-([a-z])/g, (_, letter: string) => letter.toUpperCase());
  return `${pascal.charAt(0).toUpperCase()}${pascal.slice(1)}-${region}`;
}

/**
 * Builds the whole app from its configuration (the `hybrid-auth` context value): one stack per region, named
 * by {@link stackNameOf}, the replica regions first (their KMS keys encrypt the secret's replicas), and
 * cdk-nag's AWS Solutions checks on every synth.
 */
export function buildApp(app: App): HybridAuthStack[] {
  const config = loadConfig(app.node.tryGetContext('hybrid-auth'));
  const account = process.env.CDK_DEFAULT_ACCOUNT;
  const stackName = (region: string) => stackNameOf(config.name, region);
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
