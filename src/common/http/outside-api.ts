/**
 * Routes served outside /api/v3: the health probes, the browser pages, and the OAuth2/OIDC endpoints, which
 * authentik mounts at /application/o/ and at the root. app.ts excludes these from the global prefix; every module
 * that adds such a route lists it here, in Nest's path syntax without the leading slash.
 */
export const OUTSIDE_API_PREFIX: readonly string[] = [
  '-/health/live',
  '-/health/ready',
  '-/metrics',
  // Browser pages (src/sessions, src/oauth2/issuance).
  'login',
  'logout',
  'account',
  'static/grantry.css',
  'static/form-post.js',
  'device',
  // OAuth2 / OpenID Connect (src/oauth2/issuance), authentik's paths.
  'application/o/authorize',
  'application/o/authorize/decision',
  'application/o/token',
  'application/o/device',
  'application/o/userinfo',
  'application/o/introspect',
  'application/o/revoke',
  'application/o/:slug',
  'application/o/:slug/jwks',
  'application/o/:slug/end-session',
  'application/o/:slug/.well-known/openid-configuration',
  '.well-known/oauth-authorization-server/application/o/:slug',
];

/**
 * Routes whose POST body is read, as application/x-www-form-urlencoded (app.ts parses forms for these only, within
 * MAX_BODY_BYTES; every other route ignores its body). Fastify route URLs, with the leading slash.
 */
const FORM_ROUTES = new Set(
  [
    '/login',
    '/logout',
    '/device',
    '/application/o/authorize/decision',
    '/application/o/token',
    '/application/o/device',
    '/application/o/userinfo',
    '/application/o/introspect',
    '/application/o/revoke',
    '/application/o/:slug/end-session',
  ].flatMap((route) => [route, `${route}/`]),
);

/** Whether a matched route reads a form body. */
export function readsForm(routeUrl: string | undefined): boolean {
  return routeUrl !== undefined && FORM_ROUTES.has(routeUrl);
}

/** The token inventory's one route with a body: Grantry's bulk revocation (issue 14), POST only. */
const BULK_REVOKE_ROUTES = new Set(
  ['access_tokens', 'refresh_tokens', 'authorization_codes'].flatMap((type) => [
    `/api/v3/oauth2/${type}/bulk_revoke`,
    `/api/v3/oauth2/${type}/bulk_revoke/`,
  ]),
);

/**
 * Whether a request's JSON body is read: writes (POST, PUT, PATCH) to the management API under /api/v3. The token
 * inventory's routes (/api/v3/oauth2/...) read no body (their writes answer 405 whatever is sent, as DRF's do),
 * except POST to `<type>/bulk_revoke/`.
 */
export function readsJson(method: string, routeUrl: string | undefined): boolean {
  if (routeUrl === undefined || (method !== 'POST' && method !== 'PUT' && method !== 'PATCH')) return false;
  if (routeUrl.startsWith('/api/v3/oauth2/')) return method === 'POST' && BULK_REVOKE_ROUTES.has(routeUrl);
  return routeUrl.startsWith('/api/v3/');
}
