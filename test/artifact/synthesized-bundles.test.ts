import 'aws-cdk-lib/testhelpers/jest-autoclean';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  BillingMode,
  CreateTableCommand,
  type CreateTableCommandInput,
  type DynamoDBClient,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import { App, type CfnElement } from 'aws-cdk-lib';
import type { APIGatewayAuthorizerResult, APIGatewayProxyResult } from 'aws-lambda';
import { DynamoDbUserStore } from '../../lambda/adapters/dynamodb-user-store';
import { CredentialService } from '../../lambda/core/credentials';
import { UNINITIALIZED_SECRET } from '../../lambda/core/key-set-format';
import { SETTINGS } from '../../lambda/settings';
import { buildApp } from '../../lib/app';
import type { HybridAuthStack } from '../../lib/hybrid-auth-stack';
import { type DynamoDbLocal, localClient, startDynamoDbLocal } from '../../local/dynamodb-local';
import { type EventBridgeServer, serveEventBridge } from '../../local/eventbridge-server';
import { type SecretsManagerServer, serveSecretsManager } from '../../local/secrets-manager-server';
import { SecretsManagerStandIn } from '../../local/secrets-manager-stand-in';
import { FORM_TYPE, JSON_TYPE, proxyEvent } from '../support/events';
import { type LambdaProcess, startLambdaProcess } from '../support/lambda-process';

/**
 * The deployable artifact, run: the app is synthesized as `cdk synth` would (cdk.json's context), and each
 * function's synthesized bundle (the `index.mjs` in cdk.out that would be uploaded) runs in its own process
 * with exactly the environment its template gives it, against DynamoDB Local (the table created from the
 * template's own table definition) and the Secrets Manager stand-in served over HTTP. Only the service
 * endpoints (`AWS_ENDPOINT_URL_*`), the credentials and the region are added, as Lambda adds them. So the
 * wiring between templates and code (variable names, table and secret names, key prefixes, bundling) cannot
 * drift without this failing.
 *
 * DynamoDB Local runs with `-sharedDb`: every region sees one table, a global table with no replication lag,
 * and the stand-in's secret is read from every region, a replica in sync.
 */
const ROOT = path.join(__dirname, '../..');
const CDK_CONTEXT = (JSON.parse(readFileSync(path.join(ROOT, 'cdk.json'), 'utf8')) as { context: object })
  .context;
/** Where the tokens say they come from; the template leaves ISSUER to the API's URL, which exists only in AWS. */
const ISSUER = 'https://auth.example.test';
const PASSWORD = 'correct horse battery staple';

type Template = {
  Resources: Record<
    string,
    { Type: string; Properties: Record<string, unknown>; Metadata?: Record<string, string> }
  >;
};

let outdir: string;
let stacks: HybridAuthStack[];
let templates: Map<string, Template>;
let dynamo: DynamoDbLocal;
let client: DynamoDBClient;
let standIn: SecretsManagerStandIn;
let secrets: SecretsManagerServer;
let eventBus: EventBridgeServer;
const running: LambdaProcess[] = [];

beforeAll(async () => {
  outdir = mkdtempSync(path.join(tmpdir(), 'hybrid-auth-cdk-out-'));
  // As the CDK CLI synthesizes: cdk.json's context, and asset metadata (where each bundle lies in cdk.out).
  const app = new App({ outdir, context: { ...CDK_CONTEXT, 'aws:cdk:enable-asset-metadata': true } });
  stacks = buildApp(app);
  const assembly = app.synth();
  templates = new Map(
    stacks.map((stack) => [stack.stackName, assembly.getStackByName(stack.stackName).template]),
  );
  dynamo = await startDynamoDbLocal({ sharedDb: true });
  client = localClient(dynamo.endpoint);
  standIn = new SecretsManagerStandIn();
  secrets = await serveSecretsManager(standIn);
  eventBus = await serveEventBridge();
}, 240_000);

afterAll(async () => {
  await Promise.all(running.map((fn) => fn.stop()));
  client?.destroy();
  await secrets?.close();
  await eventBus?.close();
  await dynamo?.stop();
  if (outdir !== undefined) rmSync(outdir, { recursive: true, force: true });
});

function resourcesOf(template: Template, type: string) {
  return Object.entries(template.Resources).filter(([, resource]) => resource.Type === type);
}

/** Values of `Ref`s the test knows: the secret's ARN once the stand-in holds it, and the pseudo parameters. */
const refs = new Map<string, string>();
/** The signing-keys secret's name, from the primary template. */
let secretName: string;

