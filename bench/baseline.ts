/**
 * The benchmark's yardstick: the token API's read operations written the straightforward way, as a careful
 * developer would by hand, on `node:http` and `pg` alone. It is not part of the product.
 *
 * Per list request: the bearer check (one query: key hash -> user, superuser flag, permissions), one COUNT(*) with
 * the page's WHERE, one SELECT joining users, providers and applications with ORDER BY ... LIMIT/OFFSET, and one
 * query for the page's users' groups and roles. Search is ILIKE '%term%' over the joined columns. Retrieve is the
 * bearer check, the joined SELECT by id and the groups/roles query.
 *
 * It reuses Grantry's pure helpers (page and ordering parsing, pagination arithmetic, the user/provider DTO
 * functions, id_token formatting, timestamps), so its JSON is byte-comparable with Grantry's.
 *
 * It also serves the issuance bare loop (bench/issuance-baseline.ts): POST /application/o/token/ and
 * /application/o/introspect/, from the same pool.
 *
 * It also serves the management API's users and events lists (issue 13): GET /api/v3/core/users/ (is_active,
 * groups_by_name, search) and GET /api/v3/events/events/ (actions, username), default ordering only.
 *
 * Environment: DATABASE_URL (required), PORT (default 9100), HOST (127.0.0.1), POOL_SIZE (10), PAGE_SIZE_DEFAULT
 * (20), PAGE_SIZE_MAX (100), AVATARS (initials), SECRET_KEY (to open the providers' signing keys; issuance only).
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import { Pool } from 'pg';
import { parseAuthorization } from '../src/common/auth/authorization-header';
import { type OrderTerm, parseOrdering, withPrimaryKey } from '../src/common/list-query/ordering';
import {
  INVALID_PAGE,
  pagination,
  parsePage,
  parsePageSize,
  totalPages,
} from '../src/common/pagination/pagination';
import { AvatarResolver } from '../src/common/serializers/avatar';
import { formatIdToken } from '../src/common/serializers/id-token';
import { type ProviderRow, toProviderDto } from '../src/common/serializers/provider';
import { isoFromSql, isoSql } from '../src/common/serializers/timestamps';
import { toUserDto, type UserRow } from '../src/common/serializers/user';
import { type IncidentFilters, parseSearch, readIncidentFilters } from '../src/oauth2/grants/list-params';
import { type Answer, IssuanceBaseline } from './issuance-baseline';

/** authentik's paginated list as an object, for JSON.stringify (Grantry itself writes the text, see JsonBody). */
function paginated<T>(page: number, count: number, pageSize: number, results: T[]) {
  return { pagination: pagination(page, count, pageSize), results, autocomplete: {} };
}

type Field = 'pk' | 'provider' | 'user' | 'expires' | 'revoked';

interface Kind {
  table: string;
  model: string;
  permission: string;
  isToken: boolean;
  fields: readonly Field[];
}

const KINDS: Record<string, Kind> = {
  access_tokens: {
    table: 'oauth2_access_tokens',
    model: 'AccessToken',
    permission: 'authentik_providers_oauth2.view_accesstoken',
    isToken: true,
    fields: ['pk', 'provider', 'user', 'expires', 'revoked'],
  },
  refresh_tokens: {
    table: 'oauth2_refresh_tokens',
    model: 'RefreshToken',
    permission: 'authentik_providers_oauth2.view_refreshtoken',
    isToken: true,
    fields: ['pk', 'provider', 'user', 'expires', 'revoked'],
  },
  authorization_codes: {
    table: 'oauth2_authorization_codes',
    model: 'AuthorizationCode',
    permission: 'authentik_providers_oauth2.view_authorizationcode',
    isToken: false,
    fields: ['pk', 'provider', 'user', 'expires'],
  },
};

const COLUMNS: Record<Field, string> = {
  pk: 'g.id',
  provider: 'g.provider_id',
  user: 'g.user_id',
  expires: 'g.expires',
  revoked: 'g.revoked',
};

const DEFAULT_ORDERING: OrderTerm<Field>[] = [
  { field: 'provider', descending: false },
  { field: 'expires', descending: false },
];
const INVALID_CHOICE = 'Select a valid choice. That choice is not one of the available choices.';
const MAX_INT4 = 2_147_483_647;

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {
    super(`HTTP ${status}`);
  }
}

