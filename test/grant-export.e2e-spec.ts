import { createHash } from 'node:crypto';
import http, { type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client } from 'pg';
import type { UserEntity } from '../src/identity/user.entity';
import { GrantExporter } from '../src/oauth2/grants/grant-export';
import {
  bearer,
  createTestApp,
  openTestDataSource,
  request,
  type TestApp,
  testDatabaseUrl,
} from './support/app';
import { GrantFactories, type GrantType, unique } from './support/factories';

/** The export's columns, in order, written out (the README's contract), not read from the product's EXPORT_COLUMNS. */
const EXPORT_COLUMNS = [
  'pk',
  'type',
  'user_pk',
  'username',
  'provider_pk',
  'provider_name',
  'client_id',
  'application',
  'scope',
  'expires',
  'is_expired',
  'revoked',
  'revoked_at',
  'created',
  'auth_time',
  'session_id',
  'family_id',
] as const;

interface Kind {
  type: GrantType;
  path: string;
  name: string;
  exportType: string;
  isToken: boolean;
}

const KINDS: Kind[] = [
  {
    type: 'access',
    path: '/api/v3/oauth2/access_tokens/',
    name: 'access_tokens',
    exportType: 'access_token',
    isToken: true,
  },
  {
    type: 'refresh',
    path: '/api/v3/oauth2/refresh_tokens/',
    name: 'refresh_tokens',
    exportType: 'refresh_token',
    isToken: true,
  },
  {
    type: 'code',
    path: '/api/v3/oauth2/authorization_codes/',
    name: 'authorization_codes',
    exportType: 'authorization_code',
    isToken: false,
  },
];

const INVALID_CHOICE = ['Select a valid choice. That choice is not one of the available choices.'];
const HOUR = 3600_000;

type Cell = string | number | boolean | null | string[];
type Row = Record<string, Cell>;

interface ListRow {
  pk: number;
  expires: string | null;
  is_expired: boolean;
  scope: string[];
  revoked?: boolean;
  user: { pk: number; username: string };
  provider: { pk: number; name: string; client_id: string; assigned_application_slug: string | null };
}

let t: TestApp;
let f: GrantFactories;
let adminKey: string;
let base: string;

beforeAll(async () => {
  t = await createTestApp({ GRANT_COUNTS_FOLD_MS: '0' }, true);
  f = new GrantFactories(t.dataSource);
  const root = await f.group({ isSuperuser: true });
  const admin = await f.user();
  await f.member(admin, root);
  adminKey = await f.apiKey(admin);
  const address = t.app.getHttpServer().address() as AddressInfo;
  base = `http://127.0.0.1:${address.port}`;
});
afterAll(() => t.close());

const get = (path: string, key = adminKey) => request(t.app, 'GET', path, bearer(key));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function ndjson(text: string): Row[] {
  expect(text === '' || text.endsWith('\n')).toBe(true);
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Row);
}

interface CsvCell {
  value: string;
  quoted: boolean;
}

/**
 * A strict RFC 4180 reader: CRLF record ends (the last record too), `"`-quoted fields with `""` for a quote, no quote
 * or line break inside an unquoted field, nothing after a closing quote but a comma or the record end.
 */
function parseCsv(text: string): CsvCell[][] {
  const records: CsvCell[][] = [];
  let record: CsvCell[] = [];
  let i = 0;
  const fail = (why: string): never => {
    throw new Error(`bad CSV at ${i}: ${why}: ${JSON.stringify(text.slice(Math.max(0, i - 20), i + 20))}`);
  };
  while (i < text.length) {
    let cell: CsvCell;
    if (text[i] === '"') {
      let value = '';
      i += 1;
      for (;;) {
        if (i >= text.length) fail('unterminated quoted field');
        if (text[i] === '"') {
          if (text[i + 1] === '"') {
            value += '"';
            i += 2;
          } else {
            i += 1;
            break;
          }
        } else {
          value += text[i];
          i += 1;
        }
      }
      cell = { value, quoted: true };
    } else {
      let value = '';
      while (i < text.length && text[i] !== ',' && text[i] !== '\r') {
        if (text[i] === '"' || text[i] === '\n') fail('quote or line feed in an unquoted field');
        value += text[i];
        i += 1;
      }
      cell = { value, quoted: false };
    }
    record.push(cell);
    if (text[i] === ',') {
      i += 1;
    } else if (text.startsWith('\r\n', i)) {
      i += 2;
      records.push(record);
      record = [];
    } else fail('expected a comma or CRLF');
  }
  if (record.length > 0) fail('last record without CRLF');
  return records;
}

