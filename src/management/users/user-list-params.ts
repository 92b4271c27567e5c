import { lastValue as last } from '../../common/list-query/query-params';
import { HttpException, HttpStatus } from '@nestjs/common';
import { ValidationApiError } from '../../common/errors/api-error';
import { type OrderTerm, parseOrdering, withPrimaryKey } from '../../common/list-query/ordering';
import { type PageRequest, parsePage, parsePageSize } from '../../common/pagination/pagination';
import { isUuid, parseDateTime } from '../../common/validation/fields';
import { USER_TYPES, type UserType } from '../../identity/user.entity';
import { parseSearch, type RawQuery } from '../../oauth2/grants/list-params';
import { MAX_JSON_DEPTH, nestsDeeperThan } from '../../common/validation/json-depth';

/** authentik's UserSerializer fields usable in `ordering` (DRF's OrderingFilter default: the serializer's fields). */
export const USER_ORDERING_FIELDS = [
  'pk',
  'username',
  'name',
  'is_active',
  'last_login',
  'date_joined',
  'groups',
  'roles',
  'email',
  'attributes',
  'path',
  'type',
  'uuid',
  'password_change_date',
  'last_updated',
] as const;
export type UserOrderingField = (typeof USER_ORDERING_FIELDS)[number];

const DEFAULT_ORDERING: OrderTerm<UserOrderingField>[] = [
  { field: 'username', descending: false },
  { field: 'date_joined', descending: false },
  { field: 'last_updated', descending: false },
  { field: 'last_login', descending: false },
];

export type DateFilter =
  | 'date_joined'
  | 'date_joined__lt'
  | 'date_joined__gt'
  | 'last_updated'
  | 'last_updated__lt'
  | 'last_updated__gt'
  | 'last_login'
  | 'last_login__lt'
  | 'last_login__gt';
const DATE_FILTERS: DateFilter[] = [
  'date_joined',
  'date_joined__gt',
  'date_joined__lt',
  'last_login',
  'last_login__gt',
  'last_login__lt',
  'last_updated',
  'last_updated__gt',
  'last_updated__lt',
];

/** One condition of the `attributes` filter: a JSON path, a lookup, and the value (django's JSONField transforms). */
export interface AttributeCondition {
  path: string[];
  lookup: 'exact' | 'iexact' | 'icontains' | 'isnull' | 'in' | 'gt' | 'gte' | 'lt' | 'lte';
  value: unknown;
}
const ATTRIBUTE_LOOKUPS = new Set<AttributeCondition['lookup']>([
  'exact',
  'iexact',
  'icontains',
  'isnull',
  'in',
  'gt',
  'gte',
  'lt',
  'lte',
]);

export interface UserFilters {
  username?: string;
  email?: string;
  name?: string;
  path?: string;
  pathStartswith?: string;
  uuid?: string;
  isActive?: boolean;
  types: UserType[];
  /** ISO text with a zone, for PostgreSQL to parse (keeping microseconds, which a Date would drop). */
  dates: Partial<Record<DateFilter, string>>;
  lastLoginIsnull?: boolean;
  isSuperuser?: boolean;
  groupsByName: string[];
  groupsByPk: string[];
  rolesByName: string[];
  rolesByPk: string[];
  attributes: AttributeCondition[];
}

export interface UserListParams {
  page: PageRequest;
  pageSize: number;
  ordering: OrderTerm<UserOrderingField>[];
  filters: UserFilters;
  search: string[];
  includeGroups: boolean;
  includeRoles: boolean;
}

function all(raw: string | string[] | undefined): string[] {
  return (Array.isArray(raw) ? raw : raw === undefined ? [] : [raw]).filter((value) => value !== '');
}

/** A CharFilter: empty means no filter. NUL cannot match anything PostgreSQL stores, so it is removed. */
function text(raw: string | string[] | undefined): string | undefined {
  const value = last(raw)?.replace(/\0/g, '');
  return value === undefined || value === '' ? undefined : value;
}

/** Django's NullBooleanSelect (a plain FilterSet): `true`/`True`/`false`/`False`; anything else is no filter. */
function nullBoolean(raw: string | string[] | undefined): boolean | undefined {
  const value = last(raw);
  if (value === 'true' || value === 'True') return true;
  if (value === 'false' || value === 'False') return false;
  return undefined;
}

/** authentik reads `include_groups`/`include_roles` as "true" (case-insensitive) or anything else. */
function flag(raw: string | string[] | undefined): boolean {
  return (last(raw) ?? 'true').toLowerCase() === 'true';
}

const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;

const ZONE = /(Z|[+-]\d{2}(:?\d{2})?)$/i;

/** Whether the date and time parts name a real instant (no 30 February, no hour 24, no year 0): PostgreSQL says. */
export function realCalendarDate(value: string): boolean {
  const match = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2}))?/i.exec(value);
  if (!match) return false;
  const zone = /([+-])(\d{2}):?(\d{2})?$/.exec(value.slice(16));
  if (zone && (Number(zone[2]) > 15 || Number(zone[3] ?? 0) > 59)) return false;
  const [y, mo, d, h, mi, s] = match.slice(1).map((part): number => Number(part ?? 0));
  const date = new Date(Date.UTC(y ?? 0, (mo ?? 1) - 1, d ?? 1, h ?? 0, mi ?? 0, s ?? 0));
  return (
    (y ?? 0) >= 1 &&
    date.getUTCFullYear() === y &&
    date.getUTCMonth() === (mo ?? 1) - 1 &&
    date.getUTCDate() === d &&
    date.getUTCHours() === h &&
    date.getUTCMinutes() === mi &&
    date.getUTCSeconds() === s
  );
}

