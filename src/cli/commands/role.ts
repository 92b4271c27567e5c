import { CLI_CALLER } from '../../common/auth/caller';
import { findGroup, findRole, findUser } from '../../identity/accounts';
import { CreateRoleCommand, GrantRoleCommand } from '../../management/rbac/role.commands';
import { ArgumentError, defineCommand } from '../args';

export const roleCreate = defineCommand({
  name: 'role create',
  summary: 'Create a role holding permissions.',
  options: {
    name: { type: 'string', valueName: 'NAME', required: true, description: 'role name, unique' },
    permission: {
      type: 'string',
      valueName: 'PERMISSION',
      required: true,
      multiple: true,
      description:
        'a permission, app_label.codename, e.g. authentik_providers_oauth2.view_accesstoken ' +
        '(GET /api/v3/rbac/permissions/ lists them)',
    },
  },
  notes:
    'The same command as POST /api/v3/rbac/roles/ followed by .../assigned_by_roles/{uuid}/assign/: unknown\n' +
    'permissions are refused, and a model_created event is recorded.',
  prepare(options) {
    return async ({ bus }) => {
      const role = await (
        await bus()
      ).execute(new CreateRoleCommand(CLI_CALLER, { name: options.name }, options.permission));
      const permissions = [...new Set(options.permission)];
      return {
        json: { pk: role.pk, name: role.name, permissions },
        text: `Created role "${role.name}" (pk ${role.pk}) with ${permissions.join(', ')}.`,
      };
    };
  },
});

export const roleAssign = defineCommand({
  name: 'role assign',
  summary: 'Give a role to a user or to a group (exactly one of --user and --group).',
  options: {
    role: { type: 'string', valueName: 'ROLE', required: true, description: 'role name' },
    user: { type: 'string', valueName: 'USERNAME', description: 'the user to hold the role' },
    group: { type: 'string', valueName: 'GROUP', description: 'the group to hold the role' },
  },
  prepare(options) {
    const { user, group } = options;
    const target = user !== undefined ? { user } : group !== undefined ? { group } : undefined;
    if (target === undefined || (user !== undefined && group !== undefined)) {
      throw new ArgumentError('give exactly one of --user and --group');
    }
    return async ({ dataSource, bus }) => {
      const role = await findRole(dataSource.manager, options.role);
      const holder =
        user !== undefined
          ? { userId: (await findUser(dataSource.manager, user)).id }
          : { groupId: (await findGroup(dataSource.manager, group ?? '')).id };
      await (await bus()).execute(new GrantRoleCommand(CLI_CALLER, role.id, holder));
      return {
        json: { role: options.role, ...target },
        text: `${'user' in target ? `"${target.user}"` : `Group "${target.group}"`} holds role "${options.role}".`,
      };
    };
  },
});
