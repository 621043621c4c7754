const BASE64URL = /^[A-Za-z0-9_-]*$/;

/** The 6-bit value of each base64url character, by char code (the alphabet is checked separately). */
const BASE64URL_VALUE: readonly number[] = (() => {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const values = new Array<number>(128).fill(0);
  for (let i = 0; i < alphabet.length; i++) values[alphabet.charCodeAt(i)] = i;
  return values;
})();

/**
 * Decodes unpadded base64url strictly: only the URL-safe alphabet, no padding, and canonical (the unused
 * low bits of the last character are zero), so that one byte string has exactly one accepted encoding.
 * Returns `undefined` for anything else.
 */
export function decodeBase64Url(text: string): Buffer | undefined {
  const tail = text.length % 4;
  if (tail === 1 || !BASE64URL.test(text)) return undefined;
  // Canonical: the bits of the last character that encode no byte must be zero (4 of them after 2
  // characters, 2 after 3). Same answer as re-encoding and comparing, without a second pass.
  if (tail !== 0 && (BASE64URL_VALUE[text.charCodeAt(text.length - 1)] ?? 0) & (tail === 2 ? 0x0f : 0x03)) {
    return undefined;
  }
  return Buffer.from(text, 'base64url');
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Decodes UTF-8 strictly, the way jose decodes a JWS header and a JWT claims set: an ill-formed byte sequence
 * is refused (never replaced by U+FFFD, which would let distinct byte strings read as the same text) and one
 * leading byte order mark is dropped. Returns `undefined` for ill-formed input.
 */
export function decodeUtf8(bytes: Uint8Array): string | undefined {
  try {
    return UTF8.decode(bytes);
  } catch {
    return undefined;
  }
}

/** Keys that must never become properties of a parsed object. */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * Parses JSON text that must be an object, refusing duplicate member names at any depth and the names
 * `__proto__`, `constructor` and `prototype` (RFC 7515 section 5.2 lets a parser reject duplicates; we do,
 * so that no two parsers of the same token can disagree on its meaning). Returns `undefined` when the text
 * is not such an object.
 */
export function parseJsonObject(text: string): Record<string, unknown> | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  return hasDuplicateOrForbiddenKey(text) ? undefined : (value as Record<string, unknown>);
}

/**
 * Scans JSON text that `JSON.parse` already accepted and reports whether any object repeats a member name
 * or uses a forbidden one. Strings are compared after JSON unescaping, so `"a"` and `"\u0061"` collide.
 */
function hasDuplicateOrForbiddenKey(text: string): boolean {
  const stack: Array<Set<string> | null> = [];
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x7b /* { */) {
      stack.push(new Set());
      expectKey = true;
    } else if (c === 0x5b /* [ */) {
      stack.push(null);
      expectKey = false;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      stack.pop();
      expectKey = false;
    } else if (c === 0x2c /* , */) {
      expectKey = stack[stack.length - 1] !== null;
    } else if (c === 0x22 /* " */) {
      let end = i + 1;
      let escaped = false;
      for (let d = text.charCodeAt(end); d !== 0x22; d = text.charCodeAt(end)) {
        if (d === 0x5c /* \ */) {
          escaped = true;
          end += 2;
        } else {
          end += 1;
        }
      }
      if (expectKey) {
        // Without a backslash the name is the text between the quotes; only escapes need JSON unescaping.
        const name = escaped ? (JSON.parse(text.slice(i, end + 1)) as string) : text.slice(i + 1, end);
        const names = stack[stack.length - 1];
        if (FORBIDDEN_KEYS.has(name) || names === null || names === undefined || names.has(name)) return true;
        names.add(name);
        expectKey = false;
      }
      i = end;
    }
  }
  return false;
}
