/** A request's query string as Fastify parses it: a repeated parameter is an array. */
export type RawQuery = Record<string, string | string[] | undefined>;

/** The last value of a repeated query parameter, as Django's QueryDict.get reads it. */
export function lastValue(raw: string | string[] | undefined): string | undefined {
  return Array.isArray(raw) ? raw[raw.length - 1] : raw;
}

/** A LIKE/ILIKE pattern matching `term` literally anywhere: `%`, `_` and `\` in it are escaped. */
export function likePattern(term: string): string {
  return `%${term.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/**
 * DRF SearchFilter's terms: split on whitespace and commas, NUL characters removed (PostgreSQL cannot store them).
 * Every list takes at most the first 10 terms (Grantry's bound on the work one request can ask for; each term is one
 * more ILIKE over the searched fields).
 */
export function parseSearch(raw: string | string[] | undefined): string[] {
  const value = (lastValue(raw) ?? '').replace(/\0/g, '');
  return value
    .split(/[\s,]+/)
    .map((term) => term.trim())
    .filter(Boolean)
    .slice(0, 10);
}
