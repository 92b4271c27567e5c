/** What distinguishes the three grant types: the rest of the read and write path is shared. */
export interface GrantKind {
  /** Route under /api/v3. */
  path: 'oauth2/access_tokens' | 'oauth2/refresh_tokens' | 'oauth2/authorization_codes';
  /** operationId prefix, e.g. `oauth2_access_tokens`. */
  operationPrefix: string;
  table: 'oauth2_access_tokens' | 'oauth2_refresh_tokens' | 'oauth2_authorization_codes';
  hashColumn: 'token_hash' | 'code_hash';
  /** Django model name, for "No AccessToken matches the given query." */
  modelName: 'AccessToken' | 'RefreshToken' | 'AuthorizationCode';
  /** Permission codename suffix: authentik_providers_oauth2.view_<model>. */
  permissionModel: 'accesstoken' | 'refreshtoken' | 'authorizationcode';
  /** Verbose name, for the OpenAPI id parameter description. */
  verboseName: string;
  /** Access and refresh tokens carry `id_token` and `revoked` (TokenModel); codes do not (ExpiringBaseGrantModel). */
  isToken: boolean;
}

export const ACCESS_TOKENS: GrantKind = {
  path: 'oauth2/access_tokens',
  operationPrefix: 'oauth2_access_tokens',
  table: 'oauth2_access_tokens',
  hashColumn: 'token_hash',
  modelName: 'AccessToken',
  permissionModel: 'accesstoken',
  verboseName: 'OAuth2 Access Token',
  isToken: true,
};

export const REFRESH_TOKENS: GrantKind = {
  path: 'oauth2/refresh_tokens',
  operationPrefix: 'oauth2_refresh_tokens',
  table: 'oauth2_refresh_tokens',
  hashColumn: 'token_hash',
  modelName: 'RefreshToken',
  permissionModel: 'refreshtoken',
  verboseName: 'OAuth2 Refresh Token',
  isToken: true,
};

export const AUTHORIZATION_CODES: GrantKind = {
  path: 'oauth2/authorization_codes',
  operationPrefix: 'oauth2_authorization_codes',
  table: 'oauth2_authorization_codes',
  hashColumn: 'code_hash',
  modelName: 'AuthorizationCode',
  permissionModel: 'authorizationcode',
  verboseName: 'Authorization Code',
  isToken: false,
};

export const ORDERING_FIELDS = ['pk', 'provider', 'user', 'expires', 'revoked'] as const;
export type OrderingField = (typeof ORDERING_FIELDS)[number];

export function orderingFields(kind: GrantKind): readonly OrderingField[] {
  return kind.isToken ? ORDERING_FIELDS : ORDERING_FIELDS.filter((field) => field !== 'revoked');
}

export const viewPermission = (kind: GrantKind): string =>
  `authentik_providers_oauth2.view_${kind.permissionModel}`;
export const deletePermission = (kind: GrantKind): string =>
  `authentik_providers_oauth2.delete_${kind.permissionModel}`;
