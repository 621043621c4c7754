import { createPublicKey, type KeyObject, verify } from 'node:crypto';
import type { APIGatewayAuthorizerResult, APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { jwksItemKey, publicJwksOf } from '../lambda/adapters/dynamodb-jwks-store';
import { liteClientFromEnv } from '../lambda/adapters/dynamodb-lite-client';
import { subjectItemKey } from '../lambda/adapters/dynamodb-subject-store';
import { KEY_PREFIX, TABLE_SCHEMA } from '../lambda/adapters/table-schema';

/**
 * The cold-start floor of bench 3: the work every authorizer of this design must do, and nothing else, through
 * the same minimal client and the same two requests: Node's crypto and https modules, the JWKS `GetItem` at
 * init, and in the first invocation one ES256 signature check and the session-and-watermark `BatchGetItem`.
 * No claim, route, policy or input checks, no logger: NOT an authorizer (it never denies on anything but a bad
 * signature or a missing session), only a measure of what the real one costs above the unavoidable.
 */
const tableName = process.env.TABLE_NAME ?? '';
const client = liteClientFromEnv();
const jwks = publicJwksOf(await client.getItem({ TableName: tableName, Key: jwksItemKey() })) as {
  keys: Array<{ kid: string }>;
};
const keys = new Map<string, KeyObject>(
  jwks.keys.map((jwk) => [jwk.kid, createPublicKey({ key: jwk, format: 'jwk' })]),
);

const policy = (effect: 'Allow' | 'Deny', event: APIGatewayRequestAuthorizerEvent) => ({
  principalId: 'floor',
  policyDocument: {
    Version: '2012-10-17',
    Statement: [{ Action: 'execute-api:Invoke', Effect: effect, Resource: event.methodArn }],
  },
});

export const handler = async (
  event: APIGatewayRequestAuthorizerEvent,
): Promise<APIGatewayAuthorizerResult> => {
  const [header = '', payload = '', signature = ''] = (event.headers?.Authorization ?? '')
    .slice(7)
    .split('.');
  const { kid } = JSON.parse(Buffer.from(header, 'base64url').toString('utf8')) as { kid: string };
  const key = keys.get(kid);
  const signed = Buffer.from(`${header}.${payload}`);
  const valid =
    key !== undefined &&
    verify('sha256', signed, { key, dsaEncoding: 'ieee-p1363' }, Buffer.from(signature, 'base64url'));
  if (!valid) return policy('Deny', event);
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as {
    sid: string;
    sub: string;
  };
  const pk = TABLE_SCHEMA.partitionKey;
  const output = await client.batchGetItem({
    RequestItems: {
      [tableName]: {
        Keys: [{ [pk]: { S: KEY_PREFIX.session + claims.sid } }, subjectItemKey(claims.sub)],
        ConsistentRead: false,
      },
    },
  });
  const found = output.Responses?.[tableName] ?? [];
  return policy(
    found.some((item) => item[pk]?.S === KEY_PREFIX.session + claims.sid) ? 'Allow' : 'Deny',
    event,
  );
};
