import { Command, CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { DataSource, type EntityManager, In, Not } from 'typeorm';
import type { QueryDeepPartialEntity } from 'typeorm/query-builder/QueryPartialEntity';
import { type Caller, callerCan } from '../../common/auth/caller';
import { ValidationApiError, type ValidationErrorBody } from '../../common/errors/api-error';
import { isUuid } from '../../common/validation/fields';
import { deletedCounts, modelRef, recordEvent } from '../../events/record-event';
import { GroupEntity } from '../../identity/group.entity';
import { RoleEntity } from '../../identity/role.entity';
import { UserEntity } from '../../identity/user.entity';
import { addLinks } from '../common/join-tables';
import { validateBody, validateBodyCollecting } from '../common/validate-body';
import {
  isForeignKeyViolation,
  isUniqueViolation,
  noMatch,
  notFound,
  permissionDenied,
} from '../common/errors';
import { GroupRequest, PatchedGroupRequest, UserAccountRequest } from './group.openapi';
import { DEFAULT_INCLUDES, type GroupDto, type GroupIncludes, loadGroups } from './group-serializer';
import { isInt4, parseGroupId } from './group.queries';

export const GROUP_NAME_TAKEN = 'Group with this name already exists.';
export const TOO_MANY_PARENTS =
  'Grantry groups have a single parent: give at most one group (a list of zero or one UUID).';
export const PARENT_CYCLE = 'A group cannot be its own parent or an ancestor of its parent.';

const superuserDenied = (value: boolean): string =>
  `User does not have permission to set superuser status to ${value ? 'True' : 'False'}.`;
const invalidPk = (value: unknown): string => `Invalid pk "${String(value)}" - object does not exist.`;

export class CreateGroupCommand extends Command<GroupDto> {
  constructor(
    readonly caller: Caller,
    readonly body: unknown,
    readonly includes: GroupIncludes = DEFAULT_INCLUDES,
  ) {
    super();
  }
}

export class UpdateGroupCommand extends Command<GroupDto> {
  constructor(
    readonly caller: Caller,
    readonly id: string,
    readonly body: unknown,
    /** PATCH: absent fields are left alone; PUT: `users` and `parents` are reset to [] when absent. */
    readonly partial: boolean,
    readonly includes: GroupIncludes = DEFAULT_INCLUDES,
  ) {
    super();
  }
}

export class DeleteGroupCommand extends Command<void> {
  constructor(
    readonly caller: Caller,
    readonly id: string,
  ) {
    super();
  }
}

export class GroupMembershipCommand extends Command<void> {
  constructor(
    readonly caller: Caller,
    readonly action: 'add_user' | 'remove_user',
    readonly id: string,
    readonly body: unknown,
  ) {
    super();
  }
}

type GroupChanges = QueryDeepPartialEntity<GroupEntity>;

const groupRef = (id: string, name: string) => modelRef('authentik_core', 'group', id, name);

interface Resolved {
  parentId?: string | null;
  users?: number[];
  roles?: string[];
}

/**
 * The checks DRF's serializer makes with the database (related pks exist, the name is free, the superuser gate), all
 * collected into one 400 as DRF reports every failing field at once.
 */
async function resolveRelations(
  manager: EntityManager,
  caller: Caller,
  dto: GroupRequest | PatchedGroupRequest,
  current: { id: string; isSuperuser: boolean } | undefined,
  resetOmitted: boolean,
  shapeErrors: ValidationErrorBody,
): Promise<Resolved> {
  const errors: ValidationErrorBody = { ...shapeErrors };
  const out: Resolved = {};
  // DRF's CharField takes a number as its text.
  if (typeof dto.name === 'number') dto.name = String(dto.name);

  if (dto.name !== undefined) {
    const taken = await manager.existsBy(
      GroupEntity,
      current ? { name: dto.name, id: Not(current.id) } : { name: dto.name },
    );
    if (taken) errors.name = [GROUP_NAME_TAKEN];
  }

  // authentik's validate_is_superuser: setting true on create, or changing the value, needs the matching permission.
  if (
    dto.is_superuser !== undefined &&
    (current ? current.isSuperuser !== dto.is_superuser : dto.is_superuser)
  ) {
    const permission = dto.is_superuser
      ? 'authentik_core.enable_group_superuser'
      : 'authentik_core.disable_group_superuser';
    if (!callerCan(caller, permission)) errors.is_superuser = [superuserDenied(dto.is_superuser)];
  }

  const parents = dto.parents ?? (resetOmitted ? [] : undefined);
  if (parents !== undefined) {
    if (parents.length > 1) {
      errors.parents = [TOO_MANY_PARENTS];
    } else if (parents.length === 1) {
      const parent = parents[0] ?? '';
      const exists = isUuid(parent) && (await manager.existsBy(GroupEntity, { id: parent }));
      if (!exists) errors.parents = [invalidPk(parent)];
      else if (current && (await wouldCycle(manager, current.id, parent))) errors.parents = [PARENT_CYCLE];
      else out.parentId = parent;
    } else {
      out.parentId = null;
    }
  }

  const users = dto.users ?? (resetOmitted ? [] : undefined);
  if (users !== undefined) {
    const ids: number[] = [];
    for (const value of users as unknown[]) {
      const id = typeof value === 'number' ? value : /^\s*\d+\s*$/.test(String(value)) ? Number(value) : NaN;
      if (!Number.isSafeInteger(id)) {
        errors.users = ['Incorrect type. Expected pk value, received str.'];
        break;
      }
      ids.push(id);
    }
    if (!errors.users) {
      const lookup = ids.filter(isInt4);
      const found =
        lookup.length > 0
          ? await manager.find(UserEntity, { select: { id: true }, where: { id: In(lookup) } })
          : [];
      const known = new Set(found.map((user) => user.id));
      const missing = ids.find((id) => !known.has(id));
      if (missing !== undefined) errors.users = [invalidPk(missing)];
      else out.users = [...new Set(ids)];
    }
  }

  if (dto.roles !== undefined) {
    const bad = dto.roles.find((role) => !isUuid(role));
    if (bad !== undefined) {
      errors.roles = [invalidPk(bad)];
    } else {
      const found =
        dto.roles.length > 0
          ? await manager.find(RoleEntity, { select: { id: true }, where: { id: In(dto.roles) } })
          : [];
      const known = new Set(found.map((role) => role.id));
      const missing = dto.roles.find((role) => !known.has(role.toLowerCase()));
      if (missing !== undefined) errors.roles = [invalidPk(missing)];
      else out.roles = [...new Set(dto.roles.map((role) => role.toLowerCase()))];
    }
  }

  if (Object.keys(errors).length > 0) throw new ValidationApiError(errors);
  return out;
}

/**
 * Whether making `parentId` the parent of `groupId` closes a loop (the parent is the group or one of its descendants).
 * authentik has no such check (a cyclic DAG makes its ancestry walks loop); Grantry refuses it. Raw SQL: walking the
 * ancestors takes a recursive CTE, which TypeORM's query builder cannot express.
 */
async function wouldCycle(manager: EntityManager, groupId: string, parentId: string): Promise<boolean> {
  if (groupId === parentId) return true;
  const rows = await manager.query<unknown[]>(
    `WITH RECURSIVE up (id) AS (
       SELECT $1::uuid
       UNION
       SELECT g.parent_id FROM groups g JOIN up ON g.id = up.id WHERE g.parent_id IS NOT NULL
     )
     SELECT 1 FROM up WHERE id = $2::uuid`,
    [parentId, groupId],
  );
  return rows.length > 0;
}

/**
 * Serializes changes to the group tree, so two concurrent re-parentings cannot together form a cycle. Raw SQL: a
 * transaction-scoped advisory lock is a PostgreSQL function TypeORM has no API for (its row locks would not do: the
 * cycle is made of rows neither transaction writes).
 */
async function lockGroupTree(manager: EntityManager): Promise<void> {
  await manager.query(`SELECT pg_advisory_xact_lock(hashtext('grantry.groups.parent_id'))`);
}

async function writeRelations(manager: EntityManager, groupId: string, resolved: Resolved): Promise<void> {
  // The join tables are set to the lists: pairs no longer listed deleted (all of them for an empty list), new ones
  // added (the others left alone).
  const { users, roles } = resolved;
  if (users !== undefined) {
    await manager.delete('user_groups', { group_id: groupId, user_id: Not(In(users)) });
    await addLinks(
      manager,
      'user_groups',
      users.map((userId) => ({ user_id: userId, group_id: groupId })),
    );
  }
  if (roles !== undefined) {
    await manager.delete('group_roles', { group_id: groupId, role_id: Not(In(roles)) });
    await addLinks(
      manager,
      'group_roles',
      roles.map((roleId) => ({ group_id: groupId, role_id: roleId })),
    );
  }
}

/** A referenced row deleted between the check and the write: answered as the check would have. */
function raced(error: unknown): never {
  if (isUniqueViolation(error, 'groups_name_key')) throw new ValidationApiError({ name: [GROUP_NAME_TAKEN] });
  if (isForeignKeyViolation(error)) {
    throw new ValidationApiError({
      non_field_errors: ['A referenced object was deleted meanwhile; try again.'],
    });
  }
  throw error;
}

@CommandHandler(CreateGroupCommand)
export class CreateGroupHandler implements ICommandHandler<CreateGroupCommand> {
  constructor(private readonly dataSource: DataSource) {}

  async execute({ caller, body, includes }: CreateGroupCommand): Promise<GroupDto> {
    if (!callerCan(caller, 'authentik_core.add_group')) throw permissionDenied();
    const { value: dto, errors: shapeErrors } = await validateBodyCollecting(
      GroupRequest,
      PatchedGroupRequest,
      body,
    );
    try {
      return await this.dataSource.transaction(async (manager) => {
        if (dto.parents !== undefined && dto.parents.length > 0) await lockGroupTree(manager);
        const resolved = await resolveRelations(manager, caller, dto, undefined, false, shapeErrors);
        // Reached only without errors, so the name passed its checks.
        const name = dto.name ?? '';
        const inserted = await manager.insert(GroupEntity, {
          name,
          isSuperuser: dto.is_superuser ?? false,
          attributes: (dto.attributes ?? {}) as GroupChanges['attributes'],
          parentId: resolved.parentId ?? null,
        });
        const id = (inserted.identifiers[0] as Pick<GroupEntity, 'id'> | undefined)?.id ?? '';
        await writeRelations(manager, id, resolved);
        await recordEvent(manager, caller, { action: 'model_created', model: groupRef(id, name) });
        const [group] = await loadGroups(manager, [id], includes);
        if (!group) throw new Error('created group not found');
        return group;
      });
    } catch (error) {
      return raced(error);
    }
  }
}

/** View permission (403), then the lookup (404), then the write permission (403), as DRF's get_object does. */
async function findForWrite(
  manager: EntityManager,
  caller: Caller,
  rawId: string,
  permission: string,
): Promise<Pick<GroupEntity, 'id' | 'name' | 'isSuperuser'>> {
  if (!callerCan(caller, 'authentik_core.view_group')) throw permissionDenied();
  const group = await manager.findOne(GroupEntity, {
    select: { id: true, name: true, isSuperuser: true },
    where: { id: parseGroupId(rawId) },
    lock: { mode: 'pessimistic_write' },
  });
  if (!group) throw noMatch('Group');
  if (!callerCan(caller, permission)) throw permissionDenied();
  return group;
}

@CommandHandler(UpdateGroupCommand)
export class UpdateGroupHandler implements ICommandHandler<UpdateGroupCommand> {
  constructor(private readonly dataSource: DataSource) {}

  async execute({ caller, id, body, partial, includes }: UpdateGroupCommand): Promise<GroupDto> {
    try {
      return await this.dataSource.transaction(async (manager) => {
        const current = await findForWrite(manager, caller, id, 'authentik_core.change_group');
        const { value: dto, errors: shapeErrors } = partial
          ? await validateBodyCollecting(PatchedGroupRequest, PatchedGroupRequest, body)
          : await validateBodyCollecting(GroupRequest, PatchedGroupRequest, body);
        if (dto.parents !== undefined || !partial) await lockGroupTree(manager);
        const resolved = await resolveRelations(
          manager,
          caller,
          dto,
          { id: current.id, isSuperuser: current.isSuperuser },
          !partial,
          shapeErrors,
        );
        const changes: GroupChanges = {};
        if (dto.name !== undefined) changes.name = dto.name;
        if (dto.is_superuser !== undefined) changes.isSuperuser = dto.is_superuser;
        if (dto.attributes !== undefined) changes.attributes = dto.attributes as GroupChanges['attributes'];
        if (resolved.parentId !== undefined) changes.parentId = resolved.parentId;
        if (Object.keys(changes).length > 0) await manager.update(GroupEntity, { id: current.id }, changes);
        await writeRelations(manager, current.id, resolved);
        await recordEvent(manager, caller, {
          action: 'model_updated',
          model: groupRef(current.id, dto.name ?? current.name),
        });
        const [group] = await loadGroups(manager, [current.id], includes);
        if (!group) throw noMatch('Group');
        return group;
      });
    } catch (error) {
      return raced(error);
    }
  }
}

@CommandHandler(DeleteGroupCommand)
export class DeleteGroupHandler implements ICommandHandler<DeleteGroupCommand> {
  constructor(private readonly dataSource: DataSource) {}

  async execute({ caller, id }: DeleteGroupCommand): Promise<void> {
    await this.dataSource.transaction(async (manager) => {
      const current = await findForWrite(manager, caller, id, 'authentik_core.delete_group');
      const memberships = await manager.countBy(UserEntity, { groups: { id: current.id } });
      // Child groups survive, without a parent (groups.parent_id is ON DELETE SET NULL), as in authentik.
      await manager.delete(GroupEntity, { id: current.id });
      await recordEvent(manager, caller, {
        action: 'model_deleted',
        model: groupRef(current.id, current.name),
        context: { deleted: deletedCounts([['authentik_core.user_groups', memberships]]) },
      });
    });
  }
}

@CommandHandler(GroupMembershipCommand)
export class GroupMembershipHandler implements ICommandHandler<GroupMembershipCommand> {
  constructor(private readonly dataSource: DataSource) {}

  async execute({ caller, action, id, body }: GroupMembershipCommand): Promise<void> {
    const groupId = parseGroupId(id);
    await this.dataSource.transaction(async (manager) => {
      // FOR SHARE: the group cannot be deleted under us, while concurrent add/remove calls still run side by side.
      const group = await manager.findOne(GroupEntity, {
        select: { id: true, name: true },
        where: { id: groupId },
        lock: { mode: 'pessimistic_read' },
      });
      if (!group) throw noMatch('Group');
      const permission =
        action === 'add_user' ? 'authentik_core.add_user_to_group' : 'authentik_core.remove_user_from_group';
      if (!callerCan(caller, permission)) throw permissionDenied();
      const dto = await validateBody(UserAccountRequest, body);
      // The user must be one the caller may see (authentik: get_objects_for_user(..., "view_user")), else a bare 404.
      if (!callerCan(caller, 'authentik_core.view_user')) throw notFound();
      if (Math.abs(dto.pk) > 2 ** 31 - 1) throw notFound();
      // FOR NO KEY UPDATE, the lock the user_documents trigger takes next (migration Documents): taking it now makes
      // concurrent calls for one user wait for each other instead of deadlocking on a shared lock's upgrade.
      const user = await manager.findOne(UserEntity, {
        select: { id: true, username: true },
        where: { id: dto.pk },
        lock: { mode: 'for_no_key_update' },
      });
      if (!user) throw notFound();
      const link = { user_id: user.id, group_id: group.id };
      const changed =
        action === 'add_user'
          ? await addLinks(manager, 'user_groups', [link])
          : ((await manager.delete('user_groups', link)).affected ?? 0);
      // Idempotent: a call that changes nothing writes nothing, so it leaves no event either.
      if (changed > 0) {
        await recordEvent(manager, caller, {
          action: 'model_updated',
          model: groupRef(group.id, group.name),
          context: { [action]: { pk: user.id, username: user.username } },
          objectUserId: user.id,
        });
      }
    });
  }
}
