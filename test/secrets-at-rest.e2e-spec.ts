import type { DataSource } from 'typeorm';
import { grantCreate } from '../src/cli/commands/grant';
import { providerCreate } from '../src/cli/commands/provider';
import { seedCommand } from '../src/cli/commands/seed';
import { tokenCreate } from '../src/cli/commands/token';
import { userCreate } from '../src/cli/commands/user';
import { sha256 } from '../src/common/crypto/secrets';
import { hashPassword } from '../src/identity/password';
import { bearer, createTestApp, request, type TestApp } from './support/app';
import { runCli } from './support/cli';
import { GrantFactories, unique } from './support/factories';

const WHOAMI = '/api/v3/grantry/whoami/';

const cli = runCli;

/**
 * Signs in through the login page (in-process requests) with `password` and answers the cookies the browser got:
 * the pre-session cookie and the session's. A wrong password first, so a failed attempt is in the logs too.
 */
async function signIn(
  t: TestApp,
  username: string,
  password: string,
): Promise<{ csrf: string; session: string }> {
  const fastify = t.app.getHttpAdapter().getInstance();
  const form = await fastify.inject({ method: 'GET', url: '/login/' });
  const csrf = /^grantry_csrf=([^;]+)/.exec(String(form.headers['set-cookie']))?.[1] ?? '';
  const token = /name="csrf_token" value="([^"]+)"/.exec(form.body)?.[1] ?? '';
  const post = (pw: string) =>
    fastify.inject({
      method: 'POST',
      url: '/login/',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: `grantry_csrf=${csrf}` },
      payload: new URLSearchParams({ csrf_token: token, username, password: pw }).toString(),
    });
  expect((await post(`${password}-wrong`)).statusCode).toBe(400);
  const ok = await post(password);
  expect(ok.statusCode).toBe(303);
  const session = /^grantry_session=([^;]+)/.exec(String(ok.headers['set-cookie']))?.[1] ?? '';
  if (csrf.length !== 43 || session.length !== 43) throw new Error('sign-in cookies missing');
  return { csrf, session };
}

function text(output: Record<string, unknown>, field: string): string {
  const value = output[field];
  if (typeof value !== 'string' || value.length < 16) throw new Error(`expected a secret in ${field}`);
  return value;
}

interface Column {
  table: string;
  column: string;
  type: string;
}

/** Every column of every table (and materialized view) in the application's schema. */
async function allColumns(dataSource: DataSource): Promise<Column[]> {
  return dataSource.query<Column[]>(
    `SELECT c.relname AS table, a.attname AS column, format_type(a.atttypid, a.atttypmod) AS type
       FROM pg_class c
       JOIN pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_attribute a ON a.attrelid = c.oid
      WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'm') AND a.attnum > 0 AND NOT a.attisdropped
      ORDER BY 1, 2`,
  );
}

const quote = (identifier: string) => `"${identifier.replace(/"/g, '""')}"`;
const escapeRegex = (value: string) => value.replace(/[.*+?^${}()|[\]\\-]/g, '\\$&');

/**
 * Where any of `needles` occurs, as "table.column: needle". Each column is read as text (bytea as `\x` + hex, jsonb
 * and arrays in their text form), so a needle is looked for both as itself and as the hex of its UTF-8 bytes.
 */
async function scan(dataSource: DataSource, columns: Column[], needles: string[]): Promise<string[]> {
  const forms = needles.flatMap((needle) => [needle, Buffer.from(needle, 'utf8').toString('hex')]);
  const pattern = forms.map(escapeRegex).join('|');
  const found: string[] = [];
  for (const { table, column } of columns) {
    const rows = await dataSource.query<{ value: string }[]>(
      `SELECT ${quote(column)}::text AS value FROM ${quote(table)} WHERE ${quote(column)}::text ~ $1`,
      [pattern],
    );
    for (const { value } of rows) {
      for (const needle of needles) {
        if (value.includes(needle) || value.includes(Buffer.from(needle, 'utf8').toString('hex'))) {
          found.push(`${table}.${column}: ${needle}`);
        }
      }
    }
  }
  return [...new Set(found)];
}