/** What the CSV cell of an NDJSON value must be. */
function expectedCell(value: Cell): CsvCell {
  if (value === null) return { value: '', quoted: false };
  if (typeof value === 'number' || typeof value === 'boolean') return { value: String(value), quoted: false };
  const text = Array.isArray(value) ? value.join(' ') : value;
  return { value: /^[=+\-@\t\r]/.test(text) ? `'${text}` : text, quoted: true };
}

/** The list's rows, page after page, in pk order. */
async function listAll(path: string, query: string, key = adminKey): Promise<ListRow[]> {
  const rows: ListRow[] = [];
  for (let page = 1; ; page += 1) {
    const response = await get(`${path}?${query}&ordering=pk&page_size=2&page=${page}`, key);
    expect(response.status).toBe(200);
    const body = response.body as { pagination: { total_pages: number }; results: ListRow[] };
    rows.push(...body.results);
    if (page >= body.pagination.total_pages) return rows;
  }
}

/** The export's view of a list row: the fields both carry. */
function fromList(kind: Kind, row: ListRow): Row {
  return {
    pk: row.pk,
    type: kind.exportType,
    user_pk: row.user.pk,
    username: row.user.username,
    provider_pk: row.provider.pk,
    provider_name: row.provider.name,
    client_id: row.provider.client_id,
    application: row.provider.assigned_application_slug,
    scope: row.scope,
    expires: row.expires,
    is_expired: row.is_expired,
    ...(kind.isToken ? { revoked: row.revoked ?? null } : {}),
  };
}

function pick(row: Row, keys: string[]): Row {
  return Object.fromEntries(keys.map((key) => [key, row[key] ?? null]));
}

