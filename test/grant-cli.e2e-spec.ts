/**
 * `grantry grants revoke` and `grantry grants export` (issue 14): the incident operations for an operator with a
 * shell and no API key. The built CLI is run as a user would, on this suite's database; its answers are checked
 * against the database and against the API's own bulk_revoke and export on the same grants.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sha256 } from '../src/common/crypto/secrets';
import type { UserEntity } from '../src/identity/user.entity';
import { BULK_REVOKE_LIMITS } from '../src/oauth2/grants/bulk-revoke';
import {
  bearer,
  createTestApp,
  request,
  TEST_SECRET_KEY,
  type TestApp,
  testDatabaseUrl,
} from './support/app';
import { GRANT_TABLES, GrantFactories, type GrantType, unique } from './support/factories';
import { type Run, runProcess } from './support/process';

const ROOT = path.resolve(__dirname, '..');
const CLI = path.join(ROOT, 'dist/src/cli/main.js');
const HOUR = 3600_000;
const DATETIME_FORMAT =
  'Datetime has wrong format. Use one of these formats instead: YYYY-MM-DD, YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z].';
const INVALID_CHOICE = 'Select a valid choice. That choice is not one of the available choices.';

let t: TestApp;
let f: GrantFactories;
let adminKey: string;

beforeAll(async () => {
  t = await createTestApp();
  f = new GrantFactories(t.dataSource);
  adminKey = (await f.superuser()).key;
});
afterAll(() => t?.close());

function cli(
  args: string[],
  env: Record<string, string> = { DATABASE_URL: testDatabaseUrl(), SECRET_KEY: TEST_SECRET_KEY },
): Promise<Run> {
  return runProcess(process.execPath, [CLI, 'grants', ...args], { cwd: ROOT, env });
}

/** A --json run that succeeded: its one JSON object, alone on stdout. */
async function json(args: string[]): Promise<Record<string, unknown>> {
  const run = await cli([...args, '--json']);
  expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
  expect(run.stdout.trimEnd().split('\n')).toHaveLength(1);
  return JSON.parse(run.stdout) as Record<string, unknown>;
}

/** A --json run that failed: nothing on stdout, one error object on stderr; answers the exit code and message. */
async function failure(args: string[]): Promise<[number | null, string]> {
  const run = await cli([...args, '--json']);
  expect(run.stdout).toBe('');
  const body = JSON.parse(run.stderr) as { error: string };
  expect(run.stderr).toBe(`${JSON.stringify({ error: body.error })}\n`);
  return [run.code, body.error];
}

async function revokedPks(type: GrantType, providerId: number): Promise<number[]> {
  const rows = await t.dataSource.query<{ id: number }[]>(
    `SELECT id FROM ${GRANT_TABLES[type].table} WHERE provider_id = $1 AND revoked ORDER BY id`,
    [providerId],
  );
  return rows.map((row) => row.id);
}

const sorted = (ids: number[]): number[] => [...ids].sort((a, b) => a - b);

interface Seeded {
  provider: { id: number; clientId: string };
  slug: string;
  alice: UserEntity;
  bob: UserEntity;
  /** Alice's live, unrevoked access tokens (what `--user alice --is-expired false` revokes). */
  aliceLive: number[];
  aliceExpired: number;
  aliceRevoked: number;
  bobLive: number[];
  values: string[];
}

async function seed(): Promise<Seeded> {
  const provider = await f.provider();
  const { slug } = await f.application({ providerId: provider.id });
  const alice = await f.user();
  const bob = await f.user();
  const values: string[] = [];
  const grant = async (user: UserEntity, options: Parameters<GrantFactories['grant']>[3] = {}) => {
    const made = await f.grant('access', user.id, provider.id, { scope: 'openid email', ...options });
    values.push(made.value);
    return made.pk;
  };
  const aliceLive = [await grant(alice), await grant(alice), await grant(alice, { expires: null })];
  const aliceExpired = await grant(alice, { expires: new Date(Date.now() - HOUR) });
  const aliceRevoked = await grant(alice, { revoked: true });
  const bobLive = [await grant(bob), await grant(bob, { scope: 'openid' })];
  return {
    provider: { id: provider.id, clientId: provider.clientId },
    slug,
    alice,
    bob,
    aliceLive,
    aliceExpired,
    aliceRevoked,
    bobLive,
    values,
  };
}

