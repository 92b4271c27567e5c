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
  /** `created__lt` / `created__gte`: when the grant was issued, ISO 8601 instants. */
  createdLt?: Date;
  createdGte?: Date;
  /**
   * `valid_at`: grants usable at that instant: issued by then, not expired then, and not revoked by then (a grant
   * revoked at an unknown time, `revoked_at` null, counts as possibly valid).
   */
  validAt?: Date;
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

/**
 * django-filter's ModelChoiceFilter for `user` and `provider`: empty means no filter; anything not an existing pk is
 * an invalid choice. The incident filters are parsed too (readIncidentFilters): when one of them is bad, the 400
 * names it together with a `user`/`provider` that is not even an integer, before any query.
 */
export function parseFilters(query: RawQuery): FilterParams {
  const filters: FilterParams = { user: undefined, provider: undefined, invalid: [] };
  for (const key of ['user', 'provider'] as const) {
    const value = last(query[key])?.trim();
    if (value === undefined || value === '') continue;
    const id = /^\d{1,10}$/.test(value) ? Number(value) : NaN;
    if (!Number.isInteger(id) || id > MAX_INT4) filters.invalid.push(key);
    else filters[key] = id;
  }
  const incident = readIncidentFilters(query);
  if (Object.keys(incident.errors).length > 0) {
    throw new ValidationApiError({
      ...Object.fromEntries(filters.invalid.map((key) => [key, [INVALID_CHOICE]])),
      ...incident.errors,
    });
  }
  return { ...filters, ...incident.filters };
}

/** The incident filters of FilterParams (issue 14). */
export type IncidentFilters = Pick<
  FilterParams,
  | 'revoked'
  | 'isExpired'
  | 'expiresLt'
  | 'expiresGte'
  | 'createdLt'
  | 'createdGte'
  | 'validAt'
  | 'scope'
  | 'application'
  | 'clientId'
  | 'username'
>;

/** Their wire names, in the order a 400 body lists them. */
export const INCIDENT_FILTER_NAMES = [
  'revoked',
  'is_expired',
  'expires__lt',
  'expires__gte',
  'created__lt',
  'created__gte',
  'valid_at',
  'scope',
  'application',
  'client_id',
  'username',
] as const;
export type IncidentFilterName = (typeof INCIDENT_FILTER_NAMES)[number];

/** Whether any incident filter is set (the list's whole-table shortcuts do not apply then). */
export function hasIncidentFilter(filters: FilterParams): boolean {
  return (
    filters.revoked !== undefined ||
    filters.isExpired !== undefined ||
    filters.expiresLt !== undefined ||
    filters.expiresGte !== undefined ||
    filters.createdLt !== undefined ||
    filters.createdGte !== undefined ||
    filters.validAt !== undefined ||
    filters.scope !== undefined ||
    filters.application !== undefined ||
    filters.clientId !== undefined ||
    filters.username !== undefined
  );
}

const MAX_SCOPES = 20;
const MAX_SCOPE_LENGTH = 255;
/** The longest value each text filter can match: the column's length (a longer one is a mistake, not a miss). */
const MAX_LENGTH = { application: 50, client_id: 255, username: 150 } as const;

/** Django's validate_slug, for `application` (here and in bulk_revoke's body). */
export const SLUG = /^[-a-zA-Z0-9_]+$/;
export const INVALID_SLUG = 'Enter a valid “slug” consisting of letters, numbers, underscores or hyphens.';

const MESSAGES = {
  invalidBoolean: (value: string) =>
    `Select a valid choice. ${shown(value)} is not one of the available choices.`,
  invalidDateTime: 'Enter a valid date/time.',
  invalidScope:
    'Enter scopes separated by spaces or commas, each of printable characters other than " and \\.',
  tooManyScopes: `Ensure this field has no more than ${MAX_SCOPES} scopes.`,
  invalidSlug: INVALID_SLUG,
  nullCharacter: 'Null characters are not allowed.',
  tooLong: (max: number, length: number) =>
    `Ensure this field has no more than ${max} characters (it has ${length}).`,
} as const;

/** An echoed value, shortened so an error body stays small. */
function shown(value: string): string {
  return value.length > 40 ? `${value.slice(0, 40)}…` : value;
}

/**
 * ISO 8601 as Django's DateTimeField reads it (authentik's TIME_ZONE is UTC): a date (midnight UTC), or a date and a
 * time (`T` or a space between), seconds and up to 6 fraction digits optional, `Z` or `±HH[:MM]` optional (UTC when
 * absent). In a query string an unencoded `+` arrives as a space, so ` HH:MM` after a time is read as `+HH:MM`.
 */
const ISO_8601 =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,6}))?)?(Z|[+-]\d{2}(?::?\d{2})?| \d{2}:\d{2})?)?$/i;

