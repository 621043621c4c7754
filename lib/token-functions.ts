import { Duration, Stack } from 'aws-cdk-lib';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { DEFAULT_SECURITY_EVENT_SOURCE } from '../lambda/adapters/security-events';
import { LEADING_KEYS, TABLE_SCHEMA } from '../lambda/adapters/table-schema';
import type { ClientConfig } from '../lambda/core/clients';
import { SETTINGS } from '../lambda/settings';
import { PlatformFunction } from './platform-function';
import type { SigningKeys } from './signing-keys';

/** Settings both functions share. */
interface TokenFunctionProps {
  /** This region's replica of the session table, by name (each function reads its own region's replica). */
  readonly tableName: string;
  /** The exact `iss` of every token. @default none: the stack sets `ISSUER` once the API exists */
  readonly issuer?: string;
  /** The exact `aud` of every token. */
  readonly audience: string;
  readonly accessTokenTtl: Duration;
  readonly clockSkew: Duration;
}

function tableArns(scope: Construct, tableName: string): { table: string; index: string } {
  const table = Stack.of(scope).formatArn({
    service: 'dynamodb',
    resource: 'table',
    resourceName: tableName,
  });
  return { table, index: `${table}/index/${TABLE_SCHEMA.bySubjectIndex.name}` };
}

/** Properties of {@link TokenAuthorizer}. */
export interface TokenAuthorizerProps extends TokenFunctionProps {
  /** The in-memory session cache TTL (part of the revocation budget). */
  readonly sessionCacheTtl: Duration;
  /** Read sessions strongly consistently (MRSC). @default false */
  readonly consistentRead?: boolean;
  /**
   * How long after `iat` a valid token is accepted while its session item has not reached this region yet:
   * the configured replication lag (part of the revocation budget); 0 under strong consistency.
   * @default Duration.seconds(0)
   */
  readonly expectedReplicationLag?: Duration;
}

/**
 * The REQUEST authorizer function (lambda/authorizer). Least privilege: `GetItem` and `BatchGetItem` (a session
 * and its subject's watermark in one request) on session items, subject watermark items and the JWKS item of
 * its region's replica only; no secret, no write, no user items (password hashes).
 *
 * @example
 * const authorizer = new TokenAuthorizer(this, 'Authorizer', { tableName, issuer, audience, accessTokenTtl, clockSkew, sessionCacheTtl });
 */
export class TokenAuthorizer extends Construct {
  public readonly function: PlatformFunction;

  public constructor(scope: Construct, id: string, props: TokenAuthorizerProps) {
    super(scope, id);
    this.function = new PlatformFunction(this, 'Function', {
      entry: 'authorizer/index.ts',
      memorySize: 512,
      timeout: Duration.seconds(5),
      // On the path of every API request: no source map to parse on the first 401 (docs/performance.md).
      sourceMaps: false,
      // Its bundle has no CommonJS dependency: no `node:module` import at start (docs/performance.md).
      requireShim: false,
      environment: {
        TABLE_NAME: props.tableName,
        ...(props.issuer === undefined ? {} : { ISSUER: props.issuer }),
        AUDIENCE: props.audience,
        [SETTINGS.accessTokenTtlSeconds.env]: String(props.accessTokenTtl.toSeconds()),
        [SETTINGS.clockSkewSeconds.env]: String(props.clockSkew.toSeconds()),
        [SETTINGS.sessionCacheTtlSeconds.env]: String(props.sessionCacheTtl.toSeconds()),
        CONSISTENT_READ: String(props.consistentRead ?? false),
        [SETTINGS.expectedReplicationLagSeconds.env]: String(props.expectedReplicationLag?.toSeconds() ?? 0),
      },
    });
    this.function.addToRolePolicy(
      new PolicyStatement({
        // BatchGetItem is authorized per key like GetItem: `dynamodb:LeadingKeys` holds every partition key
        // of the batch, and ForAllValues requires each to match
        // (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/specifying-conditions.html).
        actions: ['dynamodb:GetItem', 'dynamodb:BatchGetItem'],
        resources: [tableArns(this, props.tableName).table],
        conditions: {
          'ForAllValues:StringLike': {
            'dynamodb:LeadingKeys': [LEADING_KEYS.sessions, LEADING_KEYS.subjects, LEADING_KEYS.jwks],
          },
        },
      }),
    );
  }
}

/** Properties of {@link TokenIssuer}. */
export interface TokenIssuerProps extends TokenFunctionProps {
  readonly signingKeys: SigningKeys;
  readonly clients: readonly ClientConfig[];
  readonly sessionIdleTimeout: Duration;
  readonly sessionAbsoluteLifetime: Duration;
  readonly refreshGrace: Duration;
  readonly issuerKeyCacheTtl: Duration;
  /**
   * The `source` of the security events the issuer puts on the event bus (refresh-token reuse): what a rule
   * matches on. The stack gives the configured `name`, so two deployments in one account stay apart.
   * @default 'hybrid-auth'
   */
  readonly securityEventSource?: string;
  /**
   * The event bus, in this account and region, that takes the security events: a name.
   * @default 'default' (the account's default event bus in the stack's region)
   */
  readonly securityEventBusName?: string;
}

