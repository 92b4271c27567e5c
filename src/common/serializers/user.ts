import { createHash } from 'node:crypto';
import type { AvatarResolver } from './avatar';
import { memoize } from './memo';
import { isoFromSql } from './timestamps';

/** authentik's PartialGroup. */
export interface PartialGroupDto {
  pk: string;
  num_pk: number;
  name: string;
  is_superuser: boolean;
  parent: string | null;
  parent_name: string | null;
  attributes: Record<string, unknown>;
}

/** authentik's Role (as nested in a user). */
export interface RoleDto {
  pk: string;
  name: string;
}

/** authentik's User, as nested in a token. */
export interface UserDto {
  pk: number;
  username: string;
  name: string;
  is_active: boolean;
  last_login: string | null;
  date_joined: string;
  is_superuser: boolean;
  groups: string[];
  groups_obj: PartialGroupDto[] | null;
  roles: string[];
  roles_obj: RoleDto[] | null;
  email: string;
  avatar: string;
  attributes: Record<string, unknown>;
  uid: string;
  path: string;
  type: string;
  uuid: string;
  password_change_date: string;
  last_updated: string;
}

/**
 * A user's stored document (`user_documents`, migration Documents): columns, direct groups (with their parent's name),
 * direct roles, and superuser status through the group tree.
 */
export interface UserRow {
  id: number;
  uuid: string;
  username: string;
  name: string;
  email: string;
  is_active: boolean;
  last_login: string | null;
  date_joined: string;
  password_change_date: string;
  last_updated: string;
  path: string;
  type: string;
  attributes: Record<string, unknown>;
  is_superuser: boolean;
  groups: {
    pk: string;
    name: string;
    is_superuser: boolean;
    parent: string | null;
    parent_name: string | null;
    attributes: Record<string, unknown>;
  }[];
  roles: RoleDto[];
}

/** authentik's `num_pk`: the first five decimal digits of the group UUID read as a 128-bit integer. */
export function numPk(uuid: string): number {
  return Number(
    BigInt(`0x${uuid.replace(/-/g, '')}`)
      .toString()
      .slice(0, 5),
  );
}

/** authentik's `uid`: SHA-256 of "<pk>-<install id>", lowercase hex. */
export function userUid(pk: number, installId: string): string {
  return uidOf(`${pk}-${installId}`);
}

const uidOf = memoize((input: string): string => createHash('sha256').update(input, 'ascii').digest('hex'));

export interface UserSerializerContext {
  installId: string;
  avatars: AvatarResolver;
  includeGroups: boolean;
  includeRoles: boolean;
}

/** The only place that shapes a nested user. Fields are copied one by one so no new column can leak. */
export function toUserDto(row: UserRow, context: UserSerializerContext): UserDto {
  return {
    pk: row.id,
    username: row.username,
    name: row.name,
    is_active: row.is_active,
    last_login: isoFromSql(row.last_login),
    date_joined: isoFromSql(row.date_joined) ?? '',
    is_superuser: row.is_superuser,
    groups: row.groups.map((group) => group.pk),
    groups_obj: context.includeGroups
      ? row.groups.map((group) => ({
          pk: group.pk,
          num_pk: numPk(group.pk),
          name: group.name,
          is_superuser: group.is_superuser,
          parent: group.parent,
          parent_name: group.parent_name,
          attributes: group.attributes,
        }))
      : null,
    roles: row.roles.map((role) => role.pk),
    roles_obj: context.includeRoles ? row.roles.map((role) => ({ pk: role.pk, name: role.name })) : null,
    email: row.email,
    avatar: context.avatars.resolve(row),
    attributes: row.attributes,
    uid: userUid(row.id, context.installId),
    path: row.path,
    type: row.type,
    uuid: row.uuid,
    password_change_date: isoFromSql(row.password_change_date) ?? '',
    last_updated: isoFromSql(row.last_updated) ?? '',
  };
}
