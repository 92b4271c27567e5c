import { lastValue, type RawQuery } from '../../common/list-query/query-params';
import { HttpException, HttpStatus } from '@nestjs/common';
import { ValidationApiError } from '../../common/errors/api-error';

/*
 * django-filter's reading of query parameters for the FilterSets of users, groups, roles and permissions (plain
 * `FilterSet`s: Django form fields, reference §1.3). Fastify gives a repeated parameter as an array.
 */

/** The last value of a parameter (Django's QueryDict.get), or undefined. */
export function last(query: RawQuery, name: string): string | undefined {
  return lastValue(query[name]);
}

/** Every non-empty value of a repeated parameter. */
export function all(query: RawQuery, name: string): string[] {
  const value = query[name];
  const values = value === undefined ? [] : Array.isArray(value) ? value : [value];
  const present = values.filter((v) => v !== '');
  if (present.some((v) => v.includes('\0'))) throw filterError(name, FILTER_MESSAGES.nul);
  return present;
}

/** A text filter's value (Django's forms.CharField refuses NUL characters, which PostgreSQL cannot store either). */
export function text(query: RawQuery, name: string): string | undefined {
  const value = last(query, name);
  if (value !== undefined && value.includes('\0')) throw filterError(name, FILTER_MESSAGES.nul);
  return value;
}

/**
 * Django's NullBooleanSelect: `true`/`True`/`2` and `false`/`False`/`3`; anything else (and absence) means the filter
 * is not applied.
 */
export function nullBoolean(query: RawQuery, name: string): boolean | undefined {
  const value = last(query, name);
  if (value === 'true' || value === 'True' || value === '2') return true;
  if (value === 'false' || value === 'False' || value === '3') return false;
  return undefined;
}

/** authentik's `include_*` flags: `str(value).lower() == "true"`, with the flag's default when absent. */
export function flag(query: RawQuery, name: string, fallback: boolean): boolean {
  const value = last(query, name);
  return value === undefined ? fallback : value.toLowerCase() === 'true';
}

/** A 400 in django-filter's shape, `{"param": ["message"]}`. */
export function filterError(name: string, message: string): ValidationApiError {
  return new ValidationApiError({ [name]: [message] });
}

export const FILTER_MESSAGES = {
  choice: (value: string) => `Select a valid choice. ${value} is not one of the available choices.`,
  modelChoice: 'Select a valid choice. That choice is not one of the available choices.',
  invalidPk: (value: string) => `“${value}” is not a valid value.`,
  number: 'Enter a number.',
  uuid: 'Enter a valid UUID.',
  nul: 'Null characters are not allowed.',
} as const;

/** A string ValidationError raised in a filter method: DRF answers a bare list, `["message"]`. */
function listError(message: string): HttpException {
  return new HttpException([message], HttpStatus.BAD_REQUEST);
}

/** Django IntegerField / NumberFilter: an integer or a 400. */
export function integerParam(query: RawQuery, name: string): number | undefined {
  const value = last(query, name);
  if (value === undefined || value === '') return undefined;
  const trimmed = value.trim();
  const parsed = /^[+-]?\d+$/.test(trimmed) ? Number(trimmed) : Number.NaN;
  if (!Number.isSafeInteger(parsed)) throw filterError(name, FILTER_MESSAGES.number);
  return parsed;
}

/**
 * authentik's `attributes` filter: a JSON object whose keys (with `__` between nested keys) must equal the values.
 * Returns undefined when absent or empty.
 */
export function attributesParam(query: RawQuery, name = 'attributes'): Record<string, unknown> | undefined {
  const value = last(query, name);
  if (value === undefined || value === '') return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    throw listError('filter: failed to parse JSON');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw listError('filter: value must be key:value mapping');
  }
  // PostgreSQL's text and jsonb cannot hold NUL: such a filter could match nothing, and would fail in the query.
  if (value.includes('\\u0000') || value.includes('\0')) throw filterError(name, FILTER_MESSAGES.nul);
  return parsed as Record<string, unknown>;
}

/** DRF SearchFilter's terms (see parseSearch: at most 10). */
export function searchTerms(query: RawQuery): string[] {
  return parseSearch(query.search);
}

export { type RawQuery, likePattern as containsPattern } from '../../common/list-query/query-params';
import { parseSearch } from '../../common/list-query/query-params';
