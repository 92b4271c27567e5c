import { parse } from 'yaml';
import { bearer, createTestApp, request, type TestApp } from './support/app';
import { Factories, GrantFactories } from './support/factories';

describe('HTTP basics', () => {
  let t: TestApp;
  let key: string;

  beforeAll(async () => {
    t = await createTestApp();
    const f = new Factories(t.dataSource);
    key = await f.apiKey(await f.user());
  });
  afterAll(() => t.close());

  it.each([
    '/api/v3/grantry/whoami/',
    '/api/v3/grantry/whoami',
    '/api/v3//grantry/whoami/',
    '//api/v3//grantry//whoami//',
  ])('%s reaches the same route', async (path) => {
    const response = await request(t.app, 'GET', path, bearer(key));
    expect(response.status).toBe(200);
    expect(response.body).toEqual(expect.objectContaining({ authenticated_via: 'api_token' }));
  });

  it('answers unknown paths with 404 {"detail": "Not found."}', async () => {
    const response = await request(t.app, 'GET', '/api/v3/nothing-here/', bearer(key));
    expect(response.status).toBe(404);
    expect(response.body).toEqual({ detail: 'Not found.' });
  });

  it('returns a request id, echoing a well-formed incoming one', async () => {
    const mine = await request(t.app, 'GET', '/-/health/live/', { 'x-request-id': 'abc-123' });
    expect(mine.headers['x-request-id']).toBe('abc-123');
    const generated = await request(t.app, 'GET', '/-/health/live/', {
      'x-request-id': 'bad id with spaces',
    });
    expect(generated.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    const uuid = '0b7e2c4a-51f3-4d0e-9a8b-6c5d4e3f2a1b';
    expect(
      (await request(t.app, 'GET', '/-/health/live/', { 'x-request-id': uuid })).headers['x-request-id'],
    ).toBe(uuid);
  });

  it('replaces a request id that could be a key: not echoed, not logged, not stored with the audit event', async () => {
    const f = new Factories(t.dataSource);
    // An owner may delete their own grant.
    const owner = await f.user();
    const ownerKey = await f.apiKey(owner);
    const { pk } = await new GrantFactories(t.dataSource).grant('access', owner.id, (await f.provider()).id);
    const logged = t.logs.lines.length;
    const response = await request(t.app, 'DELETE', `/api/v3/oauth2/access_tokens/${pk}/`, {
      ...bearer(ownerKey),
      'x-request-id': ownerKey,
    });
    expect(response.status).toBe(204);
    const id = response.headers['x-request-id'];
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const [event] = await t.dataSource.query<{ request_id: string }[]>(
      `SELECT request_id FROM audit_events WHERE object_pk = $1 AND action = 'grant_deleted'`,
      [pk],
    );
    expect(event).toEqual({ request_id: id });
    expect(t.logs.lines.slice(logged).join('\n')).not.toContain(ownerKey);
  });

  describe('health', () => {
    it('live: 200 without credentials', async () => {
      const response = await request(t.app, 'GET', '/-/health/live/');
      expect(response.status).toBe(200);
      expect(response.body).toEqual({ status: 'ok' });
    });

    it('ready: 200 when the database answers and migrations are applied', async () => {
      const response = await request(t.app, 'GET', '/-/health/ready/');
      expect(response.status).toBe(200);
      expect(response.body).toEqual({ status: 'ok', database: 'ok', migrations: 'ok' });
    });

    it('ready: 503 when a migration is missing', async () => {
      await t.dataSource.query(
        `UPDATE migrations SET name = 'renamed-for-test' WHERE name = 'Initial1763800000000'`,
      );
      try {
        const response = await request(t.app, 'GET', '/-/health/ready/');
        expect(response.status).toBe(503);
        expect(response.body).toEqual({ status: 'unavailable', database: 'ok', migrations: 'pending' });
      } finally {
        await t.dataSource.query(
          `UPDATE migrations SET name = 'Initial1763800000000' WHERE name = 'renamed-for-test'`,
        );
      }
    });
  });

  describe('OpenAPI', () => {
    it('serves YAML at /api/v3/schema/ without credentials', async () => {
      const response = await request(t.app, 'GET', '/api/v3/schema/');
      expect(response.status).toBe(200);
      expect(response.headers['content-type']).toBe('application/vnd.oai.openapi; charset=utf-8');
      const document = parse(response.text) as Record<string, unknown>;
      expect(document.openapi).toBe('3.0.0');
      expect(document.servers).toEqual([{ url: '/api/v3/' }]);
      expect(document.components).toEqual(
        expect.objectContaining({ securitySchemes: { authentik: { type: 'http', scheme: 'bearer' } } }),
      );
      expect(document.security).toEqual([{ authentik: [] }]);
      expect(Object.keys(document.paths as object)).toContain('/grantry/whoami/');
    });

    it('serves the same document as JSON with ?format=json', async () => {
      const yaml = parse((await request(t.app, 'GET', '/api/v3/schema/')).text) as unknown;
      const response = await request(t.app, 'GET', '/api/v3/schema/?format=json');
      expect(response.status).toBe(200);
      expect(response.headers['content-type']).toBe('application/vnd.oai.openapi+json; charset=utf-8');
      expect(response.body).toEqual(yaml);
    });

    it('serves the Swagger UI page without credentials', async () => {
      const response = await request(t.app, 'GET', '/api/v3/docs/');
      expect(response.status).toBe(200);
      expect(response.text).toContain('swagger-ui');
    });
  });
});
