import { InvalidRequestError } from './errors';

/**
 * Usernames under RFC 8265 section 3.3, the PRECIS UsernameCaseMapped profile, enforced at user creation and
 * at login, so that two names that look identical are one account or an error, never two accounts:
 *
 * 1. width mapping: full-width and half-width characters map to their decomposition (RFC 8265 3.3.1.1);
 * 2. case mapping: lower case (3.3.1.2, Unicode `toLowerCase`);
 * 3. normalisation: NFC (3.3.1.3);
 * 4. the IdentifierClass of RFC 8264 section 4.2: ASCII printable characters and letters and digits
 *    (Ll, Lu, Lo, Lm, Mn, Mc, Nd) are valid; spaces, symbols, non-ASCII punctuation, control and format
 *    characters, default-ignorable code points (U+200B, U+200C, U+200D, U+2060, U+00AD, U+180E, U+034F, ...),
 *    unassigned code points, old Hangul jamo and characters with compatibility equivalents (HasCompat) are
 *    not. The CONTEXTJ joiners (U+200C, U+200D) are refused outright, a stricter choice than their contextual
 *    rule.
 *
 * On top of the profile (which allows mixed scripts), a confusable-script restriction in the spirit of
 * Unicode TS #39's "highly restrictive" level: the letters of a name belong to one script, or to Latin with
 * the scripts of Japanese (Han, Hiragana, Katakana), Chinese (Han, Bopomofo) or Korean (Han, Hangul), so
 * Cyrillic `а` cannot stand in for Latin `a` inside a Latin name. This single-script rule also stands in for
 * the Bidi Rule of RFC 5893 (a name cannot mix right-to-left and left-to-right letters).
 */

/** Longest username accepted, in UTF-16 code units after enforcement. */
export const MAX_USERNAME_LENGTH = 128;

/** The scripts a letter is classified into; a letter in none of them counts as the script `Other`. */
const SCRIPTS = [
  'Latin',
  'Greek',
  'Cyrillic',
  'Armenian',
  'Hebrew',
  'Arabic',
  'Syriac',
  'Thaana',
  'Devanagari',
  'Bengali',
  'Gurmukhi',
  'Gujarati',
  'Oriya',
  'Tamil',
  'Telugu',
  'Kannada',
  'Malayalam',
  'Sinhala',
  'Thai',
  'Lao',
  'Tibetan',
  'Myanmar',
  'Georgian',
  'Hangul',
  'Ethiopic',
  'Cherokee',
  'Khmer',
  'Mongolian',
  'Hiragana',
  'Katakana',
  'Bopomofo',
  'Han',
] as const;
const SCRIPT_PATTERNS = SCRIPTS.map(
  (script) => [script, new RegExp(`^\\p{Script=${script}}$`, 'u')] as const,
);

/** The script sets allowed together (UTS #39 highly restrictive). */
const ALLOWED_COMBINATIONS: readonly ReadonlySet<string>[] = [
  new Set(['Latin', 'Han', 'Hiragana', 'Katakana']),
  new Set(['Latin', 'Han', 'Bopomofo']),
  new Set(['Latin', 'Han', 'Hangul']),
];

const ASCII_PRINTABLE = /^[\x21-\x7e]$/;
const DISALLOWED =
  /^[\p{Default_Ignorable_Code_Point}\p{Noncharacter_Code_Point}\p{Cn}\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Z}\p{S}\p{P}\p{Lt}\p{Nl}\p{No}\p{Me}\u1100-\u11ff\ua960-\ua97f\ud7b0-\ud7ff]$/u;
const LETTER_DIGIT = /^[\p{Ll}\p{Lu}\p{Lo}\p{Lm}\p{Mn}\p{Mc}\p{Nd}]$/u;
const LETTER = /^\p{L}$/u;
const WIDTH_MAPPED = /[\uff01-\uffef]/gu;

function invalid(why: string): InvalidRequestError {
  return new InvalidRequestError(`the username ${why}`);
}

/**
 * Enforces the UsernameCaseMapped profile (RFC 8265 section 3.3) and the single-script rule, and returns the
 * canonical form: the key every lookup and every throttle record uses. Idempotent.
 * @throws {InvalidRequestError} for anything else, with the reason (never the name).
 */
export function enforceUsername(username: unknown): string {
  // Bound the input before mapping: width mapping never expands, lower-casing at most triples.
  if (typeof username !== 'string' || username.length === 0 || username.length > MAX_USERNAME_LENGTH) {
    throw invalid(`must be 1 to ${MAX_USERNAME_LENGTH} characters`);
  }
  if (/\p{Cs}/u.test(username)) throw invalid('is not well-formed Unicode');
  const mapped = username
    .replace(WIDTH_MAPPED, (char) => char.normalize('NFKC'))
    .toLowerCase()
    .normalize('NFC');
  if (mapped.length === 0 || mapped.length > MAX_USERNAME_LENGTH) {
    throw invalid(`must be 1 to ${MAX_USERNAME_LENGTH} characters`);
  }
  const scripts = new Set<string>();
  for (const char of mapped) {
    if (ASCII_PRINTABLE.test(char)) {
      if (LETTER.test(char)) scripts.add('Latin');
      continue;
    }
    if (DISALLOWED.test(char) || !LETTER_DIGIT.test(char)) {
      throw invalid('contains a space, symbol, punctuation, invisible or unassigned character (RFC 8265)');
    }
    if (char.normalize('NFKC') !== char) {
      throw invalid('contains a compatibility character (RFC 8265)');
    }
    if (LETTER.test(char)) {
      scripts.add(SCRIPT_PATTERNS.find(([, pattern]) => pattern.test(char))?.[0] ?? 'Other');
    }
  }
  if (
    scripts.size > 1 &&
    !ALLOWED_COMBINATIONS.some((allowed) => [...scripts].every((s) => allowed.has(s)))
  ) {
    throw invalid('mixes scripts');
  }
  return mapped;
}
