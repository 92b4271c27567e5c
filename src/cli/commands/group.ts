import { addUserToGroup, createGroup } from '../../identity/accounts';
import { defineCommand } from '../args';

export const groupCreate = defineCommand({
  name: 'group create',
  summary: 'Create a group.',
  options: {
    name: { type: 'string', valueName: 'NAME', required: true, description: 'group name, unique' },
    superuser: { type: 'boolean', description: 'members (and members of groups below it) are superusers' },
    parent: { type: 'string', valueName: 'GROUP', description: 'name of the parent group' },
  },
  notes:
    'JSON output: {"pk", "name", "is_superuser", "parent"}; as in authentik, "parent" is the parent\'s pk.',
  prepare(options) {
    return async ({ dataSource }) => {
      const group = await createGroup(dataSource.manager, {
        name: options.name,
        isSuperuser: options.superuser,
        parent: options.parent,
      });
      return {
        json: { pk: group.id, name: group.name, is_superuser: group.isSuperuser, parent: group.parentId },
        text:
          `Created group "${group.name}" (pk ${group.id}${group.isSuperuser ? ', superuser' : ''}` +
          `${options.parent === undefined ? '' : `, below "${options.parent}"`}).`,
      };
    };
  },
});

export const groupAddUser = defineCommand({
  name: 'group add-user',
  summary: 'Add a user to a group (nothing changes when they already are a member).',
  options: {
    group: { type: 'string', valueName: 'GROUP', required: true, description: 'group name' },
    user: { type: 'string', valueName: 'USERNAME', required: true, description: 'username' },
  },
  prepare(options) {
    return async ({ dataSource }) => {
      await addUserToGroup(dataSource.manager, options.user, options.group);
      return {
        json: { group: options.group, user: options.user },
        text: `"${options.user}" is a member of "${options.group}".`,
      };
    };
  },
});
