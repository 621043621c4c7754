import { BatchGetItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { SessionSubjectReader } from '../core/session-cache';
import { type BatchGetItem, DynamoDbSessionSubjectReader } from './dynamodb-session-subject-reader';

/** `BatchGetItem` through the AWS SDK's client (the issuer, the local platform, the tests). */
export function sdkBatchGetItem(client: DynamoDBClient): BatchGetItem {
  return async (input) => client.send(new BatchGetItemCommand(input));
}

/** The session-and-watermark reader over the AWS SDK's client: one `BatchGetItem` per read. */
export function sdkSessionSubjectReader(client: DynamoDBClient, tableName: string): SessionSubjectReader {
  return new DynamoDbSessionSubjectReader({ batchGetItem: sdkBatchGetItem(client), tableName });
}
