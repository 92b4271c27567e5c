import type { EntityManager } from 'typeorm';
import { isoFromSql, isoSql } from '../../common/serializers/timestamps';
import { numPk, userUid } from '../../common/serializers/user';

/** authentik's RelatedGroup (`parents_obj`, `children_obj`). */
export interface RelatedGroupDto {
  pk: string;
  name: string;
  is_superuser: boolean;
  attributes: Record<string, unknown>;
  group_uuid: string;
}

/** authentik's PartialUser (`users_obj`). */
export interface PartialUserDto {
  pk: number;
  username: string;
  name: string;
  is_active: boolean;
  last_login: string | null;
  email: string;
  attributes: Record<string, unknown>;
  uid: string;
}

export interface RoleRefDto {
  pk: string;
  name: string;
}

/** authentik's Group, in its serializer's field order. */
export interface GroupDto {
  pk: string;
  num_pk: number;
  name: string;
  is_superuser: boolean;
  parents: string[];
  parents_obj: RelatedGroupDto[] | null;
  users: number[];
  users_obj: PartialUserDto[] | null;
  attributes: Record<string, unknown>;
  roles: string[];
  roles_obj: RoleRefDto[];
  inherited_roles_obj: RoleRefDto[] | null;
  children: string[];
  children_obj: RelatedGroupDto[] | null;
}

/** Which of the `*_obj` fields to fill (`include_users`, `include_children`, ...); the others are null. */
export interface GroupIncludes {
  users: boolean;
  children: boolean;
  parents: boolean;
  inheritedRoles: boolean;
}

export const DEFAULT_INCLUDES: GroupIncludes = {
  users: true,
  children: false,
  parents: false,
  inheritedRoles: false,
};

interface GroupRow {
  id: string;
  name: string;
  is_superuser: boolean;
  attributes: Record<string, unknown>;
  parent_id: string | null;
}

const related = (row: GroupRow): RelatedGroupDto => ({
  pk: row.id,
  name: row.name,
  is_superuser: row.is_superuser,
  attributes: row.attributes,
  group_uuid: row.id,
});

function groupBy<T, K>(rows: readonly T[], key: (row: T) => K): Map<K, T[]> {
  const map = new Map<K, T[]>();
  for (const row of rows) {
    const k = key(row);
    const list = map.get(k);
    if (list) list.push(row);
    else map.set(k, [row]);
  }
  return map;
}

let installId: Promise<string> | undefined;

async function getInstallId(manager: EntityManager): Promise<string> {
  installId ??= manager
    .query<{ install_id: string }[]>('SELECT install_id FROM install WHERE id = 1')
    .then((rows) => rows[0]?.install_id ?? '')
    .catch((error: unknown) => {
      installId = undefined;
      throw error;
    });
  return installId;
}

/**
 * The groups `ids` as authentik serializes them, in the order of `ids` (missing ones skipped), in a fixed number of
 * queries whatever the page size. Grantry's groups have one parent: `parents` is `[parent]` or `[]`.
 */
