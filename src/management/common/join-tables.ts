import type { EntityManager } from 'typeorm';

/**
 * The many-to-many join tables of the identity entities (TypeORM's junction tables of UserEntity.groups,
 * UserEntity.roles and GroupEntity.roles), with their column names.
 */
export interface JoinTables {
  user_groups: { user_id: number; group_id: string };
  user_roles: { user_id: number; role_id: string };
  group_roles: { group_id: string; role_id: string };
}

/**
 * Adds pairs to a join table, skipping those already there, and answers how many it added. ON CONFLICT DO NOTHING
 * (`orIgnore`) rather than TypeORM's `relation(...).add(...)`, which fails with a unique violation (a 500) when a
 * concurrent writer (a user's own PATCH, add_user) added the same pair first.
 */
export async function addLinks<T extends keyof JoinTables>(
  manager: EntityManager,
  table: T,
  rows: JoinTables[T][],
): Promise<number> {
  if (rows.length === 0) return 0;
  const result = await manager
    .createQueryBuilder()
    .insert()
    .into(table)
    .values(rows)
    .orIgnore()
    .returning(Object.keys(rows[0] ?? {}))
    .execute();
  return (result.raw as unknown[]).length;
}
