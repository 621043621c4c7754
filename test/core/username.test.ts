import { InvalidRequestError } from '../../lambda/core/errors';
import { enforceUsername } from '../../lambda/core/username';

describe('enforceUsername (RFC 8265 UsernameCaseMapped)', () => {
  test.each([
    ['U+200B zero width space', 'admin\u200b'],
    ['U+200C zero width non-joiner', 'ad\u200cmin'],
    ['U+200D zero width joiner', 'ad\u200dmin'],
    ['U+2060 word joiner', 'admin\u2060'],
    ['U+00AD soft hyphen', 'ad\u00admin'],
    ['U+180E Mongolian vowel separator', 'admin\u180e'],
    ['U+034F combining grapheme joiner', 'admin\u034f'],
    ['Cyrillic a in a Latin name', '\u0430dmin'],
    ['Greek omicron in a Latin name', 'r\u03bfot'],
    ['a space', 'ad min'],
    ['a symbol', 'admin\u2603'],
  ])('fails on a name with %s (a look-alike of a separate account)', (_, name) => {
    expect(() => enforceUsername(name)).toThrow(InvalidRequestError);
  });

  test.each([
    ['alice', 'alice'],
    ['ALICE', 'alice'],
    ['\uff41\uff44\uff4d\uff49\uff4e', 'admin'],
    ['Ren\u00e9', 'ren\u00e9'],
    ['rene\u0301', 'ren\u00e9'],
    ['\u0430\u0434\u043c\u0438\u043d', '\u0430\u0434\u043c\u0438\u043d'],
    ['\u5c71\u7530taro', '\u5c71\u7530taro'],
    ['user.name+tag@example', 'user.name+tag@example'],
  ])('accepts %p as %p', (name, canonical) => {
    expect(enforceUsername(name)).toBe(canonical);
  });
});