const detail = (status: number, text: string): HttpError => new HttpError(status, { detail: text });

interface Principal {
  userId: number;
  isSuperuser: boolean;
  permissions: Set<string>;
}

const PRINCIPAL_SQL = `
WITH RECURSIVE credential AS (
  (SELECT t.user_id FROM api_tokens t
    WHERE t.key_hash = $1 AND t.intent = 'api' AND (NOT t.expiring OR t.expires > now())
   UNION ALL
   SELECT a.user_id FROM oauth2_access_tokens a
    WHERE a.token_hash = $1 AND NOT a.revoked AND (NOT a.expiring OR a.expires > now())
      AND 'goauthentik.io/api' = ANY (string_to_array(a.scope, ' ')))
  LIMIT 1
),
member_of (id) AS (
  SELECT ug.group_id FROM user_groups ug JOIN credential c ON ug.user_id = c.user_id
  UNION
  SELECT g.parent_id FROM groups g JOIN member_of m ON g.id = m.id WHERE g.parent_id IS NOT NULL
)
SELECT u.id, u.is_active,
       EXISTS (SELECT 1 FROM groups g JOIN member_of m ON g.id = m.id WHERE g.is_superuser) AS is_superuser,
       ARRAY(SELECT DISTINCT unnest(r.permissions) FROM roles r
              WHERE r.id IN (SELECT ur.role_id FROM user_roles ur WHERE ur.user_id = u.id
                             UNION SELECT gr.role_id FROM group_roles gr JOIN member_of m ON gr.group_id = m.id)
       ) AS permissions
  FROM credential c JOIN users u ON u.id = c.user_id`;

/** The groups (with their parent's name) and roles of some users, and whether a group or ancestor is superuser. */
const GROUPS_SQL = `
SELECT u.id,
       EXISTS (
         WITH RECURSIVE ancestors (id) AS (
           SELECT ug.group_id FROM user_groups ug WHERE ug.user_id = u.id
           UNION
           SELECT g.parent_id FROM groups g JOIN ancestors a ON g.id = a.id WHERE g.parent_id IS NOT NULL
         )
         SELECT 1 FROM ancestors a JOIN groups g ON g.id = a.id WHERE g.is_superuser
       ) AS is_superuser,
       COALESCE((
         SELECT json_agg(json_build_object('pk', g.id, 'name', g.name, 'is_superuser', g.is_superuser,
                                           'parent', g.parent_id, 'parent_name', p.name, 'attributes', g.attributes)
                         ORDER BY g.name, g.id)
           FROM user_groups ug JOIN groups g ON g.id = ug.group_id LEFT JOIN groups p ON p.id = g.parent_id
          WHERE ug.user_id = u.id), '[]'::json) AS groups,
       COALESCE((
         SELECT json_agg(json_build_object('pk', r.id, 'name', r.name) ORDER BY r.name, r.id)
           FROM user_roles ur JOIN roles r ON r.id = ur.role_id
          WHERE ur.user_id = u.id), '[]'::json) AS roles
  FROM users u
 WHERE u.id = ANY($1::int[])`;

const USER_COLUMNS = `u.uuid AS u_uuid, u.username AS u_username, u.name AS u_name, u.email AS u_email,
  u.is_active AS u_is_active, ${isoSql('u.last_login')} AS u_last_login, ${isoSql('u.date_joined')} AS u_date_joined,
  ${isoSql('u.password_change_date')} AS u_password_change_date, ${isoSql('u.last_updated')} AS u_last_updated,
  u.path AS u_path, u.type AS u_type, u.attributes AS u_attributes`;

const PROVIDER_COLUMNS = `p.name AS p_name, p.authentication_flow AS p_authentication_flow,
  p.authorization_flow AS p_authorization_flow, p.invalidation_flow AS p_invalidation_flow,
  p.property_mappings AS p_property_mappings, p.client_type AS p_client_type, p.client_id AS p_client_id,
  p.access_code_validity AS p_access_code_validity, p.access_token_validity AS p_access_token_validity,
  p.refresh_token_validity AS p_refresh_token_validity, p.refresh_token_threshold AS p_refresh_token_threshold,
  p.include_claims_in_id_token AS p_include_claims_in_id_token, p.signing_key AS p_signing_key,
  p.encryption_key AS p_encryption_key, p.redirect_uris AS p_redirect_uris, p.logout_uri AS p_logout_uri,
  p.logout_method AS p_logout_method, p.sub_mode AS p_sub_mode, p.issuer_mode AS p_issuer_mode,
  p.grant_types AS p_grant_types, p.jwt_federation_sources AS p_jwt_federation_sources,
  p.jwt_federation_providers AS p_jwt_federation_providers,
  a.slug AS a_slug, a.name AS a_name, b.slug AS b_slug, b.name AS b_name`;

