import { type ProviderRow, toProviderDto } from './provider';

const row: ProviderRow = {
  id: 12,
  name: 'Grafana',
  authentication_flow: null,
  authorization_flow: 'f1e2d3c4-0000-4000-8000-000000000001',
  invalidation_flow: 'f1e2d3c4-0000-4000-8000-000000000002',
  property_mappings: ['m1', 'm2'],
  client_type: 'confidential',
  client_id: 'grafana-client',
  access_code_validity: 'minutes=1',
  access_token_validity: 'hours=1',
  refresh_token_validity: 'days=30',
  refresh_token_threshold: 'seconds=0',
  include_claims_in_id_token: true,
  signing_key: 'k-1',
  encryption_key: null,
  redirect_uris: [
    { matching_mode: 'strict', url: 'https://grafana.example.com/cb', redirect_uri_type: 'authorization' },
    { matching_mode: 'regex', url: 'https://.*\\.example\\.com/bye', redirect_uri_type: 'logout' },
  ],
  logout_uri: 'https://grafana.example.com/logout',
  logout_method: 'backchannel',
  sub_mode: 'hashed_user_id',
  issuer_mode: 'per_provider',
  grant_types: ['authorization_code', 'refresh_token'],
  jwt_federation_sources: ['s1'],
  jwt_federation_providers: [3],
  application_slug: 'grafana',
  application_name: 'Grafana app',
  backchannel_slug: 'grafana-bc',
  backchannel_name: 'Grafana backchannel',
};

describe('toProviderDto', () => {
  it('shapes a provider as authentik does, field by field, in its key order', () => {
    const dto = toProviderDto(row);
    expect(dto).toStrictEqual({
      pk: 12,
      name: 'Grafana',
      authentication_flow: null,
      authorization_flow: 'f1e2d3c4-0000-4000-8000-000000000001',
      invalidation_flow: 'f1e2d3c4-0000-4000-8000-000000000002',
      property_mappings: ['m1', 'm2'],
      component: 'ak-provider-oauth2-form',
      assigned_application_slug: 'grafana',
      assigned_application_name: 'Grafana app',
      assigned_backchannel_application_slug: 'grafana-bc',
      assigned_backchannel_application_name: 'Grafana backchannel',
      verbose_name: 'OAuth2/OpenID Provider',
      verbose_name_plural: 'OAuth2/OpenID Providers',
      meta_model_name: 'authentik_providers_oauth2.oauth2provider',
      client_type: 'confidential',
      client_id: 'grafana-client',
      access_code_validity: 'minutes=1',
      access_token_validity: 'hours=1',
      refresh_token_validity: 'days=30',
      refresh_token_threshold: 'seconds=0',
      include_claims_in_id_token: true,
      signing_key: 'k-1',
      encryption_key: null,
      redirect_uris: [
        {
          matching_mode: 'strict',
          url: 'https://grafana.example.com/cb',
          redirect_uri_type: 'authorization',
        },
        { matching_mode: 'regex', url: 'https://.*\\.example\\.com/bye', redirect_uri_type: 'logout' },
      ],
      logout_uri: 'https://grafana.example.com/logout',
      logout_method: 'backchannel',
      sub_mode: 'hashed_user_id',
      issuer_mode: 'per_provider',
      jwt_federation_sources: ['s1'],
      jwt_federation_providers: [3],
      grant_types: ['authorization_code', 'refresh_token'],
    });
    expect(Object.keys(dto).slice(0, 8)).toEqual([
      'pk',
      'name',
      'authentication_flow',
      'authorization_flow',
      'invalidation_flow',
      'property_mappings',
      'component',
      'assigned_application_slug',
    ]);
  });

  it('copies redirect URIs field by field: nothing else stored with them reaches the wire', () => {
    const stored = {
      ...row,
      redirect_uris: [{ ...row.redirect_uris[0], secret: 'x' } as ProviderRow['redirect_uris'][number]],
      client_secret: 'never on the wire',
    };
    const dto = toProviderDto(stored);
    expect(dto.redirect_uris).toStrictEqual([
      { matching_mode: 'strict', url: 'https://grafana.example.com/cb', redirect_uri_type: 'authorization' },
    ]);
    expect(JSON.stringify(dto)).not.toContain('never on the wire');
  });
});
