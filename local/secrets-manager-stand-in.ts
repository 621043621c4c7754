import { randomInt, randomUUID } from 'node:crypto';
import {
  DescribeSecretCommand,
  type DescribeSecretCommandInput,
  type DescribeSecretCommandOutput,
  GetSecretValueCommand,
  type GetSecretValueCommandInput,
  type GetSecretValueCommandOutput,
  InvalidParameterException,
  InvalidRequestException,
  PutSecretValueCommand,
  type PutSecretValueCommandInput,
  type PutSecretValueCommandOutput,
  type ReplicationStatusType,
  ResourceExistsException,
  ResourceNotFoundException,
  SecretsManagerClient,
  type ServiceOutputTypes,
  StatusType,
  UpdateSecretVersionStageCommand,
  type UpdateSecretVersionStageCommandInput,
  type UpdateSecretVersionStageCommandOutput,
} from '@aws-sdk/client-secrets-manager';
import type { SecretsManagerRotationEvent, SecretsManagerRotationEventStep } from 'aws-lambda';
import { type AwsClientStub, mockClient } from 'aws-sdk-client-mock';

/** The region of every ARN the stand-in makes. */
export const STAND_IN_REGION = 'us-east-1';
/** The account of every ARN the stand-in makes. */
export const STAND_IN_ACCOUNT = '123456789012';

const AWSCURRENT = 'AWSCURRENT';
const AWSPREVIOUS = 'AWSPREVIOUS';
const AWSPENDING = 'AWSPENDING';
const ARN_PREFIX = `arn:aws:secretsmanager:${STAND_IN_REGION}:${STAND_IN_ACCOUNT}:secret:`;
const SUFFIX_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const SECRET_NAME = /^[A-Za-z0-9/_+=.@-]{1,512}$/;
/** `ReplicationStatusType.Region`: https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_ReplicationStatusType.html */
const REGION = /^([a-z]+-)+\d+$/;
const ROTATION_STEPS: readonly SecretsManagerRotationEventStep[] = [
  'createSecret',
  'setSecret',
  'testSecret',
  'finishSecret',
];

/** The commands the stand-in answers; every other command is refused with an error naming it. */
export const MODELLED_COMMANDS = [
  'GetSecretValueCommand',
  'PutSecretValueCommand',
  'DescribeSecretCommand',
  'UpdateSecretVersionStageCommand',
] as const;

/** Name of a command the stand-in answers (and so can make fail, see {@link SecretsManagerStandIn.failNext}). */
export type ModelledCommand = (typeof MODELLED_COMMANDS)[number];

/** Options of {@link SecretsManagerStandIn}. */
export interface SecretsManagerStandInOptions {
  /** Milliseconds since the epoch; stamps `CreatedDate` of secrets and versions. @default `Date.now` */
  readonly clock?: () => number;
}

/** Options of {@link SecretsManagerStandIn.createSecret}. */
export interface CreateSecretOptions {
  /** Id of the initial version (32 to 64 characters, like a `ClientRequestToken`). @default a random UUID */
  readonly versionId?: string;
  /** What `DescribeSecret` answers as `RotationEnabled`. @default false, as for a secret made by CreateSecret */
  readonly rotationEnabled?: boolean;
  /**
   * Replica regions, as CreateSecret's `AddReplicaRegions`: each one starts `InSync` (see
   * {@link SecretsManagerStandIn.setReplicationStatus}). @default [] (a secret that is not replicated)
   */
  readonly replicaRegions?: ReadonlyArray<{ readonly region: string; readonly kmsKeyId?: string }>;
}

/**
 * A replica's `Status` in DescribeSecret's `ReplicationStatus`: `InSync`, `InProgress` or `Failed`
 * (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_ReplicationStatusType.html).
 */
export type ReplicaStatus = StatusType;

/** Options of {@link SecretsManagerStandIn.rotate}. */
export interface RotateOptions {
  /** The rotation's `ClientRequestToken`, which becomes the new version's id. @default a random UUID */
  readonly token?: string;
}

/** One version of a secret as {@link SecretsManagerStandIn.versions} reports it. */
export interface SecretVersionSnapshot {
  readonly versionId: string;
  /** Staging labels attached to the version, sorted; empty for a deprecated version. */
  readonly stages: string[];
  /** The value; `undefined` only for a pending version that {@link SecretsManagerStandIn.rotate} made and no PutSecretValue has filled yet. */
  readonly secretString: string | undefined;
  /** Milliseconds since the epoch. */
  readonly createdAt: number;
}

