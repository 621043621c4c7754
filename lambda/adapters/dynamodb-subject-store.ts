import {
  type AttributeValue,
  ConditionalCheckFailedException,
  type DynamoDBClient,
  GetItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { type SubjectRecord, type SubjectStore, subjectKey } from '../core/subject';
import type { DynamoDbLiteClient, GetItemInput } from './dynamodb-lite-client';
import { KEY_PREFIX, TABLE_SCHEMA } from './table-schema';

/** Options of {@link DynamoDbSubjectStore}. */
export interface DynamoDbSubjectStoreProps {
  readonly client: DynamoDBClient;
  readonly tableName: string;
  /**
   * The minimal client (dynamodb-lite-client.ts) watermark reads go through, when given: the issuer's, which
   * reads the watermark beside every refresh write. Writes go through `client`.
   */
  readonly liteClient?: Pick<DynamoDbLiteClient, 'getItem'>;
  /**
   * How long a watermark item must outlive its `notBefore`: the longest a session created before it can
   * live (the absolute session lifetime), after which the item refuses nothing any more and DynamoDB's TTL
   * deletes it. A disabled subject's item never expires. @default 604800 (the default absolute lifetime)
   */
  readonly sessionLifetimeSeconds?: number;
  /** Kept this much longer for the audit trail, as session items are. @default 86400 */
  readonly retentionSeconds?: number;
}

/** The key of a subject's watermark item. */
export function subjectItemKey(sub: string): Record<string, AttributeValue> {
  return itemKeyOf(subjectKey(sub));
}

/** The key of the watermark item whose subject key (lambda/core/subject.ts `subjectKey`) is `key`. */
function itemKeyOf(key: string): Record<string, AttributeValue> {
  return { [TABLE_SCHEMA.partitionKey]: { S: KEY_PREFIX.subject + key } };
}

/**
 * Subject watermarks in DynamoDB: one item per subject, keyed `SUBJECT#<subjectKey(sub)>`, holding `sub`,
 * `notBefore`, `disabled` and `updatedAt`. Moving the watermark is one conditional `UpdateItem` that never
 * moves it back.
 */
export class DynamoDbSubjectStore implements SubjectStore {
  private readonly client: DynamoDBClient;
  private readonly getItem: (input: GetItemInput) => Promise<{ Item?: Record<string, AttributeValue> }>;
  private readonly tableName: string;
  private readonly keepMs: number;

  public constructor(props: DynamoDbSubjectStoreProps) {
    this.client = props.client;
    const lite = props.liteClient;
    this.getItem =
      lite === undefined
        ? (input) => props.client.send(new GetItemCommand(input))
        : (input) => lite.getItem(input);
    this.tableName = props.tableName;
    this.keepMs = ((props.sessionLifetimeSeconds ?? 604_800) + (props.retentionSeconds ?? 86_400)) * 1000;
  }

  public get(sub: string, options?: { readonly consistent?: boolean }): Promise<SubjectRecord | undefined> {
    return this.getByKey(subjectKey(sub), options);
  }

  public async getByKey(
    key: string,
    options?: { readonly consistent?: boolean },
  ): Promise<SubjectRecord | undefined> {
    const { Item } = await this.getItem({
      TableName: this.tableName,
      Key: itemKeyOf(key),
      ConsistentRead: options?.consistent ?? false,
    });
    return Item === undefined ? undefined : toSubject(Item);
  }

  public async moveWatermark(sub: string, notBefore: number, at: number): Promise<void> {
    try {
      await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: subjectItemKey(sub),
          // The TTL follows the watermark, unless the subject is disabled (a disabled item never expires).
          UpdateExpression: 'SET #sub = :sub, notBefore = :nb, updatedAt = :at, #ttl = :ttl',
          ConditionExpression:
            '(attribute_not_exists(notBefore) OR notBefore < :nb) AND (attribute_not_exists(disabled) OR disabled = :false)',
          ExpressionAttributeNames: { '#sub': 'sub', '#ttl': TABLE_SCHEMA.timeToLiveAttribute },
          ExpressionAttributeValues: {
            ':sub': { S: sub },
            ':nb': { N: String(notBefore) },
            ':at': { N: String(at) },
            ':ttl': { N: String(this.expiryOf(notBefore)) },
            ':false': { BOOL: false },
          },
        }),
      );
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      // A later watermark is there already, or the subject is disabled: only move `notBefore`, never back,
      // and leave a disabled item's missing TTL alone.
      await this.moveNotBeforeOnly(sub, notBefore, at);
    }
  }

  public async setDisabled(sub: string, disabled: boolean, notBefore: number, at: number): Promise<void> {
    if (disabled) {
      await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: subjectItemKey(sub),
          UpdateExpression: 'SET #sub = :sub, disabled = :true, updatedAt = :at REMOVE #ttl',
          ExpressionAttributeNames: { '#sub': 'sub', '#ttl': TABLE_SCHEMA.timeToLiveAttribute },
          ExpressionAttributeValues: {
            ':sub': { S: sub },
            ':true': { BOOL: true },
            ':at': { N: String(at) },
          },
        }),
      );
      await this.moveNotBeforeOnly(sub, notBefore, at);
      return;
    }
    const current = await this.get(sub, { consistent: true });
    await this.client.send(
      new UpdateItemCommand({
        TableName: this.tableName,
        Key: subjectItemKey(sub),
        UpdateExpression: 'SET #sub = :sub, updatedAt = :at, #ttl = :ttl REMOVE disabled',
        ExpressionAttributeNames: { '#sub': 'sub', '#ttl': TABLE_SCHEMA.timeToLiveAttribute },
        ExpressionAttributeValues: {
          ':sub': { S: sub },
          ':at': { N: String(at) },
          ':ttl': { N: String(this.expiryOf(Math.max(current?.notBefore ?? at, at))) },
        },
      }),
    );
  }

  private async moveNotBeforeOnly(sub: string, notBefore: number, at: number): Promise<void> {
    try {
      await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: subjectItemKey(sub),
          UpdateExpression: 'SET #sub = :sub, notBefore = :nb, updatedAt = :at',
          ConditionExpression: 'attribute_not_exists(notBefore) OR notBefore < :nb',
          ExpressionAttributeNames: { '#sub': 'sub' },
          ExpressionAttributeValues: {
            ':sub': { S: sub },
            ':nb': { N: String(notBefore) },
            ':at': { N: String(at) },
          },
        }),
      );
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  }

  /** Epoch seconds at which the item refuses nothing any more (every session before it has expired). */
  private expiryOf(notBefore: number): number {
    return Math.ceil((notBefore + this.keepMs) / 1000);
  }
}

/** A watermark item as DynamoDB returns it (the wire format of every client), as a record. */
export function toSubject(item: Record<string, AttributeValue>): SubjectRecord {
  const notBefore = item.notBefore?.N;
  return {
    sub: item.sub?.S ?? '',
    ...(notBefore === undefined ? {} : { notBefore: Number(notBefore) }),
    ...(item.disabled?.BOOL === true ? { disabled: true } : {}),
    updatedAt: Number(item.updatedAt?.N ?? 0),
  };
}
