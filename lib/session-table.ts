import { RemovalPolicy } from 'aws-cdk-lib';
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
   * regions of one region set, strongly consistent reads everywhere).
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
   * @default RemovalPolicy.RETAIN
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
 * "log out everywhere", TTL clean-up, point-in-time recovery and deletion protection.
 *
 * @example
 * const sessions = new SessionTable(this, 'Sessions', { replicaRegions: ['eu-west-1'] });
 * sessions.table.grantReadData(authorizerFunction);
 */
export class SessionTable extends Construct {
  /** The global table. */
  public readonly table: ITableV2;

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
    this.table = new TableV2(this, 'Table', {
      ...(props.tableName === undefined ? {} : { tableName: props.tableName }),
      ...(props.consistency === 'strong' ? { multiRegionConsistency: MultiRegionConsistency.STRONG } : {}),
      partitionKey: { name: TABLE_SCHEMA.partitionKey, type: AttributeType.STRING },
      billing: Billing.onDemand(),
      timeToLiveAttribute: TABLE_SCHEMA.timeToLiveAttribute,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: props.deletionProtection ?? true,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
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
