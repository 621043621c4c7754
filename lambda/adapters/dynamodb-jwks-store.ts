import {
  type AttributeValue,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
} from '@aws-sdk/client-dynamodb';
import type { PublicJwks } from '../core/keys';
import { JWKS_ITEM_KEY, TABLE_SCHEMA } from './table-schema';

/** The key of the published-JWKS item. */
export function jwksItemKey(): Record<string, AttributeValue> {
  return { [TABLE_SCHEMA.partitionKey]: { S: JWKS_ITEM_KEY } };
}

/**
 * The published JWKS a `GetItem` of {@link jwksItemKey} returned (the wire format of every client): its parsed
 * `jwks` attribute, or an empty set when there is no item.
 */
export function publicJwksOf(output: { readonly Item?: Record<string, AttributeValue> }): unknown {
  const text = output.Item?.jwks?.S;
  return text === undefined ? { keys: [] } : (JSON.parse(text) as unknown);
}

/**
 * The published public JWKS: one item in the session table, written by the rotation function (or the local
 * platform), replicated to every region by the global table, read by the authorizer and the JWKS endpoint.
 */
export class DynamoDbJwksStore {
  public constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
  ) {}

  /** Replaces the published JWKS. */
  public async publish(jwks: PublicJwks, at: number): Promise<void> {
    await this.client.send(
      new PutItemCommand({
        TableName: this.tableName,
        Item: {
          [TABLE_SCHEMA.partitionKey]: { S: JWKS_ITEM_KEY },
          jwks: { S: JSON.stringify(jwks) },
          updatedAt: { N: String(at) },
        },
      }),
    );
  }

  /**
   * Whether this region's table answers and holds the published JWKS: one strongly consistent `GetItem` of
   * the JWKS item, projected to its key (the health route's cheap table probe). A strongly consistent read
   * reflects every write this replica has acknowledged, so a replica that has not yet received the JWKS
   * says so instead of an older answer being served from a stale copy
   * (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.ReadConsistency.html).
   * Rejects when the table does not answer.
   */
  public async probe(): Promise<boolean> {
    const { Item } = await this.client.send(
      new GetItemCommand({
        TableName: this.tableName,
        Key: { [TABLE_SCHEMA.partitionKey]: { S: JWKS_ITEM_KEY } },
        ConsistentRead: true,
        ProjectionExpression: '#pk',
        ExpressionAttributeNames: { '#pk': TABLE_SCHEMA.partitionKey },
      }),
    );
    return Item !== undefined;
  }

  /**
   * Reads the published JWKS; an absent item is an empty set. `consistentRead` asks for a strongly consistent
   * read, which returns every write this region acknowledged before it (the rotation's `testSecret` reads
   * back what `setSecret` wrote); the verifiers read eventually consistently, at half the cost.
   * https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.ReadConsistency.html
   */
  public async load(options: { readonly consistentRead?: boolean } = {}): Promise<unknown> {
    return publicJwksOf(
      await this.client.send(
        new GetItemCommand({
          TableName: this.tableName,
          Key: jwksItemKey(),
          ...(options.consistentRead === true ? { ConsistentRead: true } : {}),
        }),
      ),
    );
  }
}