describe.each(KINDS)('$path export/', (kind) => {
  const exportPath = `${kind.path}export/`;
  let provider: { id: number; name: string };
  let other: { id: number };
  let alice: UserEntity;
  let aliceKey: string;
  const values: string[] = [];
  const alicePks: number[] = [];

  beforeAll(async () => {
    // Names a spreadsheet would run as formulas, and text that needs CSV quoting.
    provider = await f.provider(`=HYPERLINK("http://evil.example/?a,b")-${unique('p')}`);
    await f.application({ providerId: provider.id });
    other = await f.provider();
    alice = await f.user({ username: `@alice, "the" ${unique('u')}\nsecond line` });
    const bob = await f.user({ username: `-bob+${unique('u')}` });
    aliceKey = await f.apiKey(alice);
    const now = Date.now();
    const rows: [number, number, Parameters<GrantFactories['grant']>[3]][] = [
      [alice.id, provider.id, { scope: 'openid email', expires: new Date(now + HOUR) }],
      [bob.id, provider.id, { scope: 'openid', expires: new Date(now - HOUR), revoked: true }],
      [alice.id, other.id, { scope: 'profile', expires: null }],
      [bob.id, provider.id, { scope: '', expires: new Date(now + 2 * HOUR) }],
      [alice.id, provider.id, { scope: 'openid offline_access', expires: new Date(now - 2 * HOUR) }],
    ];
    for (const [userId, providerId, options] of rows) {
      const grant = await f.grant(kind.type, userId, providerId, {
        ...options,
        idToken: { nonce: `nonce-${unique('n')}`, at_hash: 'AT-HASH-MARKER', sub: 'sub-marker' },
      });
      values.push(grant.value);
      if (userId === alice.id) alicePks.push(grant.pk);
    }
    await t.dataSource.query(
      `UPDATE oauth2_${kind.name}
          SET auth_time = '2030-01-02T03:04:05.678901Z', session_id = gen_random_uuid()::text,
              family_id = gen_random_uuid()
        WHERE id = $1`,
      [alicePks[0]],
    );
  });

  it('ndjson of a filtered set equals the paginated list, page after page, in pk order', async () => {
    // The unfiltered export also holds other suites' grants (one shared database), some expiring within seconds:
    // their is_expired may flip between the list's request and the export's, so it is not compared for them.
    const settled = (row: Record<string, unknown>): Record<string, unknown> => {
      const expires = typeof row.expires === 'string' ? Date.parse(row.expires) : NaN;
      return Math.abs(expires - Date.now()) < 10 * 60_000 ? { ...row, is_expired: 'expiring now' } : row;
    };
    for (const filter of [`provider=${provider.id}`, `user=${alice.id}`, `search=HYPERLINK`, '']) {
      const listed = (await listAll(kind.path, filter)).map((row) => settled(fromList(kind, row)));
      const response = await get(`${exportPath}?${filter}`);
      expect(response.status).toBe(200);
      const exported = ndjson(response.text);
      expect(exported.map((row) => settled(pick(row, Object.keys(listed[0] ?? {}))))).toEqual(listed);
      expect(exported.map((row) => Object.keys(row))).toEqual(exported.map(() => [...EXPORT_COLUMNS]));
    }
    const exported = ndjson((await get(`${exportPath}?provider=${provider.id}`)).text);
    expect(exported.length).toBe(4);
  });

  it('carries created, auth_time, session and family as stored', async () => {
    const [row] = await t.dataSource.query<{ created: Date; session_id: string; family_id: string }[]>(
      `SELECT created, session_id, family_id FROM oauth2_${kind.name} WHERE id = $1`,
      [alicePks[0]],
    );
    const exported = ndjson((await get(`${exportPath}?user=${alice.id}&format=ndjson`)).text);
    expect(pick(exported[0] ?? {}, ['pk', 'auth_time', 'session_id', 'family_id'])).toEqual({
      pk: alicePks[0],
      auth_time: '2030-01-02T03:04:05.678901Z',
      session_id: row?.session_id,
      family_id: row?.family_id,
    });
    expect(new Date(String(exported[0]?.created)).getTime()).toBe(row?.created.getTime());
    expect(exported[1]?.session_id).toBeNull();
  });

  it('csv is RFC 4180 with a header, the same rows, and formula-like text defused', async () => {
    const json = ndjson((await get(`${exportPath}?provider=${provider.id}&search=a`)).text);
    const response = await get(`${exportPath}?provider=${provider.id}&search=a&format=csv`);
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toBe('text/csv; charset=utf-8');
    expect(response.headers['content-disposition']).toMatch(
      new RegExp(`^attachment; filename="${kind.name}-\\d{8}T\\d{6}Z\\.csv"$`),
    );
    const [header, ...records] = parseCsv(response.text);
    expect(header).toEqual(EXPORT_COLUMNS.map((column) => ({ value: column, quoted: false })));
    expect(records).toEqual(
      json.map((row) => EXPORT_COLUMNS.map((column) => expectedCell(row[column] ?? null))),
    );
    // The defused cells, literally.
    expect(response.text).toContain(`"'=HYPERLINK(""http://evil.example/?a,b"")-`);
    expect(response.text).toContain(`"'@alice, ""the"" `);
    expect(response.text).toContain(`"'-bob+`);
  });

  it('an empty csv export is the header row alone; an empty ndjson export is empty', async () => {
    const user = await f.user();
    const csv = await get(`${exportPath}?user=${user.id}&format=csv`);
    expect([csv.status, csv.text]).toEqual([200, `${EXPORT_COLUMNS.join(',')}\r\n`]);
    const json = await get(`${exportPath}?user=${user.id}`);
    expect([json.status, json.text, json.headers['content-type']]).toEqual([200, '', 'application/x-ndjson']);
    expect(json.headers['content-disposition']).toMatch(
      new RegExp(`^attachment; filename="${kind.name}-\\d{8}T\\d{6}Z\\.ndjson"$`),
    );
  });

  it('never contains a secret, its hash or the ID token', async () => {
    const [hashes] = await t.dataSource.query<{ hexes: string[] }[]>(
      `SELECT array_agg(encode(${kind.type === 'code' ? 'code_hash' : 'token_hash'}, 'hex')) AS hexes
         FROM oauth2_${kind.name} WHERE provider_id = ANY($1)`,
      [[provider.id, other.id]],
    );
    expect(hashes?.hexes.length).toBe(5);
    for (const format of ['ndjson', 'csv']) {
      const text = (await get(`${exportPath}?format=${format}`)).text;
      expect(text).toContain(String(alicePks[0]));
      const hexes = hashes?.hexes ?? [];
      const base64 = hexes.map((hex) => Buffer.from(hex, 'hex').toString('base64'));
      const leaked = [...values, ...hexes, ...base64, 'AT-HASH-MARKER', 'sub-marker', 'nonce-'].filter(
        (secret) => text.includes(secret) || text.toLowerCase().includes(secret.toLowerCase()),
      );
      expect(leaked).toEqual([]);
      expect(text).not.toContain('id_token');
    }
    const raw = createHash('sha256')
      .update(values[0] ?? '')
      .digest('hex');
    expect(hashes?.hexes).toContain(raw);
  });

  it('a plain user exports only their own grants, as their list shows them', async () => {
    const own = (await listAll(kind.path, '', aliceKey)).map((row) => row.pk);
    expect(own).toEqual(alicePks);
    const exported = ndjson((await get(exportPath, aliceKey)).text).map((row) => row.pk);
    expect(exported).toEqual(alicePks);
    const filtered = ndjson((await get(`${exportPath}?provider=${provider.id}`, aliceKey)).text);
    expect(filtered.map((row) => row.pk)).toEqual([alicePks[0], alicePks[2]]);
  });

  it('errors before the first byte are JSON: 403 anonymous, 400 for format and filters', async () => {
    const anonymous = await request(t.app, 'GET', exportPath);
    expect([anonymous.status, anonymous.body]).toEqual([
      403,
      { detail: 'Authentication credentials were not provided.' },
    ]);
    const cases: [string, unknown][] = [
      ['format=xml', { format: ['"xml" is not a valid choice.'] }],
      ['format=CSV', { format: ['"CSV" is not a valid choice.'] }],
      ['user=abc', { user: INVALID_CHOICE }],
      ['user=2147483647', { user: INVALID_CHOICE }],
      ['provider=2147483647&user=x', { user: INVALID_CHOICE, provider: INVALID_CHOICE }],
      ['valid_at=yesterday', { valid_at: ['Enter a valid date/time.'] }],
      ['valid_at=2026-02-30', { valid_at: ['Enter a valid date/time.'] }],
      ['valid_at=2026-01-01T24:00:00Z', { valid_at: ['Enter a valid date/time.'] }],
      ['valid_at=2026-01-01T00:00:00%2B25:00', { valid_at: ['Enter a valid date/time.'] }],
      ['valid_at=1700000000', { valid_at: ['Enter a valid date/time.'] }],
      ['valid_at=%00', { valid_at: ['Null characters are not allowed.'] }],
      ['format=csv&valid_at=soon&user=x', { user: INVALID_CHOICE, valid_at: ['Enter a valid date/time.'] }],
    ];
    for (const [query, body] of cases) {
      const response = await get(`${exportPath}?${query}`);
      expect([query, response.status, response.body, response.headers['content-type']]).toEqual([
        query,
        400,
        body,
        'application/json; charset=utf-8',
      ]);
    }
    const post = await request(t.app, 'POST', exportPath, bearer(adminKey));
    expect([post.status, post.body, post.headers.allow]).toEqual([
      405,
      { detail: 'Method "POST" not allowed.' },
      'GET, HEAD, OPTIONS',
    ]);
  });

  it('HEAD answers the headers without reading the export', async () => {
    const exports = () => t.logs.lines.filter((line) => line.includes('export of oauth2_')).length;
    const before = exports();
    await get(exportPath);
    expect(exports()).toBe(before + 1); // an export that ran is logged
    const head = await request(t.app, 'HEAD', `${exportPath}?format=csv`, bearer(adminKey));
    expect([head.status, head.text, head.headers['content-type']]).toEqual([
      200,
      '',
      'text/csv; charset=utf-8',
    ]);
    expect(exports()).toBe(before + 1);
  });

  it('the static export/ route wins over :id, and :id still works beside it', async () => {
    const response = await get(`${kind.path}export`);
    expect(response.status).toBe(200);
    const one = await get(`${kind.path}${alicePks[0]}/`);
    expect([one.status, (one.body as { pk: number }).pk]).toEqual([200, alicePks[0]]);
  });
});

