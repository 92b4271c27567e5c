import { CLI_CALLER } from '../../common/auth/caller';
import { generateSecret } from '../../common/crypto/secrets';
import { findUser } from '../../identity/accounts';
import { TOKEN_INTENTS } from '../../identity/api-token.entity';
import {
  type CreatedToken,
  CreateTokenCommand,
  DeleteTokenCommand,
  SetTokenKeyCommand,
} from '../../management/tokens/token.commands';
import { generateTokenKey } from '../../management/tokens/token-rules';
import { defineCommand, parseDateTime } from '../args';

const NO_NESTING = { includeGroups: false, includeRoles: false };

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
    return async ({ dataSource, bus }) => {
      const user = await findUser(dataSource.manager, options.user);
      // The same command as POST /api/v3/core/tokens/ (validation, event), as an operator: any intent and expiry.
      const created: CreatedToken = await (
        await bus()
      ).execute(
        new CreateTokenCommand(
          CLI_CALLER,
          {
            identifier: `grantry-${generateSecret()
              .slice(0, 16)
              .replace(/[^-a-zA-Z0-9_]/g, '_')}`,
            intent: options.intent ?? 'api',
            user: user.id,
            description: options.description ?? '',
            expires: expires?.toISOString() ?? null,
          },
          NO_NESTING,
          { operator: true },
        ),
      );
      const { token, key } = created;
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

export const tokenRotate = defineCommand({
  name: 'token rotate',
  summary: 'Give an API token a new key and print it (shown only now); the old key stops working at once.',
  options: {
    identifier: {
      type: 'string',
      valueName: 'IDENTIFIER',
      required: true,
      description: 'the token to rotate',
    },
  },
  prepare(options) {
    return async ({ bus }) => {
      const key = generateTokenKey();
      // The same command as POST /api/v3/core/tokens/{identifier}/set_key/ (event model_updated).
      await (await bus()).execute(new SetTokenKeyCommand(CLI_CALLER, options.identifier, key));
      return {
        json: { identifier: options.identifier, key },
        text: [
          `Rotated the key of token "${options.identifier}".`,
          'New key (shown only now):',
          `  ${key}`,
        ].join('\n'),
      };
    };
  },
});

export const tokenDelete = defineCommand({
  name: 'token delete',
  summary: 'Delete an API token (revoke a leaked key): requests with its key are refused from now on.',
  options: {
    identifier: {
      type: 'string',
      valueName: 'IDENTIFIER',
      required: true,
      description: 'the token to delete',
    },
  },
  prepare(options) {
    return async ({ bus }) => {
      await (await bus()).execute(new DeleteTokenCommand(CLI_CALLER, options.identifier));
      return {
        json: { identifier: options.identifier, deleted: true },
        text: `Deleted token "${options.identifier}"; its key no longer authenticates.`,
      };
    };
  },
});
