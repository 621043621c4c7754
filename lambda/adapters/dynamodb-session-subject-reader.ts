import type { SessionAndSubject, SessionSubjectReader } from '../core/session-cache';
import type {
  BatchGetItemInput,
  BatchGetItemOutput,
  DynamoDbLiteClient,
  WireItem,
} from './dynamodb-lite-client';
import { toSession } from './dynamodb-session-store';
import { subjectItemKey, toSubject } from './dynamodb-subject-store';
import { KEY_PREFIX, TABLE_SCHEMA } from './table-schema';

/**
 * One `BatchGetItem` call, by any client: the authorizer's {@link DynamoDbLiteClient} (`batchGetItem`) or the
 * AWS SDK's (`sdkBatchGetItem` in dynamodb-sdk-batch-get.ts). Items in the JSON wire format.
 */
export type BatchGetItem = (input: BatchGetItemInput) => Promise<BatchGetItemOutput>;

/** Options of {@link DynamoDbSessionSubjectReader}. */
export interface DynamoDbSessionSubjectReaderProps {
  readonly batchGetItem: BatchGetItem;
  readonly tableName: string;
  /** Back-off before each retry of unprocessed keys, ms; their number bounds the retries. @default [25, 50] */
  readonly unprocessedRetryDelaysMs?: readonly number[];
}

/**
 * Reads a session item and its subject's watermark item in one `BatchGetItem` (both keys of one table, with
 * the requested consistency). DynamoDB may answer a batch in part, returning the keys it did not read in
 * `UnprocessedKeys` (throttling, an internal failure) and asks that they be retried with back-off
 * (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchGetItem.html): they are, a bounded
 * number of times, and then the read fails (the authorizer fails closed) rather than answer without an item.
 * `ConsistentRead` applies per table in the request, as `GetItem`'s does.
 */
export class DynamoDbSessionSubjectReader implements SessionSubjectReader {
  private readonly delays: readonly number[];

  public constructor(private readonly props: DynamoDbSessionSubjectReaderProps) {
    this.delays = props.unprocessedRetryDelaysMs ?? [25, 50];
  }

  public async read(
    sid: string,
    sub: string,
    options: { readonly consistent: boolean },
  ): Promise<SessionAndSubject> {
    const { tableName } = this.props;
    const sessionKey = KEY_PREFIX.session + sid;
    const pk = TABLE_SCHEMA.partitionKey;
    const watermarkKey = subjectItemKey(sub);
    let keys: WireItem[] = [{ [pk]: { S: sessionKey } }, watermarkKey];
    const found: WireItem[] = [];
    for (let retry = 0; ; retry++) {
      const output = await this.props.batchGetItem({
        RequestItems: { [tableName]: { Keys: keys, ConsistentRead: options.consistent } },
      });
      found.push(...(output.Responses?.[tableName] ?? []));
      keys = output.UnprocessedKeys?.[tableName]?.Keys ?? [];
      if (keys.length === 0) break;
      const delay = this.delays[retry];
      if (delay === undefined) {
        throw new Error(`BatchGetItem left ${keys.length} key(s) unprocessed after ${retry} retries`);
      }
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
    const byKey = (key: string) => found.find((item) => item[pk]?.S === key);
    const session = byKey(sessionKey);
    const subject = byKey(watermarkKey[pk]?.S ?? '');
    return {
      session: session === undefined ? undefined : toSession(session),
      subject: subject === undefined ? undefined : toSubject(subject),
    };
  }
}

/**
 * The reader over the minimal client (dynamodb-lite-client.ts), as the Lambda entry points and the local
 * platform read: the counterpart of `sdkSessionSubjectReader` (dynamodb-sdk-batch-get.ts).
 */
export function liteSessionSubjectReader(
  client: Pick<DynamoDbLiteClient, 'batchGetItem'>,
  tableName: string,
): DynamoDbSessionSubjectReader {
  return new DynamoDbSessionSubjectReader({ batchGetItem: (input) => client.batchGetItem(input), tableName });
}
