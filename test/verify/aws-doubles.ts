import { randomUUID } from 'node:crypto';
import {
  CloudFormationClient,
  CloudFormationServiceException,
  DescribeStacksCommand,
  type DescribeStacksCommandOutput,
  type StackStatus,
} from '@aws-sdk/client-cloudformation';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { DynamoDbJwksStore } from '../../lambda/adapters/dynamodb-jwks-store';
import { createLogger } from '../../lambda/adapters/logger';
import { UNINITIALIZED_SECRET } from '../../lambda/core/key-set-format';
import { createRotationHandler } from '../../lambda/rotation/handler';
import { stackNameOf } from '../../lib/app';
import type { HybridAuthConfig } from '../../lib/config';
import { SecretsManagerStandIn, STAND_IN_REGION } from '../../local/secrets-manager-stand-in';
import type { DeployedClients } from '../../scripts/verify-deployment';

// What verify-deployment reads from AWS, without AWS. Secrets Manager is the stateful stand-in
// (local/secrets-manager-stand-in.ts), its secret rotated by the real rotation function. CloudFormation has no
// local equivalent: aws-sdk-client-mock answers DescribeStacks with exactly the shape the API reference
// documents (`Stacks`, each with the required `StackName`, `CreationTime` and `StackStatus`, and `Outputs` of
// `OutputKey` and `OutputValue`), and with the `ValidationError` it documents for a stack that does not exist
// (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DescribeStacks.html,
// https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_Stack.html,
// https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_Output.html). Nothing else is modelled.

const ACCOUNT = '123456789012';

/** One region's stack: its status and outputs (CREATE_COMPLETE with the outputs given by default). */
export interface StackSpec {
  readonly status?: StackStatus;
  readonly outputs?: Readonly<Record<string, string>>;
}

/** Options of {@link deploymentDoubles}. */
export interface DeploymentDoublesOptions {
  /** Each region's outputs when its {@link StackSpec} names none: what lib/hybrid-auth-stack.ts declares. */
  readonly outputs: (region: string) => Record<string, string>;
  /** Per region: its stack, or `null` for none (DescribeStacks then fails with ValidationError). */
  readonly stacks?: Readonly<Record<string, StackSpec | null>>;
  /** The regions the secret is replicated to. @default every replica region of the configuration */
  readonly replicatedTo?: readonly string[];
  /** Each region's session table client (the user admin writes there). */
  readonly dynamoDb: (region: string) => DynamoDBClient;
  /** Where the rotation function publishes its JWKS. */
  readonly jwksTable: { readonly client: DynamoDBClient; readonly tableName: string };
}

/** The doubles of one deployment. */
export interface DeploymentDoubles {
  readonly clients: DeployedClients;
  readonly standIn: SecretsManagerStandIn;
  readonly secretArn: string;
  /** The `StackName` of each DescribeStacks call, by region. */
  readonly describedStacks: Map<string, string[]>;
  /** Rotates the secret with the real rotation function, as the first rotation after a deployment does. */
  rotate(): Promise<void>;
  /** Restores the mocked clients. */
  restore(): void;
}

/**
 * A deployment of `config` seen through the AWS SDK: a stack per region, and the signing-keys secret
 * (`<name>/signing-keys` in the stand-in's region), replicated and still holding the deployment's placeholder
 * until {@link DeploymentDoubles.rotate}.
 */
export function deploymentDoubles(
  config: HybridAuthConfig,
  options: DeploymentDoublesOptions,
): DeploymentDoubles {
  if (config.primaryRegion !== STAND_IN_REGION) {
    throw new Error(`the stand-in's secrets live in ${STAND_IN_REGION}: use it as the primary region`);
  }
  const replicatedTo = options.replicatedTo ?? config.replicaRegions;
  const standIn = new SecretsManagerStandIn();
  const secretArn = standIn.createSecret(`${config.name}/signing-keys`, UNINITIALIZED_SECRET, {
    rotationEnabled: true,
    replicaRegions: replicatedTo.map((region) => ({ region })),
  });
  const secretsClient = new SecretsManagerClient({ region: STAND_IN_REGION });
  const restores: Array<() => void> = [];
  const secretsMock = standIn.attach(secretsClient);
  restores.push(
    () => secretsMock.restore(),
    () => secretsClient.destroy(),
  );
  const describedStacks = new Map<string, string[]>();
  const cfnClients = new Map<string, CloudFormationClient>();

  const cloudFormation = (region: string): CloudFormationClient => {
    const existing = cfnClients.get(region);
    if (existing !== undefined) return existing;
    const client = new CloudFormationClient({ region });
    const mock = mockClient(client);
    mock.on(DescribeStacksCommand).callsFake(async (input: { StackName?: string }) => {
      describedStacks.set(region, [...(describedStacks.get(region) ?? []), input.StackName ?? '']);
      const spec = options.stacks?.[region];
      const stackName = stackNameOf(config.name, region);
      if (spec === null || input.StackName !== stackName) {
        throw new CloudFormationServiceException({
          name: 'ValidationError',
          $fault: 'client',
          $metadata: { httpStatusCode: 400 },
          message: `Stack with id ${input.StackName} does not exist`,
        });
      }
      const output: DescribeStacksCommandOutput = {
        Stacks: [
          {
            StackId: `arn:aws:cloudformation:${region}:${ACCOUNT}:stack/${stackName}/${randomUUID()}`,
            StackName: stackName,
            CreationTime: new Date('2026-01-05T10:00:00Z'),
            StackStatus: spec?.status ?? 'CREATE_COMPLETE',
            Outputs: Object.entries(spec?.outputs ?? options.outputs(region)).map(
              ([OutputKey, OutputValue]) => ({ OutputKey, OutputValue }),
            ),
          },
        ],
        $metadata: { httpStatusCode: 200, requestId: randomUUID(), attempts: 1, totalRetryDelay: 0 },
      };
      return output;
    });
    restores.push(
      () => mock.restore(),
      () => client.destroy(),
    );
    cfnClients.set(region, client);
    return client;
  };

  return {
    clients: {
      cloudFormation,
      secretsManager: (region) => {
        if (region !== STAND_IN_REGION)
          throw new Error(`the secret lives in ${STAND_IN_REGION}, not ${region}`);
        return secretsClient;
      },
      dynamoDb: options.dynamoDb,
      destroy: () => {},
    },
    standIn,
    secretArn,
    describedStacks,
    rotate: async () => {
      const handler = createRotationHandler({
        secrets: secretsClient,
        jwks: new DynamoDbJwksStore(options.jwksTable.client, options.jwksTable.tableName),
        policy: { accessTokenTtlSeconds: 300, sessionLifetimeSeconds: 86_400 },
        logger: createLogger('rotation', () => {}),
        metric: () => {},
        replicaRegions: replicatedTo,
        sleep: async () => {},
      });
      await standIn.rotate(secretArn, handler);
    },
    restore: () => {
      for (const restore of restores.splice(0)) restore();
    },
  };
}

/** The outputs lib/hybrid-auth-stack.ts declares for a region's stack, with the API at `apiUrl`. */
export function stackOutputs(
  config: HybridAuthConfig,
  region: string,
  apiUrl: string,
  issuerUrl: string,
): Record<string, string> {
  return {
    ApiUrl: apiUrl,
    IssuerUrl: issuerUrl,
    SigningKeysSecret: `${config.name}/signing-keys`,
    ...(region === config.primaryRegion ? { RotationFunctionName: `${config.name}-rotation-abc123` } : {}),
    ...(config.domain === undefined ? {} : { HealthCheckId: randomUUID() }),
  };
}
