import 'aws-cdk-lib/testhelpers/jest-autoclean';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { App, type CfnElement } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { JWKS_ITEM_KEY, KEY_PREFIX, TABLE_SCHEMA } from '../../lambda/adapters/table-schema';
import { buildApp } from '../../lib/app';
import type { HybridAuthStack } from '../../lib/hybrid-auth-stack';
import { ACCOUNT, decide, functionStatements, type IamRequest, type Statement } from '../support/iam';

/**
 * Least privilege, evaluated: each function's synthesized role policies decide the calls the function makes
 * (allowed) and calls it must never make (denied), with the condition keys AWS sets on them:
 * `dynamodb:LeadingKeys` (the partition keys a request touches), `kms:ViaService` (the service that calls
 * KMS on the caller's behalf), `kms:ResourceAliases` (the aliases of the key used) and `events:source` (the
 * sources of a PutEvents request's entries). Identity policies only:
 * the keys' default key policies delegate to IAM, which is what makes these statements the deciding ones
 * (https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html).
 */
const ROOT = path.join(__dirname, '../..');
const CONTEXT = (JSON.parse(readFileSync(path.join(ROOT, 'cdk.json'), 'utf8')) as { context: object })
  .context;

// cdk.json's configuration, synthesized without bundling (policies do not depend on the code).
const app = new App({ context: { ...CONTEXT, 'aws:cdk:bundling-stacks': [] } });
const stacks = buildApp(app);
const [primary, replica] = stacks as [HybridAuthStack, HybridAuthStack];
const config = CONTEXT as { 'hybrid-auth': { name: string } };
const NAME = config['hybrid-auth'].name;
const TABLE = `${NAME}-sessions`;
const ALIAS = `alias/${NAME}/signing-keys`;

function statementsOf(stack: HybridAuthStack, fn: { node: { defaultChild?: unknown } }): Statement[] {
  const template = Template.fromStack(stack).toJSON() as Parameters<typeof functionStatements>[0];
  return functionStatements(template, stack.region, stack.getLogicalId(fn.node.defaultChild as CfnElement));
}

const tableArn = (region: string) => `arn:aws:dynamodb:${region}:${ACCOUNT}:table/${TABLE}`;
const secretArn = (region: string) =>
  `arn:aws:secretsmanager:${region}:${ACCOUNT}:secret:${NAME}/signing-keys-AbCdEf`;
const keyArn = (region: string, id = '1234abcd-12ab-34cd-56ef-1234567890ab') =>
  `arn:aws:kms:${region}:${ACCOUNT}:key/${id}`;
const item = (action: string, region: string, key: string): IamRequest => ({
  action: `dynamodb:${action}`,
  resource: tableArn(region),
  context: { 'dynamodb:LeadingKeys': [key] },
});
/** A PutEvents request as EventBridge authorizes it: the bus, and `events:source` (one value per entry). */
const putEvents = (region: string, bus: string, sources: string[]): IamRequest => ({
  action: 'events:PutEvents',
  resource: `arn:aws:events:${region}:${ACCOUNT}:event-bus/${bus}`,
  context: { 'events:source': sources },
});
const session = `${KEY_PREFIX.session}abc`;
const user = `${KEY_PREFIX.user}alice`;
const userId = `${KEY_PREFIX.userId}u-alice`;
const throttle = `${KEY_PREFIX.loginThrottle}alice`;
const subject = `${KEY_PREFIX.subject}AAAAAAAAAAAAAAAAAAAAAA`;
/** One `BatchGetItem` of several items: `dynamodb:LeadingKeys` holds every partition key of the batch. */
const batch = (region: string, ...keys: string[]): IamRequest => ({
  action: 'dynamodb:BatchGetItem',
  resource: tableArn(region),
  context: { 'dynamodb:LeadingKeys': keys },
});

/** The key ARN a statement about this stack's own key resolves to (the evaluator names keys by logical id). */
function ownKeyArn(stack: HybridAuthStack): string {
  return `arn:aws:kms:${stack.region}:${ACCOUNT}:key/${stack.getLogicalId(stack.signingKeys.key.node.defaultChild as CfnElement)}`;
}

