import { Duration, RemovalPolicy, SecretValue, Stack, Token, Validations } from 'aws-cdk-lib';
import type { ITableV2 } from 'aws-cdk-lib/aws-dynamodb';
import { type IGrantable, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { type IKey, Key } from 'aws-cdk-lib/aws-kms';
import { CfnPermission } from 'aws-cdk-lib/aws-lambda';
import { type CfnSecret, type ISecret, Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { LEADING_KEYS } from '../lambda/adapters/table-schema';
import { UNINITIALIZED_SECRET } from '../lambda/core/key-set-format';
import type { SigningAlg } from '../lambda/core/keys';
import { formatReplicaRegions, REPLICA_REGIONS_ENV } from '../lambda/rotation/replica-regions';
import { SETTINGS } from '../lambda/settings';
import { PlatformFunction } from './platform-function';
import { InvalidValueError, requireDuration } from './validation';

/**
 * What the rotation function needs to know about tokens and sessions: the algorithm of the keys it
 * generates, and the lifetimes that decide how long it keeps a retired key.
 */
export interface SigningKeyLifetimes {
  /** The algorithm of the signing keys the rotation generates. */
  readonly signingAlg: SigningAlg;
  /** The longest access-token lifetime: a retired signing key is kept at least this long (plus skew). */
  readonly accessTokenTtl: Duration;
  /** The clock skew verifiers allow. */
  readonly clockSkew: Duration;
  /** How long issuers cache the private key set. */
  readonly issuerKeyCacheTtl: Duration;
  /** The longest absolute session lifetime: refresh-token MAC keys are kept this long. */
  readonly sessionAbsoluteLifetime: Duration;
}

/**
 * Properties of {@link SigningKeys}. The primary needs the session table (`table`, or its `tableName`) and
 * the token and session settings (`signingAlg` to `sessionAbsoluteLifetime`, the fields of
 * {@link SigningKeyLifetimes} as flat props); a replica needs none of them.
 */
export interface SigningKeysProps {
  /** Prefix of the secret name and KMS alias, shared by every region (`<name>/signing-keys`). */
  readonly name: string;
  /**
   * `primary`: the secret, its rotation function and schedule, replicated to `replicaRegions`. `replica`: the
   * customer-managed key that encrypts this region's replica of the secret (created before the primary).
   */
  readonly role: 'primary' | 'replica';
  /** Regions holding a replica of the secret (primary only). @default [] */
  readonly replicaRegions?: readonly string[];
  /**
   * Name of the session table whose JWKS item the rotation function writes (primary only).
   * @default `table.tableName`; the primary needs one of the two
   */
  readonly tableName?: string;
  /**
   * The session table, when it is in the same stack (primary only): the rotation schedule, which rotates
   * at once on creation and writes the JWKS item, is then created after the table.
   * @default none: no ordering (give it, or make the stack order the table first some other way)
   */
  readonly table?: ITableV2;
  /** How often the key set rotates (primary only): whole days from 1 to 365. @default Duration.days(30) */
  readonly rotationInterval?: Duration;
  /** The algorithm of the signing keys the rotation generates (primary only). @default none: the primary needs it */
  readonly signingAlg?: SigningAlg;
  /** The longest access-token lifetime (primary only). @default none: the primary needs it */
  readonly accessTokenTtl?: Duration;
  /** The clock skew verifiers allow (primary only). @default none: the primary needs it */
  readonly clockSkew?: Duration;
  /** How long issuers cache the private key set (primary only). @default none: the primary needs it */
  readonly issuerKeyCacheTtl?: Duration;
  /** The longest absolute session lifetime (primary only). @default none: the primary needs it */
  readonly sessionAbsoluteLifetime?: Duration;
}

/**
 * The private key set: a Secrets Manager secret encrypted with a customer-managed KMS key, replicated to
 * every region (each replica under that region's own key, found by alias), rotated on a schedule by the
 * rotation function in `lambda/rotation` (docs/design.md "Keys and rotation"). The first rotation runs right
 * after deployment and replaces the placeholder value with a fresh key set.
 *
 * The secret and the keys are kept when they leave the stack (an update or `cdk destroy`) but not when the
 * stack's creation rolls back, so a failed first deploy can be retried (docs/runbooks/key-rotation.md
 * "Clean up after cdk destroy" lists what stays and how to delete it).
 *
 * @example
 * const keys = new SigningKeys(this, 'SigningKeys', {
 *   name: 'hybrid-auth', role: 'primary', replicaRegions, tableName,
 *   signingAlg: 'ES256', accessTokenTtl, clockSkew, issuerKeyCacheTtl, sessionAbsoluteLifetime,
 * });
 * keys.grantRead(issuerFunction);
 */
export class SigningKeys extends Construct {
  /** This region's key for the secret (or its replica). */
  public readonly key: IKey;
  /** This region's secret (or replica), by name. */
  public readonly secret: ISecret;
  /** The rotation function (primary only). */
  public readonly rotationFunction?: PlatformFunction;

  public constructor(scope: Construct, id: string, props: SigningKeysProps) {
    super(scope, id);
    const secretName = `${props.name}/signing-keys`;
    const aliasName = signingKeysAlias(props.name);
    this.key = new Key(this, 'Key', {
      alias: aliasName,
      description: `Encrypts the ${secretName} secret (signing and refresh-token MAC keys)`,
      enableKeyRotation: true,
      removalPolicy: KEEP_UNLESS_CREATE_ROLLS_BACK,
    });
    if (props.role === 'replica') {
      this.secret = Secret.fromSecretNameV2(this, 'Secret', secretName);
      return;
    }
    const tableName = props.tableName ?? props.table?.tableName;
    const lifetimes = primaryLifetimes(props);
    if (tableName === undefined) {
      throw new InvalidValueError(
        'SigningKeys',
        'tableName',
        tableName,
        "the session table's name, or the table (the primary needs one)",
      );
    }
    const replicaRegions = props.replicaRegions ?? [];
    const interval = requireDuration(
      'SigningKeys',
      'rotationInterval',
      props.rotationInterval ?? Duration.days(30),
      {
        min: 1,
        max: 365,
        unit: 'days',
        whole: true,
      },
    );
    const secret = new Secret(this, 'Secret', {
      secretName,
      description:
        'hybrid-auth private key set: signing keys (next, current, previous) and refresh-token MAC keys',
      encryptionKey: this.key,
      secretStringValue: SecretValue.unsafePlainText(UNINITIALIZED_SECRET),
      removalPolicy: KEEP_UNLESS_CREATE_ROLLS_BACK,
    });
    // Each replica is encrypted under its own region's key, which that region's stack creates with the same
    // alias (an alias resolves in the replica's region; a key object of another stack cannot be referenced).
    (secret.node.defaultChild as CfnSecret).replicaRegions = replicaRegions.map((region) => ({
      region,
      kmsKeyId: aliasName,
    }));
    this.secret = secret;

    const tableArn = Stack.of(this).formatArn({
      service: 'dynamodb',
      resource: 'table',
      resourceName: tableName,
    });
    const rotationFunction = new PlatformFunction(this, 'Rotation', {
      entry: 'rotation/index.ts',
      timeout: Duration.seconds(30),
      environment: {
        TABLE_NAME: tableName,
        SIGNING_ALG: lifetimes.signingAlg,
        [SETTINGS.accessTokenTtlSeconds.env]: String(lifetimes.accessTokenTtl.toSeconds()),
        [SETTINGS.clockSkewSeconds.env]: String(lifetimes.clockSkew.toSeconds()),
        [SETTINGS.issuerKeyCacheTtlSeconds.env]: String(lifetimes.issuerKeyCacheTtl.toSeconds()),
        [SETTINGS.sessionAbsoluteLifetimeSeconds.env]: String(lifetimes.sessionAbsoluteLifetime.toSeconds()),
        // finishSecret reports each of these regions whose replica it cannot confirm InSync.
        [REPLICA_REGIONS_ENV]: formatReplicaRegions(replicaRegions),
      },
    });
    // Only the JWKS item: the rotation function can neither read sessions nor users.
    rotationFunction.addToRolePolicy(
      new PolicyStatement({
        actions: ['dynamodb:GetItem', 'dynamodb:PutItem'],
        resources: [tableArn],
        conditions: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': [LEADING_KEYS.jwks] } },
      }),
    );
    // Secrets Manager replicates each new version as the caller that wrote it: "When Secrets Manager uses a
    // KMS key in cryptographic operations, it acts on behalf of the user who is creating or changing the
    // secret value" (https://docs.aws.amazon.com/secretsmanager/latest/userguide/security-encryption.html),
    // and "to encrypt the replicated secret with a KMS key other than aws/secretsmanager, you need
    // kms:GenerateDataKey and kms:Encrypt to the key"
    // (https://docs.aws.amazon.com/secretsmanager/latest/userguide/replicate-secrets_troubleshoot.html). The
    // writer is this function (PutSecretValue in createSecret), so it may use each replica region's key, and
    // only through Secrets Manager. That key belongs to another stack: an alias in `Resource` would name the
    // alias, not the key (https://docs.aws.amazon.com/kms/latest/developerguide/alias-authorization.html),
    // so the statement names the region's keys and narrows them to the one carrying our alias with
    // kms:ResourceAliases, which holds whatever the request names the key by (kms:RequestAlias would depend
    // on Secrets Manager passing the alias). AWS does not document which region's Secrets Manager endpoint
    // makes the replica's KMS call, so kms:ViaService allows the replica region's and this one's: both are
    // Secrets Manager in this account, and Secrets Manager only uses a key of the secret's own region. The
    // replica keys' default key policy delegates to IAM (account root), so this IAM statement suffices.
    for (const region of replicaRegions) {
      rotationFunction.addToRolePolicy(
        new PolicyStatement({
          actions: ['kms:GenerateDataKey', 'kms:Encrypt'],
          resources: [
            Stack.of(this).formatArn({ service: 'kms', region, resource: 'key', resourceName: '*' }),
          ],
          conditions: {
            StringEquals: {
              'kms:ViaService': [
                secretsManagerEndpoint(region),
                secretsManagerEndpoint(Stack.of(this).region),
              ],
            },
            'ForAnyValue:StringEquals': { 'kms:ResourceAliases': [aliasName] },
          },
        }),
      );
    }
    // Grants the four rotation calls on the secret and the use of its key, and lets Secrets Manager invoke
    // the function.
    const schedule = secret.addRotationSchedule('Schedule', {
      rotationLambda: rotationFunction,
      automaticallyAfter: interval,
      rotateImmediatelyOnUpdate: true,
    });
    // The schedule rotates at once when it is created, and the rotation writes (setSecret) and reads back
    // (testSecret) the table's JWKS item: the table must exist first.
    if (props.table !== undefined) schedule.node.addDependency(props.table);
    restrictInvokePermission(rotationFunction, secret);
    this.rotationFunction = rotationFunction;
    Validations.of(rotationFunction.role ?? rotationFunction).acknowledge(
      {
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          'secretsmanager:GetRandomPassword, which addRotationSchedule grants every rotation function, has no resource-level permissions; it returns random bytes and reads no secret',
      },
      ...replicaRegions.map((region) => ({
        id: `AwsSolutions-IAM5[Resource::${nagKeyPattern(Stack.of(this), region)}]`,
        reason: `The key of the secret's replica in ${region} belongs to that region's stack and cannot be referenced; the statement is narrowed to the key with alias ${aliasName} (kms:ResourceAliases) used through Secrets Manager (kms:ViaService)`,
      })),
    );
  }

  /**
   * Lets `grantee` read the private key set in this region (the issuer): GetSecretValue on the secret, and
   * kms:Decrypt on this region's key only through Secrets Manager in this region ("to allow the KMS key to
   * be used only for requests that originate in Secrets Manager, you can use the kms:ViaService condition
   * key with the secretsmanager.<Region>.amazonaws.com value",
   * https://docs.aws.amazon.com/secretsmanager/latest/userguide/security-encryption.html): the grantee
   * cannot decrypt with the key directly.
   */
  public grantRead(grantee: IGrantable): void {
    this.secret.grantRead(grantee);
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['kms:Decrypt'],
        resources: [this.key.keyArn],
        conditions: { StringEquals: { 'kms:ViaService': secretsManagerEndpoint(Stack.of(this).region) } },
      }),
    );
  }
}

