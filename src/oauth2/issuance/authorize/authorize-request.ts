import type { OAuth2ProviderEntity } from '../../../providers/oauth2-provider.entity';
import type { AuthorizeErrorCode } from '../core/oauth-errors';
import { PKCE_METHODS, type PkceMethod } from '../core/pkce';
import { hasForbiddenScheme, MAX_REDIRECT_URI, redirectUriMatches } from '../core/redirect-uris';
import { grantableScopes, SCOPE_OFFLINE_ACCESS, SCOPE_OPENID, scopeSet } from '../core/scopes';

export type AuthorizeGrant = 'authorization_code' | 'implicit' | 'hybrid';
export type ResponseMode = 'query' | 'fragment' | 'form_post';

/** authentik's ResponseTypes, mapped to the grant each one means (check_grant). */
const RESPONSE_TYPES: Readonly<Record<string, AuthorizeGrant>> = {
  code: 'authorization_code',
  id_token: 'implicit',
  'id_token token': 'implicit',
  'code token': 'hybrid',
  'code id_token': 'hybrid',
  'code id_token token': 'hybrid',
};
export const SUPPORTED_RESPONSE_TYPES = Object.keys(RESPONSE_TYPES);

/** A validated authorization request (authentik's OAuthAuthorizationParams). */
export interface AuthorizeRequest {
  clientId: string;
  redirectUri: string;
  responseType: string;
  grant: AuthorizeGrant;
  responseMode: ResponseMode;
  scopes: string[];
  /** Always echoed; empty when the client sent none (authentik always sends `state`). */
  state: string;
  nonce: string | undefined;
  prompt: ReadonlySet<'none' | 'login' | 'consent'>;
  maxAge: number | undefined;
  codeChallenge: string | undefined;
  codeChallengeMethod: PkceMethod | undefined;
  loginHint: string | undefined;
  /** Whether tokens come back from this endpoint (implicit, hybrid) and which. */
  returnsCode: boolean;
  returnsAccessToken: boolean;
  returnsIdToken: boolean;
}

/** An error answered as an HTML page, never a redirect: the client or redirect URI cannot be trusted. */
export interface PageError {
  kind: 'page';
  title: 'Client ID Error' | 'Redirect URI Error';
  message: string;
}

/** An error sent back to the (validated) redirect URI. */
export interface RedirectError {
  kind: 'redirect';
  error: AuthorizeErrorCode;
  redirectUri: string;
  /** `#` for implicit and hybrid responses, `?` otherwise. */
  fragment: boolean;
  responseMode: ResponseMode;
  state: string;
}

export const CLIENT_ID_ERROR = 'The client identifier (client_id) is missing or invalid.';
export const REDIRECT_URI_ERROR =
  'The request fails due to a missing, invalid, or mismatching redirection URI (redirect_uri).';

/** The parameters as they arrived (the first of each). */
export type RawParams = Readonly<Record<string, string | undefined>>;

const MAX_PARAM = 4096;

/**
 * authentik's OAuthAuthorizationParams.from_request + __post_init__, for a known client: the redirect URI first (no
 * redirect can be trusted before it is), then response type, scope, nonce and PKCE. `registered` is the provider's
 * redirect URIs after authentik's "first URI presented is saved" rule was applied by the caller.
 */