/**
 * Evaluates the intrinsic functions a template uses in function environments (`Ref`, `Fn::Join`,
 * `Fn::Select`, `Fn::Split`) as CloudFormation would, with the values the test knows; anything else fails,
 * naming it, so a new kind of wiring cannot pass unread.
 */
function evaluate(stack: HybridAuthStack, value: unknown): string | string[] {
  if (typeof value === 'string') return value;
  const [[fn, args] = []] = Object.entries(value as Record<string, unknown>);
  const list = args as unknown[];
  const text = (item: unknown) => {
    const evaluated = evaluate(stack, item);
    if (typeof evaluated !== 'string') throw new Error(`expected a string, got ${JSON.stringify(evaluated)}`);
    return evaluated;
  };
  switch (fn) {
    case 'Ref': {
      const pseudo: Record<string, string> = { 'AWS::Region': stack.region, 'AWS::Partition': 'aws' };
      const known = pseudo[args as string] ?? refs.get(args as string);
      if (known === undefined) throw new Error(`${stack.stackName}: no value for Ref ${String(args)}`);
      return known;
    }
    case 'Fn::Join':
      return ((list[1] as unknown[]) ?? []).map(text).join(list[0] as string);
    case 'Fn::Split':
      return text(list[1]).split(list[0] as string);
    case 'Fn::Select': {
      const from = evaluate(stack, list[1]);
      const selected = Array.isArray(from) ? from[list[0] as number] : undefined;
      if (selected === undefined) throw new Error(`Fn::Select out of range: ${JSON.stringify(value)}`);
      return selected;
    }
    default:
      throw new Error(`${stack.stackName}: cannot evaluate ${JSON.stringify(value)}`);
  }
}

/** The environment variables the template gives a function, evaluated; `ISSUER` is the API's URL in AWS. */
function templateEnvironment(stack: HybridAuthStack, fn: CfnElement): Record<string, string> {
  const resource = templates.get(stack.stackName)?.Resources[stack.getLogicalId(fn)];
  const environment = resource?.Properties.Environment as { Variables?: Record<string, unknown> } | undefined;
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(environment?.Variables ?? {})) {
    const evaluated = name === 'ISSUER' ? ISSUER : evaluate(stack, value);
    if (typeof evaluated !== 'string')
      throw new Error(`${name} evaluates to a list: ${JSON.stringify(evaluated)}`);
    env[name] = evaluated;
  }
  return env;
}

/** Starts a function of `stack` from its synthesized bundle, as Lambda would in the stack's region. */
async function start(stack: HybridAuthStack, fn: CfnElement, name: string): Promise<LambdaProcess> {
  const logicalId = stack.getLogicalId(fn);
  const assetPath = templates.get(stack.stackName)?.Resources[logicalId]?.Metadata?.['aws:asset:path'];
  if (assetPath === undefined) throw new Error(`${stack.stackName}: ${logicalId} has no asset path`);
  const lambda = await startLambdaProcess(path.join(outdir, assetPath, 'index.mjs'), name, {
    ...templateEnvironment(stack, fn),
    AWS_REGION: stack.region,
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.endpoint,
    AWS_ENDPOINT_URL_EVENTBRIDGE: eventBus.endpoint,
    // Lambda runs Node.js 22; this machine's Node.js 20 would add the SDK's end-of-support notice.
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  });
  running.push(lambda);
  return lambda;
}

function child(construct: { node: { defaultChild?: unknown } }): CfnElement {
  return construct.node.defaultChild as CfnElement;
}

async function result<T>(fn: LambdaProcess, event: unknown): Promise<T> {
  const invocation = await fn.invoke(event);
  if (invocation.error !== undefined) {
    throw new Error(`${invocation.error.name}: ${invocation.error.message}\n${fn.output().slice(-4000)}`);
  }
  return invocation.result as T;
}

const primary = () => stacks[0] as HybridAuthStack;
const replica = () => stacks[1] as HybridAuthStack;