/**
 * Kept when it leaves the stack (update, `cdk destroy`), deleted when the creation that made it rolls back:
 * DeletionPolicy `RetainExceptOnCreate`, which "behaves like Retain for stack operations, except for the
 * stack operation that initially created the resource. If the stack operation that created the resource is
 * rolled back, CloudFormation deletes the resource"
 * (https://docs.aws.amazon.com/cdk/api/v2/docs/aws-cdk-lib.CfnDeletionPolicy.html,
 * https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-attribute-deletionpolicy.html).
 * With `Retain`, a rolled-back first deploy left the fixed-name secret behind and the retry failed with
 * "already exists".
 */
const KEEP_UNLESS_CREATE_ROLLS_BACK = RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE;

/** The `kms:ViaService` value of Secrets Manager in `region`. */
function secretsManagerEndpoint(region: string): string {
  return `secretsmanager.${region}.amazonaws.com`;
}

/** How cdk-nag writes the `key/*` resource of {@link SigningKeys} in a finding id. */
function nagKeyPattern(stack: Stack, region: string): string {
  const account = Token.isUnresolved(stack.account) ? '<AWS::AccountId>' : stack.account;
  // A literal partition where the stack knows it (the `enablePartitionLiterals` feature flag), as formatArn writes it.
  const partition = Token.isUnresolved(stack.partition) ? '<AWS::Partition>' : stack.partition;
  return `arn:${partition}:kms:${region}:${account}:key/*`;
}

