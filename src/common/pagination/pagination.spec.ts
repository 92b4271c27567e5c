import { ApiError } from '../errors/api-error';
import { pagination, parsePage, parsePageSize, resolvePage } from './pagination';

function errorOf(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  return undefined;
}

describe('parsePage', () => {
  it.each([
    [undefined, 1],
    ['', 1],
    ['1', 1],
    ['7', 7],
    [' 3 ', 3],
    ['+2', 2],
    ['last', 'last'],
    [['1', '4'], 4],
  ])('%j -> %j', (raw, expected) => {
    expect(parsePage(raw)).toBe(expected);
  });

  it.each(['0', '-1', 'abc', '1.5', '1e3', 'LAST', '99999999999999999999', '١'])(
    '%j -> 404 Invalid page.',
    (raw) => {
      const error = errorOf(() => parsePage(raw));
      expect(error).toBeInstanceOf(ApiError);
      expect((error as ApiError).getStatus()).toBe(404);
      expect((error as ApiError).getResponse()).toEqual({ detail: 'Invalid page.' });
    },
  );
});

describe('parsePageSize', () => {
  it.each([
    [undefined, 20],
    ['', 20],
    ['abc', 20],
    ['0', 20],
    ['-5', 20],
    ['1.5', 20],
    ['1', 1],
    ['50', 50],
    ['100', 100],
    ['101', 100],
    ['100000000000000000000000', 100],
  ])('%j -> %j', (raw, expected) => {
    expect(parsePageSize(raw, 20, 100)).toBe(expected);
  });
});

describe('resolvePage', () => {
  it('serves page 1 of an empty list, resolves last, and rejects past the end', () => {
    expect(resolvePage(1, 0, 20)).toBe(1);
    expect(resolvePage('last', 0, 20)).toBe(1);
    expect(resolvePage('last', 45, 20)).toBe(3);
    expect(resolvePage(3, 45, 20)).toBe(3);
    expect((errorOf(() => resolvePage(4, 45, 20)) as ApiError).getResponse()).toEqual({
      detail: 'Invalid page.',
    });
    expect((errorOf(() => resolvePage(2, 0, 20)) as ApiError).getStatus()).toBe(404);
  });
});

describe('pagination', () => {
  it.each([
    [1, 0, { next: 0, previous: 0, count: 0, current: 1, total_pages: 1, start_index: 0, end_index: 0 }],
    [1, 1, { next: 0, previous: 0, count: 1, current: 1, total_pages: 1, start_index: 1, end_index: 1 }],
    [1, 20, { next: 0, previous: 0, count: 20, current: 1, total_pages: 1, start_index: 1, end_index: 20 }],
    [1, 21, { next: 2, previous: 0, count: 21, current: 1, total_pages: 2, start_index: 1, end_index: 20 }],
    [2, 21, { next: 0, previous: 1, count: 21, current: 2, total_pages: 2, start_index: 21, end_index: 21 }],
    [2, 45, { next: 3, previous: 1, count: 45, current: 2, total_pages: 3, start_index: 21, end_index: 40 }],
    [3, 45, { next: 0, previous: 2, count: 45, current: 3, total_pages: 3, start_index: 41, end_index: 45 }],
  ])('page %i of %i rows', (page, count, expected) => {
    expect(pagination(page, count, 20)).toEqual(expected);
  });
});

describe('page parameters that are not strings', () => {
  it('a page that is not a string is a 404, never a crash', () => {
    for (const raw of [5, null, {}, [7]]) {
      const error = errorOf(() => parsePage(raw));
      expect(error).toBeInstanceOf(ApiError);
      expect((error as ApiError).getStatus()).toBe(404);
    }
  });

  it('a page size that is not a string is the default; a repeated one is read from its last value', () => {
    expect(parsePageSize(5, 20, 100)).toBe(20);
    expect(parsePageSize(null, 20, 100)).toBe(20);
    expect(parsePageSize(['5', '7'], 20, 100)).toBe(7);
    expect(parsePageSize([], 20, 100)).toBe(20);
  });
});