/** Django's forms.DateTimeField: ISO 8601, or a date alone; naive values are UTC (authentik's TIME_ZONE). */
function parseFilterDate(value: string): string | null {
  const trimmed = value.trim();
  const full = DATE_ONLY.test(trimmed) ? `${trimmed}T00:00:00` : trimmed;
  if (parseDateTime(full) === null || !realCalendarDate(full)) return null;
  return ZONE.test(full) ? full : `${full}Z`;
}

/** A UUID as PostgreSQL prints it (lower case, with dashes), for text comparisons. */
export function canonicalUuid(value: string): string {
  if (!isUuid(value)) return value;
  const hex = value.replace(/-/g, '').toLowerCase();
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

const invalidChoice = (value: string): string =>
  `Select a valid choice. ${value} is not one of the available choices.`;

/** The `attributes` filter's bare-list 400s (a ValidationError raised with a string inside a filter method). */
function filterError(message: string): HttpException {
  return new HttpException([message], HttpStatus.BAD_REQUEST);
}

/**
 * `attributes={"team":"x","a__b":1}` -> `attributes__team="x", attributes__a__b=1`: keys are paths joined by `__`, the
 * last part a lookup when it names one.
 */
export function parseAttributes(raw: string | undefined): AttributeCondition[] {
  if (raw === undefined || raw === '') return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw filterError('filter: failed to parse JSON');
  }
  if (nestsDeeperThan(parsed, MAX_JSON_DEPTH)) throw filterError('filter: failed to parse JSON');
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw filterError('filter: value must be key:value mapping');
  }
  const conditions: AttributeCondition[] = [];
  for (const [key, value] of Object.entries(parsed as Record<string, unknown>)) {
    const parts = key.replace(/\0/g, '').split('__');
    const tail = parts[parts.length - 1] as AttributeCondition['lookup'];
    const isLookup = parts.length > 1 && ATTRIBUTE_LOOKUPS.has(tail);
    const lookup = isLookup ? tail : 'exact';
    const path = isLookup ? parts.slice(0, -1) : parts;
    conditions.push({ path, lookup, value });
  }
  return conditions;
}

export function parseUserFilters(query: RawQuery): UserFilters {
  const errors: Record<string, string[]> = {};
  const filters: UserFilters = {
    username: text(query.username),
    email: text(query.email),
    name: text(query.name),
    path: text(query.path),
    pathStartswith: text(query.path_startswith),
    isActive: nullBoolean(query.is_active),
    types: [],
    dates: {},
    lastLoginIsnull: nullBoolean(query.last_login__isnull),
    isSuperuser: nullBoolean(query.is_superuser),
    groupsByName: all(query.groups_by_name).map((v) => v.replace(/\0/g, '')),
    groupsByPk: all(query.groups_by_pk),
    rolesByName: all(query.roles_by_name).map((v) => v.replace(/\0/g, '')),
    rolesByPk: all(query.roles_by_pk),
    attributes: [],
  };
  for (const key of DATE_FILTERS) {
    const value = last(query[key]);
    if (value === undefined || value === '') continue;
    const date = parseFilterDate(value);
    if (date) filters.dates[key] = date;
    else errors[key] = ['Enter a valid date/time.'];
  }
  const uuid = last(query.uuid)?.trim();
  if (uuid !== undefined && uuid !== '') {
    if (isUuid(uuid)) filters.uuid = canonicalUuid(uuid);
    else errors.uuid = ['Enter a valid UUID.'];
  }
  for (const type of all(query.type)) {
    if ((USER_TYPES as readonly string[]).includes(type)) filters.types.push(type as UserType);
    else {
      errors.type = [invalidChoice(type)];
      break;
    }
  }
  for (const key of ['groups_by_pk', 'roles_by_pk'] as const) {
    const bad = all(query[key]).find((value: string): boolean => !isUuid(value));
    if (bad !== undefined) errors[key] = [`“${bad.replace(/\0/g, '')}” is not a valid value.`];
  }
  filters.groupsByPk = filters.groupsByPk.map(canonicalUuid);
  filters.rolesByPk = filters.rolesByPk.map(canonicalUuid);
  if (Object.keys(errors).length > 0) throw new ValidationApiError(errors);
  filters.attributes = parseAttributes(last(query.attributes));
  return filters;
}

export function parseUserListParams(
  query: RawQuery,
  pageSizeDefault: number,
  pageSizeMax: number,
): UserListParams {
  const ordering = parseOrdering(query.ordering, USER_ORDERING_FIELDS, DEFAULT_ORDERING);
  return {
    page: parsePage(query.page),
    pageSize: parsePageSize(query.page_size, pageSizeDefault, pageSizeMax),
    ordering: withPrimaryKey(ordering, 'pk'),
    filters: parseUserFilters(query),
    search: parseSearch(query.search),
    includeGroups: flag(query.include_groups),
    includeRoles: flag(query.include_roles),
  };
}

/** `include_groups` / `include_roles` on a retrieve. */
export function parseIncludes(query: RawQuery): { includeGroups: boolean; includeRoles: boolean } {
  return { includeGroups: flag(query.include_groups), includeRoles: flag(query.include_roles) };
}

export { invalidChoice };
