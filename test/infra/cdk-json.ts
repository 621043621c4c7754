import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';

/** The `context` of the repository's cdk.json: the feature flags and the `hybrid-auth` configuration. */
export const CDK_JSON_CONTEXT: Readonly<Record<string, unknown>> = (
  JSON.parse(readFileSync(join(__dirname, '..', '..', 'cdk.json'), 'utf8')) as {
    context: Record<string, unknown>;
  }
).context;

/** Options of {@link cdkJsonApp}. */
export interface CdkJsonAppOptions {
  /**
   * Bundle the functions with esbuild. Off, no stack bundles its assets (`aws:cdk:bundling-stacks` is empty,
   * the context through which the CDK CLI bundles only the stacks a command needs): the templates are the
   * same but for the code assets, in a fraction of the time.
   * @default true
   */
  readonly bundle?: boolean;
  /**
   * Run the CDK's built-in CloudFormation validation on synth, as `cdk synth` does (with cdk.json's
   * `@aws-cdk/core:validateAgainstDefaultRules`, a finding fails synth). It costs seconds per synth: turn it
   * off where the test is about something else. cdk-nag runs either way.
   * @default true
   */
  readonly validate?: boolean;
}

/**
 * An app as `cdk synth` builds it: the context of cdk.json, its feature flags included, with `overrides`
 * merged over its `hybrid-auth` configuration.
 */
export function cdkJsonApp(overrides: Record<string, unknown> = {}, options: CdkJsonAppOptions = {}): App {
  const config = { ...(CDK_JSON_CONTEXT['hybrid-auth'] as Record<string, unknown>), ...overrides };
  return new App({
    builtinCloudFormationValidation: options.validate ?? true,
    context: {
      ...CDK_JSON_CONTEXT,
      'hybrid-auth': config,
      ...(options.bundle === false ? { 'aws:cdk:bundling-stacks': [] } : {}),
    },
  });
}
