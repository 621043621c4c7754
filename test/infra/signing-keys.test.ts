import 'aws-cdk-lib/testhelpers/jest-autoclean';
import { App, Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AttributeType, TableV2 } from 'aws-cdk-lib/aws-dynamodb';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { SigningKeys, type SigningKeysProps, signingKeysAlias } from '../../lib/signing-keys';

// SigningKeys alone in small stacks. The rotation function's code plays no part in these templates, so
// bundling is skipped (the `aws:cdk:bundling-stacks` context: no stack is bundled).

const ACCOUNT = '111111111111';
const PRIMARY_REGION = 'us-east-1';
const REPLICA_REGIONS = ['us-east-2', 'us-west-2'];
const LIFETIMES = {
  signingAlg: 'ES256' as const,
  accessTokenTtl: Duration.minutes(5),
  clockSkew: Duration.seconds(30),
  issuerKeyCacheTtl: Duration.minutes(5),
  sessionAbsoluteLifetime: Duration.days(7),
};

interface Built {
  readonly stack: Stack;
  readonly template: Template;
  readonly table: TableV2;
  readonly keys: SigningKeys;
}

/** A stack in `region` with a table, SigningKeys of `role`, and an issuer-like role granted read. */
function build(role: 'primary' | 'replica', region: string, props: Partial<SigningKeysProps> = {}): Built {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new Stack(app, 'Test', { env: { account: ACCOUNT, region } });
  const table = new TableV2(stack, 'Sessions', {
    tableName: 'hybrid-auth-sessions',
    partitionKey: { name: 'pk', type: AttributeType.STRING },
  });
  const keys = new SigningKeys(stack, 'SigningKeys', {
    name: 'hybrid-auth',
    role,
    ...(role === 'primary' ? { replicaRegions: REPLICA_REGIONS, table, ...LIFETIMES } : {}),
    ...props,
  });
  const issuer = new Role(stack, 'Issuer', { assumedBy: new ServicePrincipal('lambda.amazonaws.com') });
  keys.grantRead(issuer);
  return { stack, template: Template.fromStack(stack), table, keys };
}

/** The statements of the IAM policies whose logical ID starts with `prefix`. */
function statementsOf(template: Template, prefix: string): Array<Record<string, unknown>> {
  return Object.entries(template.findResources('AWS::IAM::Policy'))
    .filter(([id]) => id.startsWith(prefix))
    .flatMap(
      ([, policy]) =>
        (policy as { Properties: { PolicyDocument: { Statement: Array<Record<string, unknown>> } } })
          .Properties.PolicyDocument.Statement,
    );
}

function actionsOf(statement: Record<string, unknown>): string[] {
  const action = statement.Action;
  return Array.isArray(action) ? (action as string[]) : [action as string];
}

// Synthesized once: most tests read the same primary template.
const primary = build('primary', PRIMARY_REGION);

describe('SigningKeys: the rotation role and the replica regions (issue 12, item 1)', () => {
  test("may encrypt under each replica region's key, only through Secrets Manager and only the key with the alias", () => {
    // GIVEN a primary replicated to two regions / WHEN synthesized
    const kms = statementsOf(primary.template, 'SigningKeysRotationRoleDefaultPolicy').filter((statement) =>
      actionsOf(statement).some((action) => action.startsWith('kms:')),
    );

    // THEN one statement per replica region: that region's keys, narrowed by alias and by service
    expect(kms).toEqual(
      REPLICA_REGIONS.map((region) => ({
        Effect: 'Allow',
        Action: ['kms:GenerateDataKey', 'kms:Encrypt'],
        Resource: {
          'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:kms:${region}:${ACCOUNT}:key/*`]],
        },
        Condition: {
          StringEquals: {
            'kms:ViaService': [
              `secretsmanager.${region}.amazonaws.com`,
              `secretsmanager.${PRIMARY_REGION}.amazonaws.com`,
            ],
          },
          'ForAnyValue:StringEquals': { 'kms:ResourceAliases': [signingKeysAlias('hybrid-auth')] },
        },
      })),
    );
  });

  test('tells the rotation function which regions hold a replica', () => {
    primary.template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ REPLICA_REGIONS: REPLICA_REGIONS.join(',') }) },
    });
  });

  test('grants nothing on other regions’ keys when the secret is not replicated', () => {
    const { template } = build('primary', PRIMARY_REGION, { replicaRegions: [] });

    const kms = statementsOf(template, 'SigningKeysRotationRoleDefaultPolicy').filter((statement) =>
      actionsOf(statement).some((action) => action.startsWith('kms:')),
    );
    expect(kms).toEqual([]);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ REPLICA_REGIONS: '' }) },
    });
  });
});

