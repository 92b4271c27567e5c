import { Inject } from '@nestjs/common';
import { IQueryHandler, Query, QueryHandler } from '@nestjs/cqrs';
import { DataSource } from 'typeorm';
import { type Caller, callerCan } from '../../common/auth/caller';
import { parseOrdering, withPrimaryKey } from '../../common/list-query/ordering';
import { pagination, parsePage, parsePageSize, resolvePage } from '../../common/pagination/pagination';
import type { Pagination } from '../../common/pagination/pagination';
import { isUuid } from '../../common/validation/fields';
import { APP_CONFIG, type AppConfig } from '../../config/config';
import { noMatch, notFound, permissionDenied } from '../common/errors';
import {
  all,
  attributesParam,
  containsPattern,
  FILTER_MESSAGES,
  filterError,
  flag,
  text,
  nullBoolean,
  type RawQuery,
  searchTerms,
} from '../common/filter-params';
import { type GroupDto, type GroupIncludes, loadGroups } from './group-serializer';

export interface Page<T> {
  pagination: Pagination;
  results: T[];
  autocomplete: Record<string, never>;
}

/** `include_users` (default true), `include_children`, `include_parents`, `include_inherited_roles` (default false). */
export function parseIncludes(query: RawQuery): GroupIncludes {
  return {
    users: flag(query, 'include_users', true),
    children: flag(query, 'include_children', false),
    parents: flag(query, 'include_parents', false),
    inheritedRoles: flag(query, 'include_inherited_roles', false),
  };
}

/** A `{group_uuid}` path value: a malformed UUID is DRF's bare 404. */
export function parseGroupId(raw: string): string {
  if (!isUuid(raw)) throw notFound();
  return raw;
}

export class ListGroupsQuery extends Query<Page<GroupDto>> {
  constructor(
    readonly caller: Caller,
    readonly query: RawQuery,
  ) {
    super();
  }
}

export class RetrieveGroupQuery extends Query<GroupDto> {
  constructor(
    readonly caller: Caller,
    readonly id: string,
    readonly query: RawQuery,
  ) {
    super();
  }
}

type OrderField = 'pk' | 'name' | 'is_superuser' | 'attributes';
const ORDER_COLUMNS: Record<OrderField, string> = {
  pk: 'g.id',
  name: 'g.name',
  is_superuser: 'g.is_superuser',
  attributes: 'g.attributes',
};

@QueryHandler(ListGroupsQuery)
export class ListGroupsHandler implements IQueryHandler<ListGroupsQuery> {
  constructor(
    private readonly dataSource: DataSource,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async execute({ caller, query }: ListGroupsQuery): Promise<Page<GroupDto>> {
    // No object-level permissions in Grantry: without the global view permission, authentik's ObjectFilter has
    // nothing to show and answers 403.
    if (!callerCan(caller, 'authentik_core.view_group')) throw permissionDenied();
    const where: string[] = [];
    const params: unknown[] = [];
    const param = (value: unknown): string => {
      params.push(value);
      return `$${params.length}`;
    };
    const name = text(query, 'name');
    if (name !== undefined && name !== '') where.push(`g.name = ${param(name)}`);
    const superuser = nullBoolean(query, 'is_superuser');
    if (superuser !== undefined) where.push(`g.is_superuser = ${param(superuser)}`);

    const memberPks = all(query, 'members_by_pk');
    if (memberPks.length > 0) {
      const bad = memberPks.find((pk) => !/^\s*[+-]?\d+\s*$/.test(pk) || !Number.isSafeInteger(Number(pk)));
      if (bad !== undefined) throw filterError('members_by_pk', FILTER_MESSAGES.invalidPk(bad));
      const ids = memberPks.map((pk) => Number(pk));
      const found = await this.dataSource.query<{ id: number }[]>(
        'SELECT id FROM users WHERE id = ANY($1::bigint[])',
        [ids],
      );
      const known = new Set(found.map((row) => row.id));
      const missing = ids.find((id) => !known.has(id));
      if (missing !== undefined) throw filterError('members_by_pk', FILTER_MESSAGES.choice(String(missing)));
      where.push(
        `EXISTS (SELECT 1 FROM user_groups ug WHERE ug.group_id = g.id AND ug.user_id = ANY(${param(ids)}::int[]))`,
      );
    }
    const memberNames = all(query, 'members_by_username');
    if (memberNames.length > 0) {
      const found = await this.dataSource.query<{ username: string }[]>(
        'SELECT username FROM users WHERE username = ANY($1::text[])',
        [memberNames],
      );
      const known = new Set(found.map((row) => row.username));
      const missing = memberNames.find((username) => !known.has(username));
      if (missing !== undefined) throw filterError('members_by_username', FILTER_MESSAGES.choice(missing));
      where.push(
        `EXISTS (SELECT 1 FROM user_groups ug JOIN users u ON u.id = ug.user_id
                  WHERE ug.group_id = g.id AND u.username = ANY(${param(memberNames)}::text[]))`,
      );
    }
    const attributes = attributesParam(query);
    if (attributes) {
      // Django's `attributes__a__b=v`: the JSON value at path a.b equals v.
      for (const [key, value] of Object.entries(attributes)) {
        where.push(
          `g.attributes #> ${param(key.split('__'))}::text[] = ${param(JSON.stringify(value))}::jsonb`,
        );
      }
    }
    for (const term of searchTerms(query)) {
      const pattern = param(containsPattern(term));
      where.push(`(g.name ILIKE ${pattern} OR g.is_superuser::text ILIKE ${pattern})`);
    }

    const ordering = withPrimaryKey(
      parseOrdering<OrderField>(
        query.ordering,
        ['pk', 'name', 'is_superuser', 'attributes'],
        [{ field: 'name', descending: false }],
      ),
      'pk',
    );
    const orderBy = ordering
      .map((term) => `${ORDER_COLUMNS[term.field]} ${term.descending ? 'DESC' : 'ASC'}`)
      .join(', ');
    const whereSql = where.length > 0 ? `WHERE ${where.join(' AND ')}` : '';
    const pageRequest = parsePage(query.page);
    const pageSize = parsePageSize(query.page_size, this.config.pageSizeDefault, this.config.pageSizeMax);
    const [countRow] = await this.dataSource.query<{ count: number }[]>(
      `SELECT count(*)::int AS count FROM groups g ${whereSql}`,
      params,
    );
    const count = countRow?.count ?? 0;
    const page = resolvePage(pageRequest, count, pageSize);
    const rows = await this.dataSource.query<{ id: string }[]>(
      `SELECT g.id FROM groups g ${whereSql} ORDER BY ${orderBy} LIMIT ${pageSize} OFFSET ${(page - 1) * pageSize}`,
      params,
    );
    const results = await loadGroups(
      this.dataSource.manager,
      rows.map((row) => row.id),
      parseIncludes(query),
    );
    return { pagination: pagination(page, count, pageSize), results, autocomplete: {} };
  }
}

@QueryHandler(RetrieveGroupQuery)
export class RetrieveGroupHandler implements IQueryHandler<RetrieveGroupQuery> {
  constructor(private readonly dataSource: DataSource) {}

  async execute({ caller, id, query }: RetrieveGroupQuery): Promise<GroupDto> {
    if (!callerCan(caller, 'authentik_core.view_group')) throw permissionDenied();
    const [group] = await loadGroups(this.dataSource.manager, [parseGroupId(id)], parseIncludes(query));
    if (!group) throw noMatch('Group');
    return group;
  }
}