const JOINS = `JOIN users u ON u.id = g.user_id
  JOIN oauth2_providers p ON p.id = g.provider_id
  LEFT JOIN applications a ON a.provider_id = p.id
  LEFT JOIN applications b ON b.id = p.backchannel_application_id`;

type Row = Record<string, unknown>;

function grantColumns(kind: Kind): string {
  return [
    'g.id',
    'g.provider_id',
    'g.user_id',
    `${isoSql('g.expires')} AS expires`,
    'COALESCE(g.expiring AND g.expires < now(), false) AS is_expired',
    'g.revoked',
    'g.scope',
    ...(kind.isToken ? ['g.id_token'] : []),
    USER_COLUMNS,
    PROVIDER_COLUMNS,
  ].join(', ');
}

class Where {
  readonly clauses: string[] = [];
  readonly params: unknown[] = [];
  param(value: unknown): string {
    this.params.push(value);
    return `$${this.params.length}`;
  }
  toString(): string {
    return this.clauses.length === 0 ? '' : `WHERE ${this.clauses.join(' AND ')}`;
  }
}

type Query = URLSearchParams;

/** DRF reads the last value of a repeated parameter. */
function last(query: Query, name: string): string | undefined {
  const all = query.getAll(name);
  return all.length === 0 ? undefined : all[all.length - 1];
}

interface Filters extends IncidentFilters {
  user?: number;
  provider?: number;
}

/** user/provider, and the incident filters (issue 14) read by Grantry's own parser (a pure helper). */
function parseFilters(query: Query): Filters {
  const filters: Filters = {};
  const invalid: string[] = [];
  for (const key of ['user', 'provider'] as const) {
    const value = last(query, key)?.trim();
    if (value === undefined || value === '') continue;
    const id = /^\d{1,10}$/.test(value) ? Number(value) : NaN;
    if (!Number.isInteger(id) || id > MAX_INT4) invalid.push(key);
    else filters[key] = id;
  }
  const raw: Record<string, string[]> = {};
  for (const key of new Set(query.keys())) raw[key] = query.getAll(key);
  const incident = readIncidentFilters(raw);
  if (invalid.length > 0 || Object.keys(incident.errors).length > 0) {
    throw new HttpError(400, {
      ...Object.fromEntries(invalid.map((key) => [key, [INVALID_CHOICE]])),
      ...incident.errors,
    });
  }
  return { ...filters, ...incident.filters };
}

/** Whether a filter reads a joined table (the count then joins it too). */
const joinsForFilters = (filters: Filters): boolean =>
  filters.application !== undefined || filters.clientId !== undefined || filters.username !== undefined;

function invalidChoice(keys: string[]): HttpError {
  return new HttpError(400, Object.fromEntries(keys.map((key) => [key, [INVALID_CHOICE]])));
}

