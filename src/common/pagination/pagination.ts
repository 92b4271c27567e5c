import { HttpStatus } from '@nestjs/common';
import { ApiError } from '../errors/api-error';
import { JsonBody } from '../serializers/json-body';

/** authentik's pagination block (authentik.api.pagination.Pagination), in its key order. */
export interface Pagination {
  next: number;
  previous: number;
  count: number;
  current: number;
  total_pages: number;
  start_index: number;
  end_index: number;
}

/** A requested page: a number, or `last` (resolved once the count is known). */
export type PageRequest = number | 'last';

export const INVALID_PAGE = 'Invalid page.';

function invalidPage(): ApiError {
  return new ApiError(HttpStatus.NOT_FOUND, INVALID_PAGE);
}

/** Python's int() accepts surrounding whitespace and a sign; Django then rejects anything below 1. */
const INTEGER = /^\s*[+-]?\d+\s*$/;

/**
 * DRF's PageNumberPagination reading of `page`: absent or empty is 1, `last` is the last page, anything that is not
 * an integer or is below 1 is a 404 "Invalid page.". Past-the-end is only known after counting: see resolvePage.
 */
export function parsePage(raw: unknown): PageRequest {
  const value: unknown = Array.isArray(raw) ? (raw as unknown[])[raw.length - 1] : raw;
  if (value === undefined || value === '') return 1;
  if (typeof value !== 'string') throw invalidPage();
  if (value === 'last') return 'last';
  if (!INTEGER.test(value)) throw invalidPage();
  const page = Number(value.trim());
  if (!Number.isSafeInteger(page) || page < 1) throw invalidPage();
  return page;
}

/**
 * DRF's `page_size`: absent, empty, not a positive integer -> the default; above the maximum -> the maximum.
 */
export function parsePageSize(raw: unknown, defaultSize: number, maxSize: number): number {
  const value: unknown = Array.isArray(raw) ? (raw as unknown[])[raw.length - 1] : raw;
  if (typeof value !== 'string' || !INTEGER.test(value)) return defaultSize;
  const size = Number(value.trim());
  if (!Number.isFinite(size) || size <= 0) return defaultSize;
  return Math.min(size, maxSize);
}

export function totalPages(count: number, pageSize: number): number {
  return Math.max(1, Math.ceil(count / pageSize));
}

/** The page number to serve, or a 404 when it lies past the last page (page 1 always exists). */
export function resolvePage(request: PageRequest, count: number, pageSize: number): number {
  const pages = totalPages(count, pageSize);
  const page = request === 'last' ? pages : request;
  if (page > pages) throw invalidPage();
  return page;
}

/** Django Paginator arithmetic for page `page` of `count` rows. */
export function pagination(page: number, count: number, pageSize: number): Pagination {
  const pages = totalPages(count, pageSize);
  return {
    next: page < pages ? page + 1 : 0,
    previous: page > 1 ? page - 1 : 0,
    count,
    current: page,
    total_pages: pages,
    start_index: count === 0 ? 0 : (page - 1) * pageSize + 1,
    end_index: page === pages ? count : page * pageSize,
  };
}

/**
 * authentik's paginated list, `{"pagination": ..., "results": [...], "autocomplete": {}}` in its key order, around
 * results already serialized as JSON text (see JsonBody).
 */
export function paginatedBody(
  page: number,
  count: number,
  pageSize: number,
  results: readonly string[],
): JsonBody {
  const parts = [`{"pagination":${JSON.stringify(pagination(page, count, pageSize))},"results":[`];
  results.forEach((result, index) => {
    if (index > 0) parts.push(',');
    parts.push(result);
  });
  parts.push('],"autocomplete":{}}');
  return new JsonBody(parts);
}
