import { ADMIN_GROUP, ensureSuperuserGroup } from '../../bootstrap/bootstrap';
import { CLI_CALLER } from '../../common/auth/caller';
import { ValidationApiError } from '../../common/errors/api-error';
import { findGroup, findUser, InputError } from '../../identity/accounts';
import { readPasswordStdin } from '../../identity/password-input';
import { USER_TYPES } from '../../identity/user.entity';
import { CreateUserCommand, MESSAGES, SetUserPasswordCommand } from '../../management/users/users.commands';
import { defineCommand, dispatch } from '../args';

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
    return async (context) => {
      const password = options['password-stdin'] ? await readPasswordStdin() : undefined;
      let groups: string[] | undefined;
      if (options.superuser) {
        await context.dataSource.transaction((manager) => ensureSuperuserGroup(manager));
        groups = [(await findGroup(context.dataSource.manager, ADMIN_GROUP)).id];
      }
      // The API's command (POST /api/v3/core/users/): same validation, same event, named `grantry-cli`.
      const body = {
        username: options.username,
        name: options.name ?? '',
        ...(options.email !== undefined ? { email: options.email } : {}),
        is_active: !options.inactive,
        ...(options.type !== undefined ? { type: options.type } : {}),
        ...(groups ? { groups } : {}),
      };
      const user = await dispatch(context, new CreateUserCommand(CLI_CALLER, body, password)).catch(
        (error: unknown) => {
          throw duplicateName(error, options.username);
        },
      );
      return {
        json: {
          pk: user.pk,
          uuid: user.uuid,
          username: user.username,
          name: user.name,
          email: user.email,
          is_active: user.is_active,
          type: user.type,
          is_superuser: options.superuser,
          has_password: password !== undefined,
        },
        text:
          `Created user "${user.username}" (pk ${user.pk}, ${user.type}` +
          `${user.is_active ? '' : ', inactive'}${options.superuser ? ', superuser' : ''}` +
          `${password !== undefined ? ', with a password' : ''}).`,
      };
    };
  },
});

/** The CLI's own wording for a taken username (kept from before the command went on the bus). */
function duplicateName(error: unknown, username: string): unknown {
  const taken =
    (error instanceof InputError && error.message === `username: ${MESSAGES.unique}`) ||
    (error instanceof ValidationApiError && error.errors.username?.[0] === MESSAGES.unique);
  return taken ? new InputError(`a user named "${username}" already exists`) : error;
}

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
    return async (context) => {
      const password = await readPasswordStdin();
      const user = await findUser(context.dataSource.manager, options.username);
      // POST /api/v3/core/users/{id}/set_password/'s command: the same hash, the same password_set event.
      await dispatch(context, new SetUserPasswordCommand(CLI_CALLER, user.id, { password }));
      return {
        json: { pk: user.id, username: user.username, password_set: true },
        text: `Set the password of "${user.username}" (pk ${user.id}).`,
      };
    };
  },
});
