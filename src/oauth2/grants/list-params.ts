import { lastValue as last, parseSearch, type RawQuery } from '../../common/list-query/query-params';
import { HttpStatus } from '@nestjs/common';
import { ApiError, DETAIL, ValidationApiError } from '../../common/errors/api-error';
import { type OrderTerm, parseOrdering, withPrimaryKey } from '../../common/list-query/ordering';
import { type PageRequest, parsePage, parsePageSize } from '../../common/pagination/pagination';
import { type GrantKind, type OrderingField, orderingFields } from './grant-kind';

/** The `user` / `provider` filters: an id to check for existence, or nothing. */
export interface FilterParams {
  user: number | undefined;
  provider: number | undefined;
  /** Values that can never be a valid choice (not an integer); reported as 400 without a query. */
  invalid: ('user' | 'provider')[];
  /**
   * Grantry's incident filters (issue 14), absent when not given. Unlike authentik's own parameters they are parsed
   * strictly: an unparseable value is a 400 naming the parameter before any query runs.
   */
  revoked?: boolean;
  isExpired?: boolean;
  /** `expires__lt` / `expires__gte`: ISO 8601 instants. */
  expiresLt?: Date;
  expiresGte?: Date;
  /** Grants whose scope contains every one of these (space- or comma-separated in the query). */
  scope?: string[];
  /** An application's slug: grants of the provider that application uses. */
  application?: string;
  /** A provider's client_id. */
  clientId?: string;
  /** A user's exact username. */
  username?: string;
}

export interface ListParams {
  page: PageRequest;
  pageSize: number;
  ordering: OrderTerm<OrderingField>[];
  filters: FilterParams;
  /** Search terms (DRF SearchFilter: every term must match some field). */
  search: string[];
  includeGroups: boolean;
  includeRoles: boolean;
}

export const INVALID_CHOICE = 'Select a valid choice. That choice is not one of the available choices.';
const MAX_INT4 = 2_147_483_647;

/** django-filter's ModelChoiceFilter: empty means no filter; anything not an existing pk is an invalid choice. */
export function parseFilters(query: RawQuery): FilterParams {
  const filters: FilterParams = { user: undefined, provider: undefined, invalid: [] };
  for (const key of ['user', 'provider'] as const) {
    const value = last(query[key])?.trim();
    if (value === undefined || value === '') continue;
    const id = /^\d{1,10}$/.test(value) ? Number(value) : NaN;
    if (!Number.isInteger(id) || id > MAX_INT4) filters.invalid.push(key);
    else filters[key] = id;
  }
  return filters;
}

export function invalidChoice(keys: ('user' | 'provider')[]): ValidationApiError {
  return new ValidationApiError(Object.fromEntries(keys.map((key) => [key, [INVALID_CHOICE]])));
}

/** authentik reads `include_groups`/`include_roles` as "true" (case-insensitive) or anything else. */
function flag(raw: string | string[] | undefined): boolean {
  return (last(raw) ?? 'true').toLowerCase() === 'true';
}

export function parseListParams(
  kind: GrantKind,
  query: RawQuery,
  pageSizeDefault: number,
  pageSizeMax: number,
): ListParams {
  const ordering = parseOrdering(query.ordering, orderingFields(kind), [
    { field: 'provider', descending: false },
    { field: 'expires', descending: false },
  ]);
  return {
    page: parsePage(query.page),
    pageSize: parsePageSize(query.page_size, pageSizeDefault, pageSizeMax),
    ordering: withPrimaryKey(ordering, 'pk'),
    filters: parseFilters(query),
    search: parseSearch(query.search),
    includeGroups: flag(query.include_groups),
    includeRoles: flag(query.include_roles),
  };
}

/**
 * What a retrieve reads of the query: the filters and the nesting flags. Pagination does not apply to one object,
 * so `page` and `page_size` are ignored, as DRF ignores them on a detail route (`?page=abc` is not an error there).
 */
export function parseRetrieveParams(
  query: RawQuery,
): Pick<ListParams, 'filters' | 'includeGroups' | 'includeRoles'> {
  return {
    filters: parseFilters(query),
    includeGroups: flag(query.include_groups),
    includeRoles: flag(query.include_roles),
  };
}

/** Route ids: a non-integer, or one outside PostgreSQL's integer range, is simply "Not found.". */
export function parseId(raw: string): number {
  if (!/^\d{1,10}$/.test(raw)) throw new ApiError(HttpStatus.NOT_FOUND, DETAIL.notFound);
  const id = Number(raw);
  if (id < 1 || id > MAX_INT4) throw new ApiError(HttpStatus.NOT_FOUND, DETAIL.notFound);
  return id;
}

export { type RawQuery } from '../../common/list-query/query-params';
export { parseSearch } from '../../common/list-query/query-params';