/**
 * The token issuer function (lambda/issuer). It reads the private key set from its region's replica of the
 * secret, reads sessions, subject watermarks, users (and their `USERID#` items), login throttles and the
 * JWKS item of its region's replica, and writes sessions, subject watermarks and login throttles; of users it
 * may only update (the password change's new hash, a write conditional on the stored hash in the code; IAM
 * cannot tell an UpdateItem that would create an item from one that changes it): it cannot put or delete
 * users, write their `USERID#` items, the secret or the JWKS item. It puts its security events on one event
 * bus of its region, with its own `source` only.
 *
 * @example
 * const issuer = new TokenIssuer(this, 'Issuer', { tableName, issuer, audience, signingKeys, clients, ... });
 */
export class TokenIssuer extends Construct {
  public readonly function: PlatformFunction;

  public constructor(scope: Construct, id: string, props: TokenIssuerProps) {
    super(scope, id);
    const securityEventSource = props.securityEventSource ?? DEFAULT_SECURITY_EVENT_SOURCE;
    const securityEventBusName = props.securityEventBusName ?? 'default';
    this.function = new PlatformFunction(this, 'Function', {
      entry: 'issuer/index.ts',
      // scrypt (N = 2^15, r = 8, p = 3) needs 32 MiB and CPU: more memory is more CPU in Lambda.
      memorySize: 1024,
      timeout: Duration.seconds(10),
      environment: {
        TABLE_NAME: props.tableName,
        ...(props.issuer === undefined ? {} : { ISSUER: props.issuer }),
        AUDIENCE: props.audience,
        SIGNING_KEYS_SECRET_ID: props.signingKeys.secret.secretName,
        CLIENTS: JSON.stringify(props.clients),
        [SETTINGS.accessTokenTtlSeconds.env]: String(props.accessTokenTtl.toSeconds()),
        [SETTINGS.sessionIdleTimeoutSeconds.env]: String(props.sessionIdleTimeout.toSeconds()),
        [SETTINGS.sessionAbsoluteLifetimeSeconds.env]: String(props.sessionAbsoluteLifetime.toSeconds()),
        [SETTINGS.refreshGraceSeconds.env]: String(props.refreshGrace.toSeconds()),
        [SETTINGS.issuerKeyCacheTtlSeconds.env]: String(props.issuerKeyCacheTtl.toSeconds()),
        SECURITY_EVENT_BUS: securityEventBusName,
        SECURITY_EVENT_SOURCE: securityEventSource,
      },
    });
    const arns = tableArns(this, props.tableName);
    this.function.addToRolePolicy(
      new PolicyStatement({
        actions: ['dynamodb:GetItem'],
        resources: [arns.table],
        conditions: {
          'ForAllValues:StringLike': {
            'dynamodb:LeadingKeys': [
              LEADING_KEYS.sessions,
              LEADING_KEYS.subjects,
              LEADING_KEYS.users,
              LEADING_KEYS.userIds,
              LEADING_KEYS.loginThrottles,
              LEADING_KEYS.jwks,
            ],
          },
        },
      }),
    );
    // The bearer routes' session check reads a session and its subject's watermark in one BatchGetItem (each
    // key of the batch must match, as for GetItem:
    // https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/specifying-conditions.html).
    this.function.addToRolePolicy(
      new PolicyStatement({
        actions: ['dynamodb:BatchGetItem'],
        resources: [arns.table],
        conditions: {
          'ForAllValues:StringLike': {
            'dynamodb:LeadingKeys': [LEADING_KEYS.sessions, LEADING_KEYS.subjects],
          },
        },
      }),
    );
    // Writes only sessions and login throttles: never users, never the JWKS item.
    this.function.addToRolePolicy(
      new PolicyStatement({
        actions: ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'],
        resources: [arns.table],
        conditions: {
          'ForAllValues:StringLike': {
            'dynamodb:LeadingKeys': [LEADING_KEYS.sessions, LEADING_KEYS.loginThrottles],
          },
        },
      }),
    );
    // The password change (`POST /auth/password`): one conditional UpdateItem of the user item's hash; log
    // out everywhere and the password change move a subject's watermark. UpdateItem only.
    this.function.addToRolePolicy(
      new PolicyStatement({
        actions: ['dynamodb:UpdateItem'],
        resources: [arns.table],
        conditions: {
          'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [LEADING_KEYS.users, LEADING_KEYS.subjects] },
        },
      }),
    );
    this.function.addToRolePolicy(
      new PolicyStatement({ actions: ['dynamodb:Query'], resources: [arns.index] }),
    );
    props.signingKeys.grantRead(this.function);
    // PutEvents on the one bus, and only with the issuer's own source (a condition key PutEvents supports;
    // multivalued, one value per entry, hence the set operator as in AWS's own example):
    // https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-conditions.html
    // https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-bus-example-policy-cross-account-custom-bus-source.html
    this.function.addToRolePolicy(
      new PolicyStatement({
        actions: ['events:PutEvents'],
        resources: [
          Stack.of(this).formatArn({
            service: 'events',
            resource: 'event-bus',
            resourceName: securityEventBusName,
          }),
        ],
        conditions: { 'ForAllValues:StringEquals': { 'events:source': [securityEventSource] } },
      }),
    );
  }
}
