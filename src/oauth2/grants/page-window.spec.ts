import { pageWindow } from './page-window';

/** Applies a window to a concrete list: what rows would the scan return, in the requested order? */
function simulate(
  rows: { provider: number; key: number }[],
  offset: number,
  limit: number,
  ascending: boolean,
  withProviders: boolean,
): number[] {
  const order = (a: { provider: number; key: number }, b: { provider: number; key: number }): number =>
    a.provider - b.provider || a.key - b.key;
  const requested = [...rows].sort((a, b) => (ascending ? order(a, b) : order(b, a)));
  const counts = new Map<number, number>();
  for (const row of rows) counts.set(row.provider, (counts.get(row.provider) ?? 0) + 1);
  const window = pageWindow({
    count: rows.length,
    offset,
    limit,
    providers: withProviders ? { counts: [...counts.entries()], ascending } : undefined,
  });
  let scan = window.reverse ? [...requested].reverse() : requested;
  const from = window.fromProvider;
  if (from) scan = scan.filter((row) => (from.ascending ? row.provider >= from.id : row.provider <= from.id));
  const page = scan.slice(window.skip, window.skip + window.take);
  return (window.reverse ? page.reverse() : page).map((row) => row.key);
}

describe('pageWindow', () => {
  it('reads from the start before the middle and from the end after it', () => {
    expect(pageWindow({ count: 100, offset: 0, limit: 20 })).toEqual({ reverse: false, skip: 0, take: 20 });
    expect(pageWindow({ count: 100, offset: 40, limit: 20 })).toEqual({ reverse: false, skip: 40, take: 20 });
    expect(pageWindow({ count: 100, offset: 60, limit: 20 })).toEqual({ reverse: true, skip: 20, take: 20 });
    // the last, partial page: nothing to skip from the end
    expect(pageWindow({ count: 95, offset: 80, limit: 20 })).toEqual({ reverse: true, skip: 0, take: 15 });
  });

  it('starts at the provider holding the first row of the page', () => {
    const providers = {
      counts: [
        [3, 10],
        [1, 10],
        [2, 10],
      ] as [number, number][],
      ascending: true,
    };
    expect(pageWindow({ count: 30, offset: 12, limit: 5, providers })).toEqual({
      reverse: false,
      skip: 2,
      take: 5,
      fromProvider: { id: 2, ascending: true },
    });
    // from the end: rows 20..24 are 5 rows before the end of provider 3 -> scan descending from provider 3
    expect(pageWindow({ count: 30, offset: 20, limit: 5, providers })).toEqual({
      reverse: true,
      skip: 5,
      take: 5,
      fromProvider: { id: 3, ascending: false },
    });
  });

  it('returns exactly the rows of plain OFFSET/LIMIT for every page, size and direction', () => {
    let seed = 7;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    for (let trial = 0; trial < 40; trial += 1) {
      const rows = Array.from({ length: 1 + random(60) }, (_, key) => ({ provider: 1 + random(6), key }));
      for (const ascending of [true, false]) {
        const order = [...rows].sort((a, b) =>
          ascending ? a.provider - b.provider || a.key - b.key : b.provider - a.provider || b.key - a.key,
        );
        for (const limit of [1, 3, 7, 100]) {
          for (let offset = 0; offset < rows.length; offset += limit) {
            const expected = order.slice(offset, offset + limit).map((row) => row.key);
            expect(simulate(rows, offset, limit, ascending, false)).toEqual(expected);
            expect(simulate(rows, offset, limit, ascending, true)).toEqual(expected);
          }
        }
      }
    }
  });

  it('skips no provider on the first page, and starts at the next provider when one ends exactly at the offset', () => {
    const providers = {
      counts: [
        [1, 5],
        [2, 5],
      ] as [number, number][],
      ascending: true,
    };
    expect(pageWindow({ count: 10, offset: 0, limit: 3, providers })).toEqual({
      reverse: false,
      skip: 0,
      take: 3,
    });
    // Rows 5..6: provider 1 holds exactly the 5 rows before them.
    expect(pageWindow({ count: 20, offset: 5, limit: 2, providers })).toEqual({
      reverse: false,
      skip: 0,
      take: 2,
      fromProvider: { id: 2, ascending: true },
    });
  });

  it('scans normally when the counts say the page lies past their end (they moved since the count)', () => {
    const providers = { counts: [[1, 3]] as [number, number][], ascending: true };
    expect(pageWindow({ count: 100, offset: 10, limit: 5, providers })).toEqual({
      reverse: false,
      skip: 10,
      take: 5,
    });
    expect(pageWindow({ count: 100, offset: 90, limit: 5, providers })).toEqual({
      reverse: true,
      skip: 5,
      take: 5,
    });
  });

  it('takes nothing when the offset is past the count', () => {
    expect(pageWindow({ count: 10, offset: 20, limit: 5 })).toEqual({ reverse: true, skip: 0, take: 0 });
  });
});