describe('a large export', () => {
  const ROWS = 50_000;
  const path = '/api/v3/oauth2/access_tokens/export/';
  let providerId: number;
  let exporter: GrantExporter;

  beforeAll(async () => {
    exporter = t.app.get(GrantExporter);
    const user = await f.user();
    providerId = (await f.provider()).id;
    // About 700 bytes a row: 35 MB in all, more than the socket buffers between server and client can hold.
    const scope = Array.from({ length: 40 }, (_, i) => `scope-${i}-xxxxxx`).join(' ');
    // Without the app's statement timeout: the count triggers split 2,000,000 scope words in this one statement.
    const writer = await openTestDataSource('grantry-export-fixture', 1);
    try {
      await writer.query(
        `INSERT INTO oauth2_access_tokens (provider_id, user_id, token_hash, scope, expires, expiring, id_token)
         SELECT $1, $2, sha256(convert_to($3 || i, 'UTF8')), $4, now() + interval '1 hour', true, '{}'
           FROM generate_series(1, $5::int) i`,
        [providerId, user.id, unique('bulk'), scope, ROWS],
      );
    } finally {
      await writer.destroy();
    }
  }, 180_000);
  // Leave the table as found for the other tests of this file.
  // On a connection of its own: the failure test below leaves the app's database circuit open for a moment.
  afterAll(async () => {
    const cleaner = await openTestDataSource('grantry-export-cleanup', 1);
    try {
      await cleaner.query('DELETE FROM oauth2_access_tokens WHERE provider_id = $1', [providerId]);
    } finally {
      await cleaner.destroy();
    }
  }, 180_000);

  function open(query: string): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      http.get(`${base}${path}?${query}`, { headers: bearer(adminKey) }, resolve).on('error', reject);
    });
  }

  function current(): { rows: number; outcome?: string } {
    const running = [...exporter.running];
    expect(running.length).toBe(1);
    return running[0] as { rows: number; outcome?: string };
  }

  /** Waits until the export's rows-read count stops moving (the server waits for the client). */
  async function stalled(progress: { rows: number }): Promise<number> {
    let last = -1;
    let still = 0;
    while (still < 10) {
      await sleep(50);
      still = progress.rows === last ? still + 1 : 0;
      last = progress.rows;
    }
    return last;
  }

  async function until(condition: () => Promise<boolean> | boolean, what: string): Promise<void> {
    for (let i = 0; i < 400; i += 1) {
      if (await condition()) return;
      await sleep(25);
    }
    throw new Error(`timed out waiting for ${what}`);
  }

  // The failure test leaves the app's database circuit open for a moment; the tests run in any order (--randomize).
  beforeEach(() =>
    until(async () => (await get('/-/health/ready/')).status === 200, 'the database circuit to close'),
  );

  it('streams: a client that stops reading stops the reading, and then gets every row in pk order', async () => {
    const response = await open(`provider=${providerId}`);
    expect(response.statusCode).toBe(200);
    const chunks: Buffer[] = [];
    await new Promise<void>((resolve) => {
      response.once('data', (chunk: Buffer) => {
        chunks.push(chunk);
        response.pause();
        resolve();
      });
    });
    const progress = current();
    const held = await stalled(progress);
    // The server read at most what the socket buffers hold beyond what the client took, not the whole result.
    expect({ held, below: held < ROWS / 2 }).toEqual({ held, below: true });

    response.on('data', (chunk: Buffer) => chunks.push(chunk));
    response.resume();
    const complete = await new Promise<boolean>((resolve) =>
      response.on('end', () => resolve(response.complete)),
    );
    expect(complete).toBe(true);
    const pks = ndjson(Buffer.concat(chunks).toString('utf8')).map((row) => row.pk as number);
    expect(pks.length).toBe(ROWS);
    expect(pks.every((pk, i) => i === 0 || pk > (pks[i - 1] ?? Infinity))).toBe(true);
    expect([progress.outcome, progress.rows]).toEqual(['complete', ROWS]);
    expect(exporter.running.size).toBe(0);
  }, 180_000);

  it('a client that disconnects stops the export and leaves no query running', async () => {
    const response = await open(`provider=${providerId}&format=csv`);
    await new Promise<void>((resolve) => response.once('data', () => resolve()));
    const progress = current();
    response.destroy();
    await until(() => exporter.running.size === 0, 'the export to end');
    expect(progress.outcome).toBe('aborted');
    expect({ rows: progress.rows, below: progress.rows < ROWS }).toEqual({
      rows: progress.rows,
      below: true,
    });
    const running = await t.dataSource.query<{ state: string }[]>(
      `SELECT state FROM pg_stat_activity
        WHERE query LIKE '/* grantry:export */%' AND (state <> 'idle' OR xact_start IS NOT NULL)
          AND pid <> pg_backend_pid()`,
    );
    expect(running).toEqual([]);
  }, 180_000);

  it('a read failing after the transfer started cuts the connection: no complete-looking file', async () => {
    const response = await open(`provider=${providerId}`);
    let bytes = 0;
    await new Promise<void>((resolve) =>
      response.once('data', (chunk: Buffer) => {
        bytes += chunk.length;
        response.pause();
        resolve();
      }),
    );
    const progress = current();
    await stalled(progress);
    const blocker = new Client({ connectionString: testDatabaseUrl(), application_name: 'export-blocker' });
    await blocker.connect();
    try {
      await blocker.query('BEGIN');
      await blocker.query('LOCK TABLE oauth2_access_tokens IN ACCESS EXCLUSIVE MODE');
      const ended = new Promise<{ complete: boolean; ended: boolean }>((resolve) => {
        let ended = false;
        response.on('end', () => (ended = true));
        response.on('close', () => resolve({ complete: response.complete, ended }));
        response.on('error', () => undefined);
      });
      response.on('data', (chunk: Buffer) => (bytes += chunk.length));
      response.resume();
      let pid: number | undefined;
      await until(async () => {
        const rows = await blocker.query<{ pid: number }>(
          `SELECT pid FROM pg_stat_activity WHERE query LIKE '/* grantry:export */%' AND wait_event_type = 'Lock'`,
        );
        pid = rows.rows[0]?.pid;
        return pid !== undefined;
      }, 'the export to wait for the lock');
      await blocker.query('SELECT pg_terminate_backend($1)', [pid]);
      await blocker.query('ROLLBACK');
      const result = await ended;
      expect(result).toEqual({ complete: false, ended: false });
      expect(progress.outcome).toBe('failed');
      expect(bytes).toBeGreaterThan(0);
    } finally {
      await blocker.query('ROLLBACK').catch(() => undefined);
      await blocker.end();
    }
  }, 180_000);
});
