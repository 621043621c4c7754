import { DynamoDBClient, type DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';

/**
 * The time limits of every DynamoDB call the issuer and the authorizer make, chosen so that a table that
 * does not answer fails closed fast, inside the authorizer's Lambda timeout (5 s, lib/token-functions.ts),
 * with an answer the function chooses (a logged `error` decision, a 503) rather than a Lambda time-out:
 *
 * - `connectionTimeoutMs`: a TCP and TLS connection to the regional endpoint takes tens of milliseconds;
 *   one that is not up in 500 ms is not coming.
 * - `requestTimeoutMs`: the whole attempt, connection included. A `GetItem` answers in milliseconds in its
 *   region; 1 s leaves room for a cross-region strongly consistent read (MRSC) and a slow cold start.
 * - `maxAttempts`: one retry, after at most 50 ms of back-off for a time-out (the SDK's standard retry
 *   strategy), so one read takes at most about 2.05 s.
 *
 * The authorizer's slowest path is two reads in a row (the JWKS on a cold cache, then the session): about
 * 4.1 s, under its 5 s timeout. The issuer's health route answers within Route 53's 2 s after a healthy
 * table's first attempt; a table that needs the retry is reported unhealthy by the health checker anyway.
 */
export const DYNAMODB_TIMEOUTS = {
  connectionTimeoutMs: 500,
  requestTimeoutMs: 1000,
  maxAttempts: 2,
} as const;

/** What a caller may set on the client: where it points, never its time limits. */
export type DynamoDbClientOptions = Pick<DynamoDBClientConfig, 'endpoint' | 'region' | 'credentials'>;

/**
 * The DynamoDB client of the issuer's and the authorizer's entry points, with {@link DYNAMODB_TIMEOUTS}.
 *
 * The time limits go to the SDK's default Node.js request handler through the constructor's short form
 * (https://github.com/aws/aws-sdk-js-v3/blob/main/supplemental-docs/CLIENTS.md#request-handler-requesthandler).
 * `throwOnRequestTimeout` is required: since `@smithy/node-http-handler` 4.4, an exceeded `requestTimeout`
 * alone only logs a warning and the request keeps waiting (the `requestTimeout` and `throwOnRequestTimeout`
 * documentation of `HttpHandlerOptions` in `@smithy/types`). test/handlers/dynamodb-client.test.ts pins it
 * against a server that accepts and never answers.
 *
 * @param options where the client points (tests); in Lambda, the function's region and role.
 */
export function createDynamoDbClient(options: DynamoDbClientOptions = {}): DynamoDBClient {
  return new DynamoDBClient({
    ...options,
    maxAttempts: DYNAMODB_TIMEOUTS.maxAttempts,
    requestHandler: {
      connectionTimeout: DYNAMODB_TIMEOUTS.connectionTimeoutMs,
      requestTimeout: DYNAMODB_TIMEOUTS.requestTimeoutMs,
      throwOnRequestTimeout: true,
    },
  });
}
