import {
  type AttributeValue,
  ConditionalCheckFailedException,
  DeleteItemCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  paginateScan,
  TransactionCanceledException,
  TransactWriteItemsCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import type { UserRecord, UserStore } from '../core/credentials';
import type {
  AccountThrottleState,
  ThrottleKey,
  ThrottleStore,
  WindowCount,
  WindowReservation,
} from '../core/login-throttle';
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
 * - `USERID#<userId>`: `username` only, written with the user item in one transaction: how the password
 *   change finds the user of a bearer token's `sub`. The issuer reads it and never writes it;
 * - `LOGIN#<username>`: the account-wide failure counter (`hits`, `windowStart`) and the soft back-off's next
 *   slot (`nextSlotAt`), for any username, known or not;
 * - `LOGIN#<username> <source>` (`ip:<address>` or `device:<id>`): the password checks of one source for
 *   that account (`hits`, `windowStart`).
 *
 * Every count is one conditional `UpdateItem` (`ADD hits :one` only while `hits < :limit` in the current
 * window), so concurrent requests never get more than the limit, whatever their number: the check-and-count
 * is one atomic write, before any password work. Items carry a TTL of two windows. Throttle reads are
 * strongly consistent in their region; across the regions of a global table the counts are per region until
 * replication merges the items (last writer wins), an accepted approximation for a throttle.
 */
export class DynamoDbUserStore implements UserStore, ThrottleStore {
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
    // The user item and its USERID# pointer in one transaction: never a user without its pointer.
    try {
      await this.client.send(
        new TransactWriteItemsCommand({
          TransactItems: [
            {
              Put: {
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
              },
            },
            {
              Put: {
                TableName: this.tableName,
                Item: { ...userIdKey(user.userId), username: { S: user.username } },
              },
            },
          ],
        }),
      );
      return true;
    } catch (error) {
      if (
        error instanceof TransactionCanceledException &&
        error.CancellationReasons?.[0]?.Code === 'ConditionalCheckFailed'
      ) {
        return false;
      }
      throw error;
    }
  }

  public async getUsername(userId: string): Promise<string | undefined> {
    const { Item } = await this.client.send(
      new GetItemCommand({ TableName: this.tableName, Key: userIdKey(userId), ConsistentRead: true }),
    );
    if (Item === undefined) return undefined;
    const username = Item.username?.S;
    if (username === undefined) throw new TypeError(`user id item ${KEY_PREFIX.userId}... is incomplete`);
    return username;
  }

  /**
   * Writes the `USERID#` item of every user item that has none: users created before those items existed,
   * whose password change answers 400 until then (`npm run backfill-user-ids`). Reads every user first, so
   * that a subject two users share (`create-user --user-id` allows it) gets no item from the run: which user
   * owns it is an operator's decision, not the scan order's. Each write is conditional on the item being
   * absent, so a run changes nothing that is there and can be repeated. A scan of the whole table: an
   * operator action, not a request path.
   */
  public async backfillUserIds(options: { readonly pageSize?: number } = {}): Promise<UserIdBackfill> {
    const holders = new Map<string, string[]>();
    let incomplete = 0;
    const pages = paginateScan(
      { client: this.client, ...(options.pageSize === undefined ? {} : { pageSize: options.pageSize }) },
      {
        TableName: this.tableName,
        FilterExpression: 'begins_with(#pk, :user)',
        ExpressionAttributeNames: { '#pk': TABLE_SCHEMA.partitionKey, '#name': 'username', '#id': 'userId' },
        ExpressionAttributeValues: { ':user': { S: KEY_PREFIX.user } },
        ProjectionExpression: '#name, #id',
        ConsistentRead: true,
      },
    );
    for await (const page of pages) {
      for (const item of page.Items ?? []) {
        const username = item.username?.S;
        const userId = item.userId?.S;
        if (username === undefined || userId === undefined) incomplete += 1;
        else holders.set(userId, [...(holders.get(userId) ?? []), username]);
      }
    }
    const result = { written: [] as string[], present: 0, conflicts: [] as UserIdConflict[], incomplete };
    for (const [userId, usernames] of holders) {
      const [username] = usernames;
      if (username !== undefined && usernames.length === 1) {
        const written = await this.conditional(async () => {
          await this.client.send(
            new PutItemCommand({
              TableName: this.tableName,
              Item: { ...userIdKey(userId), username: { S: username } },
              ConditionExpression: 'attribute_not_exists(#pk)',
              ExpressionAttributeNames: { '#pk': TABLE_SCHEMA.partitionKey },
            }),
          );
          return true;
        });
        if (written) {
          result.written.push(username);
          continue;
        }
      }
      const { Item } = await this.client.send(
        new GetItemCommand({ TableName: this.tableName, Key: userIdKey(userId), ConsistentRead: true }),
      );
      const namedUser = Item?.username?.S;
      if (usernames.length === 1 && namedUser === username) result.present += 1;
      else result.conflicts.push({ userId, usernames, namedUser });
    }
    return result;
  }

  public async replacePasswordHash(
    username: string,
    userId: string,
    expectedHash: string,
    passwordHash: string,
  ): Promise<boolean> {
    const replaced = await this.conditional(async () => {
      await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: userKey(username),
          UpdateExpression: 'SET passwordHash = :next',
          ConditionExpression: 'userId = :userId AND passwordHash = :expected',
          ExpressionAttributeValues: {
            ':next': { S: passwordHash },
            ':userId': { S: userId },
            ':expected': { S: expectedHash },
          },
        }),
      );
      return true;
    });
    return replaced === true;
  }

  /**
   * Deletes a user item (`USER#<username>`, the normalised username). The issuer never calls it: operator
   * tooling does (`npm run verify-deployment` removes the user it created). Throttle items are left to their
   * TTL, and the user's sessions to their expiry. Its `USERID#` item goes too, unless it names another user
   * by then.
   *
   * @returns whether a user item was there to delete.
   */
  public async deleteUser(username: string): Promise<boolean> {
    const { Attributes } = await this.client.send(
      new DeleteItemCommand({ TableName: this.tableName, Key: userKey(username), ReturnValues: 'ALL_OLD' }),
    );
    const userId = Attributes?.userId?.S;
    if (userId !== undefined) {
      await this.conditional(() =>
        this.client.send(
          new DeleteItemCommand({
            TableName: this.tableName,
            Key: userIdKey(userId),
            ConditionExpression: 'username = :username',
            ExpressionAttributeValues: { ':username': { S: username } },
          }),
        ),
      );
    }
    return Attributes !== undefined;
  }

  public async reserve(key: ThrottleKey, reservation: WindowReservation): Promise<WindowCount> {
    // Increment within the current window, else start a new window. When neither applies, either the window
    // is full or another request changed the counter in between (started a window, or deleted the counter
    // after its success): the counter as the failed restart saw it tells which (its condition failure returns
    // the item, so a refusal costs two requests, not three). A full window refuses; a lost race tries again, at
    // most RESERVE_ROUNDS times, so that parallel logins from one source are never refused below the limit.
    let window: { count: number; windowStart: number } = { count: 0, windowStart: reservation.at };
    for (let round = 0; round < RESERVE_ROUNDS; round++) {
      const incremented = await this.conditional(() => this.increment(key, reservation));
      if (incremented !== undefined) return incremented;
      const restart = await this.restart(key, reservation);
      if ('reserved' in restart) return restart;
      window = toWindow(restart.seen ?? {}, reservation.at);
      const current =
        restart.seen?.windowStart !== undefined && window.windowStart > reservation.at - reservation.windowMs;
      if (current && window.count >= reservation.limit) return { reserved: false, ...window };
    }
    // The counter changed under every attempt: refuse this one, as a full window would (fail closed).
    return { reserved: false, ...window };
  }

  public async getAccount(username: string): Promise<AccountThrottleState | undefined> {
    const { Item } = await this.client.send(
      new GetItemCommand({ TableName: this.tableName, Key: throttleKey({ username }), ConsistentRead: true }),
    );
    if (Item === undefined || Item.hits === undefined) return undefined;
    const { count, windowStart } = toWindow(Item, 0);
    return { failures: count, windowStart };
  }

  public async reserveSlot(username: string, at: number, intervalMs: number): Promise<boolean> {
    const taken = await this.conditional(async () => {
      await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: throttleKey({ username }),
          UpdateExpression: 'SET nextSlotAt = :next',
          ConditionExpression: 'attribute_not_exists(nextSlotAt) OR nextSlotAt <= :at',
          ExpressionAttributeValues: { ':next': { N: String(at + intervalMs) }, ':at': { N: String(at) } },
        }),
      );
      return true;
    });
    return taken === true;
  }

  public async clear(key: ThrottleKey): Promise<void> {
    await this.client.send(new DeleteItemCommand({ TableName: this.tableName, Key: throttleKey(key) }));
  }

  public async clearAll(username: string): Promise<number> {
    // The account item and every source item share the prefix `LOGIN#<username> ` (a space cannot occur in an
    // enforced username, so no other account's items match). A scan, as the table has no sort key: an operator
    // action, not a request path.
    const prefix = throttleKey({ username })[TABLE_SCHEMA.partitionKey]?.S ?? '';
    let cleared = 0;
    const pages = paginateScan(
      { client: this.client },
      {
        TableName: this.tableName,
        FilterExpression: '#pk = :account OR begins_with(#pk, :sources)',
        ExpressionAttributeNames: { '#pk': TABLE_SCHEMA.partitionKey },
        ExpressionAttributeValues: {
          ':account': { S: prefix },
          ':sources': { S: `${prefix}${SOURCE_SEPARATOR}` },
        },
        ProjectionExpression: '#pk',
      },
    );
    for await (const page of pages) {
      for (const item of page.Items ?? []) {
        const pk = item[TABLE_SCHEMA.partitionKey];
        if (pk === undefined) continue;
        await this.client.send(
          new DeleteItemCommand({ TableName: this.tableName, Key: { [TABLE_SCHEMA.partitionKey]: pk } }),
        );
        cleared += 1;
      }
    }
    return cleared;
  }

  /** The write's result, or undefined when its condition failed. */
  private async conditional<T>(write: () => Promise<T>): Promise<T | undefined> {
    try {
      return await write();
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return undefined;
      throw error;
    }
  }

  private async increment(key: ThrottleKey, reservation: WindowReservation): Promise<WindowCount> {
    const { Attributes } = await this.client.send(
      new UpdateItemCommand({
        TableName: this.tableName,
        Key: throttleKey(key),
        UpdateExpression: 'ADD hits :one SET #ttl = :ttl',
        ConditionExpression: 'windowStart > :floor AND hits < :limit',
        ExpressionAttributeNames: { '#ttl': TABLE_SCHEMA.timeToLiveAttribute },
        ExpressionAttributeValues: {
          ':one': { N: '1' },
          ':floor': { N: String(reservation.at - reservation.windowMs) },
          ':limit': { N: String(reservation.limit) },
          ':ttl': { N: ttlOf(reservation) },
        },
        ReturnValues: 'ALL_NEW',
      }),
    );
    return { reserved: true, ...toWindow(Attributes ?? {}, reservation.at) };
  }

  /**
   * Starts a new window, or (its condition failed: a window is current) answers the counter as the condition
   * saw it, from `ReturnValuesOnConditionCheckFailure: ALL_OLD`
   * (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_UpdateItem.html).
   */
  private async restart(
    key: ThrottleKey,
    reservation: WindowReservation,
  ): Promise<WindowCount | { readonly seen: Record<string, AttributeValue> | undefined }> {
    try {
      const { Attributes } = await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: throttleKey(key),
          UpdateExpression: 'SET hits = :one, windowStart = :at, #ttl = :ttl',
          ConditionExpression: 'attribute_not_exists(windowStart) OR windowStart <= :floor',
          ExpressionAttributeNames: { '#ttl': TABLE_SCHEMA.timeToLiveAttribute },
          ExpressionAttributeValues: {
            ':one': { N: '1' },
            ':at': { N: String(reservation.at) },
            ':floor': { N: String(reservation.at - reservation.windowMs) },
            ':ttl': { N: ttlOf(reservation) },
          },
          ReturnValues: 'ALL_NEW',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return { reserved: true, ...toWindow(Attributes ?? {}, reservation.at) };
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return { seen: error.Item };
      throw error;
    }
  }
}

