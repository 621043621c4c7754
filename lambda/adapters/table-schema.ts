/**
 * The single-table key design (docs/data-model.md), declared once: the CDK `SessionTable`, the local
 * platform and the tests all create the table from these names.
 */
export const TABLE_SCHEMA = {
  /**
   * Partition key of every item: `SESSION#<sid>`, `USER#<username>`, `USERID#<userId>`, `LOGIN#<username>`,
   * `SUBJECT#<subject key>` (lambda/core/subject.ts `subjectKey`), `JWKS`.
   */
  partitionKey: 'pk',
  /** Epoch-seconds attribute DynamoDB's TTL deletes items by. */
  timeToLiveAttribute: 'ttl',
  /** Sparse GSI over session items only: all sessions of a subject, by creation time. */
  bySubjectIndex: { name: 'bySubject', partitionKey: 'sub', sortKey: 'createdAt' },
} as const;

/** Key prefixes of the item types. */
export const KEY_PREFIX = {
  session: 'SESSION#',
  user: 'USER#',
  /** A user's username by subject (`userId`): how a bearer route finds the user item of its `sub`. */
  userId: 'USERID#',
  loginThrottle: 'LOGIN#',
  /** The revocation watermark of a subject, keyed by `subjectKey(sub)`. */
  subject: 'SUBJECT#',
} as const;

/** The key of the one published-JWKS item. */
export const JWKS_ITEM_KEY = 'JWKS';

/**
 * `dynamodb:LeadingKeys` patterns for IAM conditions (`ForAllValues:StringLike`): every item of a type, or
 * the JWKS item. The CDK grants least privilege with these, so a renamed prefix cannot leave a stale grant.
 */
export const LEADING_KEYS = {
  sessions: `${KEY_PREFIX.session}*`,
  users: `${KEY_PREFIX.user}*`,
  userIds: `${KEY_PREFIX.userId}*`,
  loginThrottles: `${KEY_PREFIX.loginThrottle}*`,
  subjects: `${KEY_PREFIX.subject}*`,
  jwks: JWKS_ITEM_KEY,
} as const;
