/**
 * The scopes every Grantry provider maps: authentik's default scope mappings (blueprints/system/
 * providers-oauth2.yaml). Grantry has no property-mapping objects, so every provider maps all of them.
 */
export const SCOPE_OPENID = 'openid';
export const SCOPE_OFFLINE_ACCESS = 'offline_access';
export const SCOPE_API = 'goauthentik.io/api';
export const MAPPED_SCOPES = [
  SCOPE_OPENID,
  'email',
  'profile',
  'entitlements',
  SCOPE_OFFLINE_ACCESS,
  SCOPE_API,
] as const;
const MAPPED = new Set<string>(MAPPED_SCOPES);

/** The scope parameter as a set of tokens (split on whitespace, empties dropped, duplicates merged). */
export function scopeSet(scope: string | undefined): string[] {
  if (scope === undefined) return [];
  return [...new Set(scope.split(/\s+/).filter((token) => token !== ''))];
}

/** authentik's check_scope: unknown scopes are dropped silently; an empty request means every mapped scope. */
export function grantableScopes(requested: readonly string[]): string[] {
  if (requested.length === 0) return [...MAPPED_SCOPES];
  return requested.filter((scope) => MAPPED.has(scope));
}

/** What a person or directory knows about the subject of a token, for its claims. */
export interface ClaimsUser {
  id: number;
  uuid: string;
  username: string;
  name: string;
  email: string;
  attributes: Record<string, unknown>;
  groups: string[];
  roles: string[];
}

/**
 * The claims each scope adds (authentik's default ScopeMappings), deep-merged in scope-name order: email gives
 * `email` and `email_verified: false` (authentik's mapping hard-codes False), profile the name, usernames and group
 * names, entitlements the entitlement and role names (Grantry has no application entitlements: always []).
 */
export function scopeClaims(user: ClaimsUser, scopes: readonly string[]): Record<string, unknown> {
  const claims: Record<string, unknown> = {};
  for (const scope of [...scopes].sort()) {
    switch (scope) {
      case 'email':
        claims.email = user.email;
        claims.email_verified = false;
        break;
      case 'profile':
        claims.name = user.name;
        claims.given_name = user.name;
        claims.preferred_username = user.username;
        claims.nickname = user.username;
        claims.groups = user.groups;
        break;
      case 'entitlements':
        claims.entitlements = [];
        claims.roles = user.roles;
        break;
      default:
        break;
    }
  }
  return claims;
}
