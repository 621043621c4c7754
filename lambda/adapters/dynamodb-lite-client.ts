/**
 * A minimal DynamoDB client: `GetItem`, `BatchGetItem` and `UpdateItem` over the low-level JSON API, signed
 * with {@link signRequest}, on a keep-alive connection. The authorizer reads through it alone: the AWS SDK's
 * import is most of a cold start (docs/performance.md "Cold start"). The issuer sends the two requests of a
 * refresh through it: the SDK's per-request work (its middleware stack, signer and parsers) costs more CPU
 * than DynamoDB Local takes to serve a read (docs/performance.md "Refresh").
 *
 * The wire protocol (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Programming.LowLevelAPI.html):
 * `POST /` with `Content-Type: application/x-amz-json-1.0`, `X-Amz-Target: DynamoDB_20120810.<Operation>`,
 * the request as JSON in the body, the response as JSON; an error is a 4xx or 5xx whose body's `__type` names
 * it (`com.amazonaws.dynamodb.v20120810#ResourceNotFoundException`)
 * (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Programming.Errors.html).
 * The time limits are the SDK client's ({@link DYNAMODB_TIMEOUTS}): connection 500 ms, attempt 1 s, two
 * attempts, a retry only for throttling, a 5xx, a time-out or a reused keep-alive connection the server had
 * already closed, with the SDK's back-off and retry quota ({@link RETRIES}).
 */
import http from 'node:http';
import https from 'node:https';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { DYNAMODB_TIMEOUTS } from './dynamodb-client';
import { type SigV4Credentials, signRequest } from './sigv4';

/** An item in DynamoDB's JSON wire format. */
export type WireItem = Record<string, AttributeValue>;

/** `GetItem` input (the fields the authorizer uses). */
export interface GetItemInput {
  readonly TableName: string;
  readonly Key: WireItem;
  readonly ConsistentRead?: boolean;
}

/**
 * `UpdateItem` input (the fields the refresh write uses): the same structure as the AWS SDK's
 * `UpdateItemCommandInput`, which is DynamoDB's JSON request body.
 * https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_UpdateItem.html
 */
export interface UpdateItemInput {
  readonly TableName: string;
  readonly Key: WireItem;
  readonly UpdateExpression: string;
  readonly ConditionExpression?: string;
  readonly ExpressionAttributeNames?: Record<string, string>;
  readonly ExpressionAttributeValues?: WireItem;
  readonly ReturnValues?: 'NONE' | 'ALL_OLD' | 'UPDATED_OLD' | 'ALL_NEW' | 'UPDATED_NEW';
  readonly ReturnValuesOnConditionCheckFailure?: 'NONE' | 'ALL_OLD';
}

/** `BatchGetItem` input: per table, the keys to read. */
export interface BatchGetItemInput {
  readonly RequestItems: Record<string, { readonly Keys: WireItem[]; readonly ConsistentRead?: boolean }>;
}

/** `BatchGetItem` output: the items found per table, and the keys not read this time. */
export interface BatchGetItemOutput {
  readonly Responses?: Record<string, WireItem[]>;
  readonly UnprocessedKeys?: Record<
    string,
    { readonly Keys?: WireItem[]; readonly ConsistentRead?: boolean }
  >;
}

/** Where the client points and as whom. */
export interface DynamoDbLiteClientConfig {
  /** `https://dynamodb.<region>.amazonaws.com`, or a local endpoint (`http://127.0.0.1:8000`). */
  readonly endpoint: string;
  readonly region: string;
  /** Read for every request (the Lambda runtime's credentials can be replaced while the process lives). */
  readonly credentials: () => SigV4Credentials;
  /** @default DYNAMODB_TIMEOUTS */
  readonly timeouts?: {
    readonly connectionTimeoutMs: number;
    readonly requestTimeoutMs: number;
    readonly maxAttempts: number;
  };
  /** @default Date.now */
  readonly clock?: () => number;
  /** The jitter of the retry back-off, in [0, 1). @default Math.random */
  readonly random?: () => number;
}

/**
 * The retries of the SDK's standard retry strategy, with the values of the installed `@smithy/core` (3.41,
 * `util-retry`: `StandardRetryStrategy`, `DefaultRetryBackoffStrategy` and its 2026 settings): a back-off of a
 * random time below 50 ms, or below 1 s after throttling, and a retry quota per client (500, a retry costs 14,
 * or 5 after throttling; a success refunds its retry's cost, or 1), so that an outage stops the retries instead
 * of doubling the load ("support for retry quotas", https://docs.aws.amazon.com/sdkref/latest/guide/feature-retry-behavior.html).
 */
const RETRIES = {
  delayMs: 50,
  throttlingDelayMs: 1_000,
  capacity: 500,
  cost: 14,
  throttlingCost: 5,
  successRefund: 1,
} as const;

/**
 * A DynamoDB call that failed: `type` is the AWS error's short name (`__type` after `#`), or the local cause.
 * Its `name` is that type too, as the SDK names its errors, so a log line's `error` field reads the same
 * (`ProvisionedThroughputExceededException`, `TimeoutError`) whichever client failed.
 */
