/**
 * The checks of `npm run verify-deployment` (scripts/verify-deployment.ts): what a deployment must show
 * after `cdk deploy`, each check a line with a verdict. The AWS checks read CloudFormation and Secrets
 * Manager; the endpoint checks speak plain HTTP to a base URL (a region's API, the `domain` name, or the
 * local platform), logging in as a user created for the run and deleted at its end. Nothing here prints or
 * returns a token, a password or key material: every detail passes through a redactor that knows each secret
 * the run has seen.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { type CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { DescribeSecretCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { DynamoDbUserStore } from '../lambda/adapters/dynamodb-user-store';
import type { AccessTokenClaims } from '../lambda/core/access-token';
import { CredentialService } from '../lambda/core/credentials';
import type { RoutePattern } from '../lambda/core/route-matching';
import type { SessionRecord } from '../lambda/core/session';
import { HEALTH_PATH } from '../lambda/issuer/routes';
import { evaluatePolicy, type PolicyContext, type ProtectedRoute } from '../lambda/policies';

/** A check's verdict. */
export type CheckStatus = 'pass' | 'fail' | 'skip';

/** One line of the report: `name` says where and what (`region us-east-1: login`). */
export interface CheckResult {
  readonly name: string;
  readonly status: CheckStatus;
  /** What was seen, or why the check failed or was skipped; never a token, a password or a key. */
  readonly detail: string;
}

/** Receives each result as soon as its check ends. */
export type Reporter = (result: CheckResult) => void;

// ---------------------------------------------------------------------------------------------------------
// AWS facts
// ---------------------------------------------------------------------------------------------------------

/** What DescribeStacks says about one stack. */
export interface StackFacts {
  readonly stackName: string;
  readonly status: string;
  /** `OutputKey` -> `OutputValue`. */
  readonly outputs: Readonly<Record<string, string>>;
}

/** One replica region's entry in DescribeSecret's `ReplicationStatus`. */
export interface ReplicaFacts {
  readonly region: string;
  /** `InSync`, `InProgress` or `Failed`. */
  readonly status: string | undefined;
  readonly message: string | undefined;
}

/** What DescribeSecret says about the signing-keys secret (never its value). */
export interface SecretFacts {
  readonly rotationEnabled: boolean;
  /** When a rotation last completed; absent when the secret never rotated. */
  readonly lastRotatedDate: Date | undefined;
  readonly replicas: readonly ReplicaFacts[];
}

/** The AWS calls the checks make, read-only. */
export interface AwsFacts {
  /** DescribeStacks of one stack; rejects (a `ValidationError`) when there is no such stack. */
  stack(region: string, stackName: string): Promise<StackFacts>;
  /** DescribeSecret in the secret's primary region. */
  secret(region: string, secretId: string): Promise<SecretFacts>;
}

/** The SDK clients {@link sdkAwsFacts} calls, one per region. */
export interface AwsClients {
  cloudFormation(region: string): CloudFormationClient;
  secretsManager(region: string): SecretsManagerClient;
}

/**
 * {@link AwsFacts} through the AWS SDK.
 *
 * DescribeStacks answers `Stacks`, each with `StackName`, `StackStatus` and `Outputs` (`OutputKey`,
 * `OutputValue`), and fails with a `ValidationError` for a stack that does not exist
 * (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DescribeStacks.html,
 * https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_Stack.html,
 * https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_Output.html).
 *
 * DescribeSecret answers `LastRotatedDate` (the last time Secrets Manager rotated the secret; absent when it
 * never did), `RotationEnabled` and, for a replicated secret, `ReplicationStatus`: one entry per replica
 * region with its `Status` (`InSync`, `Failed` or `InProgress`) and `StatusMessage`; it never returns the
 * secret's value
 * (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_DescribeSecret.html,
 * https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_ReplicationStatusType.html).
 */