/** A function that receives the rotation events, as a Lambda rotation function does. */
export type RotationFunction = (event: SecretsManagerRotationEvent) => Promise<unknown>;

type ResponseMetadata = DescribeSecretCommandOutput['$metadata'];

interface StoredVersion {
  readonly id: string;
  secretString: string | undefined;
  readonly stages: Set<string>;
  readonly createdAt: number;
}

interface StoredReplica {
  readonly kmsKeyId: string | undefined;
  status: ReplicaStatus;
  statusMessage: string | undefined;
}

interface StoredSecret {
  readonly name: string;
  readonly arn: string;
  readonly createdAt: number;
  rotationEnabled: boolean;
  /** By region, in the order given. */
  readonly replicas: Map<string, StoredReplica>;
  /** When a rotation last completed (all four steps), as DescribeSecret's `LastRotatedDate`. */
  lastRotatedAt?: number;
  /** In creation order. */
  readonly versions: Map<string, StoredVersion>;
}

interface Fault {
  readonly error: Error;
  remaining: number;
  /** Calls still let through before this fault applies. */
  skip: number;
}

/** Options of {@link SecretsManagerStandIn.failNext}. */
export interface FailNextOptions {
  /** How many calls of the command still succeed before the failures begin. @default 0 */
  readonly after?: number;
}

/**
 * A stateful in-memory stand-in for AWS Secrets Manager (Secrets Manager has no local equivalent), faithful
 * to the documented semantics of the calls a rotation function makes: `GetSecretValue`, `PutSecretValue`,
 * `DescribeSecret` and `UpdateSecretVersionStage`, with staging labels unique per secret, AWSPREVIOUS
 * following a moved AWSCURRENT, idempotent client request tokens and the SDK's own exception classes. A
 * secret may have replica regions: DescribeSecret then answers `PrimaryRegion` and `ReplicationStatus` (one
 * entry per replica with `Region`, `KmsKeyId`, `Status` and `StatusMessage`), each replica `InSync` until a
 * test says otherwise with {@link SecretsManagerStandIn.setReplicationStatus}; the replicas' values are not
 * modelled.
 *
 * It answers through `aws-sdk-client-mock` ({@link SecretsManagerStandIn.attach}), so the code under test
 * keeps calling `client.send(new XxxCommand(...))` and gets promises back. Any other command is refused
 * with an error naming it; callback-style `send` is not supported.
 *
 * @example
 * const secrets = new SecretsManagerStandIn({ clock: () => now });
 * const arn = secrets.createSecret('signing-keys', serializeKeySet(keys), { rotationEnabled: true });
 * const client = new SecretsManagerClient({});
 * const mock = secrets.attach(client);
 * await secrets.rotate(arn, createRotationHandler({ secrets: client, ...deps }));
 * expect(secrets.versions(arn).map((v) => v.stages)).toEqual([['AWSPREVIOUS'], ['AWSCURRENT', 'AWSPENDING']]);
 * mock.restore();
 */
export class SecretsManagerStandIn {
  private readonly clock: () => number;
  private readonly secrets = new Map<string, StoredSecret>();
  private readonly faults = new Map<ModelledCommand, Fault[]>();

  public constructor(options: SecretsManagerStandInOptions = {}) {
    this.clock = options.clock ?? Date.now;
  }

