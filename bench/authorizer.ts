import { closeSync, openSync, writeSync } from 'node:fs';
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import type { APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { DynamoDbJwksStore } from '../lambda/adapters/dynamodb-jwks-store';
import { DynamoDbSessionSubjectReader } from '../lambda/adapters/dynamodb-session-subject-reader';
import { createLogger } from '../lambda/adapters/logger';
import { KEY_PREFIX, TABLE_SCHEMA } from '../lambda/adapters/table-schema';
import { createAuthorizerHandler } from '../lambda/authorizer/handler';
import { AccessTokenVerifier } from '../lambda/core/access-token';
import { Authorizer } from '../lambda/core/authorizer';
import { BearerAuthenticator } from '../lambda/core/bearer-authenticator';
import { JwksCache } from '../lambda/core/jwks-cache';
import { SessionCache } from '../lambda/core/session-cache';
import { subjectKey } from '../lambda/core/subject';
import { PROTECTED_ROUTES } from '../lambda/protected-routes';
import type { BenchDynamo } from './dynamo';
import { AUDIENCE, ISSUER, rawVerify, TTL_SECONDS, tokenFixture } from './fixtures';
import { type CompareOptions, compare, type Figure, progress, ratioFigure, rebase, round3 } from './harness';

const METHOD_ARN = 'arn:aws:execute-api:us-east-1:123456789012:abcdef1234/prod/GET/api/me';

/** A REQUEST authorizer event as API Gateway sends it for `GET /api/me`. */
export function requestEvent(token: string): APIGatewayRequestAuthorizerEvent {
  return {
    type: 'REQUEST',
    methodArn: METHOD_ARN,
    resource: '/api/me',
    path: '/api/me',
    httpMethod: 'GET',
    headers: { Authorization: `Bearer ${token}`, Host: 'abcdef1234.execute-api.us-east-1.amazonaws.com' },
    multiValueHeaders: {},
    pathParameters: {},
    queryStringParameters: {},
    multiValueQueryStringParameters: {},
    stageVariables: {},
    requestContext: {
      accountId: '123456789012',
      apiId: 'abcdef1234',
      httpMethod: 'GET',
      identity: { sourceIp: '203.0.113.7' },
      path: '/prod/api/me',
      protocol: 'HTTP/1.1',
      requestId: 'bench',
      requestTimeEpoch: 0,
      resourceId: 'abc123',
      resourcePath: '/api/me',
      stage: 'prod',
    },
  } as unknown as APIGatewayRequestAuthorizerEvent;
}

/** Benchmark 2: the whole authorizer handler, warm, session-cache hit and miss. */
export async function benchAuthorizer(dynamo: BenchDynamo, options: CompareOptions): Promise<Figure[]> {
  progress('authorizer warm invocation');
  const sub = 'user-bench';
  const sid = 'bench-authorizer-session';
  await dynamo.seedSession(sid, sub);
  const fixture = await tokenFixture('ES256', sid, sub);
  await dynamo.publishJwks(fixture.jwks);
  const event = requestEvent(fixture.token);

  let lines = 0;
  const devNull = openSync('/dev/null', 'w');
  const sinks = {
    counting: (_line: string) => {
      lines++;
    },
    devNull: (line: string) => {
      writeSync(devNull, `${line}\n`);
    },
  };
  const { lite } = dynamo;
  const build = (sessionTtlMs: number, write: (line: string) => void) => {
    // Built as lambda/authorizer/index.ts builds it, with the bench's table, token profile and log sink.
    const jwksStore = new DynamoDbJwksStore(dynamo.client, dynamo.tableName);
    const jwks = new JwksCache({ load: () => jwksStore.load() });
    const verifier = new AccessTokenVerifier({
      issuer: ISSUER,
      audience: AUDIENCE,
      ttlSeconds: TTL_SECONDS,
      keys: jwks.get,
    });
    // The deployed reader: one BatchGetItem of the session and its watermark through the minimal client.
    const sessions = new SessionCache({
      reader: new DynamoDbSessionSubjectReader({
        batchGetItem: (input) => lite.batchGetItem(input),
        tableName: dynamo.tableName,
      }),
      ttlMs: sessionTtlMs,
    });
    return createAuthorizerHandler({
      authorizer: new Authorizer(new BearerAuthenticator({ verifier, jwks, sessions }), PROTECTED_ROUTES),
      logger: createLogger('authorizer', write),
    });
  };
  // A TTL far above the round length: every call after the first is a hit. TTL 0: every call reads.
  const hit = build(3_600_000, sinks.counting);
  const hitDevNull = build(3_600_000, sinks.devNull);
  const miss = build(0, sinks.counting);
  const missDevNull = build(0, sinks.devNull);
  for (const handler of [hit, hitDevNull, miss, missDevNull]) {
    const result = await handler(event);
    if (result.policyDocument.Statement[0]?.Effect !== 'Allow')
      throw new Error('bench token was not allowed');
  }
  const raw = rawVerify(fixture);
  const getItem = new GetItemCommand({
    TableName: dynamo.tableName,
    Key: { [TABLE_SCHEMA.partitionKey]: { S: KEY_PREFIX.session + sid } },
    ConsistentRead: false,
  });

  const hitResults = await compare(
    [
      { name: 'raw verify', run: raw },
      { name: 'handler, cache hit, counting log sink', async: true, run: () => hit(event) },
      { name: 'handler, cache hit, log to /dev/null', async: true, run: () => hitDevNull(event) },
    ],
    options,
  );
  const missOptions = { ...options, roundMs: Math.max(options.roundMs, 400) };
  // The limit of a miss since the watermark: verify, then one BatchGetItem of the same two keys through the
  // same client. The one-GetItem baseline (the shape before the watermark) runs in the same rounds.
  const batch = {
    RequestItems: {
      [dynamo.tableName]: {
        Keys: [
          { [TABLE_SCHEMA.partitionKey]: { S: KEY_PREFIX.session + sid } },
          { [TABLE_SCHEMA.partitionKey]: { S: KEY_PREFIX.subject + subjectKey(sub) } },
        ],
        ConsistentRead: false,
      },
    },
  };
  const missResults = await compare(
    [
      {
        name: 'raw verify + raw BatchGetItem (session and watermark)',
        async: true,
        run: async () => {
          raw();
          await lite.batchGetItem(batch);
        },
      },
      {
        name: 'raw verify + raw GetItem',
        async: true,
        run: async () => {
          raw();
          await dynamo.client.send(getItem);
        },
      },
      { name: 'handler, cache miss, counting log sink', async: true, run: () => miss(event) },
      { name: 'handler, cache miss, log to /dev/null', async: true, run: () => missDevNull(event) },
    ],
    missOptions,
  );
  closeSync(devNull);
  const [rawResult, hitResult, hitDevNullResult] = hitResults;
  const [baseline, getItemBaseline, missResult, missDevNullResult] = missResults;
  if (
    !rawResult ||
    !hitResult ||
    !hitDevNullResult ||
    !baseline ||
    !getItemBaseline ||
    !missResult ||
    !missDevNullResult
  ) {
    throw new Error('missing results');
  }
  const bench = '2 authorizer';
  return [
    { bench, name: 'raw verify (ES256)', value: round3(rawResult.medianUs), unit: 'us/op' },
    { bench, name: 'handler cache hit (counting sink)', value: round3(hitResult.medianUs), unit: 'us/op' },
    {
      bench,
      name: 'handler cache hit (log to /dev/null)',
      value: round3(hitDevNullResult.medianUs),
      unit: 'us/op',
    },
    ratioFigure(bench, 'cache hit vs raw verify', hitResult, 0.7),
    ratioFigure(bench, 'cache hit vs raw verify, log to /dev/null', hitDevNullResult, 0.7),
    {
      bench,
      name: 'baseline raw verify + BatchGetItem (session and watermark)',
      value: round3(baseline.medianUs),
      unit: 'us/op',
    },
    {
      bench,
      name: 'raw verify + GetItem (the one-item read before the watermark)',
      value: round3(getItemBaseline.medianUs),
      unit: 'us/op',
    },
    { bench, name: 'handler cache miss (counting sink)', value: round3(missResult.medianUs), unit: 'us/op' },
    {
      bench,
      name: 'handler cache miss (log to /dev/null)',
      value: round3(missDevNullResult.medianUs),
      unit: 'us/op',
    },
    ratioFigure(bench, 'cache miss vs raw verify + BatchGetItem', missResult, 0.8),
    ratioFigure(bench, 'cache miss vs baseline, log to /dev/null', missDevNullResult, 0.8),
    ratioFigure(
      bench,
      'cache miss vs raw verify + GetItem (the shape before the watermark)',
      rebase(missResult, getItemBaseline),
      undefined,
      'DynamoDB Local serves a second item of a BatchGetItem in about 0.4 ms more than a GetItem of one',
    ),
    { bench, name: 'decision log lines written (counting sink)', value: lines, unit: 'lines' },
  ];
}