describe.each([
  ['primary', () => primary],
  ['replica', () => replica],
])('the %s region', (_name, stackOf) => {
  const stack = stackOf();
  const region = stack.region;

  describe('the authorizer', () => {
    const statements = statementsOf(stack, stack.authorizer.function);
    test.each([
      ['reads a session', item('GetItem', region, session)],
      ['reads the published JWKS', item('GetItem', region, JWKS_ITEM_KEY)],
      ["reads a session and its subject's watermark in one batch", batch(region, session, subject)],
      ["reads a subject's watermark", item('GetItem', region, subject)],
    ])('may: %s', (_what, request) => {
      expect(decide(statements, request)).toBe('allow');
    });
    test.each([
      ['read a user (password hash)', item('GetItem', region, user)],
      ['read a login throttle', item('GetItem', region, throttle)],
      ['write a session', item('UpdateItem', region, session)],
      ['write the JWKS', item('PutItem', region, JWKS_ITEM_KEY)],
      ["write a subject's watermark", item('UpdateItem', region, subject)],
      ['read a user in a batch with a session', batch(region, session, user)],
      ['read a login throttle in a batch', batch(region, subject, throttle)],
      [
        'query the subject index',
        { action: 'dynamodb:Query', resource: `${tableArn(region)}/index/bySubject` },
      ],
      [
        'read a session and watermark in another region',
        batch(region === 'us-east-1' ? 'eu-west-1' : 'us-east-1', session, subject),
      ],
      [
        'read a session in another region',
        item('GetItem', region === 'us-east-1' ? 'eu-west-1' : 'us-east-1', session),
      ],
      ['read the private keys', { action: 'secretsmanager:GetSecretValue', resource: secretArn(region) }],
      ['decrypt with the signing key', { action: 'kms:Decrypt', resource: ownKeyArn(stack) }],
      ['put an event on the bus', putEvents(region, 'default', [NAME])],
    ] as const)('may not: %s', (_what, request) => {
      expect(decide(statements, request)).toBe('deny');
    });
  });

  describe('the issuer', () => {
    const statements = statementsOf(stack, stack.issuer.function);
    test.each([
      ['read a session', item('GetItem', region, session)],
      ['read a user', item('GetItem', region, user)],
      ['find a user by subject', item('GetItem', region, userId)],
      ["change a user's password hash", item('UpdateItem', region, user)],
      ['read a login throttle', item('GetItem', region, throttle)],
      ['read the JWKS', item('GetItem', region, JWKS_ITEM_KEY)],
      ['create a session', item('PutItem', region, session)],
      ['rotate or revoke a session', item('UpdateItem', region, session)],
      ['count a failed login', item('UpdateItem', region, throttle)],
      ["read a subject's watermark", item('GetItem', region, subject)],
      ["move a subject's watermark (log out everywhere, disable)", item('UpdateItem', region, subject)],
      ["read a session and its subject's watermark in one batch", batch(region, session, subject)],
      ['clear a login throttle', item('DeleteItem', region, throttle)],
      [
        'list sessions by subject',
        {
          action: 'dynamodb:Query',
          resource: `${tableArn(region)}/index/${TABLE_SCHEMA.bySubjectIndex.name}`,
        },
      ],
      ['read the private keys', { action: 'secretsmanager:GetSecretValue', resource: secretArn(region) }],
      [
        'decrypt them through Secrets Manager in its region',
        {
          action: 'kms:Decrypt',
          resource: ownKeyArn(stack),
          context: { 'kms:ViaService': `secretsmanager.${region}.amazonaws.com` },
        },
      ],
      ['put its security events on the default bus, with its source', putEvents(region, 'default', [NAME])],
    ] as const)('may: %s', (_what, request) => {
      expect(decide(statements, request)).toBe('allow');
    });
    test.each([
      ['write a user', item('PutItem', region, user)],
      ['delete a user', item('DeleteItem', region, user)],
      ["write a user's subject item", item('PutItem', region, userId)],
      ["update a user's subject item", item('UpdateItem', region, userId)],
      ['write the JWKS', item('PutItem', region, JWKS_ITEM_KEY)],
      ['read a user (password hash) in a batch', batch(region, session, user)],
      ['read the JWKS in a batch', batch(region, subject, JWKS_ITEM_KEY)],
      ["replace a subject's watermark item", item('PutItem', region, subject)],
      ["delete a subject's watermark item", item('DeleteItem', region, subject)],
      ['write the private keys', { action: 'secretsmanager:PutSecretValue', resource: secretArn(region) }],
      ['decrypt with the key directly', { action: 'kms:Decrypt', resource: ownKeyArn(stack) }],
      [
        'decrypt through another service',
        {
          action: 'kms:Decrypt',
          resource: ownKeyArn(stack),
          context: { 'kms:ViaService': `s3.${region}.amazonaws.com` },
        },
      ],
      ['scan the table', { action: 'dynamodb:Scan', resource: tableArn(region) }],
      ['put an event with another source', putEvents(region, 'default', ['aws.signin'])],
      ['put its event and one with another source', putEvents(region, 'default', [NAME, 'other-app'])],
      ['put an event on another bus', putEvents(region, 'payments', [NAME])],
      [
        "put an event on another region's bus",
        putEvents(region === 'us-east-1' ? 'eu-west-1' : 'us-east-1', 'default', [NAME]),
      ],
      ['create a rule', { action: 'events:PutRule', resource: `arn:aws:events:${region}:${ACCOUNT}:rule/x` }],
    ] as const)('may not: %s', (_what, request) => {
      expect(decide(statements, request)).toBe('deny');
    });
  });
});