/** What {@link DynamoDbUserStore.backfillUserIds} did. */
export interface UserIdBackfill {
  /** The users whose `USERID#` item it wrote. */
  readonly written: readonly string[];
  /** How many users had theirs already. */
  readonly present: number;
  /** Subjects it left alone: shared by users, or with a `USERID#` item naming another user (or none). */
  readonly conflicts: readonly UserIdConflict[];
  /** User items without a `username` or `userId` attribute (not written by this project's tools). */
  readonly incomplete: number;
}

/** A subject the backfill left alone. */
export interface UserIdConflict {
  readonly userId: string;
  /** The users whose item names this subject: more than one, or one its `USERID#` item does not name. */
  readonly usernames: readonly string[];
  /** The username the subject's `USERID#` item holds, if it has one with a username. */
  readonly namedUser: string | undefined;
}

/** Rounds of a reservation that lost its race to another request (see `reserve`). */
const RESERVE_ROUNDS = 3;

/** Separates the account from the source in a source counter's key; never part of an enforced username. */
const SOURCE_SEPARATOR = ' ';

function userKey(username: string): Record<string, AttributeValue> {
  return { [TABLE_SCHEMA.partitionKey]: { S: KEY_PREFIX.user + username } };
}

function userIdKey(userId: string): Record<string, AttributeValue> {
  return { [TABLE_SCHEMA.partitionKey]: { S: KEY_PREFIX.userId + userId } };
}

/** `LOGIN#<username>` for the account-wide counter, `LOGIN#<username> <source>` for a source's. */
function throttleKey(key: ThrottleKey): Record<string, AttributeValue> {
  const suffix = key.source === undefined ? '' : `${SOURCE_SEPARATOR}${key.source}`;
  return { [TABLE_SCHEMA.partitionKey]: { S: `${KEY_PREFIX.loginThrottle}${key.username}${suffix}` } };
}

/** DynamoDB's TTL attribute is in epoch seconds: the item outlives its window by one more window. */
function ttlOf(reservation: WindowReservation): string {
  return String(Math.ceil((reservation.at + 2 * reservation.windowMs) / 1000));
}

function toWindow(item: Record<string, AttributeValue>, at: number): { count: number; windowStart: number } {
  const count = Number(item.hits?.N ?? 0);
  const windowStart = Number(item.windowStart?.N ?? at);
  if (!Number.isFinite(count) || !Number.isFinite(windowStart)) {
    throw new TypeError('login throttle item is incomplete');
  }
  return { count, windowStart };
}
