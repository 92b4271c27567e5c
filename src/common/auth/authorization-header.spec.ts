import { parseAuthorization } from './authorization-header';

describe('parseAuthorization', () => {
  it.each([
    [undefined, { kind: 'none' }],
    ['', { kind: 'none' }],
    ['Bearer', { kind: 'none' }],
    ['Bearer   ', { kind: 'none' }],
    ['Basic dXNlcjpwYXNz', { kind: 'none' }],
    ['Token abc', { kind: 'none' }],
    ['Bearer abc', { kind: 'bearer', key: 'abc' }],
    ['bearer abc', { kind: 'bearer', key: 'abc' }],
    ['BEARER abc', { kind: 'bearer', key: 'abc' }],
    ['  Bearer abc  ', { kind: 'bearer', key: 'abc' }],
    ['Bearer a b', { kind: 'bearer', key: 'a b' }],
    [['Bearer a', 'Bearer b'], { kind: 'malformed' }],
  ])('%j -> %j', (header, expected) => {
    expect(parseAuthorization(header)).toEqual(expected);
  });
});
