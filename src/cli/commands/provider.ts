import { SIGNING_ALGORITHMS } from '../../keys/signing-key.entity';
import { CLIENT_TYPES, CONSENT_MODES, ISSUER_MODES, SUB_MODES } from '../../providers/oauth2-provider.entity';
import { createProvider, validateRedirectUri, validateRedirectUriPattern } from '../../providers/providers';
import { parseTimedelta } from '../../providers/timedelta';
import { defineCommand } from '../args';

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
    options['redirect-uri'].forEach(validateRedirectUri);
    options['redirect-uri-regex'].forEach(validateRedirectUriPattern);
    options['post-logout-redirect-uri'].forEach(validateRedirectUri);
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
    return async ({ dataSource, sealer }) => {
      const { provider, clientSecret, signingKey } = await createProvider(
        dataSource.manager,
        {
          name: options.name,
          clientType: options['client-type'],
          redirectUris: options['redirect-uri'],
          redirectUriPatterns: options['redirect-uri-regex'],
          postLogoutRedirectUris: options['post-logout-redirect-uri'],
          subMode: options['sub-mode'],
          issuerMode: options['issuer-mode'],
          refreshTokenThreshold,
          accessTokenValidity,
          refreshTokenValidity,
          accessCodeValidity,
          signingAlgorithm: options['signing-algorithm'],
          consentMode: options['consent-mode'],
          consentExpireIn,
        },
        await sealer(),
      );
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
