import { jwksItemKey, publicJwksOf } from '../adapters/dynamodb-jwks-store';
import { liteClientFromEnv } from '../adapters/dynamodb-lite-client';
import { Env } from '../adapters/env';

/**
 * When this module's code started to run (every bundled dependency evaluated: the end of the import) and when
 * its init finished (warm-up included), ms since process start: for the cold-start benchmark and diagnostics.
 */
export const initTimings = { codeLoadedMs: performance.now(), warmedUpMs: Number.NaN };

// Everything below runs once per cold start: configuration is validated here and fails fast.
const env = new Env();
const tableName = env.string('TABLE_NAME');

// The function's own region's replica, through the minimal client (no AWS SDK to import: the authorizer makes
// two kinds of read), with the SDK client's connection and request time-outs and one retry, so that a slow
// table fails closed well inside the function's timeout (DYNAMODB_TIMEOUTS says how the values were chosen).
const client = liteClientFromEnv();
const readPublicJwks = async () =>
  publicJwksOf(await client.getItem({ TableName: tableName, Key: jwksItemKey() }));

// The init's round trip goes out first, and the rest of the function's code (the logger, the wiring, the
// route table) is evaluated while DynamoDB answers: a dynamic import, which the bundle evaluates only here.
let firstJwks: Promise<unknown> | undefined = readPublicJwks();
firstJwks.catch(() => undefined); // the warm-up below reports a failure
await new Promise((resolve) => setImmediate(resolve)); // lets the connection open and the request leave
const { createLambdaAuthorizer } = await import('./lambda-wiring');

/** The Lambda entry point: the REQUEST authorizer, built from the environment. */
export const handler = createLambdaAuthorizer(env, {
  batchGetItem: (input) => client.batchGetItem(input),
  tableName,
  loadPublicJwks: () => {
    const pending = firstJwks ?? readPublicJwks();
    firstJwks = undefined;
    return pending;
  },
});

// The first request's work, done during init (top-level await in the ESM bundle: the runtime waits for it
// before the first invocation, and the init phase runs with the function's full CPU): the JWKS GetItem loads
// the keys and opens the keep-alive connection the first session read reuses. A failure is logged and the
// first request retries; it never fails the init.
// https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html#runtimes-lifecycle-ib
// https://aws.amazon.com/blogs/compute/using-node-js-es-modules-and-top-level-await-in-aws-lambda/
await handler.warmUp();
initTimings.warmedUpMs = performance.now();
