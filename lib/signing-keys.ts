import { Duration, RemovalPolicy, SecretValue, Stack, Validations } from 'aws-cdk-lib';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { type IKey, Key } from 'aws-cdk-lib/aws-kms';
import { type CfnSecret, type ISecret, Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { UNINITIALIZED_SECRET } from '../lambda/core/key-set-format';
import type { SigningAlg } from '../lambda/core/keys';
import { PlatformFunction } from './platform-function';

/** What the rotation function needs to know about token and session lifetimes. */
export interface SigningKeyLifetimes {
  readonly signingAlg: SigningAlg;
  readonly accessTokenTtl: Duration;
  readonly clockSkew: Duration;
  readonly issuerKeyCacheTtl: Duration;
  readonly sessionAbsoluteLifetime: Duration;
}

/** Properties of {@link SigningKeys}. */
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
  /** Name of the session table whose JWKS item the rotation function writes (primary only). */
  readonly tableName?: string;
  /** Token and session lifetimes the rotation keeps retired keys for (primary only). */
  readonly lifetimes?: SigningKeyLifetimes;
  /** @default Duration.days(30) */
  readonly rotationInterval?: Duration;
}

/**
 * The private key set: a Secrets Manager secret encrypted with a customer-managed KMS key, replicated to
 * every region (each replica under that region's own key, found by alias), rotated on a schedule by the
 * rotation function in `lambda/rotation` (docs/design.md "Keys and rotation"). The first rotation runs right
 * after deployment and replaces the placeholder value with a fresh key set.
 *
 * @example
 * const keys = new SigningKeys(this, 'SigningKeys', { name: 'hybrid-auth', role: 'primary', replicaRegions, tableName, lifetimes });
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
    const { lifetimes, tableName } = props;
    if (lifetimes === undefined || tableName === undefined) {
      throw new TypeError('SigningKeys: the primary needs lifetimes and tableName');
    }
    const interval = props.rotationInterval ?? Duration.days(30);
    if (!interval.isUnresolved() && (interval.toDays() < 1 || interval.toDays() > 365)) {
      throw new TypeError(`SigningKeys: rotationInterval must be 1 to 365 days, got ${interval.toDays()}`);
    }
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
        ACCESS_TOKEN_TTL_SECONDS: String(lifetimes.accessTokenTtl.toSeconds()),
        CLOCK_SKEW_SECONDS: String(lifetimes.clockSkew.toSeconds()),
        KEY_CACHE_TTL_SECONDS: String(lifetimes.issuerKeyCacheTtl.toSeconds()),
        SESSION_ABSOLUTE_LIFETIME_SECONDS: String(lifetimes.sessionAbsoluteLifetime.toSeconds()),
      },
    });
    // Only the JWKS item: the rotation function can neither read sessions nor users.
    rotationFunction.addToRolePolicy(
      new PolicyStatement({
        actions: ['dynamodb:GetItem', 'dynamodb:PutItem'],
        resources: [tableArn],
        conditions: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': ['JWKS'] } },
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

/** The KMS alias of the signing-keys secret in every region. */
export function signingKeysAlias(name: string): string {
  return `alias/${name}/signing-keys`;
}
