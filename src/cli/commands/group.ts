import { CLI_CALLER } from '../../common/auth/caller';
import { findGroup, findUser } from '../../identity/accounts';
import { CreateGroupCommand, GroupMembershipCommand } from '../../management/groups/group.commands';
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
    'JSON output: {"pk", "name", "is_superuser", "parent"}; as in authentik, "parent" is the parent\'s pk.\n' +
    'The same command as POST /api/v3/core/groups/: same checks, and a model_created event.',
  prepare(options) {
    return async ({ dataSource, bus }) => {
      const parent =
        options.parent === undefined ? undefined : await findGroup(dataSource.manager, options.parent);
      const group = await (
        await bus()
      ).execute(
        new CreateGroupCommand(CLI_CALLER, {
          name: options.name,
          is_superuser: options.superuser,
          parents: parent === undefined ? [] : [parent.id],
        }),
      );
      return {
        json: {
          pk: group.pk,
          name: group.name,
          is_superuser: group.is_superuser,
          parent: group.parents[0] ?? null,
        },
        text:
          `Created group "${group.name}" (pk ${group.pk}${group.is_superuser ? ', superuser' : ''}` +
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
  notes:
    'The same command as POST /api/v3/core/groups/{group_uuid}/add_user/ (an event when it adds the user).',
  prepare(options) {
    return async ({ dataSource, bus }) => {
      const user = await findUser(dataSource.manager, options.user);
      const group = await findGroup(dataSource.manager, options.group);
      await (
        await bus()
      ).execute(new GroupMembershipCommand(CLI_CALLER, 'add_user', group.id, { pk: user.id }));
      return {
        json: { group: options.group, user: options.user },
        text: `"${options.user}" is a member of "${options.group}".`,
      };
    };
  },
});