describe('no plaintext secret at rest', () => {
  let t: TestApp;
  let f: GrantFactories;
  /** Every key, token value, code and client secret issued in this suite, with where it came from. */
  const issued = new Map<string, string>();
  let username: string;
  let columns: Column[];
  /** An access grant of the CLI's user for the revocation test alone (the others' must keep working, in any order). */
  let revocable: number;

  beforeAll(async () => {
    t = await createTestApp({ AUTH_FAILURE_LIMIT: '0' });
    f = new GrantFactories(t.dataSource);
    const ds = t.dataSource;

    // The CLI, as an administrator would issue things.
    const k = 1_000_000 + Math.floor(Math.random() * 1_000_000_000);
    await cli(ds, seedCommand, [
      '--seed',
      String(k),
      '--users',
      '5',
      '--providers',
      '2',
      '--access-tokens',
      '20',
      '--refresh-tokens',
      '20',
      '--authorization-codes',
      '5',
    ]);
    username = unique('secrets');
    await cli(ds, userCreate, ['--username', username, '--email', `${username}@example.com`]);
    issued.set(text(await cli(ds, tokenCreate, ['--user', username]), 'key'), 'cli token create');
    issued.set(
      text(await cli(ds, tokenCreate, ['--user', username, '--intent', 'app_password']), 'key'),
      'cli token create --intent app_password',
    );
    const provider = await cli(ds, providerCreate, ['--name', unique('secrets-provider')]);
    issued.set(text(provider, 'client_secret'), 'cli provider create (client secret)');
    const providerId = String(provider.pk);
    for (const type of ['access', 'refresh', 'code']) {
      const grant = await cli(ds, grantCreate, [
        '--type',
        type,
        '--user',
        username,
        '--provider',
        providerId,
        '--scope',
        'openid email goauthentik.io/api',
      ]);
      issued.set(text(grant, 'value'), `cli grant create --type ${type}`);
    }
    const spare = await cli(ds, grantCreate, [
      '--type',
      'access',
      '--user',
      username,
      '--provider',
      providerId,
    ]);
    issued.set(text(spare, 'value'), 'cli grant create --type access (revoked)');
    revocable = Number(spare.pk);

    // The factories the other suites use.
    const user = await f.user();
    issued.set(await f.apiKey(user), 'factory api key');
    issued.set(await f.apiKey(user, { expires: new Date(Date.now() - 1000) }), 'factory expired api key');
    issued.set(await f.accessToken(user, { scope: 'goauthentik.io/api' }), 'factory access token');
    const factoryProvider = await f.provider();
    for (const type of ['access', 'refresh', 'code'] as const) {
      issued.set((await f.grant(type, user.id, factoryProvider.id)).value, `factory ${type} grant`);
    }

    // A password, and the cookies of a browser signed in with it.
    const password = `pw-${unique('secret')}`;
    await ds.query('UPDATE users SET password = $2 WHERE id = $1', [user.id, await hashPassword(password)]);
    issued.set(password, 'a password');
    const cookies = await signIn(t, user.username, password);
    issued.set(cookies.session, 'session cookie');
    issued.set(cookies.csrf, 'pre-session (CSRF) cookie');

    columns = await allColumns(ds);
  });
  afterAll(() => t.close());

  it('issued real, working secrets', async () => {
    expect(issued.size).toBe(16);
    const working = [...issued].filter(([, source]) =>
      [
        'cli token create',
        'cli grant create --type access',
        'factory api key',
        'factory access token',
      ].includes(source),
    );
    expect(working).toHaveLength(4);
    for (const [secret] of working)
      expect((await request(t.app, 'GET', WHOAMI, bearer(secret))).status).toBe(200);
  });

  it('revokes one through the API, so that its audit event is scanned too', async () => {
    const access = { id: revocable };
    const key = [...issued].find(([, source]) => source === 'cli token create')?.[0] ?? '';
    const response = await request(
      t.app,
      'DELETE',
      `/api/v3/oauth2/access_tokens/${access?.id}/`,
      bearer(key),
    );
    expect(response.status).toBe(204);
    const events = await t.dataSource.query<{ n: number }[]>(
      `SELECT count(*)::int AS n FROM audit_events WHERE object_pk = $1 AND model = 'AccessToken' AND action = 'grant_deleted'`,
      [access?.id],
    );
    expect(events).toEqual([{ n: 1 }]);
  });

  it('the scan reaches every text, varchar, json, jsonb, bytea and array column', () => {
    const textual = columns.filter(({ type }) => /text|char|json|bytea|\[\]/.test(type));
    const names = textual.map(({ table, column }) => `${table}.${column}`);
    for (const expected of [
      'api_tokens.key_hash',
      'api_tokens.identifier',
      'api_tokens.description',
      'oauth2_access_tokens.token_hash',
      'oauth2_access_tokens.id_token',
      'oauth2_refresh_tokens.token_hash',
      'oauth2_authorization_codes.code_hash',
      'oauth2_providers.client_secret_hash',
      'oauth2_providers.client_id',
      'audit_events.secret_hash_prefix',
      'users.attributes',
      'users.password',
      'sessions.token_hash',
      'sessions.user_agent',
      'roles.permissions',
    ]) {
      expect(names).toContain(expected);
    }
    // The scan reads every column, not only these.
    expect(columns.length).toBeGreaterThan(textual.length);
  });

  it('finds what is there: the hashes of the secrets in their bytea columns, a username in varchar', async () => {
    const tokenKey = [...issued].find(([, source]) => source === 'cli token create')?.[0] ?? '';
    const clientSecret = [...issued].find(([, source]) => source.includes('client secret'))?.[0] ?? '';
    const found = await scan(t.dataSource, columns, [
      sha256(tokenKey).toString('hex'),
      sha256(clientSecret).toString('hex'),
      username,
    ]);
    expect(found).toEqual(
      expect.arrayContaining([
        `api_tokens.key_hash: ${sha256(tokenKey).toString('hex')}`,
        `oauth2_providers.client_secret_hash: ${sha256(clientSecret).toString('hex')}`,
        `users.username: ${username}`,
      ]),
    );
  });

  it('finds no issued plaintext anywhere in the database', async () => {
    expect(await scan(t.dataSource, columns, [...issued.keys()])).toEqual([]);
  });
});