describe('the synthesized primary stack', () => {
  test("creates the table from the template's own definition", async () => {
    const [[, table] = []] = resourcesOf(
      templates.get(primary().stackName) as Template,
      'AWS::DynamoDB::GlobalTable',
    );
    const props = table?.Properties as Record<string, unknown> & { TableName: string };
    await client.send(
      new CreateTableCommand({
        TableName: props.TableName,
        BillingMode: BillingMode.PAY_PER_REQUEST,
        AttributeDefinitions: props.AttributeDefinitions,
        KeySchema: props.KeySchema,
        GlobalSecondaryIndexes: props.GlobalSecondaryIndexes,
      } as CreateTableCommandInput),
    );
    const ttl = props.TimeToLiveSpecification as { AttributeName: string; Enabled: boolean };
    await client.send(
      new UpdateTimeToLiveCommand({ TableName: props.TableName, TimeToLiveSpecification: ttl }),
    );
    // A user the issuer may log in (users are never created by the issuer).
    await new CredentialService({
      users: new DynamoDbUserStore({ client, tableName: props.TableName }),
    }).createUser({ username: 'alice', password: PASSWORD, scope: 'profile' });
  });

  test('holds the deployment placeholder in its secret until the first rotation', async () => {
    const [[logicalId, secret] = []] = resourcesOf(
      templates.get(primary().stackName) as Template,
      'AWS::SecretsManager::Secret',
    );
    const props = secret?.Properties as { Name: string; SecretString: string };
    expect(props.SecretString).toBe(UNINITIALIZED_SECRET);
    secretName = props.Name;
    // A secret's Ref is its ARN (the name plus a random suffix), which the stand-in gives it.
    refs.set(logicalId as string, standIn.createSecret(props.Name, props.SecretString));
  });

  test('rotates from the placeholder to a key set with the synthesized rotation bundle', async () => {
    const rotationFunction = primary().signingKeys.rotationFunction;
    if (rotationFunction === undefined) throw new Error('the primary stack has no rotation function');
    const rotation = await start(primary(), child(rotationFunction), 'rotation');
    await standIn.rotate(secretName, (event) => result(rotation, event));
    expect(standIn.current(secretName)).not.toBe(UNINITIALIZED_SECRET);
    expect(rotation.output()).not.toContain('"d":"');
  }, 60_000);

  describe('its issuer and authorizer', () => describeRegion(primary));
});

describe('the synthesized replica stack', () => {
  test('runs in its own region', () => {
    expect(replica().region).not.toBe(primary().region);
  });

  describe('its issuer and authorizer', () => describeRegion(replica));
});

