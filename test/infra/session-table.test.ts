import 'aws-cdk-lib/testhelpers/jest-autoclean';
import { App, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { SessionTable } from '../../lib/session-table';

function stackWith(props: ConstructorParameters<typeof SessionTable>[2] = {}): Stack {
  const stack = new Stack(new App(), 'Test', { env: { account: '111111111111', region: 'us-east-1' } });
  new SessionTable(stack, 'Sessions', props);
  return stack;
}

function synth(props: ConstructorParameters<typeof SessionTable>[2] = {}): Template {
  return Template.fromStack(stackWith(props));
}

describe('SessionTable', () => {
  test('keys items by pk and indexes sessions by sub and createdAt', () => {
    // GIVEN default props / WHEN synthesized / THEN
    synth().hasResourceProperties('AWS::DynamoDB::GlobalTable', {
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      GlobalSecondaryIndexes: [
        {
          IndexName: 'bySubject',
          KeySchema: [
            { AttributeName: 'sub', KeyType: 'HASH' },
            { AttributeName: 'createdAt', KeyType: 'RANGE' },
          ],
        },
      ],
      TimeToLiveSpecification: { AttributeName: 'ttl', Enabled: true },
    });
  });

  test('keeps the table on update and delete but not when its creation rolls back, and protects it from deletion', () => {
    // GIVEN default props / WHEN synthesized / THEN a failed first deploy leaves no table behind to block
    // the retry (RetainExceptOnCreate), and an update or `cdk destroy` keeps it
    const template = synth();
    template.hasResource('AWS::DynamoDB::GlobalTable', {
      DeletionPolicy: 'RetainExceptOnCreate',
      UpdateReplacePolicy: 'Retain',
    });
    template.hasResourceProperties('AWS::DynamoDB::GlobalTable', {
      Replicas: [
        Match.objectLike({
          DeletionProtectionEnabled: true,
          PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        }),
      ],
    });
  });

  test('adds a replica per replica region', () => {
    const template = synth({ replicaRegions: ['eu-west-1', 'ap-southeast-2'] });
    template.hasResourceProperties('AWS::DynamoDB::GlobalTable', {
      Replicas: Match.arrayWith([
        Match.objectLike({ Region: 'eu-west-1' }),
        Match.objectLike({ Region: 'ap-southeast-2' }),
        Match.objectLike({ Region: 'us-east-1' }),
      ]),
    });
  });

  test('honours an explicit removal policy', () => {
    synth({ removalPolicy: RemovalPolicy.DESTROY, deletionProtection: false }).hasResource(
      'AWS::DynamoDB::GlobalTable',
      { DeletionPolicy: 'Delete' },
    );
  });

  test('uses multi-region strong consistency (MRSC) when asked', () => {
    synth({ consistency: 'strong', replicaRegions: ['us-east-2', 'us-west-2'] }).hasResourceProperties(
      'AWS::DynamoDB::GlobalTable',
      { MultiRegionConsistency: 'STRONG' },
    );
  });

  test('turns TTL off with strong consistency (MRSC does not support TTL) and says so at synth', () => {
    // GIVEN consistency 'strong' / WHEN synthesized
    const stack = stackWith({ consistency: 'strong', replicaRegions: ['us-east-2', 'us-west-2'] });

    // THEN no TTL specification, and a warning that names the consequence
    const [table] = Object.values(Template.fromStack(stack).findResources('AWS::DynamoDB::GlobalTable'));
    expect(
      (table as { Properties: Record<string, unknown> }).Properties.TimeToLiveSpecification,
    ).toBeUndefined();
    Annotations.fromStack(stack).hasWarning(
      '/Test/Sessions',
      Match.stringLikeRegexp("consistency 'strong' \\(MRSC\\) does not support DynamoDB TTL"),
    );
  });

  test('keeps TTL on with eventual consistency, without a warning', () => {
    const stack = stackWith({ replicaRegions: ['us-east-2'] });

    Template.fromStack(stack).hasResourceProperties('AWS::DynamoDB::GlobalTable', {
      TimeToLiveSpecification: { AttributeName: 'ttl', Enabled: true },
    });
    Annotations.fromStack(stack).hasNoWarning('*', Match.stringLikeRegexp('TTL'));
  });

  test('stays eventually consistent (MREC) by default', () => {
    const template = synth({ replicaRegions: ['us-east-2'] });
    const [table] = Object.values(template.findResources('AWS::DynamoDB::GlobalTable'));
    expect(['EVENTUAL', undefined]).toContain(
      (table as { Properties: { MultiRegionConsistency?: string } }).Properties.MultiRegionConsistency,
    );
  });

  test('fails on strong consistency without exactly two replica regions', () => {
    expect(() => synth({ consistency: 'strong', replicaRegions: ['us-east-2'] })).toThrow(
      /^SessionTable: replicaRegions is \["us-east-2"\]; allowed: with consistency 'strong' \(MRSC\), exactly two regions besides the stack's$/,
    );
  });

  test('takes the configured table name, which every region uses to find its replica', () => {
    synth({ tableName: 'hybrid-auth-sessions' }).hasResourceProperties('AWS::DynamoDB::GlobalTable', {
      TableName: 'hybrid-auth-sessions',
    });
  });
});