describe('grants revoke', () => {
  it('dry run and real run agree, exactly as bulk_revoke/, recorded as grantry-cli; a repeat revokes 0', async () => {
    const s = await seed();
    const filters = ['--type', 'access', '--user', String(s.alice.id), '--is-expired', 'false'];
    // The API's own dry run of the same predicate, for comparison.
    const api = await t.app
      .getHttpAdapter()
      .getInstance()
      .inject({
        method: 'POST',
        url: '/api/v3/oauth2/access_tokens/bulk_revoke/',
        headers: { 'content-type': 'application/json', ...bearer(adminKey) },
        payload: JSON.stringify({ user: s.alice.id, is_expired: false, dry_run: true }),
      });
    expect(api.statusCode).toBe(200);

    const dry = await json(['revoke', ...filters, '--dry-run']);
    expect(dry).toEqual({
      type: 'access',
      dry_run: true,
      model: 'authentik_providers_oauth2.accesstoken',
      count: 3,
      first_ids: s.aliceLive,
      own_only: false,
    });
    expect({ type: 'access', ...(JSON.parse(api.body) as object) }).toEqual(dry);
    const dryText = await cli(['revoke', ...filters, '--dry-run']);
    expect(dryText).toEqual({
      code: 0,
      stdout: `Would revoke 3 access tokens (dry run: nothing revoked).\nAccess token pks: ${s.aliceLive.join(', ')}\n`,
      stderr: '',
    });
    expect(await revokedPks('access', s.provider.id)).toEqual([s.aliceRevoked]);

    const eventsBefore = await t.dataSource.query<{ max: string | null }[]>(
      'SELECT max(id)::text AS max FROM audit_events',
    );
    const real = await json(['revoke', ...filters]);
    expect(real).toEqual({ ...dry, dry_run: false });
    expect(await revokedPks('access', s.provider.id)).toEqual(sorted([s.aliceRevoked, ...s.aliceLive]));

    const events = await t.dataSource.query<Record<string, unknown>[]>(
      `SELECT action, actor_user_id, actor_username, object_user_id, object_provider_id, request_id,
              context->'bulk_revoke' AS bulk_revoke, context ? 'http_request' AS has_request
         FROM audit_events WHERE id > $1 ORDER BY id`,
      [eventsBefore[0]?.max ?? '0'],
    );
    expect(events).toEqual([
      {
        action: 'model_updated',
        actor_user_id: null,
        actor_username: 'grantry-cli',
        object_user_id: s.alice.id,
        object_provider_id: null,
        request_id: null,
        bulk_revoke: {
          model: 'authentik_providers_oauth2.accesstoken',
          filters: { user: s.alice.id, is_expired: false },
          count: 3,
          own_only: false,
          complete: true,
        },
        has_request: false,
      },
    ]);

    const again = await cli(['revoke', ...filters]);
    expect(again).toEqual({ code: 0, stdout: 'Revoked 0 access tokens.\n', stderr: '' });
    expect(await revokedPks('access', s.provider.id)).toEqual(sorted([s.aliceRevoked, ...s.aliceLive]));
  });

  it('takes every filter of bulk_revoke/: by application, client id, username, scope and instants', async () => {
    const s = await seed();
    const base = ['revoke', '--type', 'access', '--dry-run'];
    const count = async (args: string[]): Promise<unknown> => (await json([...base, ...args])).count;
    expect(await count(['--application', s.slug])).toBe(6);
    expect(await count(['--client-id', s.provider.clientId])).toBe(6);
    expect(await count(['--username', s.bob.username])).toBe(2);
    expect(await count(['--provider', String(s.provider.id), '--scope', 'email,openid'])).toBe(5);
    const now = new Date().toISOString();
    expect(await count(['--provider', String(s.provider.id), '--valid-at', now])).toBe(5);
    expect(await count(['--provider', String(s.provider.id), '--expires-lt', now])).toBe(1);
    // A date alone is midnight UTC, for revoke as for export (the body reads instants as the list does).
    const dated = ['--provider', String(s.provider.id), '--expires-lt', '2999-01-01'];
    // (A revocation counts the grants not revoked yet: the export is asked for those.)
    const exported = await cli(['export', '--type', 'access', ...dated, '--revoked', 'false']);
    const exportedRows = exported.stdout.split('\n').filter(Boolean).length;
    expect({ code: exported.code, stderr: exported.stderr }).toEqual({
      code: 0,
      stderr: `Exported ${exportedRows} access tokens as ndjson.\n`,
    });
    const expiring = await count([
      '--provider',
      String(s.provider.id),
      '--expires-lt',
      '2999-01-01T00:00:00Z',
    ]);
    expect(expiring).toBeGreaterThan(0);
    expect({ revoke: await count(dated), exported: exportedRows }).toEqual({
      revoke: expiring,
      exported: expiring,
    });
    expect(
      await count(['--provider', String(s.provider.id), '--expires-gte', now, '--created-lt', now]),
    ).toBe(4);
    expect(await count(['--provider', String(s.provider.id), '--created-gte', now])).toBe(0);
    expect(await revokedPks('access', s.provider.id)).toEqual([s.aliceRevoked]);
  });

  it('a refresh token revocation can take the access tokens of the same authorizations', async () => {
    const provider = await f.provider();
    const user = await f.user();
    const family = '6f1c1a56-0d8f-4a5e-9a55-3f5c2f8e2b10';
    const refresh = (await f.grant('refresh', user.id, provider.id)).pk;
    const access = [
      (await f.grant('access', user.id, provider.id)).pk,
      (await f.grant('access', user.id, provider.id)).pk,
    ];
    await f.grant('access', user.id, provider.id); // another authorization: stays
    await t.dataSource.query(`UPDATE oauth2_refresh_tokens SET family_id = $1 WHERE id = $2`, [
      family,
      refresh,
    ]);
    await t.dataSource.query(`UPDATE oauth2_access_tokens SET family_id = $1 WHERE id = ANY($2)`, [
      family,
      access,
    ]);
    const args = [
      'revoke',
      '--type',
      'refresh',
      '--provider',
      String(provider.id),
      '--include-access-tokens',
    ];
    const run = await cli(args);
    expect(run).toEqual({
      code: 0,
      stdout:
        'Revoked 1 refresh token and 2 access tokens of the same authorizations.\n' +
        `Refresh token pks: ${refresh}\nAccess token pks: ${access.join(', ')}\n`,
      stderr: '',
    });
    expect(await revokedPks('refresh', provider.id)).toEqual([refresh]);
    expect(await revokedPks('access', provider.id)).toEqual(access);
  });

  it('a real run goes in bounded batches: the count is exact across batches', async () => {
    // The CLI is another process: its batch size is the product's. 12,000 rows make three batches of 5,000.
    expect(BULK_REVOKE_LIMITS.batchSize).toBe(5000);
    const provider = await f.provider();
    const user = await f.user();
    await t.dataSource.query(
      `INSERT INTO oauth2_authorization_codes (provider_id, user_id, code_hash, scope, expires, expiring, revoked)
       SELECT $1, $2, sha256(convert_to($3 || i::text, 'UTF8')), 'openid', now() + interval '1 hour', true, false
         FROM generate_series(1, 12000) i`,
      [provider.id, user.id, unique('code')],
    );
    const first = await t.dataSource.query<{ id: number }[]>(
      'SELECT id FROM oauth2_authorization_codes WHERE provider_id = $1 ORDER BY id LIMIT 100',
      [provider.id],
    );
    const preview = await cli(['revoke', '--type', 'code', '--provider', String(provider.id), '--dry-run']);
    expect(preview).toEqual({
      code: 0,
      stdout:
        'Would revoke 12000 authorization codes (dry run: nothing revoked).\n' +
        `Authorization code pks (the first 100 of 12000): ${first.map((row) => row.id).join(', ')}\n`,
      stderr: '',
    });
    const result = await json(['revoke', '--type', 'code', '--provider', String(provider.id)]);
    expect(result).toMatchObject({ dry_run: false, count: 12000 });
    expect((result.first_ids as number[]).length).toBe(100);
    const ids = result.first_ids as number[];
    expect(ids).toEqual(sorted(ids));
    const [left] = await t.dataSource.query<{ n: number }[]>(
      'SELECT count(*)::int AS n FROM oauth2_authorization_codes WHERE provider_id = $1 AND NOT revoked',
      [provider.id],
    );
    expect(left?.n).toBe(0);
    const text = await cli(['revoke', '--type', 'code', '--provider', String(provider.id), '--dry-run']);
    expect(text.stdout).toBe('Would revoke 0 authorization codes (dry run: nothing revoked).\n');
  });

  it('refuses an empty predicate and bad values with exit 1, naming the option, revoking nothing', async () => {
    const s = await seed();
    const empty =
      'at least one filter is required for "grants revoke": --user, --provider, --is-expired, --expires-lt, ' +
      '--expires-gte, --created-lt, --created-gte, --valid-at, --scope, --application, --client-id, --username; ' +
      'revoking every grant is refused (to mean it, say so with a filter, e.g. --is-expired false)';
    const cases: [string[], string][] = [
      [['--type', 'access'], empty],
      [['--type', 'refresh', '--dry-run', '--include-access-tokens'], empty],
      [['--type', 'access', '--valid-at', 'soon'], `option --valid-at "soon": ${DATETIME_FORMAT}`],
      [
        ['--type', 'access', '--expires-lt', '2024-02-30T00:00:00Z', '--scope', ' , '],
        `option --expires-lt "2024-02-30T00:00:00Z": ${DATETIME_FORMAT}; option --scope " , ": This field may not be blank.`,
      ],
      [
        ['--type', 'access', '--user', 'abc'],
        'option --user must be a whole number from 1 to 2147483647, got "abc"',
      ],
      [['--type', 'access', '--user', '2000000000'], `option --user "2000000000": ${INVALID_CHOICE}`],
      [
        ['--type', 'access', '--is-expired', 'yes'],
        'option --is-expired must be one of true, false, got "yes"',
      ],
      [
        ['--type', 'access', '--user', String(s.alice.id), '--include-access-tokens'],
        'option --include-access-tokens applies to --type refresh only',
      ],
      [['--type', 'access', '--revoked', 'false'], 'unknown option --revoked for "grants revoke"'],
      [['--user', '1'], 'missing required option --type for "grants revoke"'],
    ];
    for (const [args, message] of cases) {
      expect([args, ...(await failure(['revoke', ...args]))]).toEqual([args, 1, message]);
    }
    const text = await cli(['revoke', '--type', 'access']);
    expect(text).toEqual({ code: 1, stdout: '', stderr: `error: ${empty}\n` });
    expect(await revokedPks('access', s.provider.id)).toEqual([s.aliceRevoked]);
  });
});