describe('the rotation function (primary region only)', () => {
  const rotation = primary.signingKeys.rotationFunction;
  if (rotation === undefined) throw new Error('no rotation function in the primary stack');
  const statements = statementsOf(primary, rotation);
  const region = primary.region;
  const replicaRegions = stacks.slice(1).map((stack) => stack.region);

  test.each([
    ['read the secret', { action: 'secretsmanager:GetSecretValue', resource: secretArn(region) }],
    ['write a new version', { action: 'secretsmanager:PutSecretValue', resource: secretArn(region) }],
    [
      'describe it (versions, replication status)',
      { action: 'secretsmanager:DescribeSecret', resource: secretArn(region) },
    ],
    ['move its stages', { action: 'secretsmanager:UpdateSecretVersionStage', resource: secretArn(region) }],
    ['publish the JWKS', item('PutItem', region, JWKS_ITEM_KEY)],
    ['read the JWKS back', item('GetItem', region, JWKS_ITEM_KEY)],
  ] as const)('may: %s', (_what, request) => {
    expect(decide(statements, request)).toBe('allow');
  });

  test.each([
    ['write a session', item('PutItem', region, session)],
    ['read a user', item('GetItem', region, user)],
  ] as const)('may not: %s', (_what, request) => {
    expect(decide(statements, request)).toBe('deny');
  });

  // Secrets Manager replicates a new version with the identity of the caller of PutSecretValue: in each
  // replica region it encrypts under that region's key as the rotation role
  // (https://docs.aws.amazon.com/secretsmanager/latest/userguide/replicate-secrets_troubleshoot.html).
  describe.each(replicaRegions)('the replication of a new version to %s', (replicaRegion) => {
    const replicating = (action: string, context: Record<string, string | string[]>): IamRequest => ({
      action,
      resource: keyArn(replicaRegion),
      context,
    });
    const viaReplica = `secretsmanager.${replicaRegion}.amazonaws.com`;

    test.each(['kms:GenerateDataKey', 'kms:Encrypt'])(
      'may %s under the replica key through Secrets Manager',
      (action) => {
        expect(
          decide(
            statements,
            replicating(action, { 'kms:ViaService': viaReplica, 'kms:ResourceAliases': [ALIAS] }),
          ),
        ).toBe('allow');
      },
    );

    test('may not use a key without the signing-keys alias', () => {
      const request = replicating('kms:GenerateDataKey', {
        'kms:ViaService': viaReplica,
        'kms:ResourceAliases': ['alias/someone-else'],
      });
      expect(decide(statements, request)).toBe('deny');
    });

    test('may not use the replica key directly, outside Secrets Manager', () => {
      const request = replicating('kms:GenerateDataKey', { 'kms:ResourceAliases': [ALIAS] });
      expect(decide(statements, request)).toBe('deny');
    });

    test('may not decrypt with the replica key', () => {
      const request = replicating('kms:Decrypt', {
        'kms:ViaService': viaReplica,
        'kms:ResourceAliases': [ALIAS],
      });
      expect(decide(statements, request)).toBe('deny');
    });
  });
});
