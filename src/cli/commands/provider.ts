import { SIGNING_ALGORITHMS } from '../../keys/signing-key.entity';
import { CLIENT_TYPES, CONSENT_MODES, ISSUER_MODES, SUB_MODES } from '../../providers/oauth2-provider.entity';
import { randomUUID } from 'node:crypto';
import { CLI_CALLER } from '../../common/auth/caller';
import { generateSecret } from '../../common/crypto/secrets';
import { InputError } from '../../identity/accounts';
import {
  CreateProviderCommand,
  RotateProviderSecretCommand,
} from '../../management/providers/provider.commands';
import { OAuth2ProviderEntity, type RedirectUri } from '../../providers/oauth2-provider.entity';
import { validateRedirectUri, validateRedirectUriPattern } from '../../providers/providers';
import { parseTimedelta } from '../../providers/timedelta';
import { defineCommand, parseInteger } from '../args';

const validity = (what: string, fallback: string) =>
  ({
    type: 'string',
    valueName: 'DURATION',
    description: `${what} lifetime, as authentik writes it (e.g. hours=1;minutes=30); default ${fallback}`,
  }) as const;

export const providerCreate = defineCommand({
  name: 'provider create',
  summary:
    'Create an OAuth2 provider with a new client id and, for confidential clients, a client secret (shown only ' +
    'now: it is stored as a hash).',
  options: {
    name: { type: 'string', valueName: 'NAME', required: true, description: 'provider name, unique' },
    'client-type': {
      type: 'string',
      valueName: 'TYPE',
      choices: CLIENT_TYPES,
      description: 'default confidential; public clients get no secret',
    },
    'redirect-uri': {
      type: 'string',
      valueName: 'URL',
      multiple: true,
      description: 'absolute http(s) URL, matched strictly',
    },
    'redirect-uri-regex': {
      type: 'string',
      valueName: 'PATTERN',
      multiple: true,
      description: "a redirect URI pattern, fully matched (authentik's regex mode)",
    },
    'post-logout-redirect-uri': {
      type: 'string',
      valueName: 'URL',
      multiple: true,
      description: 'where end-session may send the browser afterwards, matched strictly',
    },
    'sub-mode': {
      type: 'string',
      valueName: 'MODE',
      choices: SUB_MODES,
      description: 'what the sub claim holds; default hashed_user_id',
    },
    'issuer-mode': {
      type: 'string',
      valueName: 'MODE',
      choices: ISSUER_MODES,
      description: 'per_provider (default): <base>/application/o/<slug>/; global: <base>/',
    },
    'refresh-token-threshold': {
      type: 'string',
      valueName: 'DURATION',
      description:
        'a refresh token rotates when it expires sooner than this; default seconds=0 (rotate on every refresh)',
    },
    'access-token-validity': validity('access token', 'hours=1'),
    'refresh-token-validity': validity('refresh token', 'days=30'),
    'access-code-validity': validity('authorization code', 'minutes=1'),
    'signing-algorithm': {
      type: 'string',
      valueName: 'ALG',
      choices: SIGNING_ALGORITHMS,
      description:
        'the key pair made for its tokens: RS256 (RSA-2048, default, as authentik) or ES256 (P-256)',
    },
    'consent-mode': {
      type: 'string',
      valueName: 'MODE',
      choices: CONSENT_MODES,
      description:
        'when users are asked to allow the application: never (implicit), again after --consent-expire-in ' +
        '(expiring, default), once (permanent) or every time (always)',
    },
    'consent-expire-in': {
      type: 'string',
      valueName: 'DURATION',
      description: 'how long an expiring consent lasts, as authentik writes it; default weeks=4',
    },
  },
  prepare(options) {
    const refreshTokenThreshold = options['refresh-token-threshold'];
    if (refreshTokenThreshold !== undefined)
      parseTimedelta(refreshTokenThreshold, '--refresh-token-threshold');
    const accessTokenValidity = options['access-token-validity'];
    const refreshTokenValidity = options['refresh-token-validity'];
    const accessCodeValidity = options['access-code-validity'];
    if (accessTokenValidity !== undefined) parseTimedelta(accessTokenValidity, '--access-token-validity');
    if (refreshTokenValidity !== undefined) parseTimedelta(refreshTokenValidity, '--refresh-token-validity');
    if (accessCodeValidity !== undefined) parseTimedelta(accessCodeValidity, '--access-code-validity');
    const consentExpireIn = options['consent-expire-in'];
    if (consentExpireIn !== undefined) parseTimedelta(consentExpireIn, '--consent-expire-in');
    const redirectUris: RedirectUri[] = [
      ...options['redirect-uri'].map(validateRedirectUri),
      ...options['redirect-uri-regex'].map(validateRedirectUriPattern),
      ...options['post-logout-redirect-uri'].map((uri): RedirectUri => ({
        ...validateRedirectUri(uri),
        redirect_uri_type: 'logout',
      })),
    ];
    const clientType = options['client-type'] ?? 'confidential';
    return async ({ dataSource, bus }) => {
      const name = options.name.trim();
      if (name !== '' && (await dataSource.manager.existsBy(OAuth2ProviderEntity, { name }))) {
        throw new InputError(`a provider named "${name}" already exists`);
      }
      // The management API's create command, as POST /api/v3/providers/oauth2/ runs it. The CLI keeps its own
      // secret format (64 URL-safe characters, as before) and, as authentik requires flows Grantry does not run,
      // stands any stable ids in for them.
      const { provider, clientSecret, signingKey } = await (
        await bus()
      ).execute(
        new CreateProviderCommand(
          CLI_CALLER,
          {
            name,
            client_type: clientType,
            ...(clientType === 'confidential' ? { client_secret: generateSecret() } : {}),
            redirect_uris: redirectUris,
            authorization_flow: randomUUID(),
            invalidation_flow: randomUUID(),
            ...defined({
              sub_mode: options['sub-mode'],
              issuer_mode: options['issuer-mode'],
              refresh_token_threshold: refreshTokenThreshold,
              access_token_validity: accessTokenValidity,
              refresh_token_validity: refreshTokenValidity,
              access_code_validity: accessCodeValidity,
              consent_mode: options['consent-mode'],
              consent_expire_in: consentExpireIn,
            }),
          },
          { signingAlgorithm: options['signing-algorithm'] },
        ),
      );
      if (signingKey === null) throw new Error('provider create made no signing key');
      return {
        json: {
          pk: provider.id,
          name: provider.name,
          client_type: provider.clientType,
          client_id: provider.clientId,
          client_secret: clientSecret,
          signing_key: signingKey.kpUuid,
          signing_algorithm: signingKey.algorithm,
          signing_kid: signingKey.kid,
          consent_mode: provider.consentMode,
          consent_expire_in: provider.consentExpireIn,
        },
        text: [
          `Created ${provider.clientType} provider "${provider.name}" (pk ${provider.id}).`,
          `Client id: ${provider.clientId}`,
          `Signing key: ${signingKey.algorithm}, kid ${signingKey.kid} (JWKS: /application/o/<slug>/jwks/ of its application)`,
          `Consent: ${provider.consentMode}${provider.consentMode === 'expiring' ? ` (${provider.consentExpireIn})` : ''}`,
          ...(clientSecret === null ? [] : ['Client secret (shown only now):', `  ${clientSecret}`]),
        ].join('\n'),
      };
    };
  },
});

