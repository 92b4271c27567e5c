/**
 * How to fetch rows [offset, offset + limit) of an ordered list of `count` rows while walking as few index entries as
 * possible. Two ideas, both exact for a list whose count is known:
 *
 * 1. From the nearer end. Past the middle, the page is read in the opposite order, skipping the rows after it
 *    instead of the rows before it (`page=last` skips nothing). The caller sorts the page back.
 * 2. Per-provider counts. When the list is ordered by provider first (the default `provider, expires, pk`, or its
 *    exact reverse) and the count of every provider is known, the providers wholly before the page are skipped by
 *    arithmetic: the scan starts at the provider holding the page's first row, with a small remaining offset.
 */
export interface PageWindow {
  /** Read in the opposite of the requested order. */
  reverse: boolean;
  /** OFFSET and LIMIT of the scan, in its own direction. */
  skip: number;
  take: number;
  /** The scan may start at this provider: `provider_id >= id` when it runs by ascending provider, else `<=`. */
  fromProvider?: { id: number; ascending: boolean };
}

export interface WindowInput {
  count: number;
  offset: number;
  limit: number;
  /** Rows per provider, for lists ordered by provider first; `ascending` is the requested provider direction. */
  providers?: { counts: [providerId: number, rows: number][]; ascending: boolean };
}

export function pageWindow({ count, offset, limit, providers }: WindowInput): PageWindow {
  const after = Math.max(count - offset - limit, 0);
  const reverse = offset > 0 && after < offset;
  let skip = reverse ? after : offset;
  const take = reverse ? Math.max(Math.min(limit, count - offset), 0) : limit;
  if (!providers || skip === 0) return { reverse, skip, take };

  const ascending = providers.ascending !== reverse;
  const counts = [...providers.counts].sort(([a], [b]) => (ascending ? a - b : b - a));
  for (const [id, rows] of counts) {
    if (skip < rows) return { reverse, skip, take, fromProvider: { id, ascending } };
    skip -= rows;
  }
  // The counts say the page is past the end (they moved since the page was validated): scan normally.
  return { reverse, skip: reverse ? after : offset, take };
}