  /**
   * Creates a secret with an initial version labelled AWSCURRENT, as CreateSecret does.
   *
   * @returns the secret's ARN (`arn:aws:secretsmanager:us-east-1:123456789012:secret:<name>-<6 random characters>`)
   * @throws ResourceExistsException when a secret of that name exists
   * @throws InvalidParameterException for a name or version id that Secrets Manager would refuse
   */
  public createSecret(name: string, secretString: string, options: CreateSecretOptions = {}): string {
    if (!SECRET_NAME.test(name)) {
      throw invalidParameter(`Invalid name: ${JSON.stringify(name)} (1 to 512 of A-Z a-z 0-9 / _ + = . @ -)`);
    }
    if (this.secrets.has(name))
      throw resourceExists(`The operation failed because the secret ${name} already exists.`);
    const versionId = options.versionId ?? randomUUID();
    checkToken(versionId, 'versionId');
    let suffix = '';
    for (let i = 0; i < 6; i++) suffix += SUFFIX_ALPHABET[randomInt(SUFFIX_ALPHABET.length)];
    const replicas = new Map<string, StoredReplica>();
    for (const { region, kmsKeyId } of options.replicaRegions ?? []) {
      checkReplicaRegion(region);
      if (replicas.has(region))
        throw invalidParameter(`Region ${region} is listed twice in AddReplicaRegions.`);
      replicas.set(region, { kmsKeyId, status: StatusType.InSync, statusMessage: undefined });
    }
    const now = this.clock();
    const secret: StoredSecret = {
      name,
      arn: `${ARN_PREFIX}${name}-${suffix}`,
      createdAt: now,
      rotationEnabled: options.rotationEnabled ?? false,
      replicas,
      versions: new Map(),
    };
    secret.versions.set(versionId, {
      id: versionId,
      secretString,
      stages: new Set([AWSCURRENT]),
      createdAt: now,
    });
    this.secrets.set(name, secret);
    return secret.arn;
  }

  /**
   * Answers Secrets Manager commands sent through `client` (`mockClient(client)`), or through every
   * `SecretsManagerClient` when no client is given (`mockClient(SecretsManagerClient)`, which replaces any
   * earlier class-wide mock).
   *
   * @returns the mock, to `.restore()` the real `send` and to inspect the calls
   */
  public attach(client?: SecretsManagerClient): AwsClientStub<SecretsManagerClient> {
    const mock = mockClient(client ?? SecretsManagerClient);
    mock.send.callsFake(async (command) => {
      // Like the real client, answer asynchronously: nothing changes before the caller's next await.
      await Promise.resolve();
      return this.handle(command);
    });
    return mock;
  }

  /**
   * Every version of a secret, deprecated ones (no label) included, in creation order.
   *
   * @throws ResourceNotFoundException for an unknown secret
   */
  public versions(secretId: string): SecretVersionSnapshot[] {
    return [...this.find(secretId).versions.values()].map((version) => ({
      versionId: version.id,
      stages: sortedStages(version),
      secretString: version.secretString,
      createdAt: version.createdAt,
    }));
  }

  /**
   * The secret string of the AWSCURRENT version.
   *
   * @throws ResourceNotFoundException for an unknown secret
   */
  public current(secretId: string): string {
    const secret = this.find(secretId);
    const version = holderOf(secret, AWSCURRENT);
    if (version?.secretString === undefined) throw notFound(`Secret ${secret.name} has no AWSCURRENT value.`);
    return version.secretString;
  }

  /**
   * Sets what DescribeSecret answers for the replica in `region`: its `Status` and, when given, its
   * `StatusMessage` (such as why a replication failed). It stays so until set again.
   *
   * @throws ResourceNotFoundException for an unknown secret
   * @throws TypeError for a region that holds no replica of the secret, or an unknown status
   */
  public setReplicationStatus(
    secretId: string,
    region: string,
    status: ReplicaStatus,
    statusMessage?: string,
  ): void {
    const secret = this.find(secretId);
    const replica = secret.replicas.get(region);
    if (replica === undefined) {
      const regions = [...secret.replicas.keys()];
      throw new TypeError(
        `setReplicationStatus: ${secret.name} has no replica in ${region} (replicas: ${regions.length === 0 ? 'none' : regions.join(', ')})`,
      );
    }
    if (!(Object.values(StatusType) as string[]).includes(status)) {
      throw new TypeError(
        `setReplicationStatus: status must be one of ${Object.values(StatusType).join(', ')}, got ${JSON.stringify(status)}`,
      );
    }
    replica.status = status;
    replica.statusMessage = statusMessage;
  }

  /**
   * Makes the next `times` calls of `command` (after `options.after` calls that still succeed) reject with
   * `error` (which is thrown as given) before they touch any state, so a failed call changes nothing. Faults
   * queue up in the order they are declared.
   */
  public failNext(command: ModelledCommand, error: Error, times = 1, options: FailNextOptions = {}): void {
    if (!(MODELLED_COMMANDS as readonly string[]).includes(command)) {
      throw new TypeError(`failNext: ${command} is not modelled (modelled: ${MODELLED_COMMANDS.join(', ')})`);
    }
    if (!Number.isInteger(times) || times < 1)
      throw new RangeError(`failNext: times must be >= 1, got ${times}`);
    const after = options.after ?? 0;
    if (!Number.isInteger(after) || after < 0)
      throw new RangeError(`failNext: after must be >= 0, got ${after}`);
    const queue = this.faults.get(command) ?? [];
    queue.push({ error, remaining: times, skip: after });
    this.faults.set(command, queue);
  }

