import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { parseKeySet } from '../core/key-set-format';
import type { KeySet } from '../core/keys';

/** Reads the AWSCURRENT private key set from the Secrets Manager secret. */
export function secretsManagerKeySetLoader(
  client: SecretsManagerClient,
  secretId: string,
): () => Promise<KeySet> {
  return async () => {
    const { SecretString } = await client.send(
      new GetSecretValueCommand({ SecretId: secretId, VersionStage: 'AWSCURRENT' }),
    );
    if (SecretString === undefined) throw new TypeError(`secret ${secretId} has no string value`);
    return parseKeySet(SecretString, `secret ${secretId}`);
  };
}