describe('SigningKeys: who may invoke the rotation function (issue 12, item 10)', () => {
  test('Secrets Manager of this account only, for this secret only', () => {
    const permissions = Object.values(primary.template.findResources('AWS::Lambda::Permission'));

    expect(permissions).toEqual([
      {
        Type: 'AWS::Lambda::Permission',
        Properties: {
          Action: 'lambda:InvokeFunction',
          FunctionName: { 'Fn::GetAtt': [expect.stringMatching(/^SigningKeysRotation/), 'Arn'] },
          Principal: 'secretsmanager.amazonaws.com',
          SourceAccount: ACCOUNT,
          SourceArn: { Ref: primary.stack.getLogicalId(primary.keys.secret.node.defaultChild as never) },
        },
      },
    ]);
  });
});

describe('SigningKeys: the first deploy (issue 12, item 7)', () => {
  test('creates the rotation schedule, which rotates at once, after the session table', () => {
    const tableId = primary.stack.getLogicalId(primary.table.node.defaultChild as never);

    primary.template.hasResource('AWS::SecretsManager::RotationSchedule', {
      DependsOn: Match.arrayWith([tableId]),
    });
  });

  test("takes the table's name from the table", () => {
    const tableId = primary.stack.getLogicalId(primary.table.node.defaultChild as never);

    primary.template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ TABLE_NAME: { Ref: tableId } }) },
    });
  });

  test('fails on a primary with neither the table nor its name', () => {
    expect(() => build('primary', PRIMARY_REGION, { table: undefined })).toThrow(
      /^SigningKeys: tableName is undefined; allowed: the session table's name, or the table \(the primary needs one\)$/,
    );
  });
});

describe('SigningKeys: reading the key set (issue 12, item 10)', () => {
  for (const [role, region] of [
    ['primary', PRIMARY_REGION],
    ['replica', 'us-east-2'],
  ] as const) {
    test(`in a ${role} region, the reader may decrypt only through Secrets Manager in that region`, () => {
      const { template } = role === 'primary' ? primary : build(role, region);

      const decrypts = statementsOf(template, 'IssuerDefaultPolicy').filter((statement) =>
        actionsOf(statement).some((action) => action.startsWith('kms:')),
      );
      expect(decrypts).toEqual([
        {
          Effect: 'Allow',
          Action: 'kms:Decrypt',
          Resource: { 'Fn::GetAtt': [expect.stringMatching(/^SigningKeysKey/), 'Arn'] },
          Condition: { StringEquals: { 'kms:ViaService': `secretsmanager.${region}.amazonaws.com` } },
        },
      ]);
    });
  }
});

describe('SigningKeys: a failed first deploy can be retried (issue 12, item 5)', () => {
  test('keeps the secret and the key on update and delete, not when their creation rolls back', () => {
    for (const type of ['AWS::SecretsManager::Secret', 'AWS::KMS::Key']) {
      primary.template.hasResource(type, {
        DeletionPolicy: 'RetainExceptOnCreate',
        UpdateReplacePolicy: 'Retain',
      });
    }
  });

  test("keeps a replica region's key the same way", () => {
    build('replica', 'us-east-2').template.hasResource('AWS::KMS::Key', {
      DeletionPolicy: 'RetainExceptOnCreate',
      UpdateReplacePolicy: 'Retain',
    });
  });

  test('deletes the alias with the stack, so a new deploy can create it again', () => {
    const [alias] = Object.values(primary.template.findResources('AWS::KMS::Alias'));

    expect(alias).not.toHaveProperty('DeletionPolicy');
  });
});
