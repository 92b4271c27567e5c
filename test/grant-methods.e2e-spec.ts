/**
 * The inventory's refused methods (MethodsNotAllowed): every route of the three grant types answers the methods it
 * does not take with DRF's 405 body and authentik's Allow header, after authentication (403 without credentials),
 * and the routes it does take still answer. Written out route by route: the table is the wire contract.
 */
import { bearer, createTestApp, request, type TestApp } from './support/app';
import { GrantFactories } from './support/factories';

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** Route (after /api/v3/oauth2/<type>/) -> the methods refused there, and the Allow header they answer with. */
const REFUSED: [string, Method[], string][] = [
  ['', ['POST', 'PUT', 'PATCH', 'DELETE'], 'GET, HEAD, OPTIONS'],
  ['1/', ['POST', 'PUT', 'PATCH'], 'GET, DELETE, HEAD, OPTIONS'],
  ['1/used_by/', ['POST', 'PUT', 'PATCH', 'DELETE'], 'GET, HEAD, OPTIONS'],
  ['export/', ['POST', 'PUT', 'PATCH', 'DELETE'], 'GET, HEAD, OPTIONS'],
  ['bulk_revoke/', ['GET', 'PUT', 'PATCH', 'DELETE'], 'POST, OPTIONS'],
];

describe.each(['access_tokens', 'refresh_tokens', 'authorization_codes'])('/api/v3/oauth2/%s/', (type) => {
  let t: TestApp;
  let adminKey: string;

  beforeAll(async () => {
    t = await createTestApp();
    adminKey = (await new GrantFactories(t.dataSource).superuser()).key;
  });
  afterAll(() => t?.close());

  it('answers 405 with the Allow header for each refused method, 403 before that without credentials', async () => {
    for (const [route, methods, allow] of REFUSED) {
      for (const method of methods) {
        const url = `/api/v3/oauth2/${type}/${route}`;
        const refused = await request(t.app, method, url, bearer(adminKey));
        expect([method, url, refused.status, refused.body, refused.headers.allow]).toEqual([
          method,
          url,
          405,
          { detail: `Method "${method}" not allowed.` },
          allow,
        ]);
        const anonymous = await request(t.app, method, url);
        expect([method, url, anonymous.status, anonymous.body]).toEqual([
          method,
          url,
          403,
          { detail: 'Authentication credentials were not provided.' },
        ]);
      }
    }
  });

  it('still serves the methods each route takes', async () => {
    const served: [Method, string, number][] = [
      ['GET', '', 200],
      ['GET', '2147483647/', 404],
      ['DELETE', '2147483647/', 404],
      ['GET', '2147483647/used_by/', 404],
      ['GET', 'export/', 200],
      ['POST', 'bulk_revoke/', 400],
    ];
    for (const [method, route, status] of served) {
      const response = await request(t.app, method, `/api/v3/oauth2/${type}/${route}`, bearer(adminKey));
      expect([method, route, response.status]).toEqual([method, route, status]);
    }
  });
});
