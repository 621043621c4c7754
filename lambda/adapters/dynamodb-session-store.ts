import {
  type AttributeValue,
  ConditionalCheckFailedException,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  paginateQuery,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import type {
  RefreshRotation,
  RefreshRotationOutcome,
  RevokeReason,
  Rotation,
  SessionRecord,
  SessionStore,
} from '../core/session';
import {
  type DynamoDbLiteClient,
  DynamoDbLiteError,
  type UpdateItemInput,
  type WireItem,
} from './dynamodb-lite-client';
import { KEY_PREFIX, TABLE_SCHEMA } from './table-schema';

/** Options of {@link DynamoDbSessionStore}. */
export interface DynamoDbSessionStoreProps {
  readonly client: DynamoDBClient;
  readonly tableName: string;
  /**
   * The minimal client (dynamodb-lite-client.ts) the refresh write goes through, when given: the issuer's, whose
   * refresh must cost no more CPU than it has to. Every other request goes through `client`.
   */
  readonly liteClient?: Pick<DynamoDbLiteClient, 'updateItem'>;
  /**
   * How long an item is kept after its absolute expiry before DynamoDB's TTL deletes it (audit trail of
   * revoked and expired sessions). @default 86400 (1 day)
   */
  readonly retentionSeconds?: number;
}

const NUMBER_FIELDS = [
  'createdAt',
  'authenticatedAt',
  'lastUsedAt',
  'absoluteExpiresAt',
  'idleExpiresAt',
  'generation',
  'rotatedAt',
] as const;
const STRING_FIELDS = ['sid', 'sub', 'clientId', 'scope', 'salt'] as const;
const OPTIONAL_STRING_FIELDS = ['revokedReason', 'userAgent', 'ip'] as const;

/**
 * A failed condition from either client, with the item it was checked against (`ALL_OLD`): the SDK's
 * `ConditionalCheckFailedException` and the minimal client's error carry it the same way. `undefined` for any
 * other error.
 */
function failedCondition(error: unknown): { readonly item: WireItem | undefined } | undefined {
  if (error instanceof ConditionalCheckFailedException) return { item: error.Item };
  if (error instanceof DynamoDbLiteError && error.type === 'ConditionalCheckFailedException') {
    return { item: error.item };
  }
  return undefined;
}

/**
 * Sessions in DynamoDB (one item per session, keyed `SESSION#<sid>`, the `sub` GSI for listing). Every
 * write that can race is conditional: creation on the key being new, rotation on the generation and on the
 * session not being revoked, revocation on not being revoked already (and on the owner, when given).
 */
export class DynamoDbSessionStore implements SessionStore {
  private readonly client: DynamoDBClient;
  private readonly updateItem: (input: UpdateItemInput) => Promise<{ Attributes?: WireItem }>;
  private readonly tableName: string;
  private readonly retentionSeconds: number;

  public constructor(props: DynamoDbSessionStoreProps) {
    this.client = props.client;
    const lite = props.liteClient;
    this.updateItem =
      lite === undefined
        ? (input) => props.client.send(new UpdateItemCommand(input))
        : (input) => lite.updateItem(input);
    this.tableName = props.tableName;
    this.retentionSeconds = props.retentionSeconds ?? 86_400;
  }

  public async create(session: SessionRecord): Promise<void> {
    const item: Record<string, AttributeValue> = {
      [TABLE_SCHEMA.partitionKey]: { S: KEY_PREFIX.session + session.sid },
      [TABLE_SCHEMA.timeToLiveAttribute]: {
        N: String(Math.ceil(session.absoluteExpiresAt / 1000) + this.retentionSeconds),
      },
    };
    for (const field of STRING_FIELDS) item[field] = { S: session[field] };
    for (const field of NUMBER_FIELDS) item[field] = { N: String(session[field]) };
    for (const field of OPTIONAL_STRING_FIELDS) {
      const value = session[field];
      if (value !== undefined && value !== '') item[field] = { S: value };
    }
    if (session.revokedAt !== undefined) item.revokedAt = { N: String(session.revokedAt) };
    await this.client.send(
      new PutItemCommand({
        TableName: this.tableName,
        Item: item,
        ConditionExpression: 'attribute_not_exists(#pk)',
        ExpressionAttributeNames: { '#pk': TABLE_SCHEMA.partitionKey },
      }),
    );
  }

  public async get(
    sid: string,
    options?: { readonly consistent?: boolean },
  ): Promise<SessionRecord | undefined> {
    const { Item } = await this.client.send(
      new GetItemCommand({
        TableName: this.tableName,
        Key: { [TABLE_SCHEMA.partitionKey]: { S: KEY_PREFIX.session + sid } },
        ConsistentRead: options?.consistent ?? false,
      }),
    );
    return Item === undefined ? undefined : toSession(Item);
  }

  public async rotate(sid: string, rotation: Rotation): Promise<boolean> {
    return this.conditionalUpdate(
      new UpdateItemCommand({
        TableName: this.tableName,
        Key: { [TABLE_SCHEMA.partitionKey]: { S: KEY_PREFIX.session + sid } },
        UpdateExpression: 'SET generation = :next, rotatedAt = :at, lastUsedAt = :at, idleExpiresAt = :idle',
        ConditionExpression: 'generation = :expected AND attribute_not_exists(revokedAt)',
        ExpressionAttributeValues: {
          ':next': { N: String(rotation.generation) },
          ':expected': { N: String(rotation.expectedGeneration) },
          ':at': { N: String(rotation.rotatedAt) },
          ':idle': { N: String(rotation.idleExpiresAt) },
        },
      }),
    );
  }

  /**
   * One conditional `UpdateItem` that returns the item either way: `ReturnValues: ALL_NEW` when it applies,
   * `ReturnValuesOnConditionCheckFailure: ALL_OLD` (the item rides back on the `ConditionalCheckFailedException`,
   * consuming no read capacity) when it does not, so the caller decides the grace, reuse and replication-lag
   * branches without a second read.
   * https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_UpdateItem.html
   * https://repost.aws/knowledge-center/dynamodb-conditionalcheckfailedexception
   * https://docs.aws.amazon.com/sdk-for-kotlin/api/latest/dynamodb/aws.sdk.kotlin.services.dynamodb.model/-delete-item-request/return-values-on-condition-check-failure.html
   */
  public async rotateForRefresh(sid: string, rotation: RefreshRotation): Promise<RefreshRotationOutcome> {
    try {
      const { Attributes } = await this.updateItem({
        TableName: this.tableName,
        Key: { [TABLE_SCHEMA.partitionKey]: { S: KEY_PREFIX.session + sid } },
        UpdateExpression: 'SET generation = :next, rotatedAt = :at, lastUsedAt = :at, idleExpiresAt = :idle',
        ConditionExpression:
          'attribute_exists(#pk) AND salt = :salt AND clientId = :client AND attribute_not_exists(revokedAt)' +
          ' AND generation <= :presented AND absoluteExpiresAt > :at AND idleExpiresAt > :at' +
          ' AND absoluteExpiresAt >= :idle',
        ExpressionAttributeNames: { '#pk': TABLE_SCHEMA.partitionKey },
        ExpressionAttributeValues: {
          ':next': { N: String(rotation.generation) },
          ':presented': { N: String(rotation.presentedGeneration) },
          ':salt': { S: rotation.salt },
          ':client': { S: rotation.clientId },
          ':at': { N: String(rotation.at) },
          ':idle': { N: String(rotation.idleExpiresAt) },
        },
        ReturnValues: 'ALL_NEW',
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      });
      if (Attributes === undefined) throw new Error('UpdateItem returned no attributes for ALL_NEW');
      return { applied: true, session: toSession(Attributes) };
    } catch (error) {
      const failed = failedCondition(error);
      if (failed === undefined) throw error;
      return { applied: false, session: failed.item === undefined ? undefined : toSession(failed.item) };
    }
  }

  public async revoke(sid: string, reason: RevokeReason, at: number, sub?: string): Promise<boolean> {
    const values: Record<string, AttributeValue> = { ':at': { N: String(at) }, ':reason': { S: reason } };
    let condition = 'attribute_exists(#pk) AND attribute_not_exists(revokedAt)';
    if (sub !== undefined) {
      condition += ' AND #sub = :sub';
      values[':sub'] = { S: sub };
    }
    return this.conditionalUpdate(
      new UpdateItemCommand({
        TableName: this.tableName,
        Key: { [TABLE_SCHEMA.partitionKey]: { S: KEY_PREFIX.session + sid } },
        UpdateExpression: 'SET revokedAt = :at, revokedReason = :reason',
        ConditionExpression: condition,
        ExpressionAttributeNames: {
          '#pk': TABLE_SCHEMA.partitionKey,
          ...(sub === undefined ? {} : { '#sub': 'sub' }),
        },
        ExpressionAttributeValues: values,
      }),
    );
  }

  public async markAuthenticated(sid: string, sub: string, authenticatedAt: number): Promise<boolean> {
    return this.conditionalUpdate(
      new UpdateItemCommand({
        TableName: this.tableName,
        Key: { [TABLE_SCHEMA.partitionKey]: { S: KEY_PREFIX.session + sid } },
        UpdateExpression: 'SET authenticatedAt = :auth',
        ConditionExpression: 'attribute_exists(#pk) AND attribute_not_exists(revokedAt) AND #sub = :sub',
        ExpressionAttributeNames: { '#pk': TABLE_SCHEMA.partitionKey, '#sub': 'sub' },
        ExpressionAttributeValues: { ':auth': { N: String(authenticatedAt) }, ':sub': { S: sub } },
      }),
    );
  }

  public async listBySubject(sub: string): Promise<SessionRecord[]> {
    const index = TABLE_SCHEMA.bySubjectIndex;
    const sessions: SessionRecord[] = [];
    const pages = paginateQuery(
      { client: this.client },
      {
        TableName: this.tableName,
        IndexName: index.name,
        KeyConditionExpression: '#sub = :sub',
        ExpressionAttributeNames: { '#sub': index.partitionKey },
        ExpressionAttributeValues: { ':sub': { S: sub } },
        ScanIndexForward: false,
      },
    );
    for await (const page of pages) {
      for (const item of page.Items ?? []) sessions.push(toSession(item));
    }
    return sessions;
  }

  private async conditionalUpdate(command: UpdateItemCommand): Promise<boolean> {
    try {
      await this.client.send(command);
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }
}

/** A session item as DynamoDB returns it (the wire format of every client), as a record. */
export function toSession(item: Record<string, AttributeValue>): SessionRecord {
  const session: Record<string, unknown> = {};
  for (const field of STRING_FIELDS) session[field] = item[field]?.S;
  for (const field of NUMBER_FIELDS) session[field] = Number(item[field]?.N);
  for (const field of OPTIONAL_STRING_FIELDS) {
    const value = item[field]?.S;
    if (value !== undefined) session[field] = value;
  }
  // Items written before `authenticatedAt` existed were authenticated when they were created.
  session.authenticatedAt = Number(item.authenticatedAt?.N ?? item.createdAt?.N);
  const revokedAt = item.revokedAt?.N;
  if (revokedAt !== undefined) session.revokedAt = Number(revokedAt);
  return session as unknown as SessionRecord;
}
