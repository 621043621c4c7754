import { createHmac } from 'node:crypto';

// Refresh tokens of the earlier versions, built from their documented formats (docs/design.md "Refresh
// tokens"), independently of lambda/core/refresh-token.ts: the tokens clients still hold after a deployment.

const DOMAIN = 'hybrid-auth/refresh-token/v1\0';

function head(version: number, macKid: string, sid: string, generation: number): Buffer {
  const body = Buffer.alloc(29);
  body[0] = version;
  Buffer.from(macKid, 'base64url').copy(body, 1);
  Buffer.from(sid, 'base64url').copy(body, 9);
  body.writeUInt32BE(generation, 25);
  return body;
}

/** A version 1 token: `0x01 | macKid | sid | generation | HMAC(K, domain | those bytes | salt)`. */
export function versionOneToken(
  secret: string,
  macKid: string,
  sid: string,
  generation: number,
  salt: string,
): string {
  const body = head(1, macKid, sid, generation);
  const mac = createHmac('sha256', Buffer.from(secret, 'base64url'))
    .update(DOMAIN)
    .update(body)
    .update(Buffer.from(salt, 'base64url'))
    .digest();
  return Buffer.concat([body, mac]).toString('base64url');
}

/** A version 2 token: `0x02 | macKid | sid | generation | salt | HMAC(K, domain | those bytes)`. */
export function versionTwoToken(
  secret: string,
  macKid: string,
  sid: string,
  generation: number,
  salt: string,
): string {
  const body = Buffer.concat([head(2, macKid, sid, generation), Buffer.from(salt, 'base64url')]);
  const mac = createHmac('sha256', Buffer.from(secret, 'base64url')).update(DOMAIN).update(body).digest();
  return Buffer.concat([body, mac]).toString('base64url');
}
