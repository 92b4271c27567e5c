import { Inject } from '@nestjs/common';
import { IQueryHandler, Query, QueryHandler } from '@nestjs/cqrs';
import { DataSource } from 'typeorm';
import { type Caller, callerCan } from '../../common/auth/caller';
import { parseOrdering, withPrimaryKey } from '../../common/list-query/ordering';
import { pagination, parsePage, parsePageSize, resolvePage } from '../../common/pagination/pagination';
import { isUuid } from '../../common/validation/fields';
import { APP_CONFIG, type AppConfig } from '../../config/config';
import { RoleEntity } from '../../identity/role.entity';
import { noMatch, notFound, permissionDenied } from '../common/errors';
import {
  all,
  containsPattern,
  FILTER_MESSAGES,
  filterError,
  integerParam,
  text,
  nullBoolean,
  type RawQuery,
  searchTerms,
} from '../common/filter-params';
import type { Page } from '../groups/group.queries';
import { CATALOGUE, findPermission, type PermissionEntry } from './permission-catalogue';

export interface RoleDto {
  pk: string;
  name: string;
}

/** A `{uuid}` path value: a malformed UUID is DRF's bare 404. */
export function parseRoleId(raw: string): string {
  if (!isUuid(raw)) throw notFound();
  return raw;
}

export class ListRolesQuery extends Query<Page<RoleDto>> {
  constructor(
    readonly caller: Caller,
    readonly query: RawQuery,
  ) {
    super();
  }
}

export class RetrieveRoleQuery extends Query<RoleDto> {
  constructor(
    readonly caller: Caller,
    readonly id: string,
  ) {
    super();
  }
}

export class ListPermissionsQuery extends Query<Page<PermissionEntry>> {
  constructor(
    readonly caller: Caller,
    readonly query: RawQuery,
  ) {
    super();
  }
}

@QueryHandler(ListRolesQuery)
export class ListRolesHandler implements IQueryHandler<ListRolesQuery> {
  constructor(
    private readonly dataSource: DataSource,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async execute({ caller, query }: ListRolesQuery): Promise<Page<RoleDto>> {
    if (!callerCan(caller, 'authentik_rbac.view_role')) throw permissionDenied();
    const builder = this.dataSource.manager
      .createQueryBuilder(RoleEntity, 'r')
      .select('r.id', 'pk')
      .addSelect('r.name', 'name');
    const name = text(query, 'name');
    if (name !== undefined && name !== '') builder.andWhere('r.name = :name', { name });
    // `managed` is a choice among the managed values that exist; Grantry has no managed roles, so there is no valid
    // choice at all and any value is django-filter's 400.
    const managed = all(query, 'managed');
    if (managed[0] !== undefined) throw filterError('managed', FILTER_MESSAGES.choice(managed[0]));
    // Every Grantry role is unmanaged: managed__isnull=false matches none.
    if (nullBoolean(query, 'managed__isnull') === false) builder.andWhere('false');

    const inherited = nullBoolean(query, 'inherited') === true;
    const userId = integerParam(query, 'users');
    if (userId !== undefined) {
      if (Math.abs(userId) > 2 ** 31 - 1) builder.andWhere('false');
      else if (inherited) {
        // The user's roles, direct and through every group and ancestor group (authentik's User.all_roles()). A
        // recursive CTE walks the group tree: TypeORM's query builder has no WITH RECURSIVE ... UNION.
        builder.andWhere(
          `r.id IN (
            WITH RECURSIVE member_of (id) AS (
              SELECT group_id FROM user_groups WHERE user_id = :userId
              UNION
              SELECT g.parent_id FROM groups g JOIN member_of m ON g.id = m.id WHERE g.parent_id IS NOT NULL
            )
            SELECT role_id FROM user_roles WHERE user_id = :userId
            UNION SELECT gr.role_id FROM group_roles gr JOIN member_of m ON gr.group_id = m.id)`,
          { userId },
        );
      } else {
        // (user_id, role_id) is the join table's key: the join adds no duplicate row.
        builder.innerJoin('user_roles', 'ur', 'ur.role_id = r.id AND ur.user_id = :userId', { userId });
      }
    }
    const groupValue = text(query, 'groups');
    if (groupValue !== undefined && groupValue !== '') {
      // authentik may answer a malformed UUID with a 500; Grantry names the parameter.
      if (!isUuid(groupValue)) throw filterError('groups', FILTER_MESSAGES.uuid);
      if (inherited) {
        // The group's roles and its ancestors' (recursive CTE, as above).
        builder.andWhere(
          `r.id IN (
            WITH RECURSIVE up (id) AS (
              SELECT CAST(:groupId AS uuid)
              UNION
              SELECT g.parent_id FROM groups g JOIN up ON g.id = up.id WHERE g.parent_id IS NOT NULL
            )
            SELECT gr.role_id FROM group_roles gr JOIN up ON gr.group_id = up.id)`,
          { groupId: groupValue },
        );
      } else {
        builder.innerJoin('group_roles', 'gr', 'gr.role_id = r.id AND gr.group_id = :groupId', {
          groupId: groupValue,
        });
      }
    }
    searchTerms(query).forEach((term, i) =>
      builder.andWhere(`r.name ILIKE :search${i}`, { [`search${i}`]: containsPattern(term) }),
    );

    const ordering = withPrimaryKey(
      parseOrdering<'pk' | 'name'>(query.ordering, ['pk', 'name'], [{ field: 'name', descending: false }]),
      'pk',
    );
    const pageRequest = parsePage(query.page);
    const pageSize = parsePageSize(query.page_size, this.config.pageSizeDefault, this.config.pageSizeMax);
    const count = await builder.getCount();
    const page = resolvePage(pageRequest, count, pageSize);
    for (const term of ordering) {
      builder.addOrderBy(term.field === 'pk' ? 'r.id' : 'r.name', term.descending ? 'DESC' : 'ASC');
    }
    const results = await builder
      .offset((page - 1) * pageSize)
      .limit(pageSize)
      .getRawMany<RoleDto>();
    return { pagination: pagination(page, count, pageSize), results, autocomplete: {} };
  }
}

@QueryHandler(RetrieveRoleQuery)
export class RetrieveRoleHandler implements IQueryHandler<RetrieveRoleQuery> {
  constructor(private readonly dataSource: DataSource) {}

