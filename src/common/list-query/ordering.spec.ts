import { parseOrdering, withPrimaryKey } from './ordering';

type F = 'pk' | 'provider' | 'user' | 'expires' | 'revoked';
const ALLOWED: F[] = ['pk', 'provider', 'user', 'expires', 'revoked'];
const DEFAULTS = [
  { field: 'provider' as const, descending: false },
  { field: 'expires' as const, descending: false },
];

describe('parseOrdering', () => {
  it.each([
    [undefined, DEFAULTS],
    ['', DEFAULTS],
    ['nonsense', DEFAULTS],
    ['-expires', [{ field: 'expires', descending: true }]],
    [
      'user, -pk',
      [
        { field: 'user', descending: false },
        { field: 'pk', descending: true },
      ],
    ],
    [
      'name,-revoked,,provider',
      [
        { field: 'revoked', descending: true },
        { field: 'provider', descending: false },
      ],
    ],
    ['--expires', DEFAULTS],
  ])('%j', (raw, expected) => {
    expect(parseOrdering(raw, ALLOWED, DEFAULTS)).toEqual(expected);
  });
});

describe('withPrimaryKey', () => {
  it('appends pk in the direction of the last term, or cuts after an explicit pk', () => {
    expect(withPrimaryKey([{ field: 'expires', descending: true }], 'pk')).toEqual([
      { field: 'expires', descending: true },
      { field: 'pk', descending: true },
    ]);
    expect(
      withPrimaryKey(
        [
          { field: 'provider', descending: true },
          { field: 'expires', descending: false },
        ],
        'pk',
      ),
    ).toEqual([
      { field: 'provider', descending: true },
      { field: 'expires', descending: false },
      { field: 'pk', descending: false },
    ]);
    expect(
      withPrimaryKey(
        [
          { field: 'pk', descending: true },
          { field: 'user', descending: false },
        ],
        'pk',
      ),
    ).toEqual([{ field: 'pk', descending: true }]);
  });
});

describe('parseOrdering of a repeated parameter', () => {
  it('reads the last value, as Django does', () => {
    expect(parseOrdering(['user', '-expires'], ALLOWED, DEFAULTS)).toEqual([
      { field: 'expires', descending: true },
    ]);
    expect(parseOrdering([], ALLOWED, DEFAULTS)).toEqual(DEFAULTS);
    expect(parseOrdering(42, ALLOWED, DEFAULTS)).toEqual(DEFAULTS);
  });

  it('returns a copy of the defaults', () => {
    const terms = parseOrdering(undefined, ALLOWED, DEFAULTS);
    terms.pop();
    expect(DEFAULTS).toHaveLength(2);
  });
});

describe('withPrimaryKey of no terms', () => {
  it('orders by the primary key ascending', () => {
    expect(withPrimaryKey<F>([], 'pk')).toEqual([{ field: 'pk', descending: false }]);
  });

  it('keeps the terms up to an explicit pk in the middle', () => {
    expect(
      withPrimaryKey<F>(
        [
          { field: 'user', descending: false },
          { field: 'pk', descending: true },
          { field: 'expires', descending: false },
        ],
        'pk',
      ),
    ).toEqual([
      { field: 'user', descending: false },
      { field: 'pk', descending: true },
    ]);
  });
});
