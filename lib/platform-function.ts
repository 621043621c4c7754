import { join } from 'node:path';
import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, Runtime } from 'aws-cdk-lib/aws-lambda';
import { type BundlingOptions, NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';

/** Properties of {@link PlatformFunction}. */
export interface PlatformFunctionProps {
  /** The entry file under `lambda/`, e.g. `authorizer/index.ts`. */
  readonly entry: string;
  /** Environment variables (validated by the function at start-up). */
  readonly environment?: Readonly<Record<string, string>>;
  /** @default 256 */
  readonly memorySize?: number;
  /** @default Duration.seconds(10) */
  readonly timeout?: Duration;
  /** @default RetentionDays.ONE_YEAR */
  readonly logRetention?: RetentionDays;
  /** Reserved concurrency. @default none */
  readonly reservedConcurrentExecutions?: number;
  /**
   * Ship a source map and run with `--enable-source-maps` (readable stack traces). `false` for a function on
   * the hot path of every request (the authorizer): Node.js parses the whole map when the first error's stack
   * is read, and each later stack costs more (docs/performance.md "Cold start"). @default true
   */
  readonly sourceMaps?: boolean;
  /**
   * Start the ESM bundle with a `require` for the CommonJS dependencies inside it (the `createRequire` banner of
   * {@link PLATFORM_BUNDLING}). `false` for a function whose bundle needs none (the authorizer: its bundle has
   * no CommonJS `require`, and a test fails if one appears), as the banner's `node:module` import costs its
   * cold start a few ms of CPU (docs/performance.md "Cold start"). @default true
   */
  readonly requireShim?: boolean;
}

/** Where the runtime code lives. */
export const LAMBDA_DIR = join(__dirname, '..', 'lambda');

/**
 * How every function is bundled (docs/design.md Conventions 7): by the local esbuild (never Docker), minified ESM with source
 * maps for Node.js 22, the AWS SDK bundled (`externalModules: []`) from its tree-shakable build
 * (`mainFields: ['module', 'main']`). One source of truth: {@link PlatformFunction} uses it, and the
 * cold-start benchmark (bench/cold-start.ts) bundles with exactly these options.
 */
export const PLATFORM_BUNDLING: Readonly<BundlingOptions> = Object.freeze({
  format: OutputFormat.ESM,
  minify: true,
  sourceMap: true,
  target: 'node22',
  externalModules: [],
  mainFields: ['module', 'main'],
  // ESM output with CommonJS dependencies inside: give them a `require`.
  banner: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
  forceDockerBundling: false,
});

/** {@link PLATFORM_BUNDLING} with a function's own choices: source maps, and the `require` banner or none. */
export function platformBundling(choices: {
  readonly sourceMaps: boolean;
  readonly requireShim: boolean;
}): BundlingOptions {
  return {
    ...PLATFORM_BUNDLING,
    sourceMap: choices.sourceMaps,
    ...(choices.requireShim ? {} : { banner: undefined }),
  };
}

/**
 * The project's one `NodejsFunction` wrapper, holding the Lambda defaults (docs/design.md Conventions 7): Node.js 22 on ARM64,
 * bundled by the local esbuild (never Docker) as minified ESM with source maps (unless `sourceMaps: false`), the AWS SDK bundled
 * (`externalModules: []`) from its tree-shakable build (`mainFields: ['module', 'main']`), logs into an
 * explicit log group with retention (not the deprecated `logRetention`). The log format stays TEXT: the
 * runtime code writes its own JSON lines to stdout, which reach CloudWatch Logs as they are, so metric filters
 * and Embedded Metric Format read them directly.
 *
 * @example
 * const fn = new PlatformFunction(this, 'Authorizer', { entry: 'authorizer/index.ts', environment: { TABLE_NAME } });
 */
export class PlatformFunction extends NodejsFunction {
  /** The function's explicit log group (with retention). */
  public readonly functionLogGroup: LogGroup;

  public constructor(scope: Construct, id: string, props: PlatformFunctionProps) {
    const sourceMaps = props.sourceMaps ?? true;
    const logGroup = new LogGroup(scope, `${id}Logs`, {
      retention: props.logRetention ?? RetentionDays.ONE_YEAR,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // An own role instead of AWSLambdaBasicExecutionRole: it may write to this function's log group only.
    const role = new Role(scope, `${id}Role`, { assumedBy: new ServicePrincipal('lambda.amazonaws.com') });
    role.addToPolicy(
      new PolicyStatement({
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [logGroup.logGroupArn],
      }),
    );
    super(scope, id, {
      role,
      entry: join(LAMBDA_DIR, props.entry),
      runtime: Runtime.NODEJS_22_X,
      architecture: Architecture.ARM_64,
      memorySize: props.memorySize ?? 256,
      timeout: props.timeout ?? Duration.seconds(10),
      logGroup,
      environment: {
        ...(sourceMaps ? { NODE_OPTIONS: '--enable-source-maps' } : {}),
        ...props.environment,
      },
      ...(props.reservedConcurrentExecutions === undefined
        ? {}
        : { reservedConcurrentExecutions: props.reservedConcurrentExecutions }),
      bundling: platformBundling({ sourceMaps, requireShim: props.requireShim ?? true }),
    });
    this.functionLogGroup = logGroup;
    Validations.of(this).acknowledge({
      id: 'AwsSolutions-L1',
      reason:
        'Node.js 22 is the runtime this project builds, bundles and tests for (esbuild target node22); moving to a newer runtime is a deliberate, tested change, not a silent default',
    });
  }
}
