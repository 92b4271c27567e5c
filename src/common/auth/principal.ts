/** Who is calling, resolved once per request by the bearer guard. */
export interface Principal {
  userId: number;
  username: string;
  /** Recorded with the events this principal causes (authentik's event `user` is `{pk, username, email}`). */
  email: string;
  /** True when one of the user's groups, or an ancestor of one, is a superuser group. */
  isSuperuser: boolean;
  /** Permission codenames from roles held directly, through groups, or through their ancestors. */
  permissions: ReadonlySet<string>;
  /** How the key was recognised: an API token, or an OAuth2 access token with the `goauthentik.io/api` scope. */
  via: 'api_token' | 'oauth2_access_token';
}

export function hasPermission(principal: Principal, codename: string): boolean {
  return principal.isSuperuser || principal.permissions.has(codename);
}
