import { type DynamoDBClient, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import type { PublicJwks } from '../core/keys';
import { JWKS_ITEM_KEY, TABLE_SCHEMA } from './table-schema';

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
   * Reads the published JWKS; an absent item is an empty set. `consistentRead` asks for a strongly consistent
   * read, which returns every write this region acknowledged before it (the rotation's `testSecret` reads
   * back what `setSecret` wrote); the verifiers read eventually consistently, at half the cost.
   * https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.ReadConsistency.html
   */
  public async load(options: { readonly consistentRead?: boolean } = {}): Promise<unknown> {
    const { Item } = await this.client.send(
      new GetItemCommand({
        TableName: this.tableName,
        Key: { [TABLE_SCHEMA.partitionKey]: { S: JWKS_ITEM_KEY } },
        ...(options.consistentRead === true ? { ConsistentRead: true } : {}),
      }),
    );
    const text = Item?.jwks?.S;
    return text === undefined ? { keys: [] } : (JSON.parse(text) as unknown);
  }
}
