import { type EntityManager, In } from 'typeorm';
import { generateSecret, sha256 } from '../common/crypto/secrets';
import { ApiTokenEntity, type TokenIntent } from './api-token.entity';
import { GroupEntity } from './group.entity';
import { RoleEntity } from './role.entity';
import { type UserType, UserEntity } from './user.entity';

/** A write that cannot be done as asked (unknown name, duplicate, bad value); its message is meant for the user. */
export class InputError extends Error {}

export interface CreateUserInput {
  username: string;
  name?: string;
  email?: string;
  isActive?: boolean;
  type?: UserType;
  attributes?: Record<string, unknown>;
}

export async function createUser(manager: EntityManager, input: CreateUserInput): Promise<UserEntity> {
  if (input.username.length === 0 || input.username.length > 150) {
    throw new InputError('username must be 1 to 150 characters long');
  }
  if (await manager.existsBy(UserEntity, { username: input.username })) {
    throw new InputError(`a user named "${input.username}" already exists`);
  }
  const user = manager.create(UserEntity, {
    username: input.username,
    name: input.name ?? '',
    email: input.email ?? '',
    isActive: input.isActive ?? true,
    type: input.type ?? 'internal',
    attributes: input.attributes ?? {},
  });
  return manager.save(user);
}

export async function findUser(manager: EntityManager, username: string): Promise<UserEntity> {
  const user = await manager.findOneBy(UserEntity, { username });
  if (!user) throw new InputError(`no user named "${username}"`);
  return user;
}

export async function findGroup(manager: EntityManager, name: string): Promise<GroupEntity> {
  const group = await manager.findOneBy(GroupEntity, { name });
  if (!group) throw new InputError(`no group named "${name}"`);
  return group;
}

export async function findRole(manager: EntityManager, name: string): Promise<RoleEntity> {
  const role = await manager.findOneBy(RoleEntity, { name });
  if (!role) throw new InputError(`no role named "${name}"`);
  return role;
}

export async function createGroup(
  manager: EntityManager,
  input: { name: string; isSuperuser?: boolean; parent?: string; attributes?: Record<string, unknown> },
): Promise<GroupEntity> {
  if (input.name.length === 0 || input.name.length > 80)
    throw new InputError('group name must be 1 to 80 characters long');
  if (await manager.existsBy(GroupEntity, { name: input.name })) {
    throw new InputError(`a group named "${input.name}" already exists`);
  }
  const parent = input.parent === undefined ? null : await findGroup(manager, input.parent);
  return manager.save(
    manager.create(GroupEntity, {
      name: input.name,
      isSuperuser: input.isSuperuser ?? false,
      attributes: input.attributes ?? {},
      parentId: parent?.id ?? null,
    }),
  );
}

export async function addUserToGroup(
  manager: EntityManager,
  username: string,
  groupName: string,
): Promise<void> {
  const user = await findUser(manager, username);
  const group = await findGroup(manager, groupName);
  await manager.query('INSERT INTO user_groups (user_id, group_id) VALUES ($1, $2) ON CONFLICT DO NOTHING', [
    user.id,
    group.id,
  ]);
}

const PERMISSION = /^[a-z0-9_]+\.[a-z0-9_]+$/;

export async function createRole(
  manager: EntityManager,
  input: { name: string; permissions: string[] },
): Promise<RoleEntity> {
  if (input.name.length === 0 || input.name.length > 150)
    throw new InputError('role name must be 1 to 150 characters long');
  const bad = input.permissions.filter((permission) => !PERMISSION.test(permission));
  if (bad.length > 0) {
    throw new InputError(`not a permission codename (app_label.codename): ${bad.join(', ')}`);
  }
  if (await manager.existsBy(RoleEntity, { name: input.name })) {
    throw new InputError(`a role named "${input.name}" already exists`);
  }
  return manager.save(
    manager.create(RoleEntity, { name: input.name, permissions: [...new Set(input.permissions)] }),
  );
}

export async function assignRole(
  manager: EntityManager,
  roleName: string,
  target: { user: string } | { group: string },
): Promise<void> {
  const role = await findRole(manager, roleName);
  if ('user' in target) {
    const user = await findUser(manager, target.user);
    await manager.query('INSERT INTO user_roles (user_id, role_id) VALUES ($1, $2) ON CONFLICT DO NOTHING', [
      user.id,
      role.id,
    ]);
  } else {
    const group = await findGroup(manager, target.group);
    await manager.query(
      'INSERT INTO group_roles (group_id, role_id) VALUES ($1, $2) ON CONFLICT DO NOTHING',
      [group.id, role.id],
    );
  }
}

export interface IssuedApiToken {
  token: ApiTokenEntity;
  /** The only time the key exists outside the caller's hands: it is stored as a hash. */
  key: string;
}

export async function createApiToken(
  manager: EntityManager,
  input: {
    userId: number;
    intent?: TokenIntent;
    expires?: Date | null;
    description?: string;
    identifier?: string;
    key?: string;
  },
): Promise<IssuedApiToken> {
  const key = input.key ?? generateSecret();
  const expires = input.expires ?? null;
  const token = await manager.save(
    manager.create(ApiTokenEntity, {
      identifier: input.identifier ?? `grantry-${generateSecret().slice(0, 16)}`,
      keyHash: sha256(key),
      intent: input.intent ?? 'api',
      userId: input.userId,
      description: input.description ?? '',
      expires,
      expiring: expires !== null,
    }),
  );
  return { token, key };
}

/** Users who are superusers through a group or any ancestor of one. */
export async function countSuperusers(manager: EntityManager): Promise<number> {
  const rows: { count: string }[] = await manager.query(`
    WITH RECURSIVE superuser_groups (id) AS (
      SELECT id FROM groups WHERE is_superuser
      UNION
      SELECT g.id FROM groups g JOIN superuser_groups s ON g.parent_id = s.id
    )
    SELECT count(DISTINCT ug.user_id) AS count FROM user_groups ug JOIN superuser_groups s ON ug.group_id = s.id`);
  return Number(rows[0]?.count ?? 0);
}

export async function usersByName(manager: EntityManager, usernames: string[]): Promise<UserEntity[]> {
  return manager.findBy(UserEntity, { username: In(usernames) });
}
