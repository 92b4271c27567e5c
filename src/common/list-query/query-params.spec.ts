import { lastValue, likePattern, parseSearch } from './query-params';

describe('lastValue', () => {
  it.each<[string | string[] | undefined, string | undefined]>([
    [undefined, undefined],
    ['a', 'a'],
    ['', ''],
    [['a', 'b', 'c'], 'c'],
    [['only'], 'only'],
    [[], undefined],
  ])('%j', (raw, expected) => {
    expect(lastValue(raw)).toBe(expected);
  });
});

describe('likePattern', () => {
  it.each([
    ['abc', '%abc%'],
    ['', '%%'],
    ['a%b', '%a\\%b%'],
    ['a_b', '%a\\_b%'],
    ['a\\b', '%a\\\\b%'],
    ['%_\\%', '%\\%\\_\\\\\\%%'],
    ['100%', '%100\\%%'],
  ])('%j', (term, expected) => {
    expect(likePattern(term)).toBe(expected);
  });
});

describe('parseSearch', () => {
  it.each<[string | string[] | undefined, string[]]>([
    [undefined, []],
    ['', []],
    ['  , ,\t', []],
    ['alice', ['alice']],
    ['alice bob', ['alice', 'bob']],
    ['alice,bob', ['alice', 'bob']],
    [' alice ,\n bob\t', ['alice', 'bob']],
    ['a\0li\0ce', ['alice']],
    ['\0', []],
    [
      ['first', 'second third'],
      ['second', 'third'],
    ],
    ['%b_ a%', ['%b_', 'a%']],
  ])('%j', (raw, expected) => {
    expect(parseSearch(raw)).toEqual(expected);
  });

  it('keeps at most the first 10 terms', () => {
    const terms = Array.from({ length: 12 }, (_, i) => `t${i}`);
    expect(parseSearch(terms.join(' '))).toEqual(terms.slice(0, 10));
    expect(parseSearch(terms.slice(0, 10).join(','))).toEqual(terms.slice(0, 10));
  });
});
