import {
  DescribeSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { type SecretsManagerServer, serveSecretsManager } from '../../local/secrets-manager-server';
import { SecretsManagerStandIn } from '../../local/secrets-manager-stand-in';

let standIn: SecretsManagerStandIn;
let server: SecretsManagerServer;
let client: SecretsManagerClient;

beforeAll(async () => {
  standIn = new SecretsManagerStandIn({ clock: () => Date.UTC(2026, 11, 1, 12, 0, 0) });
  standIn.createSecret('app/keys', '{"v":1}');
  server = await serveSecretsManager(standIn);
  // A client of its own, as a Lambda bundle builds it: only the endpoint says where the service is.
  client = new SecretsManagerClient({
    endpoint: server.endpoint,
    region: 'us-east-2',
    credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
  });
});

afterAll(async () => {
  client.destroy();
  await server.close();
});

test('answers GetSecretValue with the current version over HTTP', async () => {
  const value = await client.send(new GetSecretValueCommand({ SecretId: 'app/keys' }));
  expect(value.SecretString).toBe('{"v":1}');
  expect(value.VersionStages).toEqual(['AWSCURRENT']);
  expect(value.CreatedDate).toEqual(new Date(Date.UTC(2026, 11, 1, 12, 0, 0)));
});

test('keeps state across requests: a put version is what the next read and describe see', async () => {
  await client.send(
    new PutSecretValueCommand({
      SecretId: 'app/keys',
      SecretString: '{"v":2}',
      ClientRequestToken: '11111111-2222-3333-4444-555555555555',
      VersionStages: ['AWSPENDING'],
    }),
  );
  const pending = await client.send(
    new GetSecretValueCommand({ SecretId: 'app/keys', VersionStage: 'AWSPENDING' }),
  );
  expect(pending.SecretString).toBe('{"v":2}');
  const described = await client.send(new DescribeSecretCommand({ SecretId: 'app/keys' }));
  expect(described.VersionIdsToStages?.['11111111-2222-3333-4444-555555555555']).toEqual(['AWSPENDING']);
});

test('answers another operation and a body that is not JSON with a 400, not a 500', async () => {
  const post = (target: string, body: string) =>
    fetch(server.endpoint, {
      method: 'POST',
      headers: { 'X-Amz-Target': target, 'Content-Type': 'application/x-amz-json-1.1' },
      body,
    });
  const unknown = await post('secretsmanager.DeleteSecret', '{}');
  expect(unknown.status).toBe(400);
  expect(await unknown.json()).toMatchObject({ __type: 'UnknownOperationException' });
  const malformed = await post('secretsmanager.GetSecretValue', '{"SecretId": ');
  expect(malformed.status).toBe(400);
  expect(await malformed.json()).toMatchObject({ __type: 'SerializationException' });
});

test("answers an unknown secret with the service's error, by name", async () => {
  await expect(client.send(new GetSecretValueCommand({ SecretId: 'nope' }))).rejects.toMatchObject({
    name: 'ResourceNotFoundException',
  });
});
