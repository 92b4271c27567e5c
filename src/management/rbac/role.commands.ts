import { Command, CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { DataSource, type EntityManager, Not } from 'typeorm';
import { type Caller, callerCan } from '../../common/auth/caller';
import { ValidationApiError } from '../../common/errors/api-error';
import { deletedCounts, modelRef, recordEvent } from '../../events/record-event';
import { GroupEntity } from '../../identity/group.entity';
import { RoleEntity } from '../../identity/role.entity';
import { UserEntity } from '../../identity/user.entity';
import { validateBody } from '../common/validate-body';
import { fieldError, isUniqueViolation, noMatch, nonFieldError, permissionDenied } from '../common/errors';
import { addLinks } from '../common/join-tables';
import { findPermission, fullName, type PermissionEntry } from './permission-catalogue';
import { PatchedRoleRequest, PermissionAssignRequest, RoleRequest } from './rbac.openapi';
import { parseRoleId, type RoleDto } from './role.queries';

export const ROLE_NAME_TAKEN = 'Role with this name already exists.';
export const GLOBAL_CODENAME =
  'When assigning global permissions, codename must be given as app_label.codename';
export const MODEL_AND_OBJECT = 'The fields model, object_pk must be used together.';
export const NO_OBJECT_PERMISSIONS =
  'Grantry has no object-level permissions: roles hold global permissions only. Omit model and object_pk to ' +
  'assign the permissions globally.';
export const unknownPermissions = (names: string[]): string =>
  `Unknown permission${names.length > 1 ? 's' : ''}: ${names.map((name) => `"${name}"`).join(', ')}. ` +
  'GET /api/v3/rbac/permissions/ lists those Grantry knows.';

const roleRef = (id: string, name: string) => modelRef('authentik_rbac', 'role', id, name);

export class CreateRoleCommand extends Command<RoleDto> {
  constructor(
    readonly caller: Caller,
    readonly body: unknown,
    /** Only the CLI creates a role with permissions in one step; the API assigns them afterwards. */
    readonly permissions: readonly string[] = [],
  ) {
    super();
  }
}

export class UpdateRoleCommand extends Command<RoleDto> {
  constructor(
    readonly caller: Caller,
    readonly id: string,
    readonly body: unknown,
    readonly partial: boolean,
  ) {
    super();
  }
}

export class DeleteRoleCommand extends Command<void> {
  constructor(
    readonly caller: Caller,
    readonly id: string,
  ) {
    super();
  }
}

export class AssignRolePermissionsCommand extends Command<{ id: string }[]> {
  constructor(
    readonly caller: Caller,
    readonly action: 'assign' | 'unassign',
    readonly id: string,
    readonly body: unknown,
  ) {
    super();
  }
}

/** The CLI's `role assign`: a role for a user or a group (the API does this through the user's or group's `roles`). */
export class GrantRoleCommand extends Command<void> {
  constructor(
    readonly caller: Caller,
    readonly roleId: string,
    readonly target: { userId: number } | { groupId: string },
  ) {
    super();
  }
}

/**
 * `app_label.codename` strings checked against the catalogue: the reference's message for a bare codename, then
 * Grantry's for an unknown one (authentik answers a 500 there). Duplicates collapse.
 */
export function checkPermissions(values: readonly unknown[]): PermissionEntry[] {
  const names = values.map((value) => String(value));
  if (names.some((name) => !name.includes('.'))) throw fieldError('permissions', GLOBAL_CODENAME);
  const unknown = names.filter((name) => !findPermission(name));
  if (unknown.length > 0) throw fieldError('permissions', unknownPermissions([...new Set(unknown)]));
  const entries = names.map((name) => findPermission(name) as PermissionEntry);
  return [...new Map(entries.map((entry) => [entry.id, entry])).values()];
}

function nameTaken(error: unknown): boolean {
  return isUniqueViolation(error, 'roles_name_key');
}

async function assertNameFree(manager: EntityManager, name: string, except: string | null): Promise<void> {
  const taken = await manager.existsBy(RoleEntity, except === null ? { name } : { name, id: Not(except) });
  if (taken) throw fieldError('name', ROLE_NAME_TAKEN);
}

@CommandHandler(CreateRoleCommand)
export class CreateRoleHandler implements ICommandHandler<CreateRoleCommand> {
  constructor(private readonly dataSource: DataSource) {}

  async execute({ caller, body, permissions }: CreateRoleCommand): Promise<RoleDto> {
    if (!callerCan(caller, 'authentik_rbac.add_role')) throw permissionDenied();
    const dto = await validateBody(RoleRequest, body);
    dto.name = String(dto.name); // DRF's CharField takes a number as its text
    const entries = checkPermissions(permissions);
    try {
      return await this.dataSource.transaction(async (manager) => {
        await assertNameFree(manager, dto.name, null);
        const inserted = await manager.insert(RoleEntity, {
          name: dto.name,
          permissions: entries.map(fullName),
        });
        const pk = (inserted.identifiers[0] as Pick<RoleEntity, 'id'> | undefined)?.id;
        if (pk === undefined) throw new Error('role insert returned nothing');
        const role: RoleDto = { pk, name: dto.name };
        await recordEvent(manager, caller, {
          action: 'model_created',
          model: roleRef(role.pk, role.name),
          ...(entries.length > 0 ? { context: { permissions: entries.map(fullName) } } : {}),
        });
        return role;
      });
    } catch (error) {
      if (nameTaken(error)) throw fieldError('name', ROLE_NAME_TAKEN);
      throw error;
    }
  }
}

/** View permission (403), the lookup (404), then the write permission (403), as DRF's get_object does. */
async function findForWrite(
  manager: EntityManager,
  caller: Caller,
  rawId: string,
  permission: string,
): Promise<RoleEntity> {
  if (!callerCan(caller, 'authentik_rbac.view_role')) throw permissionDenied();
  const role = await lockRole(manager, parseRoleId(rawId));
  if (!role) throw noMatch('Role');
  if (!callerCan(caller, permission)) throw permissionDenied();
  return role;
}

/** The role, locked FOR UPDATE until the transaction ends (concurrent writes to one role run one after another). */
function lockRole(manager: EntityManager, id: string): Promise<RoleEntity | null> {
  return manager.findOne(RoleEntity, { where: { id }, lock: { mode: 'pessimistic_write' } });
}

@CommandHandler(UpdateRoleCommand)
export class UpdateRoleHandler implements ICommandHandler<UpdateRoleCommand> {
  constructor(private readonly dataSource: DataSource) {}

  async execute({ caller, id, body, partial }: UpdateRoleCommand): Promise<RoleDto> {
    try {
      return await this.dataSource.transaction(async (manager) => {
        const role = await findForWrite(manager, caller, id, 'authentik_rbac.change_role');
        const dto = partial
          ? await validateBody(PatchedRoleRequest, body)
          : await validateBody(RoleRequest, body);
        if (dto.name !== undefined) dto.name = String(dto.name); // DRF's CharField takes a number as its text
        const name = dto.name ?? role.name;
        if (dto.name !== undefined) {
          await assertNameFree(manager, dto.name, role.id);
          await manager.update(RoleEntity, { id: role.id }, { name: dto.name });
        }
        await recordEvent(manager, caller, { action: 'model_updated', model: roleRef(role.id, name) });
        return { pk: role.id, name };
      });
    } catch (error) {
      if (nameTaken(error)) throw fieldError('name', ROLE_NAME_TAKEN);
      throw error;
    }
  }
}

@CommandHandler(DeleteRoleCommand)
export class DeleteRoleHandler implements ICommandHandler<DeleteRoleCommand> {
  constructor(private readonly dataSource: DataSource) {}

  async execute({ caller, id }: DeleteRoleCommand): Promise<void> {
    await this.dataSource.transaction(async (manager) => {
      const role = await findForWrite(manager, caller, id, 'authentik_rbac.delete_role');
      const userRoles = await manager.countBy(UserEntity, { roles: { id: role.id } });
      const groupRoles = await manager.countBy(GroupEntity, { roles: { id: role.id } });
      // user_roles and group_roles rows go with it (ON DELETE CASCADE): its holders lose its permissions at once.
      await manager.delete(RoleEntity, { id: role.id });
      await recordEvent(manager, caller, {
        action: 'model_deleted',
        model: roleRef(role.id, role.name),
        context: {
          deleted: deletedCounts([
            ['authentik_core.user_roles', userRoles],
            ['authentik_core.group_roles', groupRoles],
          ]),
        },
      });
    });
  }
}

@CommandHandler(AssignRolePermissionsCommand)
export class AssignRolePermissionsHandler implements ICommandHandler<AssignRolePermissionsCommand> {
  constructor(private readonly dataSource: DataSource) {}

  async execute({ caller, action, id, body }: AssignRolePermissionsCommand): Promise<{ id: string }[]> {
    return this.dataSource.transaction(async (manager) => {
      // authentik's @permission_required: the role must exist (404) before the permission (403) and the body (400).
      const role = await lockRole(manager, parseRoleId(id));
      if (!role) throw noMatch('Role');
      const permission =
        action === 'assign'
          ? 'authentik_rbac.assign_role_permissions'
          : 'authentik_rbac.unassign_role_permissions';
      if (!callerCan(caller, permission)) throw permissionDenied();
      const dto = await validateBody(PermissionAssignRequest, body);
      if ((dto.model === undefined) !== (dto.object_pk === undefined)) throw nonFieldError(MODEL_AND_OBJECT);
      // authentik would assign on the object, or silently globally when object_pk matches nothing; Grantry can do
      // neither faithfully, so it refuses rather than grant more than asked.
      if (dto.model !== undefined) throw new ValidationApiError({ object_pk: [NO_OBJECT_PERMISSIONS] });
      const entries = checkPermissions(dto.permissions);
      const names = entries.map(fullName);
      const next =
        action === 'assign'
          ? [...new Set([...role.permissions, ...names])]
          : role.permissions.filter((held) => !names.includes(held));
      if (next.length !== role.permissions.length || next.some((value, i) => value !== role.permissions[i])) {
        await manager.update(RoleEntity, { id: role.id }, { permissions: next });
        await recordEvent(manager, caller, {
          action: 'model_updated',
          model: roleRef(role.id, role.name),
          context: { [action === 'assign' ? 'permissions_assigned' : 'permissions_unassigned']: names },
        });
      }
      return entries.map((entry) => ({ id: String(entry.id) }));
    });
  }
}

@CommandHandler(GrantRoleCommand)
export class GrantRoleHandler implements ICommandHandler<GrantRoleCommand> {
  constructor(private readonly dataSource: DataSource) {}

  async execute({ caller, roleId, target }: GrantRoleCommand): Promise<void> {
    await this.dataSource.transaction(async (manager) => {
      // FOR SHARE: the role cannot be deleted under us, while other grants of it still run side by side.
      const role = await manager.findOne(RoleEntity, {
        select: { id: true, name: true },
        where: { id: roleId },
        lock: { mode: 'pessimistic_read' },
      });
      if (!role) throw noMatch('Role');
      const rolePk = { pk: role.id.replaceAll('-', ''), name: role.name };
      if ('userId' in target) {
        if (!callerCan(caller, 'authentik_core.change_user')) throw permissionDenied();
        // FOR NO KEY UPDATE: the lock the user_documents trigger takes next (see GroupMembershipHandler).
        const user = await manager.findOne(UserEntity, {
          select: { id: true, name: true },
          where: { id: target.userId },
          lock: { mode: 'for_no_key_update' },
        });
        if (!user) throw noMatch('User');
        if ((await addLinks(manager, 'user_roles', [{ user_id: user.id, role_id: role.id }])) > 0) {
          await recordEvent(manager, caller, {
            action: 'model_updated',
            model: modelRef('authentik_core', 'user', user.id, user.name),
            context: { add_role: rolePk },
            objectUserId: user.id,
          });
        }
      } else {
        if (!callerCan(caller, 'authentik_core.change_group')) throw permissionDenied();
        const group = await manager.findOne(GroupEntity, {
          select: { id: true, name: true },
          where: { id: target.groupId },
          lock: { mode: 'pessimistic_read' },
        });
        if (!group) throw noMatch('Group');
        if ((await addLinks(manager, 'group_roles', [{ group_id: group.id, role_id: role.id }])) > 0) {
          await recordEvent(manager, caller, {
            action: 'model_updated',
            model: modelRef('authentik_core', 'group', group.id, group.name),
            context: { add_role: rolePk },
          });
        }
      }
    });
  }
}
