import {
  DescribeSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { AwsJsonError, serveAwsJson } from './aws-json-server';
import type { SecretsManagerStandIn } from './secrets-manager-stand-in';

/** The operations served, by their `X-Amz-Target` name, each the stand-in's command. */
const OPERATIONS = {
  GetSecretValue: (input: never) => new GetSecretValueCommand(input),
  PutSecretValue: (input: never) => new PutSecretValueCommand(input),
  DescribeSecret: (input: never) => new DescribeSecretCommand(input),
  UpdateSecretVersionStage: (input: never) => new UpdateSecretVersionStageCommand(input),
} as const;

/** A running Secrets Manager endpoint. */
export interface SecretsManagerServer {
  /** The URL for `AWS_ENDPOINT_URL_SECRETS_MANAGER` (or a client's `endpoint`). */
  readonly endpoint: string;
  close(): Promise<void>;
}

/**
 * Serves the stateful Secrets Manager stand-in over HTTP with the service's own wire protocol (AWS JSON 1.1:
 * `POST /`, the operation in `X-Amz-Target: secretsmanager.<Operation>`, JSON in and out, timestamps as epoch
 * seconds, errors as `{"__type", "message"}` with status 400), so that code which builds its own
 * `SecretsManagerClient` (a synthesized Lambda bundle) runs unchanged against it through
 * `AWS_ENDPOINT_URL_SECRETS_MANAGER`. Requests are not authenticated: it listens on the loopback only.
 */
export async function serveSecretsManager(standIn: SecretsManagerStandIn): Promise<SecretsManagerServer> {
  // The stand-in answers commands sent through a client it is attached to; this client never leaves here.
  const client = new SecretsManagerClient({
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  standIn.attach(client);
  const operations = Object.fromEntries(
    Object.entries(OPERATIONS).map(([name, command]) => [
      name,
      async (input: unknown) => {
        try {
          const output = await client.send(command(input as never) as never);
          const { $metadata: _metadata, ...body } = output as unknown as Record<string, unknown>;
          return body;
        } catch (error) {
          // The stand-in's errors are the service's, by name (ResourceNotFoundException, ...).
          const { name, message } = error as Error;
          throw new AwsJsonError(name, message);
        }
      },
    ]),
  );
  return serveAwsJson({
    targetPrefix: 'secretsmanager',
    operations,
    internalErrorType: 'InternalServiceError',
  });
}
