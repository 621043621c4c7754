import {
  type AttributeValue,
  ConditionalCheckFailedException,
  DeleteItemCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import type { UserRecord, UserStore } from '../core/credentials';
import type { FailedAttempt, FailureRecord } from '../core/login-throttle';
import { KEY_PREFIX, TABLE_SCHEMA } from './table-schema';

/** Options of {@link DynamoDbUserStore}. */
export interface DynamoDbUserStoreProps {
  readonly client: DynamoDBClient;
  readonly tableName: string;
}

/**
 * Users and login throttles in the session table (docs/data-model.md):
 *
 * - `USER#<username>`: `username`, `userId` (the subject, deliberately not named `sub`, which would put
 *   users into the session-only `bySubject` GSI), `scope`, `passwordHash`;
 * - `LOGIN#<username>`: `failures`, `firstFailureAt`, `lastFailureAt`, `ttl`, for any username, known or
 *   not.
 *
 * A failure is one atomic `UpdateItem` (`ADD failures :one`, `ReturnValues: ALL_NEW`), so concurrent
 * failures are all counted. Starting a new count is conditional on `lastFailureAt` still being the value the
 * caller judged stale; when another failure got in first, the failure is added instead. Throttle reads are
 * strongly consistent in their region; across the regions of a global table the counts are per region until
 * replication merges the items (last writer wins), an accepted approximation for a throttle.
 */
export class DynamoDbUserStore implements UserStore {
  private readonly client: DynamoDBClient;
  private readonly tableName: string;

  public constructor(props: DynamoDbUserStoreProps) {
    this.client = props.client;
    this.tableName = props.tableName;
  }

  public async getUser(username: string): Promise<UserRecord | undefined> {
    const { Item } = await this.client.send(
      new GetItemCommand({ TableName: this.tableName, Key: userKey(username) }),
    );
    if (Item === undefined) return undefined;
    const user = {
      username: Item.username?.S,
      userId: Item.userId?.S,
      scope: Item.scope?.S,
      passwordHash: Item.passwordHash?.S,
    };
    if (
      user.username === undefined ||
      user.userId === undefined ||
      user.scope === undefined ||
      user.passwordHash === undefined
    ) {
      throw new TypeError(`user item ${KEY_PREFIX.user}${username} is incomplete`);
    }
    return {
      username: user.username,
      userId: user.userId,
      scope: user.scope,
      passwordHash: user.passwordHash,
    };
  }

  public async putUser(user: UserRecord, options?: { readonly overwrite?: boolean }): Promise<boolean> {
    try {
      await this.client.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: {
            ...userKey(user.username),
            username: { S: user.username },
            userId: { S: user.userId },
            scope: { S: user.scope },
            passwordHash: { S: user.passwordHash },
          },
          ...(options?.overwrite === true
            ? {}
            : {
                ConditionExpression: 'attribute_not_exists(#pk)',
                ExpressionAttributeNames: { '#pk': TABLE_SCHEMA.partitionKey },
              }),
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  /**
   * Deletes a user item (`USER#<username>`, the normalised username). The issuer never calls it: operator
   * tooling does (`npm run verify-deployment` removes the user it created). Throttle items are left to their
   * TTL, and the user's sessions to their expiry.
   *
   * @returns whether a user item was there to delete.
   */
  public async deleteUser(username: string): Promise<boolean> {
    const { Attributes } = await this.client.send(
      new DeleteItemCommand({ TableName: this.tableName, Key: userKey(username), ReturnValues: 'ALL_OLD' }),
    );
    return Attributes !== undefined;
  }

  public async getFailures(username: string): Promise<FailureRecord | undefined> {
    const { Item } = await this.client.send(
      new GetItemCommand({ TableName: this.tableName, Key: throttleKey(username), ConsistentRead: true }),
    );
    return Item === undefined ? undefined : toFailureRecord(Item);
  }

  public async recordFailure(username: string, attempt: FailedAttempt): Promise<FailureRecord> {
    if (attempt.resetIfLastFailureAt !== undefined) {
      try {
        return await this.resetFailures(username, attempt, attempt.resetIfLastFailureAt);
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException)) throw error;
        // Lost a race: a failure was recorded (or the record cleared) since the caller read it. Count this
        // one on top of whatever is stored now.
      }
    }
    return this.addFailure(username, attempt);
  }

  public async clearFailures(username: string): Promise<void> {
    await this.client.send(new DeleteItemCommand({ TableName: this.tableName, Key: throttleKey(username) }));
  }

  /** Starts a new count, if nobody recorded a failure since `lastFailureAt` was read. */
  private async resetFailures(
    username: string,
    attempt: FailedAttempt,
    lastFailureAt: number,
  ): Promise<FailureRecord> {
    const { Attributes } = await this.client.send(
      new UpdateItemCommand({
        TableName: this.tableName,
        Key: throttleKey(username),
        UpdateExpression: 'SET failures = :one, firstFailureAt = :at, lastFailureAt = :at, #ttl = :ttl',
        ConditionExpression: 'lastFailureAt = :seen',
        ExpressionAttributeNames: { '#ttl': TABLE_SCHEMA.timeToLiveAttribute },
        ExpressionAttributeValues: {
          ':one': { N: '1' },
          ':at': { N: String(attempt.at) },
          ':ttl': { N: ttlOf(attempt) },
          ':seen': { N: String(lastFailureAt) },
        },
        ReturnValues: 'ALL_NEW',
      }),
    );
    return toFailureRecord(Attributes ?? {});
  }

  /**
   * Adds one failure atomically. `lastFailureAt` takes this attempt's time; concurrent attempts may land out
   * of order, so it can move back by the spread of their clocks (milliseconds), which the lock-out tolerates.
   */
  private async addFailure(username: string, attempt: FailedAttempt): Promise<FailureRecord> {
    const { Attributes } = await this.client.send(
      new UpdateItemCommand({
        TableName: this.tableName,
        Key: throttleKey(username),
        UpdateExpression:
          'ADD failures :one SET firstFailureAt = if_not_exists(firstFailureAt, :at), lastFailureAt = :at, #ttl = :ttl',
        ExpressionAttributeNames: { '#ttl': TABLE_SCHEMA.timeToLiveAttribute },
        ExpressionAttributeValues: {
          ':one': { N: '1' },
          ':at': { N: String(attempt.at) },
          ':ttl': { N: ttlOf(attempt) },
        },
        ReturnValues: 'ALL_NEW',
      }),
    );
    return toFailureRecord(Attributes ?? {});
  }
}

function userKey(username: string): Record<string, AttributeValue> {
  return { [TABLE_SCHEMA.partitionKey]: { S: KEY_PREFIX.user + username } };
}

function throttleKey(username: string): Record<string, AttributeValue> {
  return { [TABLE_SCHEMA.partitionKey]: { S: KEY_PREFIX.loginThrottle + username } };
}

/** DynamoDB's TTL attribute is in epoch seconds. */
function ttlOf(attempt: FailedAttempt): string {
  return String(Math.ceil(attempt.expiresAt / 1000));
}

function toFailureRecord(item: Record<string, AttributeValue>): FailureRecord {
  const failures = Number(item.failures?.N);
  const firstFailureAt = Number(item.firstFailureAt?.N);
  const lastFailureAt = Number(item.lastFailureAt?.N);
  if (![failures, firstFailureAt, lastFailureAt].every(Number.isFinite)) {
    throw new TypeError('login throttle item is incomplete');
  }
  return { failures, firstFailureAt, lastFailureAt };
}
