import { Inject, Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { ValidationApiError } from '../../common/errors/api-error';
import type { OrderTerm } from '../../common/list-query/ordering';
import { paginatedBody, resolvePage } from '../../common/pagination/pagination';
import { AvatarResolver } from '../../common/serializers/avatar';
import type { JsonBody } from '../../common/serializers/json-body';
import { toUserDto, type UserDto, type UserRow } from '../../common/serializers/user';
import { APP_CONFIG, type AppConfig } from '../../config/config';
import { likePattern } from '../../common/list-query/query-params';
import { isUuid } from '../../common/validation/fields';
import {
  type AttributeCondition,
  invalidChoice,
  type UserFilters,
  type UserListParams,
  type UserOrderingField,
} from './user-list-params';

const ORDER_COLUMNS: Record<UserOrderingField, string> = {
  pk: 'u.id',
  username: 'u.username',
  name: 'u.name',
  is_active: 'u.is_active',
  last_login: 'u.last_login',
  date_joined: 'u.date_joined',
  // Django joins the M2M table and repeats a user per group; the smallest related key sorts the same without that.
  groups: '(SELECT min(ug.group_id::text) FROM user_groups ug WHERE ug.user_id = u.id)',
  roles: '(SELECT min(ur.role_id::text) FROM user_roles ur WHERE ur.user_id = u.id)',
  email: 'u.email',
  attributes: 'u.attributes',
  path: 'u.path',
  type: 'u.type',
  uuid: 'u.uuid',
  password_change_date: 'u.password_change_date',
  last_updated: 'u.last_updated',
};

const DATE_SQL: Record<string, string> = {
  date_joined: 'u.date_joined =',
  date_joined__lt: 'u.date_joined <',
  date_joined__gt: 'u.date_joined >',
  last_updated: 'u.last_updated =',
  last_updated__lt: 'u.last_updated <',
  last_updated__gt: 'u.last_updated >',
  last_login: 'u.last_login =',
  last_login__lt: 'u.last_login <',
  last_login__gt: 'u.last_login >',
};

/** The expression of users_search_trgm_idx (migration ManagementBench), verbatim so the planner matches it. */
const SEARCH_TEXT = `((u.username)::text || ' ' || (u.name)::text || ' ' || (u.email)::text || ' ' || (u.uuid)::text)`;

/** A WHERE clause with numbered parameters. */
export class UserWhere {
  readonly clauses: string[] = [];
  readonly params: unknown[] = [];

  param(value: unknown): string {
    this.params.push(value);
    return `$${this.params.length}`;
  }

  add(clause: string): void {
    this.clauses.push(clause);
  }

  toString(): string {
    return this.clauses.length === 0 ? '' : `WHERE ${this.clauses.join(' AND ')}`;
  }
}

function attributeSql(where: UserWhere, condition: AttributeCondition): string | undefined {
  const path = where.param(condition.path);
  const node = `(u.attributes #> ${path}::text[])`;
  const value = condition.value;
  switch (condition.lookup) {
    case 'exact':
      return `${node} = ${where.param(JSON.stringify(value))}::jsonb`;
    case 'iexact':
      if (typeof value !== 'string') return `${node} = ${where.param(JSON.stringify(value))}::jsonb`;
      return `lower(${node} #>> '{}') = lower(${where.param(value)})`;
    case 'icontains':
      return `(${node} #>> '{}') ILIKE ${where.param(likePattern(String(value)))}`;
    case 'isnull':
      // Django's `key__isnull=True` means "the key is absent".
      return value ? `${node} IS NULL` : `${node} IS NOT NULL`;
    case 'in':
      // A ValueError in authentik (a non-list) skips the filter.
      if (!Array.isArray(value)) return undefined;
      return `${node} IN (SELECT jsonb_array_elements(${where.param(JSON.stringify(value))}::jsonb))`;
    case 'gt':
    case 'gte':
    case 'lt':
    case 'lte': {
      const op = { gt: '>', gte: '>=', lt: '<', lte: '<=' }[condition.lookup];
      return `${node} ${op} ${where.param(JSON.stringify(value))}::jsonb`;
    }
  }
}

/**
 * Users as authentik's UserViewSet serves them: the WHERE of its filters and search, the ordering, and the
 * serialization of the stored documents (`user_documents`, kept by triggers) through the one user mapper.
 */
@Injectable()
export class UserStore {
  private readonly avatars: AvatarResolver;
  private installId: Promise<string> | undefined;

  constructor(
    private readonly dataSource: DataSource,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    this.avatars = new AvatarResolver(config.avatars);
  }

  /** 400 for a `groups_by_*` / `roles_by_*` value that names no group or role (django-filter's ModelMultipleChoice). */
  async checkRelatedFilters(
    filters: UserFilters,
    manager: EntityManager = this.dataSource.manager,
  ): Promise<void> {
    const checks = [
      ['groups_by_name', filters.groupsByName, 'groups', 'name'],
      ['groups_by_pk', filters.groupsByPk, 'groups', 'id::text'],
      ['roles_by_name', filters.rolesByName, 'roles', 'name'],
      ['roles_by_pk', filters.rolesByPk, 'roles', 'id::text'],
    ] as const;
    const wanted = checks.filter(([, values]) => values.length > 0);
    if (wanted.length === 0) return;
    const params: unknown[] = [];
    const selects = wanted.map(([key, values, table, column]) => {
      params.push(values.map((value) => (column === 'id::text' ? value.toLowerCase() : value)));
      return `(SELECT x FROM unnest($${params.length}::text[]) WITH ORDINALITY AS v(x, n)
                WHERE NOT EXISTS (SELECT 1 FROM ${table} t WHERE t.${column} = v.x) ORDER BY n LIMIT 1) AS "${key}"`;
    });
    const [row] = await manager.query<Record<string, string | null>[]>(
      `SELECT ${selects.join(', ')}`,
      params,
    );
    const errors: Record<string, string[]> = {};
    wanted.forEach(([key, values]) => {
      const missing = row?.[key];
      if (missing === null || missing === undefined) return;
      const original = values.find((value) => value.toLowerCase() === missing.toLowerCase()) ?? missing;
      errors[key] = [invalidChoice(original)];
    });
    if (Object.keys(errors).length > 0) throw new ValidationApiError(errors);
  }

  where(filters: UserFilters, search: string[]): UserWhere {
    const where = new UserWhere();
    const eq = (column: string, value: unknown): void => {
      if (value !== undefined) where.add(`${column} = ${where.param(value)}`);
    };
    eq('u.username', filters.username);
    eq('u.email', filters.email);
    eq('u.name', filters.name);
    eq('u.path', filters.path);
    if (filters.pathStartswith !== undefined) {
      where.add(`starts_with(u.path, ${where.param(filters.pathStartswith)})`);
    }
    if (filters.uuid !== undefined) where.add(`u.uuid = ${where.param(filters.uuid)}::uuid`);
    eq('u.is_active', filters.isActive);
    if (filters.types.length > 0) where.add(`u.type = ANY(${where.param(filters.types)}::text[])`);
    for (const [key, value] of Object.entries(filters.dates)) {
      where.add(`${DATE_SQL[key]} ${where.param(value)}::timestamptz`);
    }
    if (filters.lastLoginIsnull !== undefined) {
      where.add(filters.lastLoginIsnull ? 'u.last_login IS NULL' : 'u.last_login IS NOT NULL');
    }
    if (filters.isSuperuser !== undefined) {
      // authentik filters on direct groups only (groups__is_superuser), unlike the field, which follows ancestry.
      const exists = `EXISTS (SELECT 1 FROM user_groups ug JOIN groups g ON g.id = ug.group_id
                               WHERE ug.user_id = u.id AND g.is_superuser)`;
      where.add(filters.isSuperuser ? exists : `NOT ${exists}`);
    }
    if (filters.groupsByName.length > 0) {
      where.add(`EXISTS (SELECT 1 FROM user_groups ug JOIN groups g ON g.id = ug.group_id
                          WHERE ug.user_id = u.id AND g.name = ANY(${where.param(filters.groupsByName)}::text[]))`);
    }
    if (filters.groupsByPk.length > 0) {
      where.add(`EXISTS (SELECT 1 FROM user_groups ug
                          WHERE ug.user_id = u.id AND ug.group_id = ANY(${where.param(filters.groupsByPk)}::uuid[]))`);
    }
    if (filters.rolesByName.length > 0) {
      where.add(`EXISTS (SELECT 1 FROM user_roles ur JOIN roles r ON r.id = ur.role_id
                          WHERE ur.user_id = u.id AND r.name = ANY(${where.param(filters.rolesByName)}::text[]))`);
    }
    if (filters.rolesByPk.length > 0) {
      where.add(`EXISTS (SELECT 1 FROM user_roles ur
                          WHERE ur.user_id = u.id AND ur.role_id = ANY(${where.param(filters.rolesByPk)}::uuid[]))`);
    }
    for (const condition of filters.attributes) {
      const clause = attributeSql(where, condition);
      if (clause !== undefined) where.add(clause);
    }
    // DRF's SearchFilter over email, name, uuid and username: every term must match one of them (icontains).
    // A term has no whitespace (the search is split on it), so it matches the four joined by a space exactly when it
    // matches one of them; the joined text has one trigram index (migration ManagementBench). The OR of four ILIKEs
    // read every user (uuid::text has no trigram index of its own): see bench/RESULTS.md, "Management API".
    for (const term of search) {
      where.add(`${SEARCH_TEXT} ILIKE ${where.param(likePattern(term))}`);
    }
    return where;
  }

  async list(params: UserListParams): Promise<JsonBody> {
    const group = singleGroup(params);
    if (group && params.page !== 'last') return this.listGroupMembers(group, params.page, params);
    await this.checkRelatedFilters(params.filters);
    const where = this.where(params.filters, params.search);
    const count = onlyActiveFilter(params.filters, params.search)
      ? await this.keptCount(params.filters.isActive)
      : onlyGroupsByName(params.filters, params.search)
        ? // Every membership names an existing user (foreign key), so the members are counted from user_groups
          // alone: 0.8 ms instead of 15 ms for a group of 1,152 of 100,000 users (EXPLAIN ANALYZE), where the
          // EXISTS of the WHERE joined every member back to users.
          ((
            await this.dataSource.query<{ n: number }[]>(
              `SELECT count(DISTINCT ug.user_id)::int AS n FROM user_groups ug JOIN groups g ON g.id = ug.group_id
                WHERE g.name = ANY($1::text[])`,
              [params.filters.groupsByName],
            )
          )[0]?.n ?? 0)
        : ((
            await this.dataSource.query<{ n: number }[]>(
              `SELECT count(*)::int AS n FROM users u ${where.toString()}`,
              where.params,
            )
          )[0]?.n ?? 0);
    const page = resolvePage(params.page, count, params.pageSize);
    const order = orderBySql(params.ordering);
    // groups_by_name alone, for a group of at most MEMBERS_FIRST users: the members' ids first, then their rows by
    // primary key, sorted. The WHERE's EXISTS made PostgreSQL walk the username index checking every user's groups
    // until a page of members was found (10.7 ms for a group of 1,152 of 100,000 users, EXPLAIN ANALYZE; the bench's
    // "users: filter groups_by_name" was 1.1x the straightforward SQL). A large group keeps the walk, which finds a
    // page of members quickly when most users are members.
    const membersFirst =
      onlyGroupsByName(params.filters, params.search) && count <= MEMBERS_FIRST && where.params.length === 1;
    const filter = membersFirst
      ? `WHERE u.id = ANY (ARRAY(SELECT ug.user_id FROM user_groups ug JOIN groups g ON g.id = ug.group_id
                                  WHERE g.name = ANY ($1::text[])))` // $1: the names, the WHERE's only parameter
      : where.toString();
    const limit = where.param(params.pageSize);
    const offset = where.param((page - 1) * params.pageSize);
    const rows = await this.dataSource.query<{ doc: UserRow }[]>(
      `WITH page AS (
         SELECT u.id, row_number() OVER (ORDER BY ${order}) AS ord FROM users u ${filter}
          ORDER BY ${order} LIMIT ${limit} OFFSET ${offset})
       SELECT d.doc FROM page JOIN user_documents d ON d.user_id = page.id ORDER BY page.ord`,
      where.params,
    );
    const context = await this.context(params);
    return paginatedBody(
      page,
      count,
      params.pageSize,
      rows.map((row) => JSON.stringify(toUserDto(row.doc, context))),
    );
  }

  /**
   * One group's members (`groups_by_name` or `groups_by_pk` with one value and nothing else) in username order, in
   * one statement: the group's existence (for the 400 the filter check gives), the count and the page all come from
   * group_member_order_page_idx (migration GroupMemberOrder, with the measurements), and the page's documents from
   * user_documents. The general path took four statements and sorted every member by username.
   */
  private async listGroupMembers(
    group: SingleGroup,
    page: number,
    params: UserListParams,
  ): Promise<JsonBody> {
    const match = group.key === 'groups_by_name' ? 'name = $1' : 'id = $1::uuid';
    const direction = group.descending ? 'DESC' : 'ASC';
    const rows = await this.dataSource.query<{ ord: number; doc: unknown }[]>(
      `WITH g AS (SELECT id FROM groups WHERE ${match}),
       page AS MATERIALIZED (
         SELECT m.user_id, row_number() OVER (ORDER BY m.username ${direction}) AS ord
           FROM group_member_order m WHERE m.group_id = (SELECT id FROM g)
          ORDER BY m.username ${direction} LIMIT $2 OFFSET $3)
       SELECT 0 AS ord, json_build_object(
                'found', EXISTS (SELECT 1 FROM g),
                'count', (SELECT count(*) FROM group_member_order m WHERE m.group_id = (SELECT id FROM g))) AS doc
       UNION ALL
       SELECT page.ord, d.doc FROM page JOIN user_documents d ON d.user_id = page.user_id
       ORDER BY ord`,
      [group.value, params.pageSize, Math.max(0, (page - 1) * params.pageSize)],
    );
    const [head, ...members] = rows;
    const { found, count } = (head?.doc ?? { found: false, count: 0 }) as { found: boolean; count: number };
    if (!found) throw new ValidationApiError({ [group.key]: [invalidChoice(group.value)] });
    const resolved = resolvePage(page, count, params.pageSize);
    const context = await this.context(params);
    return paginatedBody(
      resolved,
      count,
      params.pageSize,
      members.map((row) => JSON.stringify(toUserDto(row.doc as UserRow, context))),
    );
  }

  /**
   * The count of all users, or of the active or inactive ones, from the deltas the triggers of migration
   * ManagementBench keep in `row_counts`: a handful of rows instead of `count(*)` over every user (at 100,000 users
   * the count was most of a list request's time; see bench/RESULTS.md, "Management API (issue 13)").
   */
  private async keptCount(isActive: boolean | undefined): Promise<number> {
    const rows = await this.dataSource.query<{ key: string; n: string }[]>(
      `SELECT key, sum(delta)::text AS n FROM row_counts WHERE table_name = 'users' GROUP BY key`,
    );
    const kept = (key: string): number => Number(rows.find((row) => row.key === key)?.n ?? 0);
    if (isActive === undefined) return kept('all');
    return isActive ? kept('all') - kept('inactive') : kept('inactive');
  }

  /** One user's document, or undefined. */
  async document(id: number, manager: EntityManager = this.dataSource.manager): Promise<UserRow | undefined> {
    const rows = await manager.query<{ doc: UserRow }[]>(
      'SELECT doc FROM user_documents WHERE user_id = $1',
      [id],
    );
    return rows[0]?.doc;
  }

  /** Whether the user `id` passes the list's filters and search (DRF runs them in get_object too). */
  async matches(id: number, filters: UserFilters, search: string[]): Promise<boolean> {
    await this.checkRelatedFilters(filters);
    const where = this.where(filters, search);
    where.add(`u.id = ${where.param(id)}`);
    const rows = await this.dataSource.query<unknown[]>(
      `SELECT 1 FROM users u ${where.toString()}`,
      where.params,
    );
    return rows.length > 0;
  }

  async serialize(
    doc: UserRow,
    includes: { includeGroups: boolean; includeRoles: boolean } = { includeGroups: true, includeRoles: true },
  ): Promise<UserDto> {
    return toUserDto(doc, await this.context(includes));
  }

  private async context(includes: { includeGroups: boolean; includeRoles: boolean }) {
    return {
      installId: await this.getInstallId(),
      avatars: this.avatars,
      includeGroups: includes.includeGroups,
      includeRoles: includes.includeRoles,
    };
  }

  private getInstallId(): Promise<string> {
    this.installId ??= this.dataSource
      .query<{ install_id: string }[]>('SELECT install_id FROM install WHERE id = 1')
      .then((rows) => {
        const installId = rows[0]?.install_id;
        if (!installId) throw new Error('install row missing: migrations not applied');
        return installId;
      })
      .catch((error: unknown) => {
        this.installId = undefined;
        throw error;
      });
    return this.installId;
  }
}

/** Up to how many members a groups_by_name page reads the members first (see list). */
const MEMBERS_FIRST = 20_000;

/** A list of one group's members in username order: see UserStore.listGroupMembers. */
interface SingleGroup {
  key: 'groups_by_name' | 'groups_by_pk';
  value: string;
  descending: boolean;
}

function singleGroup(params: UserListParams): SingleGroup | undefined {
  const { filters, search, ordering } = params;
  const first = ordering[0];
  if (first?.field !== 'username') return undefined;
  const rest = { ...filters, groupsByName: [], groupsByPk: [] };
  if (filters.isActive !== undefined || !onlyActiveFilter(rest, search)) return undefined;
  const [name, ...moreNames] = filters.groupsByName;
  const [pk, ...morePks] = filters.groupsByPk;
  if (name !== undefined && pk === undefined && moreNames.length === 0) {
    return { key: 'groups_by_name', value: name, descending: first.descending };
  }
  // A value that is not a UUID is left to the general path's check (its 400).
  if (pk !== undefined && name === undefined && morePks.length === 0 && isUuid(pk)) {
    return { key: 'groups_by_pk', value: pk, descending: first.descending };
  }
  return undefined;
}

/** Whether a list's only filter is `groups_by_name`. */
function onlyGroupsByName(filters: UserFilters, search: string[]): boolean {
  return (
    filters.groupsByName.length > 0 &&
    filters.isActive === undefined &&
    onlyActiveFilter({ ...filters, groupsByName: [] }, search)
  );
}

/** Whether a list's WHERE is at most `is_active`, whose counts `row_counts` keeps. */
function onlyActiveFilter(filters: UserFilters, search: string[]): boolean {
  const rest = { ...filters, isActive: undefined };
  return (
    search.length === 0 &&
    Object.values(rest).every((value: unknown) =>
      Array.isArray(value)
        ? value.length === 0
        : value !== null && typeof value === 'object'
          ? Object.keys(value).length === 0
          : value === undefined,
    )
  );
}

/** Fields no two users share: terms after one of them cannot change the order. */
const UNIQUE_FIELDS = new Set<UserOrderingField>(['pk', 'username', 'uuid']);

/**
 * The ORDER BY, cut after the first unique field: the default `username, date_joined, last_updated, last_login, pk`
 * is then `username`, which users_username_key reads in order with nothing left to sort (the five terms took an
 * incremental sort on top: 1.1 ms instead of 0.02 ms for page 1 at 100,000 users, EXPLAIN ANALYZE).
 */
function orderBySql(terms: OrderTerm<UserOrderingField>[]): string {
  const end = terms.findIndex((term) => UNIQUE_FIELDS.has(term.field));
  return (end < 0 ? terms : terms.slice(0, end + 1))
    .map((term) => `${ORDER_COLUMNS[term.field]} ${term.descending ? 'DESC' : 'ASC'}`)
    .join(', ');
}