export function validateAuthorizeRequest(
  provider: Pick<OAuth2ProviderEntity, 'clientId' | 'redirectUris'>,
  raw: RawParams,
): AuthorizeRequest | PageError | RedirectError {
  const redirectUri = raw.redirect_uri ?? '';
  if (
    redirectUri === '' ||
    redirectUri.length > MAX_REDIRECT_URI ||
    hasForbiddenScheme(redirectUri) ||
    !redirectUriMatches(provider.redirectUris, redirectUri)
  ) {
    return { kind: 'page', title: 'Redirect URI Error', message: REDIRECT_URI_ERROR };
  }
  const state = (raw.state ?? '').slice(0, MAX_PARAM);
  const responseType = raw.response_type ?? '';
  const grant = RESPONSE_TYPES[responseType];
  const requestedMode = raw.response_mode;
  const fail = (error: AuthorizeErrorCode, fragment: boolean, mode: ResponseMode): RedirectError => ({
    kind: 'redirect',
    error,
    redirectUri,
    fragment,
    responseMode: mode,
    state,
  });
  if (grant === undefined) return fail('unsupported_response_type', false, 'query');
  const fragmentDefault = grant !== 'authorization_code';
  // Tokens never travel in a query string (OAuth 2.0 Multiple Response Types §5): implicit and hybrid responses
  // asked for with response_mode=query are sent in the fragment.
  let responseMode: ResponseMode = fragmentDefault ? 'fragment' : 'query';
  if (requestedMode === 'form_post' || requestedMode === 'fragment') responseMode = requestedMode;
  const errorFragment = responseMode === 'fragment';
  if (raw.request !== undefined) return fail('request_not_supported', errorFragment, responseMode);
  if (raw.request_uri !== undefined) return fail('request_uri_not_supported', errorFragment, responseMode);
  if (raw.registration !== undefined) return fail('registration_not_supported', errorFragment, responseMode);

  // Values are stored (nonce, PKCE challenge, scope) and PostgreSQL refuses NUL in text: refused here, not a 500.
  if (Object.values(raw).some((value) => value?.includes('\0'))) {
    return fail('invalid_request', errorFragment, responseMode);
  }

  const types = new Set(responseType.split(' '));
  const returnsCode = types.has('code');
  const returnsAccessToken = types.has('token');
  const returnsIdToken = types.has('id_token');

  let scopes = grantableScopes(scopeSet(raw.scope));
  if (grant !== 'authorization_code' && !scopes.includes(SCOPE_OPENID)) {
    return fail('invalid_scope', errorFragment, responseMode);
  }
  // offline_access is a refresh token's scope: without a code there will be none.
  if (!returnsCode) scopes = scopes.filter((scope) => scope !== SCOPE_OFFLINE_ACCESS);

  const nonce = raw.nonce === undefined || raw.nonce === '' ? undefined : raw.nonce;
  if (returnsIdToken && nonce === undefined) return fail('invalid_request', errorFragment, responseMode);
  if (nonce !== undefined && nonce.length > MAX_PARAM)
    return fail('invalid_request', errorFragment, responseMode);

  let codeChallenge: string | undefined;
  let codeChallengeMethod: PkceMethod | undefined;
  if (raw.code_challenge !== undefined && raw.code_challenge !== '') {
    // authentik: an absent method is "plain".
    const method = raw.code_challenge_method ?? 'plain';
    if (!(PKCE_METHODS as readonly string[]).includes(method) || raw.code_challenge.length > 255) {
      return fail('invalid_request', errorFragment, responseMode);
    }
    codeChallenge = raw.code_challenge;
    codeChallengeMethod = method as PkceMethod;
  }

  let maxAge: number | undefined;
  if (raw.max_age !== undefined && raw.max_age !== '') {
    if (!/^\d{1,9}$/.test(raw.max_age)) return fail('invalid_request', errorFragment, responseMode);
    maxAge = Number(raw.max_age);
  }
  const prompt = new Set<'none' | 'login' | 'consent'>();
  for (const value of scopeSet(raw.prompt)) {
    if (value === 'none' || value === 'login' || value === 'consent') prompt.add(value);
  }
  if (prompt.has('none') && prompt.size > 1) return fail('consent_required', errorFragment, responseMode);

  return {
    clientId: provider.clientId,
    redirectUri,
    responseType,
    grant,
    responseMode,
    scopes,
    state,
    nonce,
    prompt,
    maxAge,
    codeChallenge,
    codeChallengeMethod,
    loginHint: raw.login_hint?.slice(0, 254),
    returnsCode,
    returnsAccessToken,
    returnsIdToken,
  };
}

/**
 * Where a response goes: the redirect URI with the fields in its query or fragment (a URI that already has a query
 * gets `&`; authentik concatenates naively). Values are percent-encoded.
 */
export function responseUrl(redirectUri: string, fields: Record<string, string>, fragment: boolean): string {
  const encoded = new URLSearchParams(fields).toString().replace(/\+/g, '%20');
  if (fragment) return `${redirectUri}#${encoded}`;
  return `${redirectUri}${redirectUri.includes('?') ? '&' : '?'}${encoded}`;
}