export class DynamoDbLiteError extends Error {
  public override readonly name: string;

  public constructor(
    /** `ResourceNotFoundException`, `ProvisionedThroughputExceededException`, ..., or `TimeoutError`, `NetworkError`. */
    public readonly type: string,
    message: string,
    /** The HTTP status, when DynamoDB answered. */
    public readonly statusCode?: number,
    /** Whether another attempt may succeed (throttling, 5xx, time-out, a stale connection). */
    public readonly retryable = false,
    /**
     * The item a failed condition was evaluated against: a `ConditionalCheckFailedException` carries it when the
     * request asked for `ReturnValuesOnConditionCheckFailure: ALL_OLD` (the error body's `Item`, as the AWS
     * SDKs expose it:
     * https://docs.aws.amazon.com/botocore/latest/reference/services/dynamodb/client/exceptions/ConditionalCheckFailedException.html).
     */
    public readonly item?: WireItem,
  ) {
    super(message);
    this.name = type;
  }
}

/** Error types that mean "slow down", retried like a 5xx. */
const THROTTLING = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'RequestLimitExceeded',
]);

/** Network errors of a reused keep-alive connection that the server closed: the request never arrived. */
const STALE_CONNECTION = new Set(['ECONNRESET', 'EPIPE']);

/**
 * The client of the function's environment, as the Lambda runtime sets it: `AWS_REGION`, the execution
 * role's `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`
 * (https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime),
 * and `AWS_ENDPOINT_URL_DYNAMODB` when set (the SDK's service-specific endpoint variable,
 * https://docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html; the local platform and the
 * artifact test point it at DynamoDB Local), else the regional endpoint.
 */
export function liteClientFromEnv(env: NodeJS.ProcessEnv = process.env): DynamoDbLiteClient {
  const region = env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
  if (region === undefined || region === '') throw new Error('AWS_REGION is not set');
  const endpoint =
    env.AWS_ENDPOINT_URL_DYNAMODB ?? env.AWS_ENDPOINT_URL ?? `https://dynamodb.${region}.amazonaws.com`;
  return new DynamoDbLiteClient({
    endpoint,
    region,
    credentials: () => {
      const accessKeyId = env.AWS_ACCESS_KEY_ID;
      const secretAccessKey = env.AWS_SECRET_ACCESS_KEY;
      if (!accessKeyId || !secretAccessKey) {
        throw new DynamoDbLiteError(
          'CredentialsError',
          'AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set',
        );
      }
      const sessionToken = env.AWS_SESSION_TOKEN;
      return { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) };
    },
  });
}

/** `GetItem`, `BatchGetItem` and `UpdateItem` against one DynamoDB endpoint. */
export class DynamoDbLiteClient {
  private readonly url: URL;
  private readonly transport: typeof http | typeof https;
  private readonly agent: http.Agent;
  private readonly timeouts: NonNullable<DynamoDbLiteClientConfig['timeouts']>;
  private readonly clock: () => number;
  private readonly random: () => number;
  /** What is left of the retry quota ({@link RETRIES}). */
  private retryCapacity: number = RETRIES.capacity;

  public constructor(private readonly config: DynamoDbLiteClientConfig) {
    this.url = new URL(config.endpoint);
    const secure = this.url.protocol === 'https:';
    if (!secure && this.url.protocol !== 'http:')
      throw new TypeError(`unsupported endpoint ${config.endpoint}`);
    this.transport = secure ? https : http;
    this.agent = new this.transport.Agent({ keepAlive: true, maxSockets: 50 });
    this.timeouts = config.timeouts ?? DYNAMODB_TIMEOUTS;
    this.clock = config.clock ?? Date.now;
    this.random = config.random ?? Math.random;
  }

  /** Reads one item; `Item` is absent when there is none. */
  public async getItem(input: GetItemInput): Promise<{ readonly Item?: WireItem }> {
    return (await this.call('GetItem', input)) as { Item?: WireItem };
  }

  /**
   * Reads up to 100 items of one or more tables in one request; what DynamoDB could not read this time comes
   * back in `UnprocessedKeys` (the caller retries them).
   * https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchGetItem.html
   */
  public async batchGetItem(input: BatchGetItemInput): Promise<BatchGetItemOutput> {
    return (await this.call('BatchGetItem', input)) as BatchGetItemOutput;
  }

  /**
   * Updates one item; `Attributes` holds what `ReturnValues` asked for. A failed condition is a
   * {@link DynamoDbLiteError} of type `ConditionalCheckFailedException`, with the item in `item` when the request
   * asked for `ReturnValuesOnConditionCheckFailure: ALL_OLD`.
   */
  public async updateItem(input: UpdateItemInput): Promise<{ readonly Attributes?: WireItem }> {
    return (await this.call('UpdateItem', input)) as { Attributes?: WireItem };
  }

  /** Closes the idle keep-alive connections. */
  public destroy(): void {
    this.agent.destroy();
  }

