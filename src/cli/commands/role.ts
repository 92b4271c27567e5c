import { assignRole, createRole } from '../../identity/accounts';
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
      description: 'a permission codename, e.g. authentik_providers_oauth2.view_accesstoken',
    },
  },
  prepare(options) {
    return async ({ dataSource }) => {
      const role = await createRole(dataSource.manager, {
        name: options.name,
        permissions: options.permission,
      });
      return {
        json: { pk: role.id, name: role.name, permissions: role.permissions },
        text: `Created role "${role.name}" (pk ${role.id}) with ${role.permissions.join(', ')}.`,
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
    return async ({ dataSource }) => {
      await assignRole(dataSource.manager, options.role, target);
      return {
        json: { role: options.role, ...target },
        text: `${'user' in target ? `"${target.user}"` : `Group "${target.group}"`} holds role "${options.role}".`,
      };
    };
  },
});
