import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DynamoDbUserStore } from '../lambda/adapters/dynamodb-user-store';
import { Env } from '../lambda/adapters/env';
import { type ClientConfig, DEFAULT_CLIENTS } from '../lambda/core/clients';
import { PROTECTED_ROUTES } from '../lambda/protected-routes';
import { SETTINGS } from '../lambda/settings';
import { stackNameOf } from '../lib/app';
import { SAMPLE_ROUTES } from '../lib/auth-api';
import { type HybridAuthConfig, loadConfig } from '../lib/config';
import { localClient } from '../local/dynamodb-local';
import { dataDirSetting } from '../local/rotate-keys';
import { runningLocalPlatform } from './create-user';
import {
  type AwsClients,
  type CheckResult,
  chooseProtectedRoute,
  type DeployedPlan,
  type EndpointOptions,
  type LocalPlan,
  sdkAwsFacts,
  tableUserAdmin,
  verifyDeployment,
} from './deployment-checks';

/**
 * `npm run verify-deployment`: proves a deployment in the account after `cdk deploy`, or the running local
 * platform with `--local`. One line per check (`PASS  region us-east-1: login - ...`), a summary, and the
 * exit code: 0 when no check failed, 1 when one did, 2 when the checks could not run (bad arguments, a bad
 * configuration, no local platform). Nothing it prints holds a token, a password or key material.
 *
 *     npm run verify-deployment            # the deployment cdk.json describes, with the AWS credentials
 *                                          # of the environment (AWS_PROFILE, ...)
 *     npm run verify-deployment -- --local # the platform `npm start` runs with the same LOCAL_DATA_DIR
 *
 * Deployed, it reads the `hybrid-auth` configuration of `cdk.json` in the working directory (not `-c`
 * overrides given to cdk), each region's stack (`stackNameOf` of lib/app.ts) and the signing-keys secret,
 * and writes and deletes one test user per endpoint in the session table (`<name>-sessions`): the caller
 * needs `cloudformation:DescribeStacks`, `secretsmanager:DescribeSecret`, and `dynamodb:PutItem`,
 * `GetItem` and `DeleteItem` on the table in every region.
 */
export async function verifyDeploymentCommand(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  deps: VerifyDeploymentDeps = {},
): Promise<number> {
  const write = deps.write ?? ((line: string) => process.stdout.write(`${line}\n`));
  const local = argv.includes('--local');
  const unknown = argv.filter((arg) => arg !== '--local');
  let prepared: { plan: DeployedPlan | LocalPlan; heading: string; close: () => void };
  try {
    if (unknown.length > 0) throw new Error(`unexpected argument ${unknown[0]} (usage: [--local])`);
    prepared = local ? await prepareLocal(env, deps) : await prepareDeployed(deps);
  } catch (error) {
    write(`verify-deployment could not run: ${(error as Error)?.message ?? String(error)}`);
    return 2;
  }
  write(prepared.heading);
  let results: CheckResult[];
  try {
    results = await verifyDeployment(prepared.plan, (result) => write(formatResult(result)));
  } finally {
    prepared.close();
  }
  const count = (status: CheckResult['status']) => results.filter((r) => r.status === status).length;
  const failed = count('fail');
  write(
    `${failed === 0 ? 'verified' : 'NOT verified'}: ${count('pass')} passed, ${failed} failed, ${count('skip')} skipped`,
  );
  return failed === 0 ? 0 : 1;
}

/** What tests (and only tests) replace. */
export interface VerifyDeploymentDeps {
  /** Where the lines go. @default stdout */
  readonly write?: (line: string) => void;
  /** The deployed mode's SDK clients. @default real clients with 10 s time-outs */
  readonly clients?: DeployedClients;
  /** Where the configuration is read. @default cdk.json in the working directory */
  readonly cdkJsonPath?: string;
  /** The deployed session table's name. @default `<name>-sessions`, as lib/hybrid-auth-stack.ts names it */
  readonly tableName?: string;
  /** The fetch of the endpoint checks. @default globalThis.fetch */
  readonly fetch?: typeof fetch;
}

/** The SDK clients of the deployed mode, per region. */
export interface DeployedClients extends AwsClients {
  dynamoDb(region: string): DynamoDBClient;
  /** Releases every client made. */
  destroy(): void;
}

/** One result as a line: `PASS  region us-east-1: login - 200 as client native, ...`. */
export function formatResult(result: CheckResult): string {
  return `${result.status.toUpperCase()}  ${result.name} - ${result.detail}`;
}

/** Every SDK call gives up after this (per attempt): a check fails rather than hangs. */
const REQUEST_HANDLER = { requestTimeout: 10_000, connectionTimeout: 5_000 };

/** Real SDK clients, one per service and region, with the credentials of the environment. */
export function sdkClients(): DeployedClients {
  const made: { destroy(): void }[] = [];
  const perRegion = <T extends { destroy(): void }>(make: (region: string) => T) => {
    const clients = new Map<string, T>();
    return (region: string): T => {
      let client = clients.get(region);
      if (client === undefined) {
        client = make(region);
        clients.set(region, client);
        made.push(client);
      }
      return client;
    };
  };
  return {
    cloudFormation: perRegion(
      (region) => new CloudFormationClient({ region, requestHandler: REQUEST_HANDLER }),
    ),
    secretsManager: perRegion(
      (region) => new SecretsManagerClient({ region, requestHandler: REQUEST_HANDLER }),
    ),
    dynamoDb: perRegion((region) => new DynamoDBClient({ region, requestHandler: REQUEST_HANDLER })),
    destroy: () => {
      for (const client of made) client.destroy();
    },
  };
}

