import { createPrivateKey, type JsonWebKey, sign } from 'node:crypto';
import type { SigningKey } from '../../lambda/core/keys';

/** Unpadded base64url of UTF-8 text or bytes. */
export function b64u(data: string | Uint8Array): string {
  return Buffer.from(data).toString('base64url');
}

/** A header or payload: an object (serialized with `JSON.stringify`), JSON text, or raw bytes. */
export type SegmentContent = Record<string, unknown> | unknown[] | string | Uint8Array;

/** The base64url segment of `content`. */
export function segment(content: SegmentContent): string {
  if (typeof content === 'string' || content instanceof Uint8Array) return b64u(content);
  return b64u(JSON.stringify(content));
}

/** The raw signature (IEEE P1363 `r || s` for ES256) of `signingInput` under the private half of `key`. */
export function signBytes(key: SigningKey, signingInput: string): Buffer {
  const privateKey = createPrivateKey({ key: key.privateJwk as JsonWebKey, format: 'jwk' });
  const data = Buffer.from(signingInput, 'latin1');
  return key.alg === 'ES256'
    ? sign('sha256', data, { key: privateKey, dsaEncoding: 'ieee-p1363' })
    : sign(null, data, privateKey);
}

/**
 * Signs arbitrary segments with the real private key, so that a test can break exactly one rule and keep a
 * valid signature: `signSegments(key, 'eyJ...', 'eyJ...')` returns `header.payload.signature`.
 */
export function signSegments(key: SigningKey, headerSegment: string, payloadSegment: string): string {
  const signingInput = `${headerSegment}.${payloadSegment}`;
  return `${signingInput}.${b64u(signBytes(key, signingInput))}`;
}

/** Signs `header` and `payload` (objects, JSON text or bytes) with the real private key of `key`. */
export function forge(key: SigningKey, header: SegmentContent, payload: SegmentContent): string {
  return signSegments(key, segment(header), segment(payload));
}

/** The header every access token carries: exactly `{alg, typ: "at+jwt", kid}`. */
export function accessTokenHeader(key: SigningKey): Record<string, unknown> {
  return { alg: key.alg, typ: 'at+jwt', kid: key.kid };
}
