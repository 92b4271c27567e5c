export interface OrderTerm<F extends string> {
  field: F;
  descending: boolean;
}

/**
 * DRF's OrderingFilter: comma-separated terms, `-` for descending, terms outside the whitelist dropped (authentik's
 * web UI sends some), and the default when nothing valid is left. Grantry always ends the ordering with the primary
 * key (see `withPrimaryKey`), so equal sort keys never make pages overlap or skip.
 */
export function parseOrdering<F extends string>(
  raw: unknown,
  allowed: readonly F[],
  defaults: readonly OrderTerm<F>[],
): OrderTerm<F>[] {
  const value: unknown = Array.isArray(raw) ? (raw as unknown[])[raw.length - 1] : raw;
  if (typeof value !== 'string') return [...defaults];
  const terms: OrderTerm<F>[] = [];
  for (const part of value.split(',')) {
    const term = part.trim();
    const descending = term.startsWith('-');
    const field = (descending ? term.slice(1) : term) as F;
    if ((allowed as readonly string[]).includes(field)) terms.push({ field, descending });
  }
  return terms.length > 0 ? terms : [...defaults];
}

/**
 * Appends the primary key unless the ordering already contains it (terms after it would be moot). The pk runs in the
 * direction of the last term, so `-expires` becomes `expires DESC, pk DESC`: one index on (expires, pk) read
 * backwards serves it, where `pk ASC` would force a sort of every matching row.
 */
export function withPrimaryKey<F extends string>(terms: OrderTerm<F>[], pk: F): OrderTerm<F>[] {
  const index = terms.findIndex((term) => term.field === pk);
  if (index >= 0) return terms.slice(0, index + 1);
  return [...terms, { field: pk, descending: terms.at(-1)?.descending ?? false }];
}
