import { createHash, createHmac } from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';
import { signRequest } from '../../lambda/adapters/sigv4';

/** The hash `@smithy/signature-v4` asks for, over node:crypto (SHA-256, or HMAC-SHA256 with a secret). */
class NodeSha256 {
  private readonly hash;
  public constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.hash = secret === undefined ? createHash('sha256') : createHmac('sha256', bytes(secret));
  }
  public update(data: string | ArrayBuffer | ArrayBufferView): void {
    this.hash.update(bytes(data));
  }
  public async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.hash.digest());
  }
}

function bytes(data: string | ArrayBuffer | ArrayBufferView): string | Uint8Array {
  if (typeof data === 'string') return data;
  return data instanceof ArrayBuffer
    ? new Uint8Array(data)
    : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

const CASES = [
  {
    name: 'long-term credentials, the regional endpoint, GetItem',
    host: 'dynamodb.us-east-1.amazonaws.com',
    region: 'us-east-1',
    target: 'DynamoDB_20120810.GetItem',
    body: '{"TableName":"hybrid-auth-sessions","Key":{"pk":{"S":"JWKS"}}}',
    credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' },
    at: new Date('2026-03-01T12:34:56.789Z'),
  },
  {
    name: 'temporary credentials (session token), a local endpoint with a port, BatchGetItem',
    host: '127.0.0.1:8000',
    region: 'eu-west-1',
    target: 'DynamoDB_20120810.BatchGetItem',
    body: '{"RequestItems":{"t":{"Keys":[{"pk":{"S":"SESSION#a"}},{"pk":{"S":"SUBJECT#b"}}],"ConsistentRead":true}}}',
    credentials: {
      accessKeyId: 'ASIAEXAMPLE',
      secretAccessKey: 'secret/with+symbols',
      sessionToken: 'IQoJb3JpZ2luX2VjEXAMPLE//////////token==',
    },
    at: new Date('2025-12-31T23:59:59.000Z'),
  },
] as const;

describe('signRequest', () => {
  test.each(CASES)('signs as @smithy/signature-v4 does: $name', async (fixture) => {
    const headers = {
      'content-type': 'application/x-amz-json-1.0',
      'x-amz-target': fixture.target,
    };
    const ours = signRequest({
      method: 'POST',
      host: fixture.host,
      path: '/',
      headers,
      body: fixture.body,
      region: fixture.region,
      service: 'dynamodb',
      credentials: fixture.credentials,
      at: fixture.at,
    });
    const [hostname, port] = fixture.host.split(':');
    const smithy = await new SignatureV4({
      credentials: fixture.credentials,
      region: fixture.region,
      service: 'dynamodb',
      sha256: NodeSha256,
      // No `x-amz-content-sha256` header: an optional signed header (S3 requires it, DynamoDB does not); with
      // it, both sign the same canonical request plus that header.
      applyChecksum: false,
    }).sign(
      {
        method: 'POST',
        protocol: 'https:',
        hostname: hostname ?? '',
        ...(port === undefined ? {} : { port: Number(port) }),
        path: '/',
        query: {},
        headers: { ...headers, host: fixture.host },
        body: fixture.body,
      },
      { signingDate: fixture.at },
    );
    expect(ours.authorization).toBe(smithy.headers.authorization);
    expect(ours['x-amz-date']).toBe(smithy.headers['x-amz-date']);
    expect(ours['x-amz-security-token']).toBe(smithy.headers['x-amz-security-token']);
    expect(ours.authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=\w+\/\d{8}\/[a-z0-9-]+\/dynamodb\/aws4_request, /,
    );
  });

  test('a different body, date or secret changes the signature', () => {
    const [fixture] = CASES;
    const sign = (change: Partial<Parameters<typeof signRequest>[0]>) =>
      signRequest({
        method: 'POST',
        host: fixture.host,
        path: '/',
        headers: { 'x-amz-target': fixture.target },
        body: fixture.body,
        region: fixture.region,
        service: 'dynamodb',
        credentials: fixture.credentials,
        at: fixture.at,
        ...change,
      }).authorization;
    const base = sign({});
    expect(sign({ body: `${fixture.body} ` })).not.toBe(base);
    expect(sign({ at: new Date(fixture.at.getTime() + 1000) })).not.toBe(base);
    expect(sign({ credentials: { ...fixture.credentials, secretAccessKey: 'other' } })).not.toBe(base);
    expect(sign({})).toBe(base);
  });
});
