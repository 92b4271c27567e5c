import { lastValue, type RawQuery } from '../../common/list-query/query-params';
import { HttpStatus } from '@nestjs/common';
import { ApiError, ValidationApiError } from '../../common/errors/api-error';
import { parsePage, parsePageSize, type PageRequest } from '../../common/pagination/pagination';
import { noMatch, notFound } from '../common/errors';

/**
 * Query-string reading shared by the provider and application lists (django-filter and DRF semantics as authentik's
 * `filterset_fields` views have them, reference §1.3).
 */
/** An exact filter: empty or absent means no filter. NUL characters cannot be stored, so they match nothing. */
export function exactFilter(query: RawQuery, name: string): string | undefined {
  const value = lastValue(query[name]);
  return value === undefined || value === '' ? undefined : value;
}

export const INVALID_MODEL_CHOICE = 'Select a valid choice. That choice is not one of the available choices.';

export function invalidChoice(value: string): string {
  return `Select a valid choice. ${value} is not one of the available choices.`;
}

/** A choice filter: an unknown value is 400 with django-filter's message. */
export function choiceFilter(
  query: RawQuery,
  name: string,
  choices: readonly string[],
  errors: Record<string, string[]>,
): string | undefined {
  const value = exactFilter(query, name);
  if (value !== undefined && !choices.includes(value)) errors[name] = [invalidChoice(value)];
  return value;
}

/** dj-filter's BooleanWidget (filterset_fields views): true/false/1/0 in any case; anything else is no filter. */
export function booleanFilter(query: RawQuery, name: string): boolean | undefined {
  const value = lastValue(query[name])?.toLowerCase();
  if (value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  return undefined;
}

export { searchTerms } from '../common/filter-params';

export interface PageParams {
  page: PageRequest;
  pageSize: number;
}

export function pageParams(query: RawQuery, defaultSize: number, maxSize: number): PageParams {
  return { page: parsePage(query.page), pageSize: parsePageSize(query.page_size, defaultSize, maxSize) };
}

export function throwIfErrors(errors: Record<string, string[]>): void {
  if (Object.keys(errors).length > 0) throw new ValidationApiError(errors);
}

const MAX_INT4 = 2_147_483_647;

/** An integer pk from the URL: not digits is DRF's bare 404; out of range cannot exist. */
export function parseIntegerPk(raw: string, model: string): number {
  if (!/^\d+$/.test(raw)) throw notFound();
  const id = Number(raw);
  if (!Number.isSafeInteger(id) || id > MAX_INT4 || id < 1) throw noMatch(model);
  return id;
}

/** 405 on a list URL for a caller holding the permission, else 403 (ObjectPermissions.has_permission). */
export function listMethodNotAllowed(method: string, allowed: boolean, allow: string): ApiError {
  if (!allowed) {
    return new ApiError(HttpStatus.FORBIDDEN, 'You do not have permission to perform this action.');
  }
  return new ApiError(HttpStatus.METHOD_NOT_ALLOWED, `Method "${method}" not allowed.`, { allow });
}

export { lastValue, type RawQuery, likePattern } from '../../common/list-query/query-params';
