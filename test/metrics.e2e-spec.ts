import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { UserEntity } from '../src/identity/user.entity';
import { Metrics } from '../src/metrics/metrics';
import { createApplication, createProvider } from '../src/providers/providers';
import { Sealer } from '../src/keys/sealing';
import { bearer, createTestApp, type InjectResult, request, requestJson, type TestApp } from './support/app';
import { GrantFactories, unique } from './support/factories';

/**
 * GET /-/metrics: the exposition parses, the counters move by exactly what known requests do, route labels are
 * patterns (bounded), METRICS_TOKEN guards it (also from a file), and no secret appears in it.
 */

const METRICS_TOKEN = randomBytes(32).toString('hex');
const AUTH_FAILURE_LIMIT = 3;

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

interface Exposition {
  types: Map<string, string>;
  samples: Sample[];
}

/** The Prometheus text format (version 0.0.4), the lines Grantry writes: comments, and samples with labels. */
function parseExposition(text: string): Exposition {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  const lines = text.split('\n');
  expect(lines.at(-1)).toBe(''); // the text ends with a newline
  for (const line of lines.slice(0, -1)) {
    // Blank lines are allowed (prom-client writes one between metric families).
    if (line === '') continue;
    if (line.startsWith('# HELP ')) {
      expect(line).toMatch(/^# HELP [a-zA-Z_:][a-zA-Z0-9_:]* .*$/);
      continue;
    }
    if (line.startsWith('# TYPE ')) {
      const match = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(
        line,
      );
      if (!match) throw new Error(`bad TYPE line: ${line}`);
      types.set(match[1]!, match[2]!);
      continue;
    }
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: -?\d+)?$/.exec(line);
    if (!match) throw new Error(`bad sample line: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    const body = match[2] ?? '';
    const label = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\[\\"n])*)"(,|$)/y;
    let at = 0;
    while (at < body.length) {
      label.lastIndex = at;
      const found = label.exec(body);
      if (!found) throw new Error(`bad labels in: ${line}`);
      labels[found[1]!] = found[2]!.replace(/\\(["\\n])/g, (_, c: string) => (c === 'n' ? '\n' : c));
      at = label.lastIndex;
    }
    const raw = match[3]!;
    // Prometheus reads values with Go's ParseFloat: NaN in any case (prom-client writes "Nan" for an empty mean).
    const value =
      raw === '+Inf' ? Infinity : raw === '-Inf' ? -Infinity : /^nan$/i.test(raw) ? NaN : Number(raw);
    if (!/^nan$/i.test(raw) && Number.isNaN(value)) throw new Error(`bad value in: ${line}`);
    samples.push({ name: match[1]!, labels, value });
  }
  return { types, samples };
}

function find(exposition: Exposition, name: string, labels: Record<string, string> = {}): Sample[] {
  return exposition.samples.filter(
    (sample) =>
      sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value),
  );
}

/** The one sample of `name` with exactly these labels (0 when it does not exist yet). */
function valueOf(exposition: Exposition, name: string, labels: Record<string, string> = {}): number {
  const found = exposition.samples.filter(
    (sample) =>
      sample.name === name &&
      Object.keys(sample.labels).length === Object.keys(labels).length &&
      Object.entries(labels).every(([key, value]) => sample.labels[key] === value),
  );
  if (found.length > 1) throw new Error(`${found.length} samples of ${name} ${JSON.stringify(labels)}`);
  return found[0]?.value ?? 0;
}

async function scrapeText(app: NestFastifyApplication, token = METRICS_TOKEN): Promise<InjectResult> {
  return request(app, 'GET', '/-/metrics', bearer(token));
}

async function scrape(app: NestFastifyApplication): Promise<Exposition> {
  const response = await scrapeText(app);
  expect(response.status).toBe(200);
  return parseExposition(response.text);
}

describe('GET /-/metrics', () => {
  let t: TestApp;
  let f: GrantFactories;
  let admin: UserEntity;
  let adminKey: string;
  let client: { clientId: string; clientSecret: string; providerId: number };
  /** Every secret this suite handed to the app: none may appear in a scrape. */
  const secrets: string[] = [METRICS_TOKEN];

  beforeAll(async () => {
    t = await createTestApp({
      METRICS_TOKEN,
      AUTH_FAILURE_LIMIT: String(AUTH_FAILURE_LIMIT),
      DB_POOL_SIZE: '7',
    });
    f = new GrantFactories(t.dataSource);
    const group = await f.group({ isSuperuser: true });
    admin = await f.user();
    await f.member(admin, group);
    adminKey = await f.apiKey(admin);
    secrets.push(adminKey);
    const sealer = t.app.get(Sealer);
    client = await t.dataSource.transaction(async (manager) => {
      const created = await createProvider(
        manager,
        { name: unique('metrics-rp'), clientType: 'confidential', redirectUris: ['https://rp.example/cb'] },
        sealer,
      );
      await createApplication(manager, {
        slug: unique('metrics-app').slice(0, 50),
        name: 'Metrics app',
        providerId: created.provider.id,
      });
      return {
        clientId: created.provider.clientId,
        clientSecret: created.clientSecret ?? '',
        providerId: created.provider.id,
      };
    });
    secrets.push(client.clientSecret);
  });

  afterAll(async () => {
    await t?.close();
  });

  beforeEach(async () => {
    // Each test starts with a clean failed-auth throttle (the throttle test fills it).
    await t.dataSource.query('DELETE FROM auth_failures');
  });

  it('answers the Prometheus text format, with the process metrics and typed grantry_ metrics', async () => {
    const response = await scrapeText(t.app);
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(response.headers['cache-control']).toBe('no-store');
    const exposition = parseExposition(response.text);
    for (const sample of exposition.samples) {
      const family = sample.name.replace(/_(bucket|sum|count)$/, '');
      expect([sample.name, exposition.types.get(sample.name) ?? exposition.types.get(family)]).toEqual([
        sample.name,
        expect.any(String),
      ]);
    }
    // prom-client's default metrics, under their usual names.
    expect(find(exposition, 'process_cpu_user_seconds_total')).toHaveLength(1);
    expect(find(exposition, 'nodejs_heap_size_used_bytes')).toHaveLength(1);
    expect(exposition.types.get('grantry_http_requests_total')).toBe('counter');
    expect(exposition.types.get('grantry_http_request_duration_seconds')).toBe('histogram');
    expect(exposition.types.get('grantry_grants_issued_total')).toBe('counter');
    expect(exposition.types.get('grantry_grants_revoked_total')).toBe('counter');
    expect(exposition.types.get('grantry_grants_cleaned_total')).toBe('counter');
    expect(exposition.types.get('grantry_grants_expired')).toBe('gauge');
    expect(exposition.types.get('grantry_auth_failures_total')).toBe('counter');
    expect(exposition.types.get('grantry_throttled_total')).toBe('counter');
    expect(exposition.types.get('grantry_db_pool_connections')).toBe('gauge');
    // Every series of the grant counters exists from the start (cleaned too, before anything is cleaned: the tests
    // run in any order, so its value here is 0 or what the cleanup test counted).
    for (const type of ['access_token', 'refresh_token', 'authorization_code']) {
      expect(find(exposition, 'grantry_grants_cleaned_total', { type })).toHaveLength(1);
      expect(Number.isInteger(valueOf(exposition, 'grantry_grants_cleaned_total', { type }))).toBe(true);
      expect(find(exposition, 'grantry_grants_issued_total', { type })).toHaveLength(1);
      expect(find(exposition, 'grantry_grants_revoked_total', { type })).toHaveLength(7);
    }
  });

  it('counts requests by route pattern and status, and times them in the histogram', async () => {
    const labels = { method: 'GET', route: '/api/v3/oauth2/access_tokens', status: '200' };
    const before = await scrape(t.app);
    for (let i = 0; i < 3; i += 1) {
      const response = await request(t.app, 'GET', '/api/v3/oauth2/access_tokens/?page=1', bearer(adminKey));
      expect(response.status).toBe(200);
    }
    const after = await scrape(t.app);
    expect(valueOf(after, 'grantry_http_requests_total', labels)).toBe(
      valueOf(before, 'grantry_http_requests_total', labels) + 3,
    );
    const timed = { method: 'GET', route: '/api/v3/oauth2/access_tokens' };
    expect(valueOf(after, 'grantry_http_request_duration_seconds_count', timed)).toBe(
      valueOf(before, 'grantry_http_request_duration_seconds_count', timed) + 3,
    );
    // The +Inf bucket is the count; the buckets are cumulative.
    const buckets = find(after, 'grantry_http_request_duration_seconds_bucket', timed);
    expect(buckets.map((bucket) => bucket.labels.le)).toEqual([
      '0.001',
      '0.0025',
      '0.005',
      '0.01',
      '0.025',
      '0.05',
      '0.1',
      '0.25',
      '0.5',
      '1',
      '2.5',
      '5',
      '10',
      '+Inf',
    ]);
    expect(buckets.at(-1)?.value).toBe(valueOf(after, 'grantry_http_request_duration_seconds_count', timed));
    const values = buckets.map((bucket) => bucket.value);
    expect(values).toEqual([...values].sort((a, b) => a - b));
  });

  it('labels a request with its route pattern, never its path; unmatched paths share one label', async () => {
    const pattern = { method: 'GET', route: '/api/v3/oauth2/access_tokens/:id', status: '404' };
    const before = await scrape(t.app);
    // A first unmatched request, so that the "unmatched" value exists before the comparison below.
    expect((await request(t.app, 'GET', `/nothing-here-${unique('x')}`)).status).toBe(404);
    const middle = await scrape(t.app);
    // An id no suite sharing the database has reached: past the largest, so the answer is a 404.
    const [row] = await t.dataSource.query<{ absent: string }[]>(
      `SELECT (coalesce(max(id), 0) + 7654321)::text AS absent FROM oauth2_access_tokens`,
    );
    const absent = row?.absent ?? '2147000000';
    const missing = await request(t.app, 'GET', `/api/v3/oauth2/access_tokens/${absent}/`, bearer(adminKey));
    expect(missing.status).toBe(404);
    for (const junk of [
      `/${randomBytes(8).toString('hex')}/`,
      `/api/v3/${randomBytes(8).toString('hex')}/x`,
    ]) {
      expect((await request(t.app, 'GET', junk, bearer(adminKey))).status).toBe(404);
    }
    const after = await scrape(t.app);
    expect(valueOf(after, 'grantry_http_requests_total', pattern)).toBe(
      valueOf(before, 'grantry_http_requests_total', pattern) + 1,
    );
    const unmatched = { method: 'GET', route: 'unmatched', status: '404' };
    expect(valueOf(after, 'grantry_http_requests_total', unmatched)).toBe(
      valueOf(middle, 'grantry_http_requests_total', unmatched) + 2,
    );
    const routes = (exposition: Exposition): string[] =>
      [...new Set(find(exposition, 'grantry_http_requests_total').map((s) => s.labels.route!))].sort();
    // The random paths added no route value; the absent id's request added its pattern only (if it was new).
    expect(routes(after).filter((route) => route !== pattern.route)).toEqual(
      routes(middle).filter((route) => route !== pattern.route),
    );
    expect(routes(after)).toContain(pattern.route);
    const text = (await scrapeText(t.app)).text;
    expect(text).not.toContain(absent);
    expect(text).not.toContain('nothing-here');
  });

  it('counts an access token issued by client_credentials as one issued access token', async () => {
    const before = await scrape(t.app);
    const response = await t.app
      .getHttpAdapter()
      .getInstance()
      .inject({
        method: 'POST',
        url: '/application/o/token/',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: new URLSearchParams({
          grant_type: 'client_credentials',
          client_id: client.clientId,
          client_secret: client.clientSecret,
          scope: 'openid',
        }).toString(),
      });
    expect(response.statusCode).toBe(200);
    secrets.push((JSON.parse(response.body) as { access_token: string }).access_token);
    const after = await scrape(t.app);
    for (const [type, delta] of [
      ['access_token', 1],
      ['refresh_token', 0],
      ['authorization_code', 0],
    ] as const) {
      expect([type, valueOf(after, 'grantry_grants_issued_total', { type })]).toEqual([
        type,
        valueOf(before, 'grantry_grants_issued_total', { type }) + delta,
      ]);
    }
  });

  /** POSTs a form to an OAuth2 endpoint. */
  async function postForm(
    url: string,
    form: Record<string, string>,
  ): Promise<{ status: number; body: string }> {
    const response = await t.app
      .getHttpAdapter()
      .getInstance()
      .inject({
        method: 'POST',
        url,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: new URLSearchParams(form).toString(),
      });
    return { status: response.statusCode, body: response.body };
  }

  it('counts a token revoked at the RFC 7009 endpoint once, and an unknown one not at all', async () => {
    const issued = await postForm('/application/o/token/', {
      grant_type: 'client_credentials',
      client_id: client.clientId,
      client_secret: client.clientSecret,
      scope: 'openid',
    });
    expect(issued.status).toBe(200);
    const token = (JSON.parse(issued.body) as { access_token: string }).access_token;
    secrets.push(token);
    const labels = { type: 'access_token', reason: 'revoke_endpoint' };
    const before = await scrape(t.app);
    const revoke = { client_id: client.clientId, client_secret: client.clientSecret, token };
    expect((await postForm('/application/o/revoke/', revoke)).status).toBe(200);
    // Again: already gone, 200 all the same (RFC 7009), nothing revoked.
    expect((await postForm('/application/o/revoke/', revoke)).status).toBe(200);
    const after = await scrape(t.app);
    expect(valueOf(after, 'grantry_grants_revoked_total', labels)).toBe(
      valueOf(before, 'grantry_grants_revoked_total', labels) + 1,
    );
  });

  it("counts a deactivated user's deleted grants per type", async () => {
    const user = await f.user();
    for (const type of ['access', 'access', 'refresh', 'code'] as const) {
      await f.grant(type, user.id, client.providerId);
    }
    const before = await scrape(t.app);
    const response = await requestJson(
      t.app,
      'PATCH',
      `/api/v3/core/users/${user.id}/`,
      { is_active: false },
      bearer(adminKey),
    );
    expect(response.status).toBe(200);
    const after = await scrape(t.app);
    for (const [type, delta] of [
      ['access_token', 2],
      ['refresh_token', 1],
      ['authorization_code', 1],
    ] as const) {
      const labels = { type, reason: 'user_cut_off' };
      expect([type, valueOf(after, 'grantry_grants_revoked_total', labels)]).toEqual([
        type,
        valueOf(before, 'grantry_grants_revoked_total', labels) + delta,
      ]);
    }
  });

  it('counts a wrong client secret as an OAuth2 client authentication failure', async () => {
    const labels = { mechanism: 'oauth2_client', reason: 'invalid' };
    const before = await scrape(t.app);
    const response = await t.app
      .getHttpAdapter()
      .getInstance()
      .inject({
        method: 'POST',
        url: '/application/o/token/',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: new URLSearchParams({
          grant_type: 'refresh_token',
          client_id: client.clientId,
          client_secret: 'wrong',
          refresh_token: 'whatever',
        }).toString(),
      });
    expect(response.statusCode).toBe(400);
    const after = await scrape(t.app);
    expect(valueOf(after, 'grantry_auth_failures_total', labels)).toBe(
      valueOf(before, 'grantry_auth_failures_total', labels) + 1,
    );
  });

  it('counts a DELETE as one revoked grant of its type', async () => {
    const grant = await f.grant('refresh', admin.id, client.providerId);
    const labels = { type: 'refresh_token', reason: 'api_delete' };
    const before = await scrape(t.app);
    const response = await request(
      t.app,
      'DELETE',
      `/api/v3/oauth2/refresh_tokens/${grant.pk}/`,
      bearer(adminKey),
    );
    expect(response.status).toBe(204);
    // A second DELETE of the same grant is a 404 and revokes nothing.
    expect(
      (await request(t.app, 'DELETE', `/api/v3/oauth2/refresh_tokens/${grant.pk}/`, bearer(adminKey))).status,
    ).toBe(404);
    const after = await scrape(t.app);
    expect(valueOf(after, 'grantry_grants_revoked_total', labels)).toBe(
      valueOf(before, 'grantry_grants_revoked_total', labels) + 1,
    );
    expect(
      valueOf(after, 'grantry_grants_revoked_total', { type: 'access_token', reason: 'api_delete' }),
    ).toBe(valueOf(before, 'grantry_grants_revoked_total', { type: 'access_token', reason: 'api_delete' }));
  });

  it('counts a grant revoked inside a transaction only when it commits', async () => {
    const metrics = t.app.get(Metrics);
    const labels = { type: 'authorization_code', reason: 'bulk_revoke' };
    const before = await scrape(t.app);
    await expect(
      t.dataSource.transaction(async (manager) => {
        metrics.grantsRevoked('authorization_code', 5, 'bulk_revoke', manager);
        await manager.query('SELECT 1');
        throw new Error('rolled back');
      }),
    ).rejects.toThrow('rolled back');
    const rolledBack = await scrape(t.app);
    expect(valueOf(rolledBack, 'grantry_grants_revoked_total', labels)).toBe(
      valueOf(before, 'grantry_grants_revoked_total', labels),
    );
    let seenInside = -1;
    await t.dataSource.transaction(async (manager) => {
      metrics.grantsRevoked('authorization_code', 2, 'bulk_revoke', manager);
      seenInside = valueOf(await scrape(t.app), 'grantry_grants_revoked_total', labels);
    });
    expect(seenInside).toBe(valueOf(before, 'grantry_grants_revoked_total', labels));
    const committed = await scrape(t.app);
    expect(valueOf(committed, 'grantry_grants_revoked_total', labels)).toBe(
      valueOf(before, 'grantry_grants_revoked_total', labels) + 2,
    );
    metrics.grantsCleaned('access_token', 4);
    const cleaned = await scrape(t.app);
    expect(valueOf(cleaned, 'grantry_grants_cleaned_total', { type: 'access_token' })).toBe(
      valueOf(committed, 'grantry_grants_cleaned_total', { type: 'access_token' }) + 4,
    );
  });

  it('counts a bad bearer key as one API authentication failure', async () => {
    const labels = { mechanism: 'api_bearer', reason: 'invalid' };
    const before = await scrape(t.app);
    const wrong = randomBytes(32).toString('hex');
    secrets.push(wrong);
    const response = await request(t.app, 'GET', '/api/v3/oauth2/access_tokens/', bearer(wrong));
    expect(response.status).toBe(403);
    const after = await scrape(t.app);
    expect(valueOf(after, 'grantry_auth_failures_total', labels)).toBe(
      valueOf(before, 'grantry_auth_failures_total', labels) + 1,
    );
    const missing = { mechanism: 'api_bearer', reason: 'missing' };
    expect((await request(t.app, 'GET', '/api/v3/oauth2/access_tokens/')).status).toBe(403);
    expect(valueOf(await scrape(t.app), 'grantry_auth_failures_total', missing)).toBe(
      valueOf(after, 'grantry_auth_failures_total', missing) + 1,
    );
  });

  it('counts a throttled request (429) by its route', async () => {
    const route = '/api/v3/oauth2/refresh_tokens';
    const before = await scrape(t.app);
    const statuses: number[] = [];
    for (let i = 0; i <= AUTH_FAILURE_LIMIT; i += 1) {
      statuses.push((await request(t.app, 'GET', `${route}/`, bearer(`wrong-${i}`))).status);
    }
    expect(statuses).toEqual([...Array<number>(AUTH_FAILURE_LIMIT).fill(403), 429]);
    const after = await scrape(t.app);
    expect(valueOf(after, 'grantry_throttled_total', { route })).toBe(
      valueOf(before, 'grantry_throttled_total', { route }) + 1,
    );
    expect(valueOf(after, 'grantry_http_requests_total', { method: 'GET', route, status: '429' })).toBe(
      valueOf(before, 'grantry_http_requests_total', { method: 'GET', route, status: '429' }) + 1,
    );
  });

  it("reports the database pool's connections and its size", async () => {
    expect((await request(t.app, 'GET', '/api/v3/oauth2/access_tokens/', bearer(adminKey))).status).toBe(200);
    const exposition = await scrape(t.app);
    const total = valueOf(exposition, 'grantry_db_pool_connections', { state: 'total' });
    const idle = valueOf(exposition, 'grantry_db_pool_connections', { state: 'idle' });
    expect(find(exposition, 'grantry_db_pool_connections', { state: 'waiting' })).toHaveLength(1);
    expect(total).toBeGreaterThanOrEqual(1);
    expect(total).toBeLessThanOrEqual(7);
    expect(idle).toBeLessThanOrEqual(total);
    expect(valueOf(exposition, 'grantry_db_pool_max_connections')).toBe(7);
    expect(valueOf(exposition, 'grantry_db_circuit_open')).toBe(0);
  });

  it('needs METRICS_TOKEN: 401 with a challenge without it or with a wrong one', async () => {
    const missing = await request(t.app, 'GET', '/-/metrics');
    expect([missing.status, missing.body, missing.headers['www-authenticate']]).toEqual([
      401,
      { detail: 'Authentication credentials were not provided.' },
      'Bearer realm="grantry-metrics"',
    ]);
    const wrong = await scrapeText(t.app, randomBytes(32).toString('hex'));
    expect([wrong.status, wrong.body, wrong.headers['www-authenticate']]).toEqual([
      401,
      { detail: 'Invalid metrics token.' },
      'Bearer realm="grantry-metrics", error="invalid_token"',
    ]);
    // A prefix of the token, and the token with a character more, are wrong too.
    expect((await scrapeText(t.app, METRICS_TOKEN.slice(0, -1))).status).toBe(401);
    expect((await scrapeText(t.app, `${METRICS_TOKEN}0`)).status).toBe(401);
    // An API key opens the API, not the metrics.
    expect((await scrapeText(t.app, adminKey)).status).toBe(401);
    expect((await scrapeText(t.app)).status).toBe(200);
    // The trailing slash form reaches the same route.
    expect((await request(t.app, 'GET', '/-/metrics/', bearer(METRICS_TOKEN))).status).toBe(200);
  });

  it('shows no secret, and logs no METRICS_TOKEN', async () => {
    // Its own traffic with an issued token and a wrong key, whether or not the other tests ran before (any order).
    const issued = await postForm('/application/o/token/', {
      grant_type: 'client_credentials',
      client_id: client.clientId,
      client_secret: client.clientSecret,
      scope: 'openid',
    });
    expect(issued.status).toBe(200);
    const token = (JSON.parse(issued.body) as { access_token: string }).access_token;
    secrets.push(token);
    expect((await request(t.app, 'GET', '/api/v3/grantry/whoami/', bearer(token))).status).toBe(403);
    const wrong = randomBytes(32).toString('hex');
    secrets.push(wrong);
    expect((await request(t.app, 'GET', '/api/v3/grantry/whoami/', bearer(wrong))).status).toBe(403);
    const text = (await scrapeText(t.app)).text;
    expect(secrets.length).toBeGreaterThanOrEqual(5);
    for (const secret of secrets) expect(text).not.toContain(secret);
    expect(t.logs.text).not.toContain(METRICS_TOKEN);
  });
});

describe('GET /-/metrics: METRICS_TOKEN_FILE, and off without a token', () => {
  it('reads the token from METRICS_TOKEN_FILE, and counts the expired grants', async () => {
    const token = randomBytes(32).toString('hex');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'grantry-metrics-'));
    const file = path.join(dir, 'metrics-token');
    fs.writeFileSync(file, `${token}\n`, { mode: 0o600 });
    const app = await createTestApp({ METRICS_TOKEN_FILE: file });
    try {
      const f = new GrantFactories(app.dataSource);
      const user = await f.user();
      const provider = await f.provider();
      await f.grant('access', user.id, provider.id, { expires: new Date(Date.now() - 60_000) });
      await f.grant('code', user.id, provider.id, { expires: new Date(Date.now() - 60_000) });
      const [expected] = await app.dataSource.query<Record<string, number>[]>(
        `SELECT (SELECT count(*) FROM oauth2_access_tokens WHERE expires < now())::int AS access_token,
                (SELECT count(*) FROM oauth2_refresh_tokens WHERE expires < now())::int AS refresh_token,
                (SELECT count(*) FROM oauth2_authorization_codes WHERE expires < now())::int AS authorization_code`,
      );
      expect((await scrapeText(app.app)).status).toBe(401);
      const response = await scrapeText(app.app, token);
      expect(response.status).toBe(200);
      const exposition = parseExposition(response.text);
      expect(expected!.access_token).toBeGreaterThanOrEqual(1);
      expect(expected!.authorization_code).toBeGreaterThanOrEqual(1);
      for (const type of ['access_token', 'refresh_token', 'authorization_code']) {
        expect([type, valueOf(exposition, 'grantry_grants_expired', { type })]).toEqual([
          type,
          expected![type],
        ]);
      }
      expect(response.text).not.toContain(token);
      expect(app.logs.text).not.toContain(token);
    } finally {
      await app.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('without METRICS_TOKEN there is no /-/metrics (404, as any unknown path)', async () => {
    const app = await createTestApp();
    try {
      const response = await request(app.app, 'GET', '/-/metrics');
      expect([response.status, response.body]).toEqual([404, { detail: 'Not found.' }]);
      expect((await scrapeText(app.app, METRICS_TOKEN)).status).toBe(404);
    } finally {
      await app.close();
    }
  });

  it('refuses a weak METRICS_TOKEN at start-up, naming the variable', async () => {
    await expect(createTestApp({ METRICS_TOKEN: 'short' })).rejects.toThrow(
      /^Invalid configuration: METRICS_TOKEN must be at least 32 characters long/,
    );
  });
});
