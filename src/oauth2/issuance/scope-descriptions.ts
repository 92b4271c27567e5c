/**
 * What the consent page says each scope gives the application: the `description` of authentik's default scope
 * mappings (blueprints/system/providers-oauth2.yaml), word for word. `openid` has none there (ScopeMapping's
 * description defaults to ""); the consent page shows such a scope by its name.
 */
export const SCOPE_DESCRIPTIONS: Readonly<Record<string, string>> = {
  openid: '',
  email: 'Email address',
  profile: 'General Profile Information',
  entitlements: 'Application entitlements',
  offline_access: 'Access to request new tokens without interaction',
  'goauthentik.io/api': 'authentik API Access on behalf of your user',
};