export function parseDateTime(text: string): Date | undefined {
  const match = ISO_8601.exec(text);
  if (!match) return undefined;
  const [, y, mo, d, h = '0', mi = '0', s = '0', fraction = '', zone = 'Z'] = match;
  const [year, month, day, hour, minute, second] = [y, mo, d, h, mi, s].map((part) => Number(part ?? 0));
  if (
    year === undefined ||
    month === undefined ||
    day === undefined ||
    hour === undefined ||
    minute === undefined ||
    second === undefined
  )
    return undefined;
  if (year < 1 || month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59)
    return undefined;
  const daysInMonth = [31, leap(year) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1] ?? 0;
  if (day > daysInMonth) return undefined;
  let offsetMinutes = 0;
  if (zone.toUpperCase() !== 'Z') {
    const sign = zone.startsWith('-') ? -1 : 1;
    const digits = zone.replace(/[^0-9]/g, '');
    const zh = Number(digits.slice(0, 2));
    const zm = Number(digits.slice(2) || '0');
    if (zh > 23 || zm > 59) return undefined;
    offsetMinutes = sign * (zh * 60 + zm);
  }
  const utc = new Date(0);
  utc.setUTCFullYear(year, month - 1, day);
  utc.setUTCHours(hour, minute, second, Math.floor(Number(`0.${fraction || '0'}`) * 1000));
  // Microseconds below the millisecond are dropped: PostgreSQL compares at microseconds, JavaScript has milliseconds.
  return new Date(utc.getTime() - offsetMinutes * 60_000);
}

function leap(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

/** An OAuth2 scope-token (RFC 6749 3.3): %x21 / %x23-5B / %x5D-7E. */
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;

/**
 * Reads the incident filters from a query string: the last of a repeated parameter counts, as DRF reads it, and an
 * empty value is no filter, as django-filter treats it. Never throws: `errors` has one key per bad parameter (wire
 * name -> messages, DRF's ValidationError shape), `filters` the good ones. (A bulk revocation's JSON body is read by
 * its class-validator DTO, GrantBulkRevokeRequest, with the same messages.)
 */
export function readIncidentFilters(source: RawQuery): {
  filters: IncidentFilters;
  errors: Record<string, string[]>;
} {
  const filters: IncidentFilters = {};
  const errors: Record<string, string[]> = {};
  const fail = (name: IncidentFilterName, message: string): undefined => {
    errors[name] = [message];
    return undefined;
  };

  /** The value as text (trimmed, as DRF's CharField and django-filter do), undefined when no filter. */
  const text = (name: IncidentFilterName): string | undefined => {
    const value = last(source[name]);
    if (typeof value !== 'string') return undefined;
    if (value.includes('\0')) return fail(name, MESSAGES.nullCharacter);
    const trimmed = value.trim();
    return trimmed === '' ? undefined : trimmed;
  };

  const boolean = (name: 'revoked' | 'is_expired'): boolean | undefined => {
    const value = text(name);
    if (value === undefined) return undefined;
    const lower = value.toLowerCase();
    if (lower === 'true') return true;
    if (lower === 'false') return false;
    return fail(name, MESSAGES.invalidBoolean(value));
  };

  const dateTime = (
    name: 'expires__lt' | 'expires__gte' | 'created__lt' | 'created__gte' | 'valid_at',
  ): Date | undefined => {
    const value = text(name);
    if (value === undefined) return undefined;
    return parseDateTime(value) ?? fail(name, MESSAGES.invalidDateTime);
  };

  const scopes = (): string[] | undefined => {
    const value = text('scope');
    if (value === undefined) return undefined;
    const list = [...new Set(value.split(/[\s,]+/).filter(Boolean))];
    if (list.length === 0) return undefined;
    if (list.length > MAX_SCOPES) return fail('scope', MESSAGES.tooManyScopes);
    if (list.some((scope) => scope.length > MAX_SCOPE_LENGTH || !SCOPE_TOKEN.test(scope))) {
      return fail('scope', MESSAGES.invalidScope);
    }
    return list.sort();
  };

  const limited = (name: keyof typeof MAX_LENGTH, pattern?: RegExp, message?: string): string | undefined => {
    const value = text(name);
    if (value === undefined) return undefined;
    if (value.length > MAX_LENGTH[name]) return fail(name, MESSAGES.tooLong(MAX_LENGTH[name], value.length));
    if (pattern && !pattern.test(value)) return fail(name, message ?? MESSAGES.invalidSlug);
    return value;
  };

  const set = <K extends keyof IncidentFilters>(key: K, value: IncidentFilters[K]): void => {
    if (value !== undefined) filters[key] = value;
  };
  set('revoked', boolean('revoked'));
  set('isExpired', boolean('is_expired'));
  set('expiresLt', dateTime('expires__lt'));
  set('expiresGte', dateTime('expires__gte'));
  set('createdLt', dateTime('created__lt'));
  set('createdGte', dateTime('created__gte'));
  set('validAt', dateTime('valid_at'));
  set('scope', scopes());
  set('application', limited('application', SLUG, MESSAGES.invalidSlug));
  set('clientId', limited('client_id'));
  set('username', limited('username'));
  // Keys in the documented order, whatever order they failed in.
  const ordered = Object.fromEntries(
    INCIDENT_FILTER_NAMES.filter((name) => errors[name]).map((name) => [name, errors[name] as string[]]),
  );
  return { filters, errors: ordered };
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