/**
 * Narrows the permission `addRotationSchedule` gives Secrets Manager to invoke the rotation function to
 * this account (`SourceAccount`) and this secret (`SourceArn`). AWS recommends `aws:SourceAccount` against
 * the confused deputy and notes that `aws:SourceArn` limits the function to the secret it names
 * (https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotating-secrets-required-permissions-function.html):
 * this function rotates this secret only.
 *
 * @throws {Error} when the permission is not found (a CDK change): a silent unconditioned permission would
 * be worse.
 */
function restrictInvokePermission(fn: Construct, secret: ISecret): void {
  const permissions = fn.node.children.filter(
    (child): child is CfnPermission =>
      child instanceof CfnPermission && child.principal === 'secretsmanager.amazonaws.com',
  );
  const [permission] = permissions;
  if (permission === undefined || permissions.length !== 1) {
    throw new Error(
      `SigningKeys: expected one Secrets Manager invoke permission on the rotation function, found ${permissions.length}`,
    );
  }
  permission.sourceAccount = Stack.of(fn).account;
  permission.sourceArn = secret.secretArn;
}

/** The lifetimes a primary needs, each one required. */
function primaryLifetimes(props: SigningKeysProps): SigningKeyLifetimes {
  const { signingAlg, accessTokenTtl, clockSkew, issuerKeyCacheTtl, sessionAbsoluteLifetime } = props;
  const missing = (setting: string, allowed: string): never => {
    throw new InvalidValueError('SigningKeys', setting, undefined, `${allowed} (the primary needs it)`);
  };
  return {
    signingAlg: signingAlg ?? missing('signingAlg', '"ES256" or "EdDSA"'),
    accessTokenTtl: accessTokenTtl ?? missing('accessTokenTtl', 'a Duration'),
    clockSkew: clockSkew ?? missing('clockSkew', 'a Duration'),
    issuerKeyCacheTtl: issuerKeyCacheTtl ?? missing('issuerKeyCacheTtl', 'a Duration'),
    sessionAbsoluteLifetime: sessionAbsoluteLifetime ?? missing('sessionAbsoluteLifetime', 'a Duration'),
  };
}

/** The KMS alias of the signing-keys secret in every region. */
export function signingKeysAlias(name: string): string {
  return `alias/${name}/signing-keys`;
}
