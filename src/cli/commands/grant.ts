import { findUser } from '../../identity/accounts';
import { createGrant, GRANT_KIND_NAMES, normalizeScope } from '../../oauth2/common/grants';
import { defineCommand, parseDateTime, parseInteger } from '../args';

const NOUN = { access: 'access token', refresh: 'refresh token', code: 'authorization code' } as const;

export const grantCreate = defineCommand({
  name: 'grant create',
  summary:
    'Create an OAuth2 access token, refresh token or authorization code and print its value (shown only now: it ' +
    'is stored as a hash).',
  options: {
    type: {
      type: 'string',
      valueName: 'TYPE',
      required: true,
      choices: GRANT_KIND_NAMES,
      description: 'what to create',
    },
    user: { type: 'string', valueName: 'USERNAME', required: true, description: 'the user it was issued to' },
    provider: {
      type: 'string',
      valueName: 'ID',
      required: true,
      description: 'pk of the provider that issued it',
    },
    scope: { type: 'string', valueName: 'SCOPES', description: 'space-separated, default "openid"' },
    expires: {
      type: 'string',
      valueName: 'DATETIME',
      description:
        "ISO 8601 (UTC when no offset; may be in the past); default now + the provider's validity for the type",
    },
    revoked: { type: 'boolean', description: 'create it revoked' },
  },
  prepare(options) {
    const kind = options.type;
    const providerId = parseInteger('provider', options.provider, 1, 2_147_483_647);
    const expires = options.expires === undefined ? undefined : parseDateTime('expires', options.expires);
    const scope = normalizeScope(options.scope ?? 'openid');
    return async ({ dataSource }) => {
      const { grant, user, value } = await dataSource.transaction(async (manager) => {
        const owner = await findUser(manager, options.user);
        return createGrant(manager, {
          kind,
          userId: owner.id,
          providerId,
          scope,
          expires,
          revoked: options.revoked,
        });
      });
      return {
        json: {
          type: kind,
          pk: grant.id,
          user: user.username,
          provider: grant.providerId,
          scope: grant.scope,
          expires: grant.expires?.toISOString() ?? null,
          revoked: grant.revoked,
          value,
        },
        text: [
          `Created ${grant.revoked ? 'revoked ' : ''}${NOUN[kind]} ${grant.id} for "${user.username}" from provider ` +
            `${grant.providerId}, scope "${grant.scope}", expiring ${grant.expires?.toISOString() ?? 'never'}.`,
          'Value (shown only now):',
          `  ${value}`,
        ].join('\n'),
      };
    };
  },
});