it('needs the database only: no SECRET_KEY, no key file written', async () => {
  const s = await seed();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'grantry-no-key-'));
  try {
    const env = { DATABASE_URL: testDatabaseUrl(), DATA_DIR: dataDir };
    const revoke = await cli(['revoke', '--type', 'access', '--username', s.bob.username], env);
    expect(revoke).toEqual({
      code: 0,
      stdout: `Revoked 2 access tokens.\nAccess token pks: ${s.bobLive.join(', ')}\n`,
      stderr: '',
    });
    const exported = await cli(
      ['export', '--type', 'access', '--username', s.bob.username, '--revoked', 'true'],
      env,
    );
    expect([exported.code, exported.stderr, exported.stdout.trimEnd().split('\n').length]).toEqual([
      0,
      'Exported 2 access tokens as ndjson.\n',
      2,
    ]);
    expect(fs.readdirSync(dataDir)).toEqual([]);
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});

describe('grants export', () => {
  async function apiExport(query: string): Promise<string> {
    const response = await request(
      t.app,
      'GET',
      `/api/v3/oauth2/access_tokens/export/?${query}`,
      bearer(adminKey),
    );
    expect(response.status).toBe(200);
    return response.text;
  }

  it('writes to stdout exactly what the API exports, NDJSON and CSV, with the summary on stderr', async () => {
    const s = await seed();
    const ndjson = await cli(['export', '--type', 'access', '--provider', String(s.provider.id)]);
    const expected = await apiExport(`provider=${s.provider.id}`);
    expect(ndjson).toEqual({ code: 0, stdout: expected, stderr: 'Exported 7 access tokens as ndjson.\n' });
    const pks = expected
      .trimEnd()
      .split('\n')
      .map((line) => (JSON.parse(line) as { pk: number }).pk);
    expect(pks).toEqual(sorted([...s.aliceLive, s.aliceExpired, s.aliceRevoked, ...s.bobLive]));
    // No secret and no hash of one.
    for (const value of s.values) {
      expect(ndjson.stdout).not.toContain(value);
      expect(ndjson.stdout).not.toContain(sha256(value).toString('hex'));
    }

    const args = [
      '--username',
      s.alice.username,
      '--is-expired',
      'false',
      '--revoked',
      'false',
      '--format',
      'csv',
    ];
    const csv = await cli(['export', '--type', 'access', ...args, '--json']);
    const csvExpected = await apiExport(
      `username=${encodeURIComponent(s.alice.username)}&is_expired=false&revoked=false&format=csv`,
    );
    expect(csv).toEqual({
      code: 0,
      stdout: csvExpected,
      stderr: `${JSON.stringify({ type: 'access', format: 'csv', rows: 3, output: null })}\n`,
    });
    expect(csvExpected.split('\r\n')).toHaveLength(5); // header, three rows, the last line's end

    const searched = await cli([
      'export',
      '--type',
      'access',
      '--search',
      s.bob.username,
      '--valid-at',
      new Date().toISOString(),
    ]);
    expect(searched.code).toBe(0);
    expect(
      searched.stdout
        .trimEnd()
        .split('\n')
        .map((line) => (JSON.parse(line) as { pk: number }).pk),
    ).toEqual(s.bobLive);
  });

  it('--output writes the file (mode 0600, no partial file left), the summary on stdout', async () => {
    const s = await seed();
    const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'grantry-export-'));
    try {
      const file = path.join(directory, 'alice.csv');
      fs.writeFileSync(file, 'old content');
      const run = await cli([
        'export',
        '--type',
        'access',
        '--user',
        String(s.alice.id),
        '--format',
        'csv',
        '--output',
        file,
      ]);
      expect(run).toEqual({ code: 0, stdout: `Exported 5 access tokens as csv to ${file}.\n`, stderr: '' });
      expect(fs.readFileSync(file, 'utf8')).toBe(await apiExport(`user=${s.alice.id}&format=csv`));
      expect(fs.statSync(file).mode & 0o777).toBe(0o600);
      expect(fs.readdirSync(directory)).toEqual(['alice.csv']);

      const empty = await json([
        'export',
        '--type',
        'code',
        '--provider',
        String(s.provider.id),
        '--output',
        path.join(directory, 'none.ndjson'),
      ]);
      expect(empty).toEqual({
        type: 'code',
        format: 'ndjson',
        rows: 0,
        output: path.join(directory, 'none.ndjson'),
      });
      expect(fs.readFileSync(path.join(directory, 'none.ndjson'), 'utf8')).toBe('');
    } finally {
      fs.rmSync(directory, { recursive: true, force: true });
    }
  });

  it('refuses bad values with exit 1, naming the option, before writing anything', async () => {
    const missing = path.join(os.tmpdir(), unique('no-such-dir'), 'out.csv');
    const cases: [string[], string][] = [
      [['--valid-at', 'soon'], 'option --valid-at "soon": Enter a valid date/time.'],
      [
        ['--is-expired', 'true', '--revoked', 'maybe'],
        'option --revoked must be one of true, false, got "maybe"',
      ],
      [
        ['--expires-gte', '2024-13-01', '--application', 'not a slug'],
        'option --expires-gte "2024-13-01": Enter a valid date/time.; option --application "not a slug": Enter a ' +
          'valid “slug” consisting of letters, numbers, underscores or hyphens.',
      ],
      [['--provider', '2000000000'], `option --provider "2000000000": ${INVALID_CHOICE}`],
      [['--format', 'xml'], 'option --format must be one of ndjson, csv, got "xml"'],
      [['--output', missing], `option --output: directory "${path.dirname(missing)}" does not exist`],
    ];
    for (const [args, message] of cases) {
      expect([args, ...(await failure(['export', '--type', 'access', ...args]))]).toEqual([args, 1, message]);
    }
    expect(fs.existsSync(path.dirname(missing))).toBe(false);
  });
});
