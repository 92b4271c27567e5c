import { type IQueryHandler, Query, QueryHandler } from '@nestjs/cqrs';
import { DataSource } from 'typeorm';
import { DEFAULT_ACR } from '../../../common/serializers/id-token';
import type { SigningAlgorithm } from '../../../keys/signing-key.entity';
import { APPLICATION_SLUG } from '../../../providers/providers';
import { Clients } from '../core/clients';
import { MAPPED_SCOPES, scopeClaims } from '../core/scopes';
import { TokenIssuer } from '../core/token-issuer';

/**
 * The claims every token carries (authentik's ProviderInfoView.get_claims defaults), then the keys each scope mapping
 * yields, in scope-name order, as authentik lists them by evaluating its mappings for an anonymous user.
 */
export const CLAIMS_SUPPORTED: readonly string[] = [
  'sub',
  'iss',
  'aud',
  'exp',
  'iat',
  'auth_time',
  'acr',
  'amr',
  'nonce',
  ...Object.keys(
    scopeClaims(
      { id: 0, uuid: '', username: '', name: '', email: '', attributes: {}, groups: [], roles: [] },
      MAPPED_SCOPES,
    ),
  ),
];

/** The OpenID Provider metadata of the application `slug`'s provider; null when there is no such provider. */
export class GetDiscoveryQuery extends Query<Record<string, unknown> | null> {
  constructor(
    readonly slug: string,
    /** PUBLIC_URL, or the request's scheme and host. */
    readonly base: string,
  ) {
    super();
  }
}

@QueryHandler(GetDiscoveryQuery)
export class GetDiscoveryHandler implements IQueryHandler<GetDiscoveryQuery> {
  constructor(
    private readonly dataSource: DataSource,
    private readonly clients: Clients,
    private readonly issuer: TokenIssuer,
  ) {}

  /** authentik's ProviderInfoView.get_info, member for member and in its order. */
  async execute(query: GetDiscoveryQuery): Promise<Record<string, unknown> | null> {
    // No application has any other slug; and PostgreSQL refuses some strings outright (a NUL byte).
    if (!APPLICATION_SLUG.test(query.slug)) return null;
    const client = await this.clients.findBySlug(query.slug);
    if (client === undefined) return null;
    const { base, slug } = query;
    const [key] =
      client.provider.signingKey === null
        ? []
        : await this.dataSource.query<{ algorithm: SigningAlgorithm }[]>(
            'SELECT algorithm FROM signing_keys WHERE kp_uuid = $1',
            [client.provider.signingKey],
          );
    const shared = (name: string): string => `${base}/application/o/${name}/`;
    return {
      issuer: this.issuer.issuer(client, base),
      authorization_endpoint: shared('authorize'),
      token_endpoint: shared('token'),
      userinfo_endpoint: shared('userinfo'),
      end_session_endpoint: `${base}/application/o/${slug}/end-session/`,
      introspection_endpoint: shared('introspect'),
      revocation_endpoint: shared('revoke'),
      device_authorization_endpoint: shared('device'),
      // authentik says true for all four; Grantry sends no back- or front-channel logout yet, and discovery
      // advertises only what works.
      backchannel_logout_supported: false,
      backchannel_logout_session_supported: false,
      frontchannel_logout_supported: false,
      frontchannel_logout_session_supported: false,
      response_types_supported: [
        'code',
        'id_token',
        'id_token token',
        'code token',
        'code id_token',
        'code id_token token',
      ],
      response_modes_supported: ['query', 'fragment', 'form_post'],
      jwks_uri: `${base}/application/o/${slug}/jwks/`,
      grant_types_supported: [
        'authorization_code',
        'refresh_token',
        'implicit',
        'client_credentials',
        'password',
        'urn:ietf:params:oauth:grant-type:device_code',
      ],
      // authentik names its HS256 fallback here when a provider has no key; Grantry never signs with the client
      // secret, so a provider whose key pair was deleted signs nothing, and says so.
      id_token_signing_alg_values_supported: key === undefined ? [] : [key.algorithm],
      subject_types_supported: ['public'],
      token_endpoint_auth_methods_supported: ['client_secret_post', 'client_secret_basic'],
      acr_values_supported: [DEFAULT_ACR],
      scopes_supported: [...MAPPED_SCOPES],
      request_parameter_supported: false,
      claims_supported: CLAIMS_SUPPORTED,
      claims_parameter_supported: false,
      code_challenge_methods_supported: ['plain', 'S256'],
    };
  }
}
