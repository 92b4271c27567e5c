import { ADMIN_GROUP, ensureSuperuserGroup } from '../../bootstrap/bootstrap';
import type { EntityManager } from 'typeorm';
import { addUserToGroup, createUser, findUser, InputError } from '../../identity/accounts';
import { hashPassword } from '../../identity/password';
import { readPasswordStdin } from '../../identity/password-input';
import { USER_TYPES } from '../../identity/user.entity';
import { recordAudit } from '../../sessions/session.service';
import { defineCommand } from '../args';

/** Who the audit log names for what the CLI does: an operator at the database, not a Grantry user. */
const CLI_ACTOR = 'grantry-cli';

async function storePassword(manager: EntityManager, userId: number, hash: string): Promise<void> {
  await manager.query(`UPDATE users SET password = $2, password_change_date = now() WHERE id = $1`, [
    userId,
    hash,
  ]);
  await recordAudit(manager, 'password_set', null, CLI_ACTOR, userId, undefined);
}

const PASSWORD_STDIN = {
  type: 'boolean',
  description:
    'read the password from standard input (one trailing newline is dropped; at least 8 characters)',
} as const;

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
    'password-stdin': PASSWORD_STDIN,
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
      const hash = options['password-stdin'] ? await hashPassword(await readPasswordStdin()) : undefined;
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
        if (hash !== undefined) await storePassword(manager, created.id, hash);
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
          has_password: hash !== undefined,
        },
        text:
          `Created user "${user.username}" (pk ${user.id}, ${user.type}` +
          `${user.isActive ? '' : ', inactive'}${options.superuser ? ', superuser' : ''}` +
          `${hash !== undefined ? ', with a password' : ''}).`,
      };
    };
  },
});

export const userSetPassword = defineCommand({
  name: 'user set-password',
  summary: "Set a user's password (read from standard input).",
  options: {
    username: { type: 'string', valueName: 'USERNAME', required: true, description: 'the user' },
    'password-stdin': { ...PASSWORD_STDIN, required: true },
  },
  notes:
    'The password is never given on the command line, where other users and the shell history would see it:\n' +
    '  printf \'%s\\n\' "$PASSWORD" | grantry user set-password --username alice --password-stdin',
  prepare(options) {
    return async ({ dataSource }) => {
      const hash = await hashPassword(await readPasswordStdin());
      const user = await dataSource.transaction(async (manager) => {
        const found = await findUser(manager, options.username);
        await storePassword(manager, found.id, hash);
        return found;
      });
      return {
        json: { pk: user.id, username: user.username, password_set: true },
        text: `Set the password of "${user.username}" (pk ${user.id}).`,
      };
    };
  },
});
