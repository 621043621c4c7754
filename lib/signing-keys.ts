import { Duration, RemovalPolicy, SecretValue, Stack, Validations } from 'aws-cdk-lib';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { type IKey, Key } from 'aws-cdk-lib/aws-kms';
import { type CfnSecret, type ISecret, Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { LEADING_KEYS } from '../lambda/adapters/table-schema';
import { UNINITIALIZED_SECRET } from '../lambda/core/key-set-format';
import type { SigningAlg } from '../lambda/core/keys';
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
 * Properties of {@link SigningKeys}. The primary needs `tableName` and the token and session settings
 * (`signingAlg` to `sessionAbsoluteLifetime`, the fields of {@link SigningKeyLifetimes} as flat props); a
 * replica needs none of them.
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
  /** Name of the session table whose JWKS item the rotation function writes (primary only). @default none: the primary needs it */
  readonly tableName?: string;
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
      removalPolicy: RemovalPolicy.RETAIN,
    });
    if (props.role === 'replica') {
      this.secret = Secret.fromSecretNameV2(this, 'Secret', secretName);
      return;
    }
    const { tableName } = props;
    const lifetimes = primaryLifetimes(props);
    if (tableName === undefined) {
      throw new InvalidValueError(
        'SigningKeys',
        'tableName',
        tableName,
        "the session table's name (the primary needs it)",
      );
    }
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
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // Each replica is encrypted under its own region's key, which that region's stack creates with the same
    // alias (an alias resolves in the replica's region; a key object of another stack cannot be referenced).
    (secret.node.defaultChild as CfnSecret).replicaRegions = (props.replicaRegions ?? []).map((region) => ({
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
    // Grants the four rotation calls on the secret and the use of its key.
    secret.addRotationSchedule('Schedule', {
      rotationLambda: rotationFunction,
      automaticallyAfter: interval,
      rotateImmediatelyOnUpdate: true,
    });
    this.rotationFunction = rotationFunction;
    Validations.of(rotationFunction.role ?? rotationFunction).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'secretsmanager:GetRandomPassword, which addRotationSchedule grants every rotation function, has no resource-level permissions; it returns random bytes and reads no secret',
    });
  }

  /** Lets `grantee` read the private key set in this region (the issuer). */
  public grantRead(grantee: Parameters<ISecret['grantRead']>[0]): void {
    this.secret.grantRead(grantee);
    this.key.grantDecrypt(grantee);
  }
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
