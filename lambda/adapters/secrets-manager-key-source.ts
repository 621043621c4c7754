import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { keySetFromSecretString } from '../core/key-source';
import type { KeySet } from '../core/keys';

/**
 * Reads the AWSCURRENT private key set from the Secrets Manager secret. While the secret still holds the
 * deployment placeholder (before the first rotation, or in a region whose replica is stale) it rejects with
 * a `NotReadyError` (`signing_keys_uninitialized`), and with `signing_keys_unreadable` when the value is not
 * a key set; service errors propagate as they are.
 */
export function secretsManagerKeySetLoader(
  client: SecretsManagerClient,
  secretId: string,
): () => Promise<KeySet> {
  return async () => {
    const { SecretString } = await client.send(
      new GetSecretValueCommand({ SecretId: secretId, VersionStage: 'AWSCURRENT' }),
    );
    return keySetFromSecretString(SecretString, `secret ${secretId}`);
  };
}
