import { ADMIN_GROUP, ensureSuperuserGroup } from '../../bootstrap/bootstrap';
import { addUserToGroup, createUser, InputError } from '../../identity/accounts';
import { USER_TYPES } from '../../identity/user.entity';
import { defineCommand } from '../args';

const EMAIL = /^[^\s@]+@[^\s@]+$/;

export const userCreate = defineCommand({
  name: 'user create',
  summary: 'Create a user.',
  options: {
    username: { type: 'string', valueName: 'USERNAME', required: true, description: 'login name, unique' },
    name: { type: 'string', valueName: 'NAME', description: 'display name' },
    email: { type: 'string', valueName: 'EMAIL', description: 'e-mail address' },
    superuser: { type: 'boolean', description: `add the user to the superuser group "${ADMIN_GROUP}"` },
    inactive: { type: 'boolean', description: 'create the user deactivated' },
    type: {
      type: 'string',
      valueName: 'TYPE',
      choices: USER_TYPES,
      description: 'user type (default internal)',
    },
  },
  prepare(options) {
    if (options.email !== undefined && !EMAIL.test(options.email)) {
      throw new InputError(`"${options.email}" is not an e-mail address`);
    }
    return async ({ dataSource }) => {
      const user = await dataSource.transaction(async (manager) => {
        const created = await createUser(manager, {
          username: options.username,
          name: options.name,
          email: options.email,
          isActive: !options.inactive,
          type: options.type,
        });
        if (options.superuser) {
          await ensureSuperuserGroup(manager);
          await addUserToGroup(manager, created.username, ADMIN_GROUP);
        }
        return created;
      });
      return {
        json: {
          pk: user.id,
          uuid: user.uuid,
          username: user.username,
          name: user.name,
          email: user.email,
          is_active: user.isActive,
          type: user.type,
          is_superuser: options.superuser,
        },
        text:
          `Created user "${user.username}" (pk ${user.id}, ${user.type}` +
          `${user.isActive ? '' : ', inactive'}${options.superuser ? ', superuser' : ''}).`,
      };
    };
  },
});