  private async call(operation: string, input: unknown): Promise<unknown> {
    const body = JSON.stringify(input);
    let retryCost: number | undefined;
    for (let attempt = 1; ; attempt++) {
      try {
        const output = await this.attempt(operation, body);
        this.retryCapacity = Math.min(
          RETRIES.capacity,
          this.retryCapacity + (retryCost ?? RETRIES.successRefund),
        );
        return output;
      } catch (error) {
        if (
          !(error instanceof DynamoDbLiteError) ||
          !error.retryable ||
          attempt >= this.timeouts.maxAttempts
        ) {
          throw error;
        }
        const throttled = THROTTLING.has(error.type);
        retryCost = throttled ? RETRIES.throttlingCost : RETRIES.cost;
        if (this.retryCapacity < retryCost) throw error; // the quota is spent: no retry during an outage
        this.retryCapacity -= retryCost;
        const delayMs = this.random() * (throttled ? RETRIES.throttlingDelayMs : RETRIES.delayMs);
        await new Promise((resolve) => setTimeout(resolve, delayMs));
      }
    }
  }

  private attempt(operation: string, body: string): Promise<unknown> {
    const { url } = this;
    const headers = signRequest({
      method: 'POST',
      host: url.host,
      path: '/',
      headers: {
        'content-type': 'application/x-amz-json-1.0',
        'x-amz-target': `DynamoDB_20120810.${operation}`,
      },
      body,
      region: this.config.region,
      service: 'dynamodb',
      credentials: this.config.credentials(),
      at: new Date(this.clock()),
    });
    headers['content-length'] = String(Buffer.byteLength(body));
    return new Promise((resolve, reject) => {
      let settled = false;
      const fail = (error: DynamoDbLiteError) => {
        if (settled) return;
        settled = true;
        clearTimeout(attemptTimer);
        request.destroy();
        reject(error);
      };
      const request = this.transport.request({
        protocol: url.protocol,
        hostname: url.hostname,
        port: url.port === '' ? undefined : url.port,
        method: 'POST',
        path: '/',
        headers,
        agent: this.agent,
      });
      const attemptTimer = setTimeout(
        () =>
          fail(
            new DynamoDbLiteError(
              'TimeoutError',
              `${operation} took longer than ${this.timeouts.requestTimeoutMs} ms`,
              undefined,
              true,
            ),
          ),
        this.timeouts.requestTimeoutMs,
      );
      request.on('socket', (socket) => {
        // A socket from the pool is connected already; a new one must connect within the connection time-out.
        if (!socket.connecting) return;
        const connectTimer = setTimeout(
          () =>
            fail(
              new DynamoDbLiteError(
                'TimeoutError',
                `no connection to ${url.host} within ${this.timeouts.connectionTimeoutMs} ms`,
                undefined,
                true,
              ),
            ),
          this.timeouts.connectionTimeoutMs,
        );
        socket.once('connect', () => clearTimeout(connectTimer));
        socket.once('close', () => clearTimeout(connectTimer));
      });
      request.on('error', (error: NodeJS.ErrnoException) => {
        const reused = request.reusedSocket;
        fail(
          new DynamoDbLiteError(
            'NetworkError',
            `${operation} failed: ${error.code ?? error.message}`,
            undefined,
            reused && STALE_CONNECTION.has(error.code ?? ''),
          ),
        );
      });
      request.on('response', (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('error', () =>
          fail(new DynamoDbLiteError('NetworkError', `${operation} response broken`, undefined, true)),
        );
        response.on('end', () => {
          if (settled) return;
          const status = response.statusCode ?? 0;
          let parsed: unknown;
          try {
            parsed = chunks.length === 0 ? {} : JSON.parse(Buffer.concat(chunks).toString('utf8'));
          } catch {
            return fail(
              new DynamoDbLiteError('SerializationError', `${operation}: not JSON`, status, status >= 500),
            );
          }
          if (status >= 200 && status < 300) {
            settled = true;
            clearTimeout(attemptTimer);
            return resolve(parsed);
          }
          fail(errorOf(operation, status, parsed));
        });
      });
      request.end(body);
    });
  }
}

/** An error answer as a {@link DynamoDbLiteError}: its `__type`'s short name, its message, whether to retry. */
function errorOf(operation: string, status: number, body: unknown): DynamoDbLiteError {
  const fields = (body ?? {}) as { __type?: unknown; message?: unknown; Message?: unknown; Item?: unknown };
  const awsType = typeof fields.__type === 'string' ? fields.__type : '';
  const type = awsType.slice(awsType.lastIndexOf('#') + 1) || `Http${status}`;
  const message =
    typeof (fields.message ?? fields.Message) === 'string' ? String(fields.message ?? fields.Message) : '';
  return new DynamoDbLiteError(
    type,
    `${operation}: ${type}${message === '' ? '' : `: ${message}`}`,
    status,
    status >= 500 || THROTTLING.has(type),
    typeof fields.Item === 'object' && fields.Item !== null ? (fields.Item as WireItem) : undefined,
  );
}
