import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import {
  DescribeSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { listenOnLoopback } from './loopback';
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
  const server = createServer((request, response) => {
    answer(client, request, response).catch((error: unknown) => {
      send(response, 500, { __type: 'InternalServiceError', message: (error as Error)?.name ?? 'error' });
    });
  });
  const endpoint = await listenOnLoopback(server);
  return {
    endpoint,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function answer(client: SecretsManagerClient, request: IncomingMessage, response: ServerResponse) {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  const target = String(request.headers['x-amz-target'] ?? '');
  const operation = target.startsWith('secretsmanager.') ? target.slice('secretsmanager.'.length) : '';
  if (request.method !== 'POST' || !Object.hasOwn(OPERATIONS, operation)) {
    send(response, 400, { __type: 'UnknownOperationException', message: `not served: ${target}` });
    return;
  }
  const input = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as never;
  try {
    const output = await client.send(OPERATIONS[operation as keyof typeof OPERATIONS](input) as never);
    const { $metadata: _metadata, ...body } = output as unknown as Record<string, unknown>;
    send(response, 200, body);
  } catch (error) {
    const { name, message } = error as Error;
    send(response, 400, { __type: name, message });
  }
}

function send(response: ServerResponse, status: number, body: unknown): void {
  // Timestamps travel as epoch seconds; `this[key]` is the value before `Date.prototype.toJSON` ran.
  const text = JSON.stringify(body, function (this: Record<string, unknown>, key: string, value: unknown) {
    const raw = this[key];
    return raw instanceof Date ? raw.getTime() / 1000 : value;
  });
  response.writeHead(status, {
    'Content-Type': 'application/x-amz-json-1.1',
    'Content-Length': Buffer.byteLength(text),
  });
  response.end(text);
}