export function sdkAwsFacts(clients: AwsClients): AwsFacts {
  return {
    stack: async (region, stackName) => {
      const { Stacks } = await clients
        .cloudFormation(region)
        .send(new DescribeStacksCommand({ StackName: stackName }));
      const stack = Stacks?.[0];
      if (stack === undefined) throw new Error(`DescribeStacks returned no stack named ${stackName}`);
      const outputs: Record<string, string> = {};
      for (const output of stack.Outputs ?? []) {
        if (output.OutputKey !== undefined && output.OutputValue !== undefined) {
          outputs[output.OutputKey] = output.OutputValue;
        }
      }
      return { stackName: stack.StackName ?? stackName, status: stack.StackStatus ?? 'unknown', outputs };
    },
    secret: async (region, secretId) => {
      const described = await clients
        .secretsManager(region)
        .send(new DescribeSecretCommand({ SecretId: secretId }));
      return {
        rotationEnabled: described.RotationEnabled === true,
        lastRotatedDate: described.LastRotatedDate,
        replicas: (described.ReplicationStatus ?? []).map((replica) => ({
          region: replica.Region ?? '',
          status: replica.Status,
          message: replica.StatusMessage,
        })),
      };
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// Users
// ---------------------------------------------------------------------------------------------------------

/** The user the endpoint checks log in as: random, created for the run, kept in memory only. */
export interface TestUser {
  readonly username: string;
  readonly password: string;
}

/** Creates and deletes the test user where an endpoint will look for it. */
export interface UserAdmin {
  /** Creates the user (scope empty) and resolves once the endpoint can see it. */
  create(user: TestUser): Promise<void>;
  /** Deletes the user; resolves whether it was there. */
  delete(username: string): Promise<boolean>;
}

/** Prefix of every test user's name, so that one left behind by a killed run is recognisable. */
export const TEST_USER_PREFIX = 'verify-deployment-';

/** A fresh test user: a random name and a random 256-bit password, neither ever printed but the name. */
export function newTestUser(): TestUser {
  return {
    username: `${TEST_USER_PREFIX}${randomBytes(8).toString('hex')}`,
    password: randomBytes(32).toString('base64url'),
  };
}

/** Options of {@link tableUserAdmin}. */
export interface TableUserAdminProps {
  /** Where the user is written and deleted. */
  readonly home: DynamoDbUserStore;
  /** Other replicas that must see the user before {@link UserAdmin.create} resolves. @default none */
  readonly replicas?: readonly DynamoDbUserStore[];
  /** How long to wait for the replicas, ms. @default 30000 */
  readonly replicationTimeoutMs?: number;
}

/**
 * A {@link UserAdmin} on the session table: the user is hashed with the platform's scrypt parameters
 * (CredentialService, as `npm run create-user` does) and written to `home`; with `replicas`, creation waits
 * until each of them can read it (a global table replicates asynchronously under MREC).
 */
export function tableUserAdmin(props: TableUserAdminProps): UserAdmin {
  const credentials = new CredentialService({ users: props.home });
  return {
    create: async (user) => {
      const created = await credentials.createUser({ ...user, scope: '' });
      if (created === undefined) throw new Error(`a user named ${user.username} already exists`);
      const deadline = Date.now() + (props.replicationTimeoutMs ?? 30_000);
      for (const replica of props.replicas ?? []) {
        while ((await replica.getUser(created.username)) === undefined) {
          if (Date.now() > deadline) throw new Error('the user did not reach every region in time');
          await sleep(500);
        }
      }
    },
    delete: (username) => props.home.deleteUser(username),
  };
}

// ---------------------------------------------------------------------------------------------------------
// The protected route the flow calls
// ---------------------------------------------------------------------------------------------------------

/** The route the authorized call and the revocation poll use, or why there is none. */
export type RouteChoice =
  | { readonly route: RoutePattern; readonly reason?: undefined }
  | { readonly route?: undefined; readonly reason: string };

/**
 * The first route a plain authenticated user (a token with an empty scope, from no particular address) may
 * call without side effects: a `GET` without path parameters whose policy allows such a user
 * ({@link evaluatePolicy}). `preferred` routes come first, in their order (the sample backends, when
 * deployed); `excluded` routes are never chosen (the sample routes when they are not deployed).
 */
export async function chooseProtectedRoute(
  routes: readonly ProtectedRoute[],
  options: { readonly preferred?: readonly RoutePattern[]; readonly excluded?: readonly RoutePattern[] } = {},
): Promise<RouteChoice> {
  const same = (a: RoutePattern, b: RoutePattern) => a.method === b.method && a.path === b.path;
  const preferred = options.preferred ?? [];
  const excluded = options.excluded ?? [];
  const ordered = [
    ...routes.filter((route) => preferred.some((p) => same(p, route))),
    ...routes.filter((route) => !preferred.some((p) => same(p, route))),
  ].filter((route) => !excluded.some((e) => same(e, route)));
  for (const route of ordered) {
    if (route.method !== 'GET' || route.path.includes('{')) continue;
    const decision = await evaluatePolicy(route.policy, plainUserContext(route));
    if (decision.allow) return { route: { method: route.method, path: route.path } };
  }
  return {
    reason:
      'no protected route lets a plain authenticated user call it with GET and no path parameters ' +
      '(lambda/protected-routes.ts)',
  };
}

/** What a policy sees for the test user's token: verified claims with an empty scope, its live session. */
function plainUserContext(route: RoutePattern): PolicyContext {
  const now = Math.floor(Date.now() / 1000);
  const claims: AccessTokenClaims = {
    iss: 'https://verify-deployment.invalid',
    sub: 'verify-deployment',
    aud: 'verify-deployment',
    exp: now + 300,
    iat: now,
    nbf: now,
    jti: 'verify-deployment',
    sid: 'verify-deployment',
    client_id: 'verify-deployment',
    scope: '',
  };
  const session: SessionRecord = {
    sid: claims.sid,
    sub: claims.sub,
    clientId: claims.client_id,
    scope: '',
    createdAt: now * 1000,
    authenticatedAt: now * 1000,
    lastUsedAt: now * 1000,
    absoluteExpiresAt: (now + 3600) * 1000,
    idleExpiresAt: (now + 3600) * 1000,
    generation: 0,
    salt: 'dmVyaWZ5LWRlcGxveW1lbnQ',
    rotatedAt: now * 1000,
  };
  return { claims, session, route: { method: route.method, path: route.path }, request: {} };
}

// ---------------------------------------------------------------------------------------------------------
// Plans
// ---------------------------------------------------------------------------------------------------------

/** How the endpoint checks run, the same for every endpoint of a run. */
export interface EndpointOptions {
  /** The body client to log in as; without one, the refresh check is skipped. */
  readonly clientId: string | undefined;
  /** Why there is no body client, for the skipped refresh line. */
  readonly noClientReason?: string;
  readonly route: RouteChoice;
  /** A revoked session must be refused within this, ms. */
  readonly revocationBudgetMs: number;
  /** Where the budget comes from, for the revocation line. */
  readonly budgetSource: string;
  /** Every HTTP call's time-out, ms. @default 10000 */
  readonly timeoutMs?: number;
  /** Pause between two calls of the revocation poll, ms. @default 50 */
  readonly pollIntervalMs?: number;
  /** The fetch to use. @default globalThis.fetch */
  readonly fetch?: typeof fetch;
}

/** One base URL the endpoint checks run against. */
export interface Endpoint {
  /** How its lines start: `region us-east-1`, `domain auth.example.com`, `local platform`. */
  readonly label: string;
  /** Without a trailing slash: `https://abc.execute-api.us-east-1.amazonaws.com/v1`. */
  readonly baseUrl: string;
  /** The `issuer` its discovery document must name, when known. */
  readonly issuer?: string;
  readonly users: UserAdmin;
}

/** A deployment in AWS: its stacks, its signing-keys secret, and its endpoints. */
export interface DeployedPlan {
  readonly mode: 'deployed';
  readonly primaryRegion: string;
  readonly replicaRegions: readonly string[];
  /** Each region's CloudFormation stack name. */
  readonly stackName: (region: string) => string;
  readonly aws: AwsFacts;
  /** The user admin of a region's own endpoint. */
  readonly regionUsers: (region: string) => UserAdmin;
  /** With the `domain` option: its name and a user admin whose users every region can see. */
  readonly domain?: { readonly name: string; readonly users: UserAdmin };
  readonly endpoints: EndpointOptions;
}

/** The local platform (`npm start`): the endpoint checks only. */
export interface LocalPlan {
  readonly mode: 'local';
  readonly endpoint: Endpoint;
  readonly endpoints: EndpointOptions;
}

/** The stack outputs every region's stack has (lib/hybrid-auth-stack.ts). */
export const REGION_OUTPUTS = ['ApiUrl', 'IssuerUrl', 'SigningKeysSecret'] as const;
/** The stack status of a stack whose last operation succeeded. */
const COMPLETE = new Set(['CREATE_COMPLETE', 'UPDATE_COMPLETE', 'IMPORT_COMPLETE']);

/**
 * Runs every check of a plan and reports each result as it ends.
 *
 * Deployed: for each region, its stack (status and outputs); in the primary, that the signing keys have
 * rotated (so the deployment's placeholder is gone); for each replica region, that its copy of the secret is
 * `InSync`; then for each region's API, and for the `domain` name when configured, the endpoint checks
 * ({@link checkEndpoint}). Local: the AWS checks are reported as skipped, then the endpoint checks.
 *
 * @returns every result, in order.
 */
export async function verifyDeployment(
  plan: DeployedPlan | LocalPlan,
  report: Reporter = () => {},
): Promise<CheckResult[]> {
  const run = new Run(report);
  if (plan.mode === 'local') {
    const label = plan.endpoint.label;
    const why = 'AWS only (the local platform has no CloudFormation stack and no Secrets Manager secret)';
    for (const check of ['stack outputs', 'signing keys rotated', 'signing keys replicated']) {
      run.emit(`${label}: ${check}`, 'skip', why);
    }
    await checkEndpoint(plan.endpoint, plan.endpoints, run);
    return run.results;
  }

  const regions = [plan.primaryRegion, ...plan.replicaRegions];
  const stacks = new Map<string, StackFacts>();
  for (const region of regions) {
    const stack = await checkStack(plan, region, run);
    if (stack !== undefined) stacks.set(region, stack);
  }
  await checkSigningKeys(plan, stacks.get(plan.primaryRegion), run);
  for (const region of regions) {
    const label = `region ${region}`;
    const outputs = stacks.get(region)?.outputs;
    const apiUrl = outputs?.ApiUrl;
    if (apiUrl === undefined) {
      run.emit(`${label}: endpoint`, 'skip', 'no ApiUrl: see the stack outputs check');
      continue;
    }
    await checkEndpoint(
      {
        label,
        baseUrl: apiUrl.replace(/\/+$/, ''),
        ...(outputs?.IssuerUrl === undefined ? {} : { issuer: outputs.IssuerUrl }),
        users: plan.regionUsers(region),
      },
      plan.endpoints,
      run,
    );
  }
  if (plan.domain !== undefined) {
    const baseUrl = `https://${plan.domain.name}`;
    // Every region declares the one issuer the name serves (its IssuerUrl output is https://<name>).
    const issuer = stacks.get(plan.primaryRegion)?.outputs.IssuerUrl ?? baseUrl;
    await checkEndpoint(
      { label: `domain ${plan.domain.name}`, baseUrl, issuer, users: plan.domain.users },
      plan.endpoints,
      run,
    );
  }
  return run.results;
}

/** The results of a run, with the redactor every detail passes through. */
class Run {
  public readonly results: CheckResult[] = [];
  private readonly secrets = new Set<string>();

  public constructor(private readonly report: Reporter) {}

  /** A value that must never appear in a result: each later detail has it replaced by `[redacted]`. */
  public secret(value: string | undefined): void {
    if (value !== undefined && value.length >= 8) this.secrets.add(value);
  }

  /** A token field of an answer, registered as a secret; undefined when absent or empty. */
  public secretField(reply: { readonly body: Record<string, unknown> }, field: string): string | undefined {
    const value = reply.body[field];
    if (typeof value !== 'string' || value === '') return undefined;
    this.secret(value);
    return value;
  }

  public emit(name: string, status: CheckStatus, detail: string): void {
    const result = { name: this.redact(name), status, detail: this.redact(detail) };
    this.results.push(result);
    this.report(result);
  }

  private redact(text: string): string {
    let out = text;
    for (const secret of this.secrets) out = out.split(secret).join('[redacted]');
    return out;
  }
}

async function checkStack(plan: DeployedPlan, region: string, run: Run): Promise<StackFacts | undefined> {
  const name = `region ${region}: stack outputs`;
  const stackName = plan.stackName(region);
  let stack: StackFacts;
  try {
    stack = await plan.aws.stack(region, stackName);
  } catch (error) {
    const detail =
      (error as Error)?.name === 'ValidationError'
        ? `no stack ${stackName} in ${region} (DescribeStacks: ValidationError): deploy it with npx cdk deploy --all, or check the name and regions in cdk.json`
        : `DescribeStacks of ${stackName} failed: ${describeError(error)}`;
    run.emit(name, 'fail', detail);
    return undefined;
  }
  const expected: string[] = [...REGION_OUTPUTS];
  if (region === plan.primaryRegion) expected.push('RotationFunctionName');
  if (plan.domain !== undefined) expected.push('HealthCheckId');
  const missing = expected.filter((key) => !stack.outputs[key]);
  const problems: string[] = [];
  if (!COMPLETE.has(stack.status)) {
    problems.push(`status ${stack.status} (expected ${[...COMPLETE].join(' or ')})`);
  }
  if (missing.length > 0) problems.push(`missing outputs ${missing.join(', ')}`);
  const apiUrl = stack.outputs.ApiUrl;
  if (apiUrl !== undefined && !/^https:\/\/\S+$/.test(apiUrl)) problems.push(`ApiUrl is not an https URL`);
  if (problems.length > 0) {
    run.emit(name, 'fail', `${stackName}: ${problems.join('; ')}`);
    return apiUrl === undefined || problems.some((p) => p.startsWith('ApiUrl')) ? undefined : stack;
  }
  run.emit(
    name,
    'pass',
    `${stackName} ${stack.status}; ApiUrl ${apiUrl}, IssuerUrl ${stack.outputs.IssuerUrl}`,
  );
  return stack;
}

async function checkSigningKeys(
  plan: DeployedPlan,
  primary: StackFacts | undefined,
  run: Run,
): Promise<void> {
  const rotated = `region ${plan.primaryRegion}: signing keys rotated`;
  const replicaName = (region: string) => `region ${region}: signing keys replicated`;
  const secretId = primary?.outputs.SigningKeysSecret;
  const skipReplicas = (why: string) => {
    for (const region of plan.replicaRegions) run.emit(replicaName(region), 'skip', why);
  };
  if (secretId === undefined) {
    run.emit(rotated, 'skip', 'no SigningKeysSecret output: see the stack outputs check');
    skipReplicas(`no SigningKeysSecret output in ${plan.primaryRegion}`);
    return;
  }
  let secret: SecretFacts;
  try {
    secret = await plan.aws.secret(plan.primaryRegion, secretId);
  } catch (error) {
    run.emit(rotated, 'fail', `DescribeSecret of ${secretId} failed: ${describeError(error)}`);
    skipReplicas(`no DescribeSecret answer for ${secretId} in ${plan.primaryRegion}`);
    return;
  }
  if (secret.lastRotatedDate === undefined) {
    run.emit(
      rotated,
      'fail',
      `${secretId} has never rotated (no LastRotatedDate): it still holds the deployment's placeholder. ` +
        `Run aws secretsmanager rotate-secret --secret-id ${secretId} --region ${plan.primaryRegion} ` +
        '(docs/runbooks/key-rotation.md)',
    );
  } else if (!secret.rotationEnabled) {
    run.emit(rotated, 'fail', `${secretId}: rotation is turned off (RotationEnabled is not true)`);
  } else {
    const days = (Date.now() - secret.lastRotatedDate.getTime()) / 86_400_000;
    run.emit(
      rotated,
      'pass',
      `${secretId} last rotated ${secret.lastRotatedDate.toISOString()} (${days.toFixed(1)} days ago); rotation on`,
    );
  }
  for (const region of plan.replicaRegions) {
    const replica = secret.replicas.find((entry) => entry.region === region);
    if (replica === undefined) {
      run.emit(replicaName(region), 'fail', `${secretId} has no replica in ${region} (ReplicationStatus)`);
    } else if (replica.status !== 'InSync') {
      run.emit(
        replicaName(region),
        'fail',
        `${secretId} replica is ${replica.status ?? 'of unknown status'}` +
          `${replica.message === undefined ? '' : `: ${replica.message}`} (docs/operations.md#signingkeysreplicastale)`,
      );
    } else {
      run.emit(replicaName(region), 'pass', `${secretId} replica InSync`);
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// The endpoint checks
// ---------------------------------------------------------------------------------------------------------

/** An HTTP answer: its status, its JSON body (`{}` when none), when the request left and the answer came. */
interface Reply {
  readonly status: number;
  readonly body: Record<string, unknown>;
  readonly sentAt: number;
  readonly receivedAt: number;
}

/** Extra time the revocation poll runs past the budget, ms, to measure how late a revocation is. */
const POLL_GRACE_MS = 10_000;

/**
 * The endpoint checks, in order: `health` (200 only when the region's table answers and its signing keys
 * are usable, so not the placeholder), `jwks` (the published JWKS item, public keys only), `discovery` (its
 * `issuer`), `test user` (created), `login`, `authorized call`, `refresh` (a rotated refresh token and a new
 * access token that the route accepts), `logout`, `revocation` (the route refuses the logged-out session's
 * access token within the budget), and `test user deleted`, which runs whatever happened before it.
 */
async function checkEndpoint(endpoint: Endpoint, options: EndpointOptions, run: Run): Promise<void> {
  const emit = (check: string, status: CheckStatus, detail: string) =>
    run.emit(`${endpoint.label}: ${check}`, status, detail);
  const http = new Http(endpoint.baseUrl, options, run);

  await check(emit, 'health', async () => {
    const reply = await http.call('GET', HEALTH_PATH);
    if (reply.status === 200 && reply.body.status === 'ok') {
      return ['pass', 'table answers, signing keys usable (not the placeholder)'];
    }
    return ['fail', describeReply(reply)];
  });
  await check(emit, 'jwks', async () => {
    const reply = await http.call('GET', '/.well-known/jwks.json');
    if (reply.status !== 200) return ['fail', describeReply(reply)];
    const keys = reply.body.keys;
    if (!Array.isArray(keys) || keys.length === 0) return ['fail', '200 without keys: no published JWKS'];
    const bad = keys.filter(
      (key) =>
        typeof key !== 'object' ||
        key === null ||
        typeof (key as { kid?: unknown }).kid !== 'string' ||
        PRIVATE_JWK_MEMBERS.some((member) => member in key),
    );
    if (bad.length > 0) {
      return ['fail', `${bad.length} of ${keys.length} keys lack a kid or carry private key members`];
    }
    return ['pass', `${keys.length} public keys published`];
  });
  await check(emit, 'discovery', async () => {
    const reply = await http.call('GET', '/.well-known/openid-configuration');
    if (reply.status !== 200) return ['fail', describeReply(reply)];
    const { issuer, jwks_uri: jwksUri } = reply.body;
    if (typeof issuer !== 'string') return ['fail', '200 without an issuer'];
    if (endpoint.issuer !== undefined && issuer !== endpoint.issuer) {
      return ['fail', `issuer ${issuer}, expected ${endpoint.issuer}`];
    }
    if (jwksUri !== `${issuer}/.well-known/jwks.json`) return ['fail', `jwks_uri ${String(jwksUri)}`];
    return ['pass', `issuer ${issuer}`];
  });

  const user = newTestUser();
  run.secret(user.password);
  let created = false;
  try {
    created = await check(emit, 'test user', async () => {
      await endpoint.users.create(user);
      return ['pass', `created ${user.username} (scope empty; deleted at the end)`];
    });
    if (created) await flow(http, user, options, emit, run);
    else {
      for (const name of FLOW_CHECKS) emit(name, 'skip', 'no test user');
    }
  } finally {
    await check(emit, 'test user deleted', async () => {
      const deleted = await endpoint.users.delete(user.username);
      if (deleted) return ['pass', `deleted ${user.username}`];
      return created ? ['fail', `${user.username} was not there to delete`] : ['pass', 'nothing to delete'];
    });
  }
}

const FLOW_CHECKS = ['login', 'authorized call', 'refresh', 'logout', 'revocation'] as const;

/** JWK members that only a private key has (RFC 7518 section 6, RFC 8037 section 2). */
const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

type Emit = (check: string, status: CheckStatus, detail: string) => void;

/**
 * Runs one check: its verdict and detail, or a fail naming the error it threw.
 *
 * @returns whether it passed.
 */
async function check(emit: Emit, name: string, body: () => Promise<[CheckStatus, string]>): Promise<boolean> {
  try {
    const [status, detail] = await body();
    emit(name, status, detail);
    return status === 'pass';
  } catch (error) {
    emit(name, 'fail', describeError(error));
    return false;
  }
}

/** Login, authorized call, refresh, logout, revocation. */
async function flow(
  http: Http,
  user: TestUser,
  options: EndpointOptions,
  emit: Emit,
  run: Run,
): Promise<void> {
  const route = options.route.route;
  const routeName = route === undefined ? '' : `${route.method} ${route.path}`;
  let accessToken: string | undefined;
  let refreshToken: string | undefined;
  const loggedIn = await check(emit, 'login', async () => {
    const body: Record<string, string> = { username: user.username, password: user.password };
    if (options.clientId !== undefined) body.client_id = options.clientId;
    const reply = await http.call('POST', '/auth/login', { json: body });
    accessToken = run.secretField(reply, 'access_token');
    refreshToken = run.secretField(reply, 'refresh_token');
    if (reply.status !== 200 || accessToken === undefined || reply.body.token_type !== 'Bearer') {
      return ['fail', describeReply(reply)];
    }
    if (options.clientId !== undefined && refreshToken === undefined) {
      return ['fail', `200 without a refresh_token for the body client ${options.clientId}`];
    }
    return [
      'pass',
      `200 as client ${options.clientId ?? '(default)'}, expires_in ${String(reply.body.expires_in)} s`,
    ];
  });
  if (!loggedIn || accessToken === undefined) {
    for (const name of FLOW_CHECKS.slice(1)) emit(name, 'skip', 'no login');
    return;
  }

  if (route === undefined) emit('authorized call', 'skip', options.route.reason ?? 'no route');
  else {
    const token = accessToken;
    await check(emit, 'authorized call', async () => {
      const reply = await http.call(route.method, route.path, { bearer: token });
      return reply.status >= 200 && reply.status < 300
        ? ['pass', `${routeName} ${reply.status}`]
        : ['fail', `${routeName}: ${describeReply(reply)}`];
    });
  }

  if (options.clientId === undefined || refreshToken === undefined) {
    emit('refresh', 'skip', options.noClientReason ?? 'no client receives its refresh token in the body');
  } else {
    const presented = refreshToken;
    const clientId = options.clientId;
    await check(emit, 'refresh', async () => {
      const reply = await http.call('POST', '/auth/token', {
        form: { grant_type: 'refresh_token', refresh_token: presented, client_id: clientId },
      });
      const nextAccess = run.secretField(reply, 'access_token');
      const nextRefresh = run.secretField(reply, 'refresh_token');
      if (reply.status !== 200 || nextAccess === undefined || nextRefresh === undefined) {
        return ['fail', describeReply(reply)];
      }
      if (nextRefresh === presented) return ['fail', '200, but the refresh token was not rotated'];
      accessToken = nextAccess;
      refreshToken = nextRefresh;
      if (route === undefined) return ['pass', '200, refresh token rotated'];
      const after = await http.call(route.method, route.path, { bearer: nextAccess });
      return after.status >= 200 && after.status < 300
        ? ['pass', `200, refresh token rotated; the new access token is accepted on ${routeName}`]
        : ['fail', `200, but the new access token gets ${describeReply(after)} on ${routeName}`];
    });
  }

  const token = accessToken;
  let loggedOutAt = 0;
  const loggedOut = await check(emit, 'logout', async () => {
    const reply = await http.call('POST', '/auth/logout', { bearer: token });
    loggedOutAt = reply.receivedAt;
    return reply.status === 204 ? ['pass', '204, session revoked'] : ['fail', describeReply(reply)];
  });
  if (route === undefined) {
    emit('revocation', 'skip', options.route.reason ?? 'no route');
    return;
  }
  if (!loggedOut) {
    emit('revocation', 'skip', 'no logout');
    return;
  }
  await check(emit, 'revocation', () => revocation(http, route, token, loggedOutAt, options));
}

/**
 * Polls the route with the logged-out session's access token until it is refused (401). Over budget is a
 * request that left more than the budget after the logout's answer and was still accepted: the budget bounds
 * how long the platform may keep accepting, not the network's round trips.
 */
async function revocation(
  http: Http,
  route: RoutePattern,
  token: string,
  loggedOutAt: number,
  options: EndpointOptions,
): Promise<[CheckStatus, string]> {
  const budgetMs = options.revocationBudgetMs;
  const budget = `budget ${seconds(budgetMs)} s, ${options.budgetSource}`;
  const deadline = loggedOutAt + budgetMs + POLL_GRACE_MS;
  let lastAccepted: number | undefined;
  for (;;) {
    const reply = await http.call(route.method, route.path, { bearer: token });
    if (reply.status === 401) {
      const refusedAfter = seconds(reply.receivedAt - loggedOutAt);
      if (lastAccepted !== undefined && lastAccepted - loggedOutAt > budgetMs) {
        return [
          'fail',
          `a request sent ${seconds(lastAccepted - loggedOutAt)} s after the logout was still accepted ` +
            `(refused ${refusedAfter} s after it; ${budget})`,
        ];
      }
      return ['pass', `refused ${refusedAfter} s after the logout (${budget})`];
    }
    if (reply.status < 200 || reply.status >= 300) {
      return ['fail', `${route.method} ${route.path} after the logout: ${describeReply(reply)}`];
    }
    lastAccepted = reply.sentAt;
    if (reply.receivedAt > deadline) {
      return [
        'fail',
        `still accepted ${seconds(reply.receivedAt - loggedOutAt)} s after the logout (${budget})`,
      ];
    }
    await sleep(options.pollIntervalMs ?? 50);
  }
}

function seconds(ms: number): string {
  return (ms / 1000).toFixed(2);
}

/** HTTP calls to one base URL, each with a time-out; every token in an answer is registered as a secret. */
class Http {
  private readonly fetch: typeof fetch;
  private readonly timeoutMs: number;

  public constructor(
    private readonly baseUrl: string,
    options: EndpointOptions,
    private readonly run: Run,
  ) {
    this.fetch = options.fetch ?? globalThis.fetch;
    this.timeoutMs = options.timeoutMs ?? 10_000;
  }

  public async call(
    method: string,
    path: string,
    init: {
      readonly bearer?: string;
      readonly json?: Record<string, string>;
      readonly form?: Record<string, string>;
    } = {},
  ): Promise<Reply> {
    const headers: Record<string, string> = { Accept: 'application/json' };
    let body: string | undefined;
    if (init.bearer !== undefined) headers.Authorization = `Bearer ${init.bearer}`;
    if (init.json !== undefined) {
      headers['Content-Type'] = 'application/json';
      body = JSON.stringify(init.json);
    } else if (init.form !== undefined) {
      headers['Content-Type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(init.form).toString();
    }
    const sentAt = Date.now();
    let response: Response;
    let text: string;
    try {
      response = await this.fetch(`${this.baseUrl}${path}`, {
        method,
        headers,
        ...(body === undefined ? {} : { body }),
        redirect: 'manual',
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      text = await response.text();
    } catch (error) {
      const name = (error as Error)?.name;
      if (name === 'TimeoutError' || name === 'AbortError') {
        throw new Error(`${method} ${this.baseUrl}${path}: no answer within ${this.timeoutMs / 1000} s`);
      }
      const cause = (error as { cause?: { code?: unknown; message?: unknown } })?.cause;
      const why =
        typeof cause?.code === 'string' ? cause.code : (cause?.message ?? (error as Error)?.message);
      throw new Error(`${method} ${this.baseUrl}${path}: ${String(why)}`);
    }
    let parsed: Record<string, unknown> = {};
    try {
      const value: unknown = JSON.parse(text);
      if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
        parsed = value as Record<string, unknown>;
      }
    } catch {
      // not JSON: the checks see an empty body
    }
    for (const setCookie of response.headers.getSetCookie()) {
      this.run.secret(/^[^=]*=([^;]*)/.exec(setCookie)?.[1]);
    }
    return { status: response.status, body: parsed, sentAt, receivedAt: Date.now() };
  }
}

/** A status with the OAuth error of its body (never anything else from it). */
function describeReply(reply: Reply): string {
  const error = typeof reply.body.error === 'string' ? reply.body.error : undefined;
  const description =
    typeof reply.body.error_description === 'string'
      ? reply.body.error_description
      : typeof reply.body.message === 'string'
        ? reply.body.message
        : undefined;
  const parts = [String(reply.status), error, description].filter((part) => part !== undefined);
  return parts.join(' ').slice(0, 240);
}

/** An error's name and message, short. */
function describeError(error: unknown): string {
  if (error instanceof Error) {
    const name = error.name && error.name !== 'Error' ? `${error.name}: ` : '';
    return `${name}${error.message}`.slice(0, 400);
  }
  return String(error).slice(0, 400);
}
