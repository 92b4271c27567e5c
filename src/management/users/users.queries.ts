import { type IQueryHandler, Query, QueryHandler } from '@nestjs/cqrs';
import { DataSource } from 'typeorm';
import { type Caller, callerCan } from '../../common/auth/caller';
import type { Principal } from '../../common/auth/principal';
import type { JsonBody } from '../../common/serializers/json-body';
import type { UserDto } from '../../common/serializers/user';
import { noMatch, permissionDenied } from '../common/errors';
import type { UserFilters, UserListParams } from './user-list-params';
import { UserStore } from './user-store';
import { PERMS } from './users.commands';

export class ListUsersQuery extends Query<JsonBody> {
  constructor(
    readonly caller: Caller,
    readonly params: UserListParams,
  ) {
    super();
  }
}

export class RetrieveUserQuery extends Query<UserDto> {
  constructor(
    readonly caller: Caller,
    readonly id: number,
    readonly filters: UserFilters,
    readonly search: string[],
    readonly includes: { includeGroups: boolean; includeRoles: boolean },
  ) {
    super();
  }
}

export interface UserSelfDto {
  pk: number;
  username: string;
  name: string;
  is_active: boolean;
  is_superuser: boolean;
  is_current: boolean;
  groups: { name: string; pk: string }[];
  roles: { name: string; pk: string }[];
  email: string;
  avatar: string;
  uid: string;
  settings: Record<string, unknown>;
  type: string;
  system_permissions: string[];
}

export interface SessionUserDto {
  user: UserSelfDto;
  users: UserSelfDto[];
}

export class MeQuery extends Query<SessionUserDto> {
  constructor(readonly principal: Principal) {
    super();
  }
}

/**
 * authentik_rbac's system permissions (`rbac/models.py` SystemPermission Meta plus Role's), which a superuser holds
 * all of (Django's ModelBackend gives superusers every permission).
 */
const SYSTEM_PERMISSIONS = [
  'access_admin_interface',
  'add_role',
  'assign_role_permissions',
  'change_role',
  'delete_role',
  'edit_system_settings',
  'manage_media_files',
  'unassign_role_permissions',
  'view_media_files',
  'view_role',
  'view_system_info',
  'view_system_settings',
];

@QueryHandler(ListUsersQuery)
export class ListUsersHandler implements IQueryHandler<ListUsersQuery> {
  constructor(private readonly store: UserStore) {}

  execute({ caller, params }: ListUsersQuery): Promise<JsonBody> {
    // Grantry has no object-level permissions, so ObjectFilter's "nothing visible" is a 403, not an empty list.
    if (!callerCan(caller, PERMS.view)) throw permissionDenied();
    return this.store.list(params);
  }
}

@QueryHandler(RetrieveUserQuery)
export class RetrieveUserHandler implements IQueryHandler<RetrieveUserQuery> {
  constructor(private readonly store: UserStore) {}

  async execute({ caller, id, filters, search, includes }: RetrieveUserQuery): Promise<UserDto> {
    if (!callerCan(caller, PERMS.view)) throw permissionDenied();
    const doc = await this.store.document(id);
    if (!doc) throw noMatch('User');
    // DRF runs the filter backends in get_object too: a filter or search the user fails is a 404.
    const filtered =
      search.length > 0 ||
      Object.values(filters).some((value: unknown) =>
        Array.isArray(value)
          ? value.length > 0
          : value !== null && typeof value === 'object'
            ? Object.keys(value).length > 0
            : value !== undefined,
      );
    if (filtered && !(await this.store.matches(id, filters, search))) throw noMatch('User');
    return this.store.serialize(doc, includes);
  }
}

@QueryHandler(MeQuery)
export class MeHandler implements IQueryHandler<MeQuery> {
  constructor(
    private readonly dataSource: DataSource,
    private readonly store: UserStore,
  ) {}

  async execute({ principal }: MeQuery): Promise<SessionUserDto> {
    const doc = await this.store.document(principal.userId);
    if (!doc) throw noMatch('User');
    const user = await this.store.serialize(doc);
    // Groups with every ancestor (authentik's all_groups), and roles held directly or through any of them.
    const [related] = await this.dataSource.query<
      { groups: { name: string; pk: string }[]; roles: { name: string; pk: string }[] }[]
    >(
      `WITH RECURSIVE tree(id) AS (
         SELECT group_id FROM user_groups WHERE user_id = $1
         UNION
         SELECT g.parent_id FROM tree t JOIN groups g ON g.id = t.id WHERE g.parent_id IS NOT NULL
       )
       SELECT
         COALESCE((SELECT json_agg(json_build_object('name', g.name, 'pk', g.id::text) ORDER BY g.name, g.id)
                     FROM groups g WHERE g.id IN (SELECT id FROM tree)), '[]'::json) AS groups,
         COALESCE((SELECT json_agg(json_build_object('name', r.name, 'pk', r.id::text) ORDER BY r.name, r.id)
                     FROM roles r
                    WHERE r.id IN (SELECT role_id FROM user_roles WHERE user_id = $1)
                       OR r.id IN (SELECT role_id FROM group_roles WHERE group_id IN (SELECT id FROM tree))),
                  '[]'::json) AS roles`,
      [principal.userId],
    );
    const systemPermissions = principal.isSuperuser
      ? SYSTEM_PERMISSIONS
      : [...principal.permissions]
          .filter((permission) => permission.startsWith('authentik_rbac.'))
          .map((permission) => permission.slice('authentik_rbac.'.length))
          .sort();
    const self: UserSelfDto = {
      pk: user.pk,
      username: user.username,
      name: user.name,
      is_active: user.is_active,
      is_superuser: user.is_superuser,
      is_current: true,
      groups: related?.groups ?? [],
      roles: related?.roles ?? [],
      email: user.email,
      avatar: user.avatar,
      uid: user.uid,
      // Grantry has no brand settings, and keeps none per group or user.
      settings: {},
      type: user.type,
      system_permissions: systemPermissions,
    };
    // `users` and `is_current` come from authentik's later schema (the accounts signed in to one browser), which
    // @goauthentik/api 2026.8 requires: a bearer key speaks for one user, the current one.
    return { user: self, users: [self] };
  }
}