  /**
   * Does what RotateSecret does for a secret rotated by a Lambda function, synchronously: it creates the new
   * version (`token`) with no value and the AWSPENDING label (taking AWSPENDING off the AWSCURRENT version if
   * it was left there), turns rotation on, then calls `rotationFunction` with the steps createSecret,
   * setSecret, testSecret and finishSecret in order, `SecretId` being the ARN. A step that throws ends the
   * rotation with that error and leaves the labels as they are, like a failed rotation. Rotating again with
   * the same token retries that rotation.
   *
   * @returns the token, which is the new version's id
   * @throws InvalidRequestException when AWSPENDING is on a version other than AWSCURRENT's and `token`
   * (a previous rotation isn't complete)
   * @throws ResourceExistsException when `token` names an existing version that is not the pending one
   */
  public async rotate(
    secretId: string,
    rotationFunction: RotationFunction,
    options: RotateOptions = {},
  ): Promise<string> {
    const secret = this.find(secretId);
    const token = options.token ?? randomUUID();
    checkToken(token, 'token');
    const pending = holderOf(secret, AWSPENDING);
    const current = holderOf(secret, AWSCURRENT);
    if (pending !== undefined && pending !== current && pending.id !== token) {
      throw invalidRequest("A previous rotation isn't complete. That rotation will be reattempted.");
    }
    const existing = secret.versions.get(token);
    if (existing === undefined) {
      pending?.stages.delete(AWSPENDING);
      secret.versions.set(token, {
        id: token,
        secretString: undefined,
        stages: new Set([AWSPENDING]),
        createdAt: this.clock(),
      });
    } else if (existing !== pending) {
      throw resourceExists(
        `A version with ClientRequestToken ${token} already exists and is not AWSPENDING.`,
      );
    }
    secret.rotationEnabled = true;
    for (const step of ROTATION_STEPS) {
      await rotationFunction({ Step: step, SecretId: secret.arn, ClientRequestToken: token });
    }
    secret.lastRotatedAt = this.clock();
    return token;
  }

  private handle(command: unknown): ServiceOutputTypes {
    if (command instanceof GetSecretValueCommand) {
      this.injectFault('GetSecretValueCommand');
      return this.getSecretValue(command.input);
    }
    if (command instanceof PutSecretValueCommand) {
      this.injectFault('PutSecretValueCommand');
      return this.putSecretValue(command.input);
    }
    if (command instanceof DescribeSecretCommand) {
      this.injectFault('DescribeSecretCommand');
      return this.describeSecret(command.input);
    }
    if (command instanceof UpdateSecretVersionStageCommand) {
      this.injectFault('UpdateSecretVersionStageCommand');
      return this.updateSecretVersionStage(command.input);
    }
    const name = typeof command === 'object' && command !== null ? command.constructor.name : typeof command;
    throw new Error(
      `SecretsManagerStandIn does not model ${name} (modelled: ${MODELLED_COMMANDS.join(', ')}; ` +
        'RotateSecret is SecretsManagerStandIn.rotate)',
    );
  }

  private injectFault(command: ModelledCommand): void {
    const queue = this.faults.get(command);
    const fault = queue?.[0];
    if (queue === undefined || fault === undefined) return;
    if (fault.skip > 0) {
      fault.skip -= 1;
      return;
    }
    fault.remaining -= 1;
    if (fault.remaining === 0) queue.shift();
    throw fault.error;
  }

  private getSecretValue(input: GetSecretValueCommandInput): GetSecretValueCommandOutput {
    const secret = this.find(input.SecretId);
    const { VersionId: versionId, VersionStage: stage } = input;
    let version: StoredVersion | undefined;
    if (versionId !== undefined) {
      version = secret.versions.get(versionId);
      if (version === undefined || (stage !== undefined && !version.stages.has(stage))) {
        throw notFound(
          `Secrets Manager can't find the specified secret value for VersionId: ${versionId}` +
            (stage === undefined ? '' : ` and staging label: ${stage}`),
        );
      }
    } else {
      version = holderOf(secret, stage ?? AWSCURRENT);
      if (version === undefined) {
        throw notFound(
          `Secrets Manager can't find the specified secret value for staging label: ${stage ?? AWSCURRENT}`,
        );
      }
    }
    if (version.secretString === undefined) {
      throw notFound(`Secrets Manager can't find the specified secret value for VersionId: ${version.id}`);
    }
    return {
      ARN: secret.arn,
      Name: secret.name,
      VersionId: version.id,
      SecretString: version.secretString,
      VersionStages: sortedStages(version),
      CreatedDate: new Date(version.createdAt),
      $metadata: okMetadata(),
    };
  }

