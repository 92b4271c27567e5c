import { Inject } from '@nestjs/common';
import { IQueryHandler, Query, QueryHandler } from '@nestjs/cqrs';
import { DataSource, In } from 'typeorm';
import { type Caller, callerCan } from '../../common/auth/caller';
import { parseOrdering, withPrimaryKey } from '../../common/list-query/ordering';
import { pagination, parsePage, parsePageSize, resolvePage } from '../../common/pagination/pagination';
import type { Pagination } from '../../common/pagination/pagination';
import { isUuid } from '../../common/validation/fields';
import { APP_CONFIG, type AppConfig } from '../../config/config';
import { GroupEntity } from '../../identity/group.entity';
import { UserEntity } from '../../identity/user.entity';
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
  is_superuser: 'g.isSuperuser',
  attributes: 'g.attributes',
};

/** users.id is a PostgreSQL integer: a larger pk names no user (and must not reach the query, where it fails). */
export const isInt4 = (value: number): boolean => Math.abs(value) <= 2 ** 31 - 1;

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
    const manager = this.dataSource.manager;
    const builder = manager.createQueryBuilder(GroupEntity, 'g').select('g.id', 'id');
    const name = text(query, 'name');
    if (name !== undefined && name !== '') builder.andWhere('g.name = :name', { name });
    const superuser = nullBoolean(query, 'is_superuser');
    if (superuser !== undefined) builder.andWhere('g.isSuperuser = :superuser', { superuser });

    const memberPks = all(query, 'members_by_pk');
    if (memberPks.length > 0) {
      const bad = memberPks.find((pk) => !/^\s*[+-]?\d+\s*$/.test(pk) || !Number.isSafeInteger(Number(pk)));
      if (bad !== undefined) throw filterError('members_by_pk', FILTER_MESSAGES.invalidPk(bad));
      const ids = memberPks.map((pk) => Number(pk));
      const lookup = ids.filter(isInt4);
      const found =
        lookup.length > 0
          ? await manager.find(UserEntity, { select: { id: true }, where: { id: In(lookup) } })
          : [];
      const known = new Set(found.map((user) => user.id));
      const missing = ids.find((id) => !known.has(id));
      if (missing !== undefined) throw filterError('members_by_pk', FILTER_MESSAGES.choice(String(missing)));
      builder.andWhere(
        (qb) =>
          `g.id IN ${qb
            .subQuery()
            .select('ug.group_id')
            .from('user_groups', 'ug')
            .where('ug.user_id IN (:...memberPks)')
            .getQuery()}`,
        { memberPks: ids },
      );
    }
    const memberNames = all(query, 'members_by_username');
    if (memberNames.length > 0) {
      const found = await manager.find(UserEntity, {
        select: { username: true },
        where: { username: In(memberNames) },
      });
      const known = new Set(found.map((user) => user.username));
      const missing = memberNames.find((username) => !known.has(username));
      if (missing !== undefined) throw filterError('members_by_username', FILTER_MESSAGES.choice(missing));
      builder.andWhere(
        (qb) =>
          `g.id IN ${qb
            .subQuery()
            .select('ug.group_id')
            .from('user_groups', 'ug')
            .innerJoin(UserEntity, 'u', 'u.id = ug.user_id')
            .where('u.username IN (:...memberNames)')
            .getQuery()}`,
        { memberNames },
      );
    }
    const attributes = attributesParam(query);
    if (attributes) {
      // Django's `attributes__a__b=v`: the JSON value at path a.b equals v. PostgreSQL's jsonb path operator `#>`,
      // which TypeORM's query builder has no expression for.
      Object.entries(attributes).forEach(([key, value], i) =>
        builder.andWhere(`g.attributes #> CAST(:path${i} AS text[]) = CAST(:value${i} AS jsonb)`, {
          [`path${i}`]: key.split('__'),
          [`value${i}`]: JSON.stringify(value),
        }),
      );
    }
    searchTerms(query).forEach((term, i) =>
      builder.andWhere(`(g.name ILIKE :search${i} OR CAST(g.isSuperuser AS text) ILIKE :search${i})`, {
        [`search${i}`]: containsPattern(term),
      }),
    );

    const ordering = withPrimaryKey(
      parseOrdering<OrderField>(
        query.ordering,
        ['pk', 'name', 'is_superuser', 'attributes'],
        [{ field: 'name', descending: false }],
      ),
      'pk',
    );
    const pageRequest = parsePage(query.page);
    const pageSize = parsePageSize(query.page_size, this.config.pageSizeDefault, this.config.pageSizeMax);
    const count = await builder.getCount();
    const page = resolvePage(pageRequest, count, pageSize);
    for (const term of ordering) {
      builder.addOrderBy(ORDER_COLUMNS[term.field], term.descending ? 'DESC' : 'ASC');
    }
    const rows = await builder
      .offset((page - 1) * pageSize)
      .limit(pageSize)
      .getRawMany<{ id: string }>();
    const results = await loadGroups(
      manager,
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
