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