/** Login, refresh, authorizer allow, logout, authorizer refuse: a region's issuer and authorizer bundles. */
function describeRegion(stack: () => HybridAuthStack): void {
  let issuer: LambdaProcess;
  let authorizer: LambdaProcess;
  let tokens: { access_token: string; refresh_token: string };

  beforeAll(async () => {
    issuer = await start(stack(), child(stack().issuer.function), 'issuer');
    authorizer = await start(stack(), child(stack().authorizer.function), 'authorizer');
  }, 30_000);

  const authorize = (accessToken: string) =>
    authorizer.invoke({
      type: 'REQUEST',
      methodArn: `arn:aws:execute-api:${stack().region}:123456789012:api1234567/v1/GET/api/me`,
      resource: '/api/me',
      path: '/api/me',
      httpMethod: 'GET',
      headers: { Authorization: `Bearer ${accessToken}` },
      requestContext: { identity: { sourceIp: '203.0.113.5' }, requestId: 'request-1' },
    });

  test('logs in', async () => {
    const response = await result<APIGatewayProxyResult>(
      issuer,
      proxyEvent('POST', '/auth/login', {
        headers: JSON_TYPE,
        body: JSON.stringify({ username: 'alice', password: PASSWORD, client_id: 'native' }),
      }),
    );
    expect(response.statusCode).toBe(200);
    tokens = JSON.parse(response.body) as typeof tokens;
    expect(tokens.access_token.split('.')).toHaveLength(3);
  });

  test('refreshes', async () => {
    const response = await result<APIGatewayProxyResult>(
      issuer,
      proxyEvent('POST', '/auth/token', {
        headers: FORM_TYPE,
        body: `grant_type=refresh_token&client_id=native&refresh_token=${tokens.refresh_token}`,
      }),
    );
    expect(response.statusCode).toBe(200);
    tokens = JSON.parse(response.body) as typeof tokens;
  });

  test('the authorizer allows the access token', async () => {
    const invocation = await authorize(tokens.access_token);
    expect(invocation.error).toBeUndefined();
    const allowed = invocation.result as APIGatewayAuthorizerResult;
    expect(allowed.policyDocument.Statement[0]).toMatchObject({ Effect: 'Allow' });
    expect(allowed.context).toMatchObject({ scope: 'profile', clientId: 'native' });
  });

  test('logs out, and the authorizer refuses the token within its session cache TTL', async () => {
    const response = await result<APIGatewayProxyResult>(
      issuer,
      proxyEvent('POST', '/auth/logout', { headers: { Authorization: `Bearer ${tokens.access_token}` } }),
    );
    expect(response.statusCode).toBe(204);
    const deadline = Date.now() + (SETTINGS.sessionCacheTtlSeconds.default + 2) * 1000;
    let invocation = await authorize(tokens.access_token);
    while (invocation.error === undefined && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      invocation = await authorize(tokens.access_token);
    }
    expect(invocation.error).toEqual({ name: 'Error', message: 'Unauthorized' });
  });

  test('logs out everywhere, and the authorizer refuses the other session within its session cache TTL', async () => {
    // A second session of the same user, allowed (and cached) by the authorizer.
    const login = await result<APIGatewayProxyResult>(
      issuer,
      proxyEvent('POST', '/auth/login', {
        headers: JSON_TYPE,
        body: JSON.stringify({ username: 'alice', password: PASSWORD, client_id: 'native' }),
      }),
    );
    expect(login.statusCode).toBe(200);
    const other = JSON.parse(login.body) as typeof tokens;
    expect((await authorize(other.access_token)).error).toBeUndefined();
    // The issuer's bearer route reads the session and the watermark through the SDK, as deployed.
    const response = await result<APIGatewayProxyResult>(
      issuer,
      proxyEvent('POST', '/auth/logout-all', { headers: { Authorization: `Bearer ${other.access_token}` } }),
    );
    expect(response.statusCode).toBe(204);
    const loggedOutAt = Date.now();
    const deadline = loggedOutAt + (SETTINGS.sessionCacheTtlSeconds.default + 2) * 1000;
    let invocation = await authorize(other.access_token);
    while (invocation.error === undefined && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      invocation = await authorize(other.access_token);
    }
    expect(invocation.error).toEqual({ name: 'Error', message: 'Unauthorized' });
    expect(authorizer.output()).toContain('"reason":"session_logged_out_everywhere"');
    // The next region's login (the same user, the same shared table) must be authenticated past the watermark.
    const pastMargin = loggedOutAt + SETTINGS.revocationClockMarginSeconds.default * 1000 + 200 - Date.now();
    if (pastMargin > 0) await new Promise((resolve) => setTimeout(resolve, pastMargin));
  }, 15_000);

  test('a reuse puts one security event on the bus named in its environment, with its source', async () => {
    const refresh = async (refreshToken: string) =>
      result<APIGatewayProxyResult>(
        issuer,
        proxyEvent('POST', '/auth/token', {
          headers: FORM_TYPE,
          body: `grant_type=refresh_token&client_id=native&refresh_token=${refreshToken}`,
        }),
      );
    const login = await result<APIGatewayProxyResult>(
      issuer,
      proxyEvent('POST', '/auth/login', {
        headers: JSON_TYPE,
        body: JSON.stringify({ username: 'alice', password: PASSWORD, client_id: 'native' }),
      }),
    );
    const first = (JSON.parse(login.body) as typeof tokens).refresh_token;
    const second = (JSON.parse((await refresh(first)).body) as typeof tokens).refresh_token;
    expect((await refresh(second)).statusCode).toBe(200);
    const before = eventBus.events.length;
    // A grandparent is reuse even inside the grace window.
    expect((await refresh(first)).statusCode).toBe(400);
    expect(eventBus.events.slice(before)).toEqual([
      expect.objectContaining({
        source: (CDK_CONTEXT as { 'hybrid-auth': { name: string } })['hybrid-auth'].name,
        'detail-type': 'Refresh token reuse detected',
        eventBusName: 'default',
        detail: expect.objectContaining({
          type: 'refresh_token_reuse',
          region: stack().region,
          clientId: 'native',
        }),
      }),
    ]);
    expect(JSON.stringify(eventBus.events)).not.toContain(first);
    expect(issuer.output()).not.toContain('security event not published');
  });

  test('no token or key material in any log line', () => {
    for (const output of [issuer.output(), authorizer.output()]) {
      expect(output).not.toContain(tokens.access_token.split('.')[2]);
      expect(output).not.toContain(tokens.refresh_token);
      expect(output).not.toContain(PASSWORD);
    }
  });
}