  async execute({ caller, id }: RetrieveRoleQuery): Promise<RoleDto> {
    if (!callerCan(caller, 'authentik_rbac.view_role')) throw permissionDenied();
    const role = await this.dataSource.manager.findOne(RoleEntity, {
      select: { id: true, name: true },
      where: { id: parseRoleId(id) },
    });
    if (!role) throw noMatch('Role');
    return { pk: role.id, name: role.name };
  }
}

type PermissionOrder = 'id' | 'name' | 'codename' | 'model' | 'app_label';

/**
 * The permission catalogue (code, not a table: Grantry's permissions are fixed by what it implements), filtered,
 * searched, ordered and paginated as authentik's RBACPermissionViewSet does. Any authenticated user may read it.
 */
@QueryHandler(ListPermissionsQuery)
export class ListPermissionsHandler implements IQueryHandler<ListPermissionsQuery> {
  constructor(
    private readonly dataSource: DataSource,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async execute({ query }: ListPermissionsQuery): Promise<Page<PermissionEntry>> {
    let rows: PermissionEntry[] = [...CATALOGUE];
    const exact = (param: string, pick: (entry: PermissionEntry) => string): void => {
      const value = text(query, param);
      if (value !== undefined && value !== '') rows = rows.filter((entry) => pick(entry) === value);
    };
    exact('codename', (entry) => entry.codename);
    exact('content_type__model', (entry) => entry.model);
    exact('content_type__app_label', (entry) => entry.app_label);
    const role = text(query, 'role');
    if (role !== undefined && role !== '') {
      const found = isUuid(role)
        ? await this.dataSource.manager.findOne(RoleEntity, {
            select: { permissions: true },
            where: { id: role },
          })
        : null;
      if (!found) throw filterError('role', FILTER_MESSAGES.modelChoice);
      const held = new Set(found.permissions.map((name) => findPermission(name)?.id));
      rows = rows.filter((entry) => held.has(entry.id));
    }
    for (const term of searchTerms(query)) {
      const needle = term.toLowerCase();
      rows = rows.filter((entry) =>
        [entry.name, entry.codename, entry.model, entry.app_label].some((value) =>
          value.toLowerCase().includes(needle),
        ),
      );
    }
    const ordering = withPrimaryKey(
      parseOrdering<PermissionOrder>(
        query.ordering,
        ['id', 'name', 'codename', 'model', 'app_label'],
        [{ field: 'name', descending: false }],
      ),
      'id',
    );
    rows.sort((a, b) => {
      for (const term of ordering) {
        const x = a[term.field];
        const y = b[term.field];
        const order =
          typeof x === 'number' && typeof y === 'number' ? x - y : compareText(String(x), String(y));
        if (order !== 0) return term.descending ? -order : order;
      }
      return 0;
    });
    const pageRequest = parsePage(query.page);
    const pageSize = parsePageSize(query.page_size, this.config.pageSizeDefault, this.config.pageSizeMax);
    const page = resolvePage(pageRequest, rows.length, pageSize);
    const results = rows.slice((page - 1) * pageSize, page * pageSize).map((entry) => ({ ...entry }));
    return { pagination: pagination(page, rows.length, pageSize), results, autocomplete: {} };
  }
}

/** Code-point order, as PostgreSQL's C collation would sort (stable whatever the machine's locale). */
function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
