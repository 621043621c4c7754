import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { listenOnLoopback } from './loopback';

/** An error an AWS JSON 1.1 service answers with status 400 and `{"__type", "message"}`. */
export class AwsJsonError extends Error {
  public constructor(
    public readonly type: string,
    message: string,
  ) {
    super(message);
  }
}

/** Options of {@link serveAwsJson}. */
export interface AwsJsonServerOptions {
  /** What `X-Amz-Target` starts with, before the operation's name: `secretsmanager`, `AWSEvents`. */
  readonly targetPrefix: string;
  /** The operations served, by name: each answers the output's body, or throws an {@link AwsJsonError}. */
  readonly operations: Readonly<Record<string, (input: unknown) => unknown>>;
  /** The `__type` of an answer with status 500 (the service's internal error). */
  readonly internalErrorType: string;
  /** Asked once a request's body has arrived: `true` leaves it unanswered (a service that does not answer). */
  readonly hold?: () => boolean;
}

/** A running AWS JSON endpoint on the loopback. */
export interface AwsJsonServer {
  readonly endpoint: string;
  close(): Promise<void>;
}

/**
 * Serves `operations` with the AWS JSON 1.1 wire protocol the local stand-ins speak: `POST /`, the operation
 * in `X-Amz-Target: <prefix>.<Operation>`, JSON in and out, timestamps as epoch seconds, errors as
 * `{"__type", "message"}` (400 for an unknown operation, a body that is not JSON, or an {@link AwsJsonError};
 * 500 for anything else), so that code which builds its own SDK client (a synthesized Lambda bundle) runs
 * unchanged against it through `AWS_ENDPOINT_URL_<SERVICE>`. Requests are not authenticated: it listens on
 * the loopback only.
 */
export async function serveAwsJson(options: AwsJsonServerOptions): Promise<AwsJsonServer> {
  const answer = async (request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    if (options.hold?.() === true) return; // never answered: the client's time-out decides
    const target = String(request.headers['x-amz-target'] ?? '');
    const prefix = `${options.targetPrefix}.`;
    const name = target.startsWith(prefix) ? target.slice(prefix.length) : '';
    const operation = Object.hasOwn(options.operations, name) ? options.operations[name] : undefined;
    if (request.method !== 'POST' || operation === undefined) {
      send(response, 400, { __type: 'UnknownOperationException', message: `not served: ${target}` });
      return;
    }
    let input: unknown;
    try {
      input = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
    } catch {
      send(response, 400, { __type: 'SerializationException', message: 'the body is not JSON' });
      return;
    }
    try {
      send(response, 200, await operation(input));
    } catch (error) {
      if (!(error instanceof AwsJsonError)) throw error;
      send(response, 400, { __type: error.type, message: error.message });
    }
  };
  const server = createServer((request, response) => {
    answer(request, response).catch((error: unknown) => {
      send(response, 500, { __type: options.internalErrorType, message: (error as Error)?.name ?? 'error' });
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