export async function loadGroups(
  manager: EntityManager,
  ids: readonly string[],
  includes: GroupIncludes,
): Promise<GroupDto[]> {
  if (ids.length === 0) return [];
  const list = [...ids];
  const rows = await manager.query<GroupRow[]>(
    'SELECT id, name, is_superuser, attributes, parent_id FROM groups WHERE id = ANY($1::uuid[])',
    [list],
  );
  const parentIds = [...new Set(rows.flatMap((row) => (row.parent_id ? [row.parent_id] : [])))];
  // One after another: a transaction's connection runs one query at a time.
  const parents = await (includes.parents && parentIds.length > 0
    ? manager.query<GroupRow[]>(
        'SELECT id, name, is_superuser, attributes, parent_id FROM groups WHERE id = ANY($1::uuid[])',
        [parentIds],
      )
    : Promise.resolve([] as GroupRow[]));
  const children = await manager.query<GroupRow[]>(
    `SELECT id, name, is_superuser, attributes, parent_id FROM groups
        WHERE parent_id = ANY($1::uuid[]) ORDER BY name, id`,
    [list],
  );
  const members = await (includes.users
    ? manager.query<(PartialUserRow & { group_id: string })[]>(
        `SELECT ug.group_id, u.id, u.username, u.name, u.is_active, ${isoSql('u.last_login')} AS last_login,
                  u.email, u.attributes
             FROM user_groups ug JOIN users u ON u.id = ug.user_id
            WHERE ug.group_id = ANY($1::uuid[]) ORDER BY u.id`,
        [list],
      )
    : manager.query<{ group_id: string; id: number }[]>(
        'SELECT group_id, user_id AS id FROM user_groups WHERE group_id = ANY($1::uuid[]) ORDER BY user_id',
        [list],
      ));
  const roles = await manager.query<{ group_id: string; id: string; name: string }[]>(
    `SELECT gr.group_id, r.id, r.name FROM group_roles gr JOIN roles r ON r.id = gr.role_id
        WHERE gr.group_id = ANY($1::uuid[]) ORDER BY r.name, r.id`,
    [list],
  );
  const inherited = await (includes.inheritedRoles
    ? manager.query<{ group_id: string; id: string; name: string }[]>(
        // UNION (not UNION ALL) ends the walk even on a cyclic tree written before cycles were refused.
        `WITH RECURSIVE ancestors (group_id, ancestor_id) AS (
             SELECT id, parent_id FROM groups WHERE id = ANY($1::uuid[]) AND parent_id IS NOT NULL
             UNION
             SELECT a.group_id, g.parent_id FROM ancestors a JOIN groups g ON g.id = a.ancestor_id
              WHERE g.parent_id IS NOT NULL
           )
           SELECT DISTINCT a.group_id, r.id, r.name
             FROM ancestors a JOIN group_roles gr ON gr.group_id = a.ancestor_id JOIN roles r ON r.id = gr.role_id
            WHERE NOT EXISTS (SELECT 1 FROM group_roles d WHERE d.group_id = a.group_id AND d.role_id = r.id)
            ORDER BY r.name, r.id`,
        [list],
      )
    : Promise.resolve([] as { group_id: string; id: string; name: string }[]));
  const install = includes.users ? await getInstallId(manager) : '';
  const byId = new Map(rows.map((row) => [row.id, row]));
  const parentById = new Map(parents.map((row) => [row.id, row]));
  const childrenOf = groupBy(children, (row) => row.parent_id);
  const membersOf = groupBy(members as { group_id: string; id: number }[], (row) => row.group_id);
  const rolesOf = groupBy(roles, (row) => row.group_id);
  const inheritedOf = groupBy(inherited, (row) => row.group_id);
  const out: GroupDto[] = [];
  for (const id of list) {
    const row = byId.get(id);
    if (!row) continue;
    const parent = row.parent_id === null ? undefined : parentById.get(row.parent_id);
    const groupMembers = membersOf.get(id) ?? [];
    const groupChildren = childrenOf.get(id) ?? [];
    const groupRoles = (rolesOf.get(id) ?? []).map((role) => ({ pk: role.id, name: role.name }));
    out.push({
      pk: row.id,
      num_pk: numPk(row.id),
      name: row.name,
      is_superuser: row.is_superuser,
      parents: row.parent_id === null ? [] : [row.parent_id],
      parents_obj: includes.parents ? (parent ? [related(parent)] : []) : null,
      users: groupMembers.map((member) => member.id),
      users_obj: includes.users
        ? (groupMembers as unknown as PartialUserRow[]).map((user) => partialUser(user, install))
        : null,
      attributes: row.attributes,
      roles: groupRoles.map((role) => role.pk),
      roles_obj: groupRoles,
      inherited_roles_obj: includes.inheritedRoles
        ? (inheritedOf.get(id) ?? []).map((role) => ({ pk: role.id, name: role.name }))
        : null,
      children: groupChildren.map((child) => child.id),
      children_obj: includes.children ? groupChildren.map(related) : null,
    });
  }
  return out;
}

interface PartialUserRow {
  id: number;
  username: string;
  name: string;
  is_active: boolean;
  last_login: string | null;
  email: string;
  attributes: Record<string, unknown>;
}

function partialUser(row: PartialUserRow, install: string): PartialUserDto {
  return {
    pk: row.id,
    username: row.username,
    name: row.name,
    is_active: row.is_active,
    last_login: isoFromSql(row.last_login),
    email: row.email,
    attributes: row.attributes,
    uid: userUid(row.id, install),
  };
}
