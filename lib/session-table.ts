import { Annotations, RemovalPolicy } from 'aws-cdk-lib';
import {
  AttributeType,
  Billing,
  type ITableV2,
  MultiRegionConsistency,
  TableV2,
} from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import { TABLE_SCHEMA } from '../lambda/adapters/table-schema';
import { InvalidValueError } from './validation';

/** Properties of {@link SessionTable}. */
export interface SessionTableProps {
  /**
   * The table's physical name. Replica regions find their replica by it, so every region's stack must agree
   * on it without a cross-region reference.
   * @default a CloudFormation-generated name (single-region use)
   */
  readonly tableName?: string;
  /**
   * `eventual` (MREC, last writer wins, about a second of replication lag) or `strong` (MRSC: exactly three
   * regions of one region set, strongly consistent reads everywhere). DynamoDB does not support TTL on an
   * MRSC table: with `strong`, TTL is off and expired items stay until deleted some other way (synth warns;
   * expiry itself is enforced when an item is read, docs/data-model.md).
   * @default 'eventual'
   */
  readonly consistency?: 'eventual' | 'strong';
  /**
   * Regions that hold a replica besides the stack's own (the global table's other regions).
   * @default [] (a single-region table)
   */
  readonly replicaRegions?: readonly string[];
  /**
   * What happens to the table (user data: sessions, users, the published JWKS) when it leaves the stack.
   * @default RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE: kept on an update or `cdk destroy`, deleted when the
   * creation that made it rolls back, so a failed first deploy can be retried (DeletionPolicy
   * `RetainExceptOnCreate`)
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * Whether deletion protection is on. @default true
   */
  readonly deletionProtection?: boolean;
}

/**
 * The platform's single DynamoDB table (a `TableV2` global table): sessions, users, login throttles and the
 * published JWKS, keyed as docs/data-model.md describes, with the sparse `bySubject` GSI for listing and
 * "log out everywhere", TTL clean-up (eventual consistency only), point-in-time recovery and deletion
 * protection.
 *
 * @example
 * const sessions = new SessionTable(this, 'Sessions', { replicaRegions: ['eu-west-1'] });
 * sessions.table.grantReadData(authorizerFunction);
 */
export class SessionTable extends Construct {
  /** The global table. */
  public readonly table: ITableV2;
  /** Whether DynamoDB's TTL deletes expired items (`ttl`): not on an MRSC (`strong`) table. */
  public readonly timeToLive: boolean;

  public constructor(scope: Construct, id: string, props: SessionTableProps = {}) {
    super(scope, id);
    const index = TABLE_SCHEMA.bySubjectIndex;
    const replicaRegions = props.replicaRegions ?? [];
    if (props.consistency === 'strong' && replicaRegions.length !== 2) {
      throw new InvalidValueError(
        'SessionTable',
        'replicaRegions',
        replicaRegions,
        "with consistency 'strong' (MRSC), exactly two regions besides the stack's",
      );
    }
    // "Time to live (TTL) is not supported for MRSC global tables."
    // https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/V2globaltables_HowItWorks.html#V2globaltables_HowItWorks.consistency-modes-mrsc
    // So TTL stays off under MRSC, and no correctness depends on it: sessions and login throttles carry their
    // own expiry, checked when read; only the clean-up of expired items is lost (docs/data-model.md).
    this.timeToLive = props.consistency !== 'strong';
    if (!this.timeToLive) {
      Annotations.of(this).addWarningV2(
        'hybrid-auth:session-table-no-ttl',
        "SessionTable: consistency 'strong' (MRSC) does not support DynamoDB TTL, so expired sessions and " +
          'login throttles are not deleted automatically (they are refused when read); delete them on a ' +
          'schedule of your own (docs/data-model.md "Strong consistency and TTL")',
      );
    }
    this.table = new TableV2(this, 'Table', {
      ...(props.tableName === undefined ? {} : { tableName: props.tableName }),
      ...(props.consistency === 'strong' ? { multiRegionConsistency: MultiRegionConsistency.STRONG } : {}),
      partitionKey: { name: TABLE_SCHEMA.partitionKey, type: AttributeType.STRING },
      billing: Billing.onDemand(),
      ...(this.timeToLive ? { timeToLiveAttribute: TABLE_SCHEMA.timeToLiveAttribute } : {}),
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: props.deletionProtection ?? true,
      // Kept on an update or delete, not when its creation rolls back (DeletionPolicy RetainExceptOnCreate):
      // "If the stack operation that created the resource is rolled back, CloudFormation deletes the
      // resource" (https://docs.aws.amazon.com/cdk/api/v2/docs/aws-cdk-lib.CfnDeletionPolicy.html,
      // https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-attribute-deletionpolicy.html).
      // With Retain, a rolled-back first deploy left the fixed-name table behind: the retry failed with
      // "already exists".
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE,
      globalSecondaryIndexes: [
        {
          indexName: index.name,
          partitionKey: { name: index.partitionKey, type: AttributeType.STRING },
          sortKey: { name: index.sortKey, type: AttributeType.NUMBER },
        },
      ],
      replicas: replicaRegions.map((region) => ({ region })),
    });
  }
}