function likePattern(term: string): string {
  return `%${term.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

function baseWhere(kind: Kind, principal: Principal, filters: Filters): Where {
  const where = new Where();
  if (!principal.isSuperuser && !principal.permissions.has(kind.permission)) {
    where.clauses.push(`g.user_id = ${where.param(principal.userId)}`);
  }
  if (filters.user !== undefined) where.clauses.push(`g.user_id = ${where.param(filters.user)}`);
  if (filters.provider !== undefined) where.clauses.push(`g.provider_id = ${where.param(filters.provider)}`);
  // The incident filters, written the obvious way against the joined rows.
  if (filters.revoked !== undefined) where.clauses.push(`g.revoked = ${where.param(filters.revoked)}`);
  if (filters.isExpired !== undefined) {
    where.clauses.push(
      `COALESCE(g.expiring AND g.expires < now(), false) = ${where.param(filters.isExpired)}`,
    );
  }
  if (filters.expiresLt !== undefined) where.clauses.push(`g.expires < ${where.param(filters.expiresLt)}`);
  if (filters.expiresGte !== undefined) where.clauses.push(`g.expires >= ${where.param(filters.expiresGte)}`);
  if (filters.scope !== undefined) {
    where.clauses.push(`string_to_array(g.scope, ' ') @> ${where.param(filters.scope)}::text[]`);
  }
  if (filters.application !== undefined) where.clauses.push(`a.slug = ${where.param(filters.application)}`);
  if (filters.clientId !== undefined) where.clauses.push(`p.client_id = ${where.param(filters.clientId)}`);
  if (filters.username !== undefined) where.clauses.push(`u.username = ${where.param(filters.username)}`);
  return where;
}

class Baseline {
  private installId: string | undefined;
  private readonly avatars = new AvatarResolver(process.env.AVATARS ?? 'initials');
  private readonly pageSizeDefault = Number(process.env.PAGE_SIZE_DEFAULT ?? 20);
  private readonly pageSizeMax = Number(process.env.PAGE_SIZE_MAX ?? 100);

  constructor(private readonly pool: Pool) {}

  async init(): Promise<void> {
    const { rows } = await this.pool.query<{ install_id: string }>(
      'SELECT install_id FROM install WHERE id = 1',
    );
    this.installId = rows[0]?.install_id;
    if (!this.installId) throw new Error('install row missing: migrations not applied');
  }

  async authenticate(header: string | undefined): Promise<Principal> {
    const parsed = parseAuthorization(header);
    if (parsed.kind === 'none') throw detail(403, 'Authentication credentials were not provided.');
    if (parsed.kind === 'malformed') throw detail(403, 'Malformed header');
    const hash = createHash('sha256').update(parsed.key, 'utf8').digest();
    const { rows } = await this.pool.query<{
      id: number;
      is_active: boolean;
      is_superuser: boolean;
      permissions: string[];
    }>(PRINCIPAL_SQL, [hash]);
    const row = rows[0];
    if (!row || !row.is_active) throw detail(403, 'Token invalid/expired');
    return { userId: row.id, isSuperuser: row.is_superuser, permissions: new Set(row.permissions) };
  }

  async list(kind: Kind, principal: Principal, query: Query): Promise<unknown> {
    const ordering = withPrimaryKey(
      parseOrdering(query.getAll('ordering').at(-1), kind.fields, DEFAULT_ORDERING),
      'pk',
    );
    const pageRequest = parsePage(last(query, 'page'));
    const pageSize = parsePageSize(last(query, 'page_size'), this.pageSizeDefault, this.pageSizeMax);
    const filters = parseFilters(query);
    const where = baseWhere(kind, principal, filters);
    const terms = (last(query, 'search') ?? '')
      .replace(/\0/g, '')
      .split(/[\s,]+/)
      .map((term) => term.trim())
      .filter(Boolean)
      .slice(0, 10);
    for (const term of terms) {
      const p = where.param(likePattern(term));
      where.clauses.push(
        `(u.username ILIKE ${p} OR u.name ILIKE ${p} OR u.email ILIKE ${p} OR p.name ILIKE ${p}
          OR p.client_id ILIKE ${p} OR a.slug ILIKE ${p} OR a.name ILIKE ${p})`,
      );
    }
    const countFrom =
      terms.length > 0 || joinsForFilters(filters)
        ? `${kind.table} g JOIN users u ON u.id = g.user_id JOIN oauth2_providers p ON p.id = g.provider_id
           LEFT JOIN applications a ON a.provider_id = p.id`
        : `${kind.table} g`;
    const countRows = await this.pool.query<{ count: string }>(
      `SELECT count(*) AS count FROM ${countFrom} ${where.toString()}`,
      where.params,
    );
    const count = Number(countRows.rows[0]?.count ?? 0);
    if (count === 0) await this.checkFilters(filters);
    const pages = totalPages(count, pageSize);
    const page = pageRequest === 'last' ? pages : pageRequest;
    if (page > pages) throw detail(404, INVALID_PAGE);
    if (count === 0) return paginated(page, count, pageSize, []);
    const orderBy = ordering
      .map((term) => `${COLUMNS[term.field]} ${term.descending ? 'DESC' : 'ASC'}`)
      .join(', ');
    const limit = where.param(pageSize);
    const offset = where.param((page - 1) * pageSize);
    const { rows } = await this.pool.query<Row>(
      `SELECT ${grantColumns(kind)} FROM ${kind.table} g ${JOINS} ${where.toString()}
        ORDER BY ${orderBy} LIMIT ${limit} OFFSET ${offset}`,
      where.params,
    );
    return paginated(page, count, pageSize, await this.serialize(kind, rows, query));
  }

  async retrieve(kind: Kind, principal: Principal, id: number, query: Query): Promise<unknown> {
    const filters = parseFilters(query);
    const where = baseWhere(kind, principal, filters);
    where.clauses.push(`g.id = ${where.param(id)}`);
    const { rows } = await this.pool.query<Row>(
      `SELECT ${grantColumns(kind)} FROM ${kind.table} g ${JOINS} ${where.toString()}`,
      where.params,
    );
    if (rows.length === 0) {
      await this.checkFilters(filters);
      throw detail(404, `No ${kind.model} matches the given query.`);
    }
    const [dto] = await this.serialize(kind, rows, query);
    return dto;
  }

  /** Only reached when nothing matched: a filter naming no existing row is a 400, as in Grantry and authentik. */
  private async checkFilters(filters: Filters): Promise<void> {
    if (filters.user === undefined && filters.provider === undefined) return;
    const { rows } = await this.pool.query<{ user_ok: boolean; provider_ok: boolean }>(
      `SELECT ($1::int IS NULL OR EXISTS (SELECT 1 FROM users WHERE id = $1)) AS user_ok,
              ($2::int IS NULL OR EXISTS (SELECT 1 FROM oauth2_providers WHERE id = $2)) AS provider_ok`,
      [filters.user ?? null, filters.provider ?? null],
    );
    const bad = [...(rows[0]?.user_ok ? [] : ['user']), ...(rows[0]?.provider_ok ? [] : ['provider'])];
    if (bad.length > 0) throw invalidChoice(bad);
  }

  private async serialize(kind: Kind, rows: Row[], query: Query): Promise<unknown[]> {
    const userIds = [...new Set(rows.map((row) => row.user_id as number))];
    const { rows: groupRows } = await this.pool.query<{
      id: number;
      is_superuser: boolean;
      groups: UserRow['groups'];
      roles: UserRow['roles'];
    }>(GROUPS_SQL, [userIds]);
    const groupsOf = new Map(groupRows.map((row) => [row.id, row]));
    const flag = (name: string): boolean => (last(query, name) ?? 'true').toLowerCase() === 'true';
    const context = {
      installId: this.installId ?? '',
      avatars: this.avatars,
      includeGroups: flag('include_groups'),
      includeRoles: flag('include_roles'),
    };
    return rows.map((row) => {
      const groups = groupsOf.get(row.user_id as number);
      const user: UserRow = {
        id: row.user_id as number,
        uuid: row.u_uuid as string,
        username: row.u_username as string,
        name: row.u_name as string,
        email: row.u_email as string,
        is_active: row.u_is_active as boolean,
        last_login: row.u_last_login as string | null,
        date_joined: row.u_date_joined as string,
        password_change_date: row.u_password_change_date as string,
        last_updated: row.u_last_updated as string,
        path: row.u_path as string,
        type: row.u_type as string,
        attributes: row.u_attributes as Record<string, unknown>,
        is_superuser: groups?.is_superuser ?? false,
        groups: groups?.groups ?? [],
        roles: groups?.roles ?? [],
      };
      const provider = {
        id: row.provider_id,
        application_slug: row.a_slug,
        application_name: row.a_name,
        backchannel_slug: row.b_slug,
        backchannel_name: row.b_name,
      } as Record<string, unknown>;
      for (const [key, value] of Object.entries(row)) {
        if (key.startsWith('p_')) provider[key.slice(2)] = value;
      }
      const base = {
        pk: row.id as number,
        provider: toProviderDto(provider as unknown as ProviderRow),
        user: toUserDto(user, context),
        is_expired: row.is_expired as boolean,
        expires: isoFromSql(row.expires as string | null),
        scope: (row.scope as string).split(' ').filter(Boolean),
      };
      return kind.isToken
        ? {
            ...base,
            id_token: formatIdToken(row.id_token as Record<string, unknown>),
            revoked: row.revoked as boolean,
          }
        : base;
    });
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The management API's users and events lists (issue 13), the same straightforward way: bearer check, COUNT(*)
// with the WHERE, one SELECT ... ORDER BY ... LIMIT/OFFSET, and for users one query for the page's groups and roles.

const VIEW_USER = 'authentik_core.view_user';
const VIEW_EVENT = 'authentik_events.view_event';
const PERMISSION_DENIED = 'You do not have permission to perform this action.';

/** Django's NullBooleanSelect: `true`/`True`/`false`/`False`, anything else is no filter. */
function nullBoolean(value: string | undefined): boolean | undefined {
  if (value === 'true' || value === 'True') return true;
  if (value === 'false' || value === 'False') return false;
  return undefined;
}

/** The user columns the User JSON needs, by hand (groups and roles come from GROUPS_SQL for the page). */
const USER_LIST_COLUMNS = `u.id, u.uuid, u.username, u.name, u.email, u.is_active, ${isoSql('u.last_login')} AS last_login,
  ${isoSql('u.date_joined')} AS date_joined, ${isoSql('u.password_change_date')} AS password_change_date,
  ${isoSql('u.last_updated')} AS last_updated, u.path, u.type, u.attributes`;

/**
 * The events' served columns: the action mapping and the derived context are the database's own functions
 * (migration TokensEvents), which a developer writing this by hand would call rather than re-implement.
 */
const EVENT_COLUMNS = `e.event_uuid::text AS pk, e.actor, e.actor_user_id, e.actor_username, e.actor_email,
  grantry_event_action(e.action) AS action, e.app,
  grantry_event_context(e.action, e.model, e.object_pk, e.actor_user_id, e.actor_username, e.context) AS context,
  e.client_ip, ${isoSql('e.created')} AS created, ${isoSql('e.expires')} AS expires`;

class Management {
  private installId = '';
  private readonly avatars = new AvatarResolver(process.env.AVATARS ?? 'initials');
  private readonly pageSizeDefault = Number(process.env.PAGE_SIZE_DEFAULT ?? 20);
  private readonly pageSizeMax = Number(process.env.PAGE_SIZE_MAX ?? 100);

  constructor(private readonly pool: Pool) {}

  async init(): Promise<void> {
    const { rows } = await this.pool.query<{ install_id: string }>(
      'SELECT install_id FROM install WHERE id = 1',
    );
    this.installId = rows[0]?.install_id ?? '';
  }

  private page(query: Query): { request: ReturnType<typeof parsePage>; size: number } {
    return {
      request: parsePage(last(query, 'page')),
      size: parsePageSize(last(query, 'page_size'), this.pageSizeDefault, this.pageSizeMax),
    };
  }

  async users(principal: Principal, query: Query): Promise<unknown> {
    if (!principal.isSuperuser && !principal.permissions.has(VIEW_USER)) throw detail(403, PERMISSION_DENIED);
    const { request, size } = this.page(query);
    const where = new Where();
    const isActive = nullBoolean(last(query, 'is_active'));
    if (isActive !== undefined) where.clauses.push(`u.is_active = ${where.param(isActive)}`);
    const groups = query.getAll('groups_by_name').filter(Boolean);
    if (groups.length > 0) {
      where.clauses.push(`EXISTS (SELECT 1 FROM user_groups ug JOIN groups g ON g.id = ug.group_id
                                   WHERE ug.user_id = u.id AND g.name = ANY(${where.param(groups)}::text[]))`);
    }
    for (const term of parseSearch(query.getAll('search'))) {
      const p = where.param(likePattern(term));
      where.clauses.push(
        `(u.username ILIKE ${p} OR u.name ILIKE ${p} OR u.email ILIKE ${p} OR u.uuid::text ILIKE ${p})`,
      );
    }
    const counted = await this.pool.query<{ count: string }>(
      `SELECT count(*) AS count FROM users u ${where.toString()}`,
      where.params,
    );
    const count = Number(counted.rows[0]?.count ?? 0);
    if (count === 0 && groups.length > 0) {
      const { rows } = await this.pool.query<{ name: string }>(
        `SELECT x AS name FROM unnest($1::text[]) AS x WHERE NOT EXISTS (SELECT 1 FROM groups g WHERE g.name = x)`,
        [groups],
      );
      if (rows[0]) {
        throw new HttpError(400, {
          groups_by_name: [`Select a valid choice. ${rows[0].name} is not one of the available choices.`],
        });
      }
    }
    const pages = totalPages(count, size);
    const page = request === 'last' ? pages : request;
    if (page > pages) throw detail(404, INVALID_PAGE);
    if (count === 0) return paginated(page, count, size, []);
    const limit = where.param(size);
    const offset = where.param((page - 1) * size);
    // Usernames are unique: ORDER BY username alone gives authentik's default order.
    const { rows } = await this.pool.query<Row>(
      `SELECT ${USER_LIST_COLUMNS} FROM users u ${where.toString()}
        ORDER BY u.username LIMIT ${limit} OFFSET ${offset}`,
      where.params,
    );
    const { rows: groupRows } = await this.pool.query<{
      id: number;
      is_superuser: boolean;
      groups: UserRow['groups'];
      roles: UserRow['roles'];
    }>(GROUPS_SQL, [rows.map((row) => row.id as number)]);
    const groupsOf = new Map(groupRows.map((row) => [row.id, row]));
    const flag = (name: string): boolean => (last(query, name) ?? 'true').toLowerCase() === 'true';
    const context = {
      installId: this.installId,
      avatars: this.avatars,
      includeGroups: flag('include_groups'),
      includeRoles: flag('include_roles'),
    };
    return paginated(
      page,
      count,
      size,
      rows.map((row) => {
        const related = groupsOf.get(row.id as number);
        const user = {
          ...row,
          is_superuser: related?.is_superuser ?? false,
          groups: related?.groups ?? [],
          roles: related?.roles ?? [],
        } as unknown as UserRow;
        return toUserDto(user, context);
      }),
    );
  }

  async events(principal: Principal, query: Query): Promise<unknown> {
    if (!principal.isSuperuser && !principal.permissions.has(VIEW_EVENT))
      throw detail(403, PERMISSION_DENIED);
    const { request, size } = this.page(query);
    const where = new Where();
    // Events past `expires` are hidden until they are cleaned up.
    where.clauses.push('e.expires > now()');
    const actions = query.getAll('actions').filter(Boolean);
    if (actions.length > 0)
      where.clauses.push(`grantry_event_action(e.action) = ANY(${where.param(actions)})`);
    const username = last(query, 'username');
    if (username) {
      const p = where.param(username);
      where.clauses.push(`(e.actor_username = ${p} OR e.context->>'username' = ${p})`);
    }
    const counted = await this.pool.query<{ count: string }>(
      `SELECT count(*) AS count FROM audit_events e ${where.toString()}`,
      where.params,
    );
    const count = Number(counted.rows[0]?.count ?? 0);
    const pages = totalPages(count, size);
    const page = request === 'last' ? pages : request;
    if (page > pages) throw detail(404, INVALID_PAGE);
    if (count === 0) return paginated(page, count, size, []);
    const limit = where.param(size);
    const offset = where.param((page - 1) * size);
    const { rows } = await this.pool.query<Row>(
      `SELECT ${EVENT_COLUMNS} FROM audit_events e ${where.toString()}
        ORDER BY e.created DESC, e.id DESC LIMIT ${limit} OFFSET ${offset}`,
      where.params,
    );
    return paginated(
      page,
      count,
      size,
      rows.map((row) => {
        let user: unknown = {};
        if (row.actor !== null) user = row.actor;
        else if (row.actor_user_id !== null)
          user = { pk: row.actor_user_id, username: row.actor_username, email: row.actor_email };
        else if (row.actor_username === 'grantry-cli') user = { username: 'grantry-cli' };
        return {
          pk: row.pk,
          user,
          action: row.action,
          app: row.app,
          context: row.context,
          client_ip: row.client_ip,
          created: isoFromSql(row.created as string | null),
          expires: isoFromSql(row.expires as string | null),
          brand: {},
        };
      }),
    );
  }
}

const MANAGEMENT_ROUTES: Record<string, 'users' | 'events'> = {
  '/api/v3/core/users/': 'users',
  '/api/v3/events/events/': 'events',
};

const ROUTE = /^\/api\/v3\/oauth2\/(access_tokens|refresh_tokens|authorization_codes)(?:\/([^/]+))?\/?$/;

/** The form body of a POST (the token and introspection endpoints; at most 64 KiB). */
function readForm(request: http.IncomingMessage): Promise<URLSearchParams> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > 65_536) reject(detail(413, 'Request body too large.'));
      else chunks.push(chunk);
    });
    request.on('end', () => resolve(new URLSearchParams(Buffer.concat(chunks).toString('utf8'))));
    request.on('error', reject);
  });
}

const ISSUANCE_ROUTES = new Set(['/application/o/token/', '/application/o/introspect/']);

async function handle(
  baseline: Baseline,
  management: Management,
  issuance: IssuanceBaseline,
  request: http.IncomingMessage,
): Promise<[number, unknown] | Answer> {
  const url = new URL(request.url ?? '/', 'http://baseline');
  const path = url.pathname.replace(/\/{2,}/g, '/');
  if (path === '/-/health/ready/' || path === '/-/health/ready') return [200, { status: 'ok' }];
  if (ISSUANCE_ROUTES.has(path)) {
    if (request.method !== 'POST') throw detail(405, `Method "${request.method}" not allowed.`);
    const form = await readForm(request);
    return path === '/application/o/token/'
      ? issuance.token(request, form)
      : issuance.introspect(request, form);
  }
  const managed = MANAGEMENT_ROUTES[path];
  if (managed) {
    if (request.method !== 'GET') throw detail(405, `Method "${request.method}" not allowed.`);
    const principal = await baseline.authenticate(request.headers.authorization);
    return [200, await management[managed](principal, url.searchParams)];
  }
  const match = ROUTE.exec(path);
  const kind = match ? KINDS[match[1] ?? ''] : undefined;
  if (!match || !kind) throw detail(404, 'Not found.');
  if (request.method !== 'GET') throw detail(405, `Method "${request.method}" not allowed.`);
  const principal = await baseline.authenticate(request.headers.authorization);
  const rawId = match[2];
  if (rawId === undefined) return [200, await baseline.list(kind, principal, url.searchParams)];
  if (!/^\d{1,10}$/.test(rawId) || Number(rawId) < 1 || Number(rawId) > MAX_INT4) {
    throw detail(404, 'Not found.');
  }
  return [200, await baseline.retrieve(kind, principal, Number(rawId), url.searchParams)];
}

/** The pagination helpers throw Nest's HttpException; read its status and body without importing Nest. */
function asHttpError(error: unknown): HttpError | undefined {
  if (error instanceof HttpError) return error;
  const candidate = error as { getStatus?: () => number; getResponse?: () => unknown };
  if (typeof candidate.getStatus === 'function' && typeof candidate.getResponse === 'function') {
    return new HttpError(candidate.getStatus(), candidate.getResponse());
  }
  return undefined;
}

async function main(): Promise<void> {
  const connectionString = process.env.DATABASE_URL;
  if (!connectionString) throw new Error('DATABASE_URL is required');
  const pool = new Pool({
    connectionString,
    max: Number(process.env.POOL_SIZE ?? 10),
    application_name: 'grantry-bench-baseline',
  });
  pool.on('error', () => undefined);
  const baseline = new Baseline(pool);
  await baseline.init();
  const management = new Management(pool);
  await management.init();
  const issuance = new IssuanceBaseline(pool, connectionString, process.env.SECRET_KEY);
  await issuance.init();
  const server = http.createServer((request, response) => {
    handle(baseline, management, issuance, request)
      .catch((error: unknown): [number, unknown] => {
        const known = asHttpError(error);
        if (known) return [known.status, known.body];
        process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
        return [500, { detail: 'A server error occurred.' }];
      })
      .then((answer) => {
        const { status, body, headers } = Array.isArray(answer)
          ? { status: answer[0], body: answer[1], headers: {} }
          : answer;
        const text = JSON.stringify(body);
        response.writeHead(status, {
          ...headers,
          'content-type': 'application/json; charset=utf-8',
          'content-length': Buffer.byteLength(text),
        });
        response.end(text);
      })
      .catch(() => response.destroy());
  });
  server.keepAliveTimeout = 72_000;
  const port = Number(process.env.PORT ?? 9100);
  server.listen(port, process.env.HOST ?? '127.0.0.1', () => {
    process.stdout.write(`baseline listening on ${process.env.HOST ?? '127.0.0.1'}:${port}\n`);
  });
  const stop = (): void => {
    server.close();
    server.closeAllConnections();
    void pool.end().finally(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((error: unknown) => {
  process.stderr.write(`baseline failed to start: ${String(error)}\n`);
  process.exit(1);
});