describe('no password or session token in the logs or answers', () => {
  it('signing in, failing to, and the session cookie in use leave neither in the log text', async () => {
    const t = await createTestApp({ LOGIN_FAILURE_LIMIT: '0' });
    try {
      const f = new GrantFactories(t.dataSource);
      const user = await f.user();
      const password = `pw-${unique('logged')}`;
      await t.dataSource.query('UPDATE users SET password = $2 WHERE id = $1', [
        user.id,
        await hashPassword(password),
      ]);
      const { csrf, session } = await signIn(t, user.username, password);
      const account = await t.app
        .getHttpAdapter()
        .getInstance()
        .inject({ method: 'GET', url: '/account/', headers: { cookie: `grantry_session=${session}` } });
      expect(account.statusCode).toBe(200);
      expect(account.body).not.toContain(session);
      expect(t.logs.text).toContain(`user ${user.id} signed in from 127.0.0.1`);
      for (const secret of [password, `${password}-wrong`, session, csrf])
        expect(t.logs.text).not.toContain(secret);
    } finally {
      await t.close();
    }
  });
});

describe('no key in the logs', () => {
  let t: TestApp;
  let key: string;
  let accessToken: string;

  beforeAll(async () => {
    t = await createTestApp({ AUTH_FAILURE_LIMIT: '2' });
    const f = new GrantFactories(t.dataSource);
    const user = await f.user();
    key = await f.apiKey(user);
    accessToken = await f.accessToken(user, { scope: 'goauthentik.io/api' });
  });
  afterAll(() => t.close());

  it('neither valid nor invalid keys, in headers, query strings or paths, reach the log text', async () => {
    const wrong = 'Zr9vQ2mX7kLp4Tn8Wb6Yc1Hd5Fg3Js0A-wrong_key-that-was-never-issued';
    const attempts: [string, string, Record<string, string>, number][] = [
      ['GET', WHOAMI, bearer(key), 200],
      ['GET', WHOAMI, { authorization: `bearer ${accessToken}` }, 200],
      ['GET', `${WHOAMI}?token=${key}`, {}, 403],
      ['GET', `${WHOAMI}?access_token=${accessToken}`, {}, 403],
      ['GET', `${WHOAMI}?api_key=${key}&page=1`, {}, 403],
      ['GET', `${WHOAMI}?q=${key}`, {}, 403],
      ['GET', `${WHOAMI}?${key}`, {}, 403],
      ['GET', `/api/v3/${key}/`, bearer(key), 404],
      ['GET', `/api/v3/oauth2/access_tokens/${accessToken}/`, bearer(key), 404],
      ['DELETE', `/api/v3/oauth2/refresh_tokens/${key}/`, bearer(key), 404],
      ['GET', `/api/v3/oauth2/access_tokens/?search=${encodeURIComponent(key)}`, bearer(key), 200],
      ['GET', `/-/health/live/?key=${key}`, {}, 200],
      ['GET', `/${wrong}`, {}, 404],
      // The two failures that reach AUTH_FAILURE_LIMIT.
      ['GET', WHOAMI, bearer(wrong), 403],
      ['GET', '/api/v3/oauth2/access_tokens/', bearer(`${key}x`), 403],
    ];
    for (const [method, url, headers, status] of attempts) {
      const response = await request(t.app, method as 'GET' | 'DELETE', url, headers);
      expect({ url, status: response.status }).toEqual({ url, status });
      // Nor in any answer.
      for (const secret of [key, accessToken, wrong]) expect(response.text).not.toContain(secret);
    }
    // A throttled guess (two failures so far from 127.0.0.1, the limit), and a valid key, which is always served.
    expect((await request(t.app, 'GET', WHOAMI, bearer(wrong))).status).toBe(429);
    expect((await request(t.app, 'GET', WHOAMI, bearer(key))).status).toBe(200);

    const logs = t.logs.text;
    // Every request was logged, with its (redacted) URL.
    expect(
      t.logs.lines.filter((line) => line.includes('"msg":"incoming request"')).length,
    ).toBeGreaterThanOrEqual(attempts.length + 2);
    expect(logs).toContain('"url":"/api/v3/[redacted]/"');
    expect(logs).toContain('"url":"/api/v3/oauth2/access_tokens/[redacted]/"');
    expect(logs).toContain(`"url":"${WHOAMI}?token=[redacted]"`);
    expect(logs).toContain(`"url":"${WHOAMI}?api_key=[redacted]&page=1"`);
    expect(logs).toContain(`"url":"${WHOAMI}?q=[redacted]"`);
    expect(logs).toContain(`"url":"${WHOAMI}?[redacted]"`);
    for (const secret of [key, accessToken, wrong]) {
      expect(logs).not.toContain(secret);
      // Nor a recognisable piece of one.
      expect(logs).not.toContain(secret.slice(0, 16));
      expect(logs).not.toContain(secret.slice(-16));
    }
    expect(logs.toLowerCase()).not.toContain('bearer ');
  });
});
