import { createApiToken, findUser } from '../../identity/accounts';
import { TOKEN_INTENTS } from '../../identity/api-token.entity';
import { defineCommand, parseDateTime } from '../args';

export const tokenCreate = defineCommand({
  name: 'token create',
  summary: 'Create an API token for a user and print its key (shown only now: it is stored as a hash).',
  options: {
    user: { type: 'string', valueName: 'USERNAME', required: true, description: 'the user the key acts as' },
    intent: { type: 'string', valueName: 'INTENT', choices: TOKEN_INTENTS, description: 'default api' },
    expires: {
      type: 'string',
      valueName: 'DATETIME',
      description:
        'ISO 8601, e.g. 2030-01-31T12:00:00Z (UTC when no offset; may be in the past); default never',
    },
    description: { type: 'string', valueName: 'TEXT', description: 'what the token is for' },
  },
  prepare(options) {
    const expires = options.expires === undefined ? null : parseDateTime('expires', options.expires);
    return async ({ dataSource }) => {
      const { token, key } = await dataSource.transaction(async (manager) => {
        const user = await findUser(manager, options.user);
        return createApiToken(manager, {
          userId: user.id,
          intent: options.intent,
          expires,
          description: options.description,
        });
      });
      return {
        json: {
          identifier: token.identifier,
          user: options.user,
          intent: token.intent,
          expires: token.expires?.toISOString() ?? null,
          key,
        },
        text: [
          `Created ${token.intent} token "${token.identifier}" for "${options.user}"` +
            `${token.expires ? `, expiring ${token.expires.toISOString()}` : ', never expiring'}.`,
          'Key (shown only now):',
          `  ${key}`,
        ].join('\n'),
      };
    };
  },
});
