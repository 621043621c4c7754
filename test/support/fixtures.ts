import { GrantError } from '../../lambda/core/errors';
import { generateKeySet, type KeySet, type SigningAlg } from '../../lambda/core/keys';

/** A clock the test moves by hand. */
export class FrozenClock {
  // Starts at the real present (whole second): DynamoDB Local runs TTL deletion, so items must not be born expired.
  public constructor(public nowMs = Math.floor(Date.now() / 1000) * 1000) {}
  public readonly now = (): number => this.nowMs;
  public advance(seconds: number): void {
    this.nowMs += seconds * 1000;
  }
}

export const ISSUER = 'https://auth.example.test';
export const AUDIENCE = 'https://api.example.test';

/** A real key set (real ES256 or EdDSA keys, a real MAC key). */
export function testKeySet(alg: SigningAlg = 'ES256', now = Date.now()): Promise<KeySet> {
  return generateKeySet({ alg, now });
}

/** The code of the GrantError a call is refused with; fails the test when the call succeeds. */
export async function grantCode(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof GrantError) return error.code;
    throw error;
  }
  throw new Error('expected a GrantError, but the call succeeded');
}