/** The endpoint checks' client, route and budget for a configuration's clients and backends. */
export async function endpointOptions(
  clients: readonly ClientConfig[],
  sampleBackends: boolean,
  budget: { readonly ms: number; readonly source: string },
  fetchImpl?: typeof fetch,
): Promise<EndpointOptions> {
  const bodyClient = clients.find((client) => client.refreshTokenDelivery === 'body');
  const route = await chooseProtectedRoute(
    PROTECTED_ROUTES,
    sampleBackends ? { preferred: SAMPLE_ROUTES } : { excluded: SAMPLE_ROUTES },
  );
  return {
    clientId: bodyClient?.clientId,
    ...(bodyClient === undefined
      ? {
          noClientReason: `no configured client receives its refresh token in the body (clients: ${clients
            .map((client) => client.clientId)
            .join(', ')})`,
        }
      : {}),
    route,
    revocationBudgetMs: budget.ms,
    budgetSource: budget.source,
    ...(fetchImpl === undefined ? {} : { fetch: fetchImpl }),
  };
}

/**
 * The deployed plan of a configuration: its regions and stacks, the secret, a user admin per region (the
 * region's own replica of the table, so its endpoint sees the user at once) and, with `domain`, one whose
 * users are written in the primary region and awaited in every other region (the name may route to any).
 */
export async function deployedPlan(
  config: HybridAuthConfig,
  clients: DeployedClients,
  options: { readonly tableName?: string; readonly fetch?: typeof fetch } = {},
): Promise<DeployedPlan> {
  // The table's name as lib/hybrid-auth-stack.ts derives it; the stacks do not output it.
  const tableName = options.tableName ?? `${config.name}-sessions`;
  const store = (region: string) => new DynamoDbUserStore({ client: clients.dynamoDb(region), tableName });
  return {
    mode: 'deployed',
    primaryRegion: config.primaryRegion,
    replicaRegions: config.replicaRegions,
    stackName: (region) => stackNameOf(config.name, region),
    aws: sdkAwsFacts(clients),
    regionUsers: (region) => tableUserAdmin({ home: store(region) }),
    ...(config.domain === undefined
      ? {}
      : {
          domain: {
            name: config.domain.name,
            users: tableUserAdmin({
              home: store(config.primaryRegion),
              replicas: config.replicaRegions.map(store),
            }),
          },
        }),
    endpoints: await endpointOptions(
      config.clients,
      config.sampleBackends,
      {
        ms: config.revocationBudget.toMilliseconds(),
        source: 'revocationBudgetSeconds of cdk.json',
      },
      options.fetch,
    ),
  };
}

async function prepareDeployed(deps: VerifyDeploymentDeps) {
  const path = resolve(deps.cdkJsonPath ?? 'cdk.json');
  let context: unknown;
  try {
    context = (JSON.parse(readFileSync(path, 'utf8')) as { context?: Record<string, unknown> }).context?.[
      'hybrid-auth'
    ];
  } catch (error) {
    throw new Error(
      `cannot read the configuration from ${path} (run it from the project root): ${
        (error as Error).message
      }`,
    );
  }
  const config = loadConfig(context);
  const clients = deps.clients ?? sdkClients();
  const plan = await deployedPlan(config, clients, {
    ...(deps.tableName === undefined ? {} : { tableName: deps.tableName }),
    ...(deps.fetch === undefined ? {} : { fetch: deps.fetch }),
  });
  const regions = [`${config.primaryRegion} (primary)`, ...config.replicaRegions];
  return {
    plan,
    heading: `verify-deployment: ${config.name} in ${regions.join(', ')}${
      config.domain === undefined ? '' : ` and through ${config.domain.name}`
    }`,
    close: () => clients.destroy(),
  };
}

async function prepareLocal(env: NodeJS.ProcessEnv, deps: VerifyDeploymentDeps) {
  const platform = await runningLocalPlatform(env);
  // Locally a revocation waits only for the authorizer's session cache: there is no API Gateway result cache
  // and no replication. The platform's cache TTL is the SESSION_CACHE_TTL_SECONDS given to npm start.
  const ttlSeconds = new Env(env).setting(SETTINGS.sessionCacheTtlSeconds);
  const given = env[SETTINGS.sessionCacheTtlSeconds.env];
  const client = localClient(platform.dynamoDbEndpoint);
  const plan: LocalPlan = {
    mode: 'local',
    endpoint: {
      label: 'local platform',
      baseUrl: platform.url,
      issuer: platform.url,
      users: tableUserAdmin({ home: new DynamoDbUserStore({ client, tableName: platform.tableName }) }),
    },
    // The local platform registers the default clients and answers every protected route with the sample
    // backend.
    endpoints: await endpointOptions(
      DEFAULT_CLIENTS,
      true,
      {
        ms: ttlSeconds * 1000,
        source:
          `SESSION_CACHE_TTL_SECONDS=${ttlSeconds}${given === undefined || given === '' ? ' (the default)' : ''}: ` +
          'give verify-deployment the value given to npm start',
      },
      deps.fetch,
    ),
  };
  return {
    plan,
    heading: `verify-deployment: the local platform at ${platform.url} (${dataDirSetting(env.LOCAL_DATA_DIR || '.local')})`,
    close: () => client.destroy(),
  };
}

if (require.main === module) {
  verifyDeploymentCommand(process.argv.slice(2), process.env).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`verify-deployment failed: ${(error as Error)?.message ?? String(error)}\n`);
      process.exitCode = 2;
    },
  );
}