  private putSecretValue(input: PutSecretValueCommandInput): PutSecretValueCommandOutput {
    const secret = this.find(input.SecretId);
    if (input.SecretBinary !== undefined) {
      throw new Error('SecretsManagerStandIn does not model SecretBinary (PutSecretValueCommand)');
    }
    const secretString = input.SecretString;
    if (secretString === undefined) {
      throw invalidRequest('You must provide either SecretString or SecretBinary.');
    }
    // The SDK fills in a missing ClientRequestToken (idempotency token) before sending.
    const versionId = input.ClientRequestToken ?? randomUUID();
    checkToken(versionId, 'ClientRequestToken');
    // AWSCURRENT first, so that labels named explicitly win over the AWSPREVIOUS it leaves behind.
    const stages = [...new Set(input.VersionStages ?? [AWSCURRENT])].sort(
      (a, b) => Number(b === AWSCURRENT) - Number(a === AWSCURRENT),
    );
    for (const stage of stages) checkStage(stage);

    let version = secret.versions.get(versionId);
    if (version?.secretString !== undefined) {
      if (version.secretString !== secretString) {
        throw resourceExists(
          `You can't modify an existing version, you can only create a new version. VersionId: ${versionId}`,
        );
      }
      return {
        ARN: secret.arn,
        Name: secret.name,
        VersionId: versionId,
        VersionStages: sortedStages(version),
        $metadata: okMetadata(),
      };
    }
    if (version === undefined) {
      version = { id: versionId, secretString, stages: new Set(), createdAt: this.clock() };
      secret.versions.set(versionId, version);
    } else {
      // The value-less pending version a rotation started with.
      version.secretString = secretString;
    }
    for (const stage of stages) attachStage(secret, stage, version);
    return {
      ARN: secret.arn,
      Name: secret.name,
      VersionId: versionId,
      VersionStages: sortedStages(version),
      $metadata: okMetadata(),
    };
  }

  private describeSecret(input: DescribeSecretCommandInput): DescribeSecretCommandOutput {
    const secret = this.find(input.SecretId);
    const versionIdsToStages: Record<string, string[]> = {};
    for (const version of secret.versions.values()) {
      if (version.stages.size > 0) versionIdsToStages[version.id] = sortedStages(version);
    }
    const replicationStatus: ReplicationStatusType[] = [...secret.replicas].map(([region, replica]) => ({
      Region: region,
      ...(replica.kmsKeyId === undefined ? {} : { KmsKeyId: replica.kmsKeyId }),
      Status: replica.status,
      ...(replica.statusMessage === undefined ? {} : { StatusMessage: replica.statusMessage }),
    }));
    return {
      ARN: secret.arn,
      Name: secret.name,
      RotationEnabled: secret.rotationEnabled,
      ...(secret.lastRotatedAt === undefined ? {} : { LastRotatedDate: new Date(secret.lastRotatedAt) }),
      VersionIdsToStages: versionIdsToStages,
      CreatedDate: new Date(secret.createdAt),
      PrimaryRegion: STAND_IN_REGION,
      ...(replicationStatus.length === 0 ? {} : { ReplicationStatus: replicationStatus }),
      $metadata: okMetadata(),
    };
  }