/** The options given, without the absent ones. */
function defined<T extends Record<string, string | undefined>>(values: T): Partial<Record<keyof T, string>> {
  return Object.fromEntries(Object.entries(values).filter(([, value]) => value !== undefined)) as Partial<
    Record<keyof T, string>
  >;
}

export const providerRotateSecret = defineCommand({
  name: 'provider rotate-secret',
  summary:
    "Replace a provider's client secret with a new one (128 characters, as authentik makes them), shown only now: " +
    'the old secret stops working at once. Recorded as a secret_rotate event.',
  options: {
    id: { type: 'string', valueName: 'ID', required: true, description: 'pk of the OAuth2 provider' },
  },
  prepare(options) {
    const id = parseInteger('id', options.id, 1, 2_147_483_647);
    return async ({ dataSource, bus }) => {
      if (!(await dataSource.manager.existsBy(OAuth2ProviderEntity, { id }))) {
        throw new InputError(`no provider with id ${id}`);
      }
      const { provider, clientSecret } = await (
        await bus()
      ).execute(new RotateProviderSecretCommand(CLI_CALLER, id));
      return {
        json: {
          pk: provider.id,
          name: provider.name,
          client_id: provider.clientId,
          client_secret: clientSecret,
        },
        text: [
          `Rotated the client secret of provider "${provider.name}" (pk ${provider.id}).`,
          `Client id: ${provider.clientId}`,
          'Client secret (shown only now):',
          `  ${clientSecret}`,
        ].join('\n'),
      };
    };
  },
});
