import { type EntityManager, In } from 'typeorm';
import { GroupEntity } from '../../identity/group.entity';
import { InstallEntity } from '../../identity/install.entity';
import { UserEntity } from '../../identity/user.entity';
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

const related = (group: GroupEntity): RelatedGroupDto => ({
  pk: group.id,
  name: group.name,
  is_superuser: group.isSuperuser,
  attributes: group.attributes,
  group_uuid: group.id,
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
    .findOne(InstallEntity, { select: { installId: true }, where: { id: 1 } })
    .then((install) => install?.installId ?? '')
    .catch((error: unknown) => {
      installId = undefined;
      throw error;
    });
  return installId;
}

interface RoleRow {
  group_id: string;
  id: string;
  name: string;
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
  // One after another: a transaction's connection runs one query at a time.
  const groups = await manager
    .createQueryBuilder(GroupEntity, 'g')
    .leftJoinAndSelect('g.roles', 'r')
    .where('g.id IN (:...ids)', { ids: list })
    .orderBy('r.name')
    .addOrderBy('r.id')
    .getMany();
  const parentIds = [...new Set(groups.flatMap((group) => (group.parentId ? [group.parentId] : [])))];
  const parents =
    includes.parents && parentIds.length > 0 ? await manager.findBy(GroupEntity, { id: In(parentIds) }) : [];
  const children = await manager.find(GroupEntity, {
    where: { parentId: In(list) },
    order: { name: 'ASC', id: 'ASC' },
  });
  const members = manager
    .createQueryBuilder()
    .select('ug.group_id', 'group_id')
    .addSelect('ug.user_id', 'id')
    .from('user_groups', 'ug')
    .where('ug.group_id IN (:...ids)', { ids: list })
    .orderBy('ug.user_id');
  if (includes.users) {
    members
      .innerJoin(UserEntity, 'u', 'u.id = ug.user_id')
      .addSelect('u.username', 'username')
      .addSelect('u.name', 'name')
      .addSelect('u.is_active', 'is_active')
      // Microseconds kept: a Date would lose them (see isoSql).
      .addSelect(isoSql('u.last_login'), 'last_login')
      .addSelect('u.email', 'email')
      .addSelect('u.attributes', 'attributes');
  }
  const memberRows = await members.getRawMany<PartialUserRow & { group_id: string }>();
  const inherited = includes.inheritedRoles ? await inheritedRoles(manager, list) : [];
  const install = includes.users ? await getInstallId(manager) : '';
  const byId = new Map(groups.map((group) => [group.id, group]));
  const parentById = new Map(parents.map((group) => [group.id, group]));
  const childrenOf = groupBy(children, (group) => group.parentId);
  const membersOf = groupBy(memberRows, (row) => row.group_id);
  const inheritedOf = groupBy(inherited, (row) => row.group_id);
  const out: GroupDto[] = [];
  for (const id of list) {
    const group = byId.get(id);
    if (!group) continue;
    const parent = group.parentId === null ? undefined : parentById.get(group.parentId);
    const groupMembers = membersOf.get(id) ?? [];
    const groupChildren = childrenOf.get(id) ?? [];
    const groupRoles = (group.roles ?? []).map((role) => ({ pk: role.id, name: role.name }));
    out.push({
      pk: group.id,
      num_pk: numPk(group.id),
      name: group.name,
      is_superuser: group.isSuperuser,
      parents: group.parentId === null ? [] : [group.parentId],
      parents_obj: includes.parents ? (parent ? [related(parent)] : []) : null,
      users: groupMembers.map((member) => member.id),
      users_obj: includes.users ? groupMembers.map((user) => partialUser(user, install)) : null,
      attributes: group.attributes,
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

/**
 * The roles each group inherits from its ancestors (those it does not hold itself). Raw SQL: the ancestry walk is a
 * recursive CTE, which TypeORM's query builder cannot express (no WITH RECURSIVE ... UNION).
 */
function inheritedRoles(manager: EntityManager, ids: string[]): Promise<RoleRow[]> {
  return manager.query<RoleRow[]>(
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
    [ids],
  );
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
