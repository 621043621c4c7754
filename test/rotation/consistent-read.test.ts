import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DynamoDbJwksStore } from '../../lambda/adapters/dynamodb-jwks-store';
import { createLogger } from '../../lambda/adapters/logger';
import { serializeKeySet } from '../../lambda/core/key-set-format';
import { generateKeySet, toPublicJwks } from '../../lambda/core/keys';
import { createRotationHandler, type JwksPublisher } from '../../lambda/rotation/handler';
import { SecretsManagerStandIn } from '../../local/secrets-manager-stand-in';
import { freshTable } from '../support/dynamodb';
import { FrozenClock } from '../support/fixtures';

// testSecret reads back the JWKS item setSecret has just written: an eventually consistent read may miss
// it (the first-deploy race of issue 12), so it reads strongly consistently. DynamoDB Local answers both
// kinds alike, so these tests look at what is sent: a middleware on a real DynamoDB Local client records
// each request's input on its way through.

const V1 = '11111111-1111-4111-8111-111111111111';
const V2 = '22222222-2222-4222-8222-222222222222';

let table: { client: DynamoDBClient; tableName: string };
/** The input of every GetItem the table's client sends. */
const getItems: Array<Record<string, unknown>> = [];

beforeAll(async () => {
  table = await freshTable();
  table.client.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName === 'GetItemCommand') getItems.push({ ...(args.input as object) });
      return next(args);
    },
    { step: 'initialize', name: 'recordGetItem' },
  );
});
afterAll(() => table?.client.destroy());
beforeEach(() => {
  getItems.length = 0;
});

describe('DynamoDbJwksStore.load', () => {
  test('asks for a strongly consistent read when told to, and reads the item', async () => {
    const store = new DynamoDbJwksStore(table.client, table.tableName);
    const jwks = toPublicJwks(await generateKeySet({ now: Date.now() }));
    await store.publish(jwks, Date.now());

    expect(await store.load({ consistentRead: true })).toEqual(jwks);

    expect(getItems).toEqual([expect.objectContaining({ TableName: table.tableName, ConsistentRead: true })]);
  });

  test('reads eventually consistently by default (the verifiers, at half the cost)', async () => {
    const store = new DynamoDbJwksStore(table.client, table.tableName);

    await store.load();

    expect(getItems).toHaveLength(1);
    expect(getItems[0]?.ConsistentRead).toBeUndefined();
  });
});

describe('the rotation function', () => {
  test('testSecret reads the published JWKS back with a strongly consistent read', async () => {
    const clock = new FrozenClock();
    const initial = await generateKeySet({ now: clock.now() });
    const standIn = new SecretsManagerStandIn({ clock: clock.now });
    const arn = standIn.createSecret('hybrid-auth/signing-keys', serializeKeySet(initial), {
      versionId: V1,
      rotationEnabled: true,
    });
    const client = new SecretsManagerClient({
      region: 'us-east-1',
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    });
    const mock = standIn.attach(client);
    const store = new DynamoDbJwksStore(table.client, table.tableName);
    await store.publish(toPublicJwks(initial), clock.now());
    const loads: Array<{ step: string | undefined; consistentRead: boolean | undefined }> = [];
    let step: string | undefined;
    const recording: JwksPublisher = {
      publish: (jwks, at) => store.publish(jwks, at),
      load: (options) => {
        loads.push({ step, consistentRead: options?.consistentRead });
        return store.load(options);
      },
    };
    const handler = createRotationHandler({
      secrets: client,
      jwks: recording,
      policy: { accessTokenTtlSeconds: 300, sessionLifetimeSeconds: 86_400 },
      logger: createLogger('rotation', () => {}),
      metric: () => {},
      clock: clock.now,
    });

    try {
      await standIn.rotate(
        arn,
        (event) => {
          step = event.Step;
          return handler(event);
        },
        { token: V2 },
      );
    } finally {
      mock.restore();
      client.destroy();
    }

    expect(loads).toEqual([{ step: 'testSecret', consistentRead: true }]);
    expect(getItems).toEqual([expect.objectContaining({ ConsistentRead: true })]);
  });
});