  private updateSecretVersionStage(
    input: UpdateSecretVersionStageCommandInput,
  ): UpdateSecretVersionStageCommandOutput {
    const secret = this.find(input.SecretId);
    const { VersionStage: stage, MoveToVersionId: moveTo, RemoveFromVersionId: removeFrom } = input;
    if (stage === undefined) throw invalidParameter('VersionStage is required.');
    checkStage(stage);
    if (moveTo === undefined && removeFrom === undefined) {
      throw invalidParameter('You must specify MoveToVersionId, RemoveFromVersionId or both.');
    }
    const target = moveTo === undefined ? undefined : secret.versions.get(moveTo);
    if (moveTo !== undefined && target === undefined) {
      throw notFound(`Secrets Manager can't find the specified secret version: ${moveTo}`);
    }
    const holder = holderOf(secret, stage);
    const output = { ARN: secret.arn, Name: secret.name, $metadata: okMetadata() };
    if (target !== undefined && holder === target) return output;
    if (holder !== undefined && removeFrom === undefined) {
      throw invalidParameter(
        `The parameter RemoveFromVersionId can't be empty. Staging label ${stage} is currently attached to ` +
          `version ${holder.id}, so you must explicitly reference that version in RemoveFromVersionId.`,
      );
    }
    if (removeFrom !== undefined && holder?.id !== removeFrom) {
      throw invalidParameter(
        `Staging label ${stage} is not attached to version ${removeFrom}` +
          (holder === undefined ? '.' : `; it is attached to version ${holder.id}.`),
      );
    }
    if (target === undefined && stage === AWSCURRENT) {
      throw invalidParameter(
        'You can only move the staging label AWSCURRENT to another version, not remove it.',
      );
    }
    if (target === undefined) holder?.stages.delete(stage);
    else attachStage(secret, stage, target);
    return output;
  }

  private find(secretId: string | undefined): StoredSecret {
    if (secretId !== undefined) {
      const byName = this.secrets.get(secretId);
      if (byName !== undefined) return byName;
      if (secretId.startsWith(ARN_PREFIX)) {
        for (const secret of this.secrets.values()) {
          // A complete ARN, or a partial one (without the random suffix).
          if (secret.arn === secretId || `${ARN_PREFIX}${secret.name}` === secretId) return secret;
        }
      }
    }
    throw notFound("Secrets Manager can't find the specified secret.");
  }
}

/** Attaches `stage` to `version`, moving it from its holder; a moved AWSCURRENT leaves AWSPREVIOUS behind. */
function attachStage(secret: StoredSecret, stage: string, version: StoredVersion): void {
  const holder = holderOf(secret, stage);
  if (holder === version) return;
  holder?.stages.delete(stage);
  version.stages.add(stage);
  if (stage === AWSCURRENT && holder !== undefined) {
    holderOf(secret, AWSPREVIOUS)?.stages.delete(AWSPREVIOUS);
    holder.stages.add(AWSPREVIOUS);
  }
}

function holderOf(secret: StoredSecret, stage: string): StoredVersion | undefined {
  for (const version of secret.versions.values()) if (version.stages.has(stage)) return version;
  return undefined;
}

function sortedStages(version: StoredVersion): string[] {
  return [...version.stages].sort();
}

function checkToken(token: string, what: string): void {
  if (token.length < 32 || token.length > 64) {
    throw invalidParameter(`${what} must be 32 to 64 characters long, got ${token.length}.`);
  }
}

function checkReplicaRegion(region: string): void {
  if (!REGION.test(region)) {
    throw invalidParameter(`Invalid replica Region: ${JSON.stringify(region)} (pattern ^([a-z]+-)+\\d+$).`);
  }
  if (region === STAND_IN_REGION) {
    throw invalidParameter(`Invalid replica Region: ${region} is the secret's own Region.`);
  }
}

function checkStage(stage: string): void {
  if (stage.length < 1 || stage.length > 256) {
    throw invalidParameter(`A staging label must be 1 to 256 characters long, got ${stage.length}.`);
  }
}

function okMetadata(): ResponseMetadata {
  return { httpStatusCode: 200, requestId: randomUUID(), attempts: 1, totalRetryDelay: 0 };
}

function errorMetadata(): ResponseMetadata {
  return { httpStatusCode: 400, requestId: randomUUID(), attempts: 1, totalRetryDelay: 0 };
}

function notFound(message: string): ResourceNotFoundException {
  return new ResourceNotFoundException({ message, Message: message, $metadata: errorMetadata() });
}

function invalidParameter(message: string): InvalidParameterException {
  return new InvalidParameterException({ message, Message: message, $metadata: errorMetadata() });
}

function invalidRequest(message: string): InvalidRequestException {
  return new InvalidRequestException({ message, Message: message, $metadata: errorMetadata() });
}

function resourceExists(message: string): ResourceExistsException {
  return new ResourceExistsException({ message, Message: message, $metadata: errorMetadata() });
}
