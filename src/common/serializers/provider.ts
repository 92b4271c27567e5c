import type { RedirectUri } from '../../providers/oauth2-provider.entity';

/**
 * authentik's OAuth2Provider, a superset of its older and newer schemas (every reference field plus `grant_types`).
 * Deliberately without `client_secret`: authentik shows it to anyone who can list their own tokens.
 */
export interface ProviderDto {
  pk: number;
  name: string;
  authentication_flow: string | null;
  authorization_flow: string | null;
  invalidation_flow: string | null;
  property_mappings: string[];
  component: string;
  assigned_application_slug: string | null;
  assigned_application_name: string | null;
  assigned_backchannel_application_slug: string | null;
  assigned_backchannel_application_name: string | null;
  verbose_name: string;
  verbose_name_plural: string;
  meta_model_name: string;
  client_type: string;
  client_id: string;
  access_code_validity: string;
  access_token_validity: string;
  refresh_token_validity: string;
  refresh_token_threshold: string;
  include_claims_in_id_token: boolean;
  signing_key: string | null;
  encryption_key: string | null;
  redirect_uris: RedirectUri[];
  logout_uri: string;
  logout_method: string;
  sub_mode: string;
  issuer_mode: string;
  jwt_federation_sources: string[];
  jwt_federation_providers: number[];
  grant_types: string[];
}

/** A provider's stored document (`provider_documents`, migration Documents), with the applications it serves. */
export interface ProviderRow {
  id: number;
  name: string;
  authentication_flow: string | null;
  authorization_flow: string | null;
  invalidation_flow: string | null;
  property_mappings: string[];
  client_type: string;
  client_id: string;
  access_code_validity: string;
  access_token_validity: string;
  refresh_token_validity: string;
  refresh_token_threshold: string;
  include_claims_in_id_token: boolean;
  signing_key: string | null;
  encryption_key: string | null;
  redirect_uris: RedirectUri[];
  logout_uri: string;
  logout_method: string;
  sub_mode: string;
  issuer_mode: string;
  grant_types: string[];
  jwt_federation_sources: string[];
  jwt_federation_providers: number[];
  application_slug: string | null;
  application_name: string | null;
  backchannel_slug: string | null;
  backchannel_name: string | null;
}

/** The only place that shapes a nested provider. Fields are copied one by one: the secret hash can never leak. */
export function toProviderDto(row: ProviderRow): ProviderDto {
  return {
    pk: row.id,
    name: row.name,
    authentication_flow: row.authentication_flow,
    authorization_flow: row.authorization_flow,
    invalidation_flow: row.invalidation_flow,
    property_mappings: row.property_mappings,
    component: 'ak-provider-oauth2-form',
    assigned_application_slug: row.application_slug,
    assigned_application_name: row.application_name,
    assigned_backchannel_application_slug: row.backchannel_slug,
    assigned_backchannel_application_name: row.backchannel_name,
    verbose_name: 'OAuth2/OpenID Provider',
    verbose_name_plural: 'OAuth2/OpenID Providers',
    meta_model_name: 'authentik_providers_oauth2.oauth2provider',
    client_type: row.client_type,
    client_id: row.client_id,
    access_code_validity: row.access_code_validity,
    access_token_validity: row.access_token_validity,
    refresh_token_validity: row.refresh_token_validity,
    refresh_token_threshold: row.refresh_token_threshold,
    include_claims_in_id_token: row.include_claims_in_id_token,
    signing_key: row.signing_key,
    encryption_key: row.encryption_key,
    redirect_uris: row.redirect_uris.map((uri) => ({
      matching_mode: uri.matching_mode,
      url: uri.url,
      redirect_uri_type: uri.redirect_uri_type,
    })),
    logout_uri: row.logout_uri,
    logout_method: row.logout_method,
    sub_mode: row.sub_mode,
    issuer_mode: row.issuer_mode,
    jwt_federation_sources: row.jwt_federation_sources,
    jwt_federation_providers: row.jwt_federation_providers,
    grant_types: row.grant_types,
  };
}
