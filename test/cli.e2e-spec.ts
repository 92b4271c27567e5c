import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import type { DataSource } from 'typeorm';
import { ADMIN_GROUP } from '../src/bootstrap/bootstrap';
import { AuthService } from '../src/common/auth/auth.service';
import { sha256 } from '../src/common/crypto/secrets';
import { verifyPassword } from '../src/identity/password';
import { type EmbeddedPostgres, startEmbeddedPostgres } from '../src/database/embedded-postgres';
import { openTestDataSource, testDatabaseUrl } from './support/app';
import { unique } from './support/factories';
import { type Run, runProcess } from './support/process';

const ROOT = path.resolve(__dirname, '..');
const MAIN = path.join(ROOT, 'dist/src/cli/main.js');

/** Runs the built CLI as a user would, with only the environment given (plus PATH). */
function cli(
  args: string[],
  env: Record<string, string> = { DATABASE_URL: testDatabaseUrl() },
  stdin?: string,
): Promise<Run> {
  return runProcess(process.execPath, [MAIN, ...args], { cwd: ROOT, env, stdin });
}

/** The one JSON object a successful --json run prints, after checking it is alone on stdout. */
async function json(args: string[]): Promise<Record<string, unknown>> {
  const run = await cli([...args, '--json']);
  expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
  expect(run.stdout.endsWith('\n')).toBe(true);
  expect(run.stdout.trimEnd().split('\n')).toHaveLength(1);
  return JSON.parse(run.stdout) as Record<string, unknown>;
}

/** A failing --json run: nothing on stdout, exactly one error object on stderr. */
async function failure(args: string[], code = 1): Promise<string> {
  const run = await cli([...args, '--json']);
  expect({ code: run.code, stdout: run.stdout }).toEqual({ code, stdout: '' });
  const body = JSON.parse(run.stderr) as { error: string };
  expect(run.stderr).toBe(`${JSON.stringify({ error: body.error })}\n`);
  return body.error;
}

let dataSource: DataSource;

describe('the grantry command', () => {
  it('runs as "npx grantry" in a checkout, printing nothing but the result on stdout', async () => {
    const username = unique('npx-dave');
    const result = await runProcess(
      'npx',
      ['--no-install', 'grantry', 'user', 'create', '--username', username, '--json'],
      { cwd: ROOT, env: { HOME: process.env.HOME ?? os.tmpdir(), DATABASE_URL: testDatabaseUrl() } },
    );
    expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
    // `| jq .` works: stdout is exactly one JSON document.
    expect(result.stdout.trimEnd().split('\n')).toHaveLength(1);
    expect(JSON.parse(result.stdout)).toEqual(expect.objectContaining({ username }));
  });
});

beforeAll(async () => {
  // `npm test` builds first (pretest); build here only when run directly on a clean tree.
  if (!fs.existsSync(path.join(ROOT, 'dist', 'src', 'cli', 'main.js'))) {
    execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'pipe' });
  }
  dataSource = await openTestDataSource('grantry-cli-tests');
}, 120_000);

afterAll(async () => {
  await dataSource?.destroy();
});

async function userId(username: string): Promise<number> {
  const rows: { id: number }[] = await dataSource.query('SELECT id FROM users WHERE username = $1', [
    username,
  ]);
  const id = rows[0]?.id;
  if (id === undefined) throw new Error(`no user ${username}`);
  return id;
}

/** Every column of the rows, as text: a plaintext secret must appear in none of them. */
async function rowText(table: string, where: string, params: unknown[]): Promise<string> {
  const rows: { row: string }[] = await dataSource.query(
    `SELECT row_to_json(t)::text AS row FROM ${table} t WHERE ${where}`,
    params,
  );
  expect(rows).toHaveLength(1);
  return rows[0]?.row ?? '';
}

describe('help and arguments', () => {
  it('lists every command', async () => {
    const run = await cli(['--help'], {});
    expect(run.code).toBe(0);
    for (const command of [
      'user create',
      'user set-password',
      'group create',
      'group add-user',
      'role create',
      'role assign',
      'token create',
      'provider create',
      'app create',
      'grant create',
      'seed',
      'migrate',
    ]) {
      expect(run.stdout).toContain(`  ${command}  `);
    }
  });

  it('describes a command without touching the database', async () => {
    const run = await cli(['user', 'create', '--help'], {
      DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none',
    });
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^Usage: grantry user create --username USERNAME /);
    expect(run.stdout).toContain('--superuser');
    const seed = await cli(['seed', '--help', '--json'], {});
    expect(seed.code).toBe(0);
    expect((JSON.parse(seed.stdout) as { help: string }).help).toContain('seed-K-');
  });

  it('rejects an unknown option, naming it', async () => {
    expect(await failure(['user', 'create', '--username', unique('u'), '--bogus'])).toBe(
      'unknown option --bogus for "user create"',
    );
  });

  it('rejects a missing required option, naming it', async () => {
    expect(await failure(['user', 'create'])).toBe('missing required option --username for "user create"');
    expect(await failure(['grant', 'create', '--type', 'access'])).toBe(
      'missing required options --user, --provider for "grant create"',
    );
  });

  it('rejects a missing value, a repeated option, a bad choice and a stray word', async () => {
    expect(await failure(['user', 'create', '--username'])).toBe('option --username needs a value');
    expect(await failure(['user', 'create', '--username', 'a', '--username', 'b'])).toBe(
      'option --username is given more than once',
    );
    expect(await failure(['user', 'create', '--username', 'a', '--type', 'robot'])).toBe(
      'option --type must be one of internal, external, service_account, internal_service_account, got "robot"',
    );
    expect(await failure(['user', 'create', 'alice'])).toBe(
      'unexpected argument "alice" for "user create" (options start with --)',
    );
  });

  it('rejects unknown commands', async () => {
    expect(await failure(['frobnicate'])).toBe('unknown command "frobnicate" (see --help)');
    expect(await failure(['user', 'delete'])).toBe(
      'unknown command "user delete" (user has: create, set-password)',
    );
    expect(await failure(['user', '--username', 'x'])).toBe(
      '"user" needs a subcommand: create, set-password',
    );
    const group = await cli(['user'], {});
    expect(group.code).toBe(0);
    expect(group.stdout).toContain('  user create        Create a user.');
    expect(group.stdout).toContain("  user set-password  Set a user's password (read from standard input).");
  });

  it('writes plain errors without --json', async () => {
    const run = await cli(['user', 'create']);
    expect(run).toEqual({
      code: 1,
      stdout: '',
      stderr: 'error: missing required option --username for "user create"\n',
    });
  });

  it('exits 2 on a configuration error', async () => {
    const run = await cli(['migrate', '--json'], { DATABASE_URL: 'mysql://localhost/grantry' });
    expect(run).toEqual({
      code: 2,
      stdout: '',
      stderr: `${JSON.stringify({ error: 'Invalid configuration: DATABASE_URL must use the postgres:// scheme, got "mysql:"' })}\n`,
    });
  });
});

describe('migrate', () => {
  it('reports nothing to apply on a migrated database', async () => {
    expect(await json(['migrate'])).toEqual({ applied: [] });
  });
});

describe('user create', () => {
  it('creates a user and prints it', async () => {
    const username = unique('cli-user');
    const body = await json([
      'user',
      'create',
      '--username',
      username,
      '--name',
      'Zoë Q.',
      '--email',
      'z@example.com',
    ]);
    expect(body).toEqual({
      pk: expect.any(Number),
      uuid: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/),
      username,
      name: 'Zoë Q.',
      email: 'z@example.com',
      is_active: true,
      type: 'internal',
      is_superuser: false,
      has_password: false,
    });
    expect(body.pk).toBe(await userId(username));
  });

  it('creates an inactive user of another type', async () => {
    const username = unique('cli-svc');
    expect(
      await json(['user', 'create', '--username', username, '--inactive', '--type', 'service_account']),
    ).toEqual({
      pk: expect.any(Number),
      uuid: expect.any(String),
      username,
      name: '',
      email: '',
      is_active: false,
      type: 'service_account',
      is_superuser: false,
      has_password: false,
    });
  });

  it('makes a superuser through the superuser group', async () => {
    const username = unique('cli-admin');
    const body = await json(['user', 'create', '--username', username, '--superuser']);
    expect(body.is_superuser).toBe(true);
    const rows: { is_superuser: boolean }[] = await dataSource.query(
      `SELECT g.is_superuser FROM user_groups ug JOIN groups g ON g.id = ug.group_id
        WHERE ug.user_id = $1 AND g.name = $2`,
      [body.pk, ADMIN_GROUP],
    );
    expect(rows).toEqual([{ is_superuser: true }]);
  });

  it('refuses a duplicate username', async () => {
    const username = unique('cli-dup');
    await json(['user', 'create', '--username', username]);
    expect(await failure(['user', 'create', '--username', username])).toBe(
      `a user named "${username}" already exists`,
    );
  });

  it('prints a short text without --json', async () => {
    const username = unique('cli-text');
    const run = await cli(['user', 'create', '--username', username, '--superuser']);
    expect(run).toEqual({
      code: 0,
      stdout: `Created user "${username}" (pk ${await userId(username)}, internal, superuser).\n`,
      stderr: '',
    });
  });
});

describe('passwords', () => {
  const DB = (): Record<string, string> => ({ DATABASE_URL: testDatabaseUrl() });

  async function storedHash(username: string): Promise<string | null> {
    const rows: { password: string | null }[] = await dataSource.query(
      'SELECT password FROM users WHERE username = $1',
      [username],
    );
    return rows[0]?.password ?? null;
  }

  it('user create --password-stdin: stores a scrypt hash of stdin without its trailing newline', async () => {
    const username = unique('cli-pw');
    const password = 's3cret pass phrase';
    const run = await cli(
      ['user', 'create', '--username', username, '--password-stdin', '--json'],
      DB(),
      `${password}\n`,
    );
    expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
    expect(JSON.parse(run.stdout)).toEqual(expect.objectContaining({ username, has_password: true }));
    expect(run.stdout).not.toContain(password);
    const hash = await storedHash(username);
    expect(hash).toMatch(/^scrypt\$ln=15,r=8,p=1\$/);
    await expect(verifyPassword(password, hash)).resolves.toBe(true);
    await expect(verifyPassword(`${password}\n`, hash)).resolves.toBe(false);
    const events = await dataSource.query(
      `SELECT action, actor_user_id, actor_username, object_user_id FROM audit_events
        WHERE action = 'password_set' AND object_user_id = $1`,
      [await userId(username)],
    );
    expect(events).toEqual([
      {
        action: 'password_set',
        actor_user_id: null,
        actor_username: 'grantry-cli',
        object_user_id: await userId(username),
      },
    ]);
  });

  it('user set-password: replaces the hash; the old password no longer matches; text output names no password', async () => {
    const username = unique('cli-pw');
    await json(['user', 'create', '--username', username]);
    expect(await storedHash(username)).toBeNull();
    const first = await cli(
      ['user', 'set-password', '--username', username, '--password-stdin'],
      DB(),
      'first password',
    );
    expect({ code: first.code, stderr: first.stderr }).toEqual({ code: 0, stderr: '' });
    expect(first.stdout).toBe(`Set the password of "${username}" (pk ${await userId(username)}).\n`);
    const before = await storedHash(username);
    await expect(verifyPassword('first password', before)).resolves.toBe(true);
    const second = await cli(
      ['user', 'set-password', '--username', username, '--password-stdin', '--json'],
      DB(),
      'second password\r\n',
    );
    expect(JSON.parse(second.stdout)).toEqual({ pk: await userId(username), username, password_set: true });
    const after = await storedHash(username);
    expect(after).not.toBe(before);
    await expect(verifyPassword('second password', after)).resolves.toBe(true);
    await expect(verifyPassword('first password', after)).resolves.toBe(false);
  });

  it('refuses a short or empty password, a missing --password-stdin, an unknown user; never a password argument', async () => {
    const username = unique('cli-pw');
    await json(['user', 'create', '--username', username]);
    const short = await cli(
      ['user', 'set-password', '--username', username, '--password-stdin', '--json'],
      DB(),
      'short\n',
    );
    expect({ code: short.code, stdout: short.stdout, stderr: short.stderr }).toEqual({
      code: 1,
      stdout: '',
      stderr: `${JSON.stringify({ error: 'the password must be at least 8 characters long' })}\n`,
    });
    const empty = await cli(
      ['user', 'set-password', '--username', username, '--password-stdin', '--json'],
      DB(),
      '\n',
    );
    expect(JSON.parse(empty.stderr)).toEqual({ error: 'no password on standard input' });
    expect(await failure(['user', 'set-password', '--username', username])).toBe(
      'missing required option --password-stdin for "user set-password"',
    );
    expect(await failure(['user', 'set-password', '--username', username, '--password', 'hunter22'])).toBe(
      'unknown option --password for "user set-password"',
    );
    const unknown = await cli(
      ['user', 'set-password', '--username', unique('nobody'), '--password-stdin', '--json'],
      DB(),
      'long enough password',
    );
    expect(unknown.code).toBe(1);
    expect(JSON.parse(unknown.stderr)).toEqual({ error: expect.stringMatching(/^no user named "/) });
    expect(await storedHash(username)).toBeNull();
  });
});

describe('groups and roles', () => {
  it('creates nested groups and adds a member', async () => {
    const parent = unique('cli-parent');
    const child = unique('cli-child');
    const username = unique('cli-member');
    await json(['user', 'create', '--username', username]);
    const top = await json(['group', 'create', '--name', parent, '--superuser']);
    expect(top).toEqual({ pk: expect.any(String), name: parent, is_superuser: true, parent: null });
    expect(await json(['group', 'create', '--name', child, '--parent', parent])).toEqual({
      pk: expect.any(String),
      name: child,
      is_superuser: false,
      parent: top.pk,
    });
    expect(await json(['group', 'add-user', '--group', child, '--user', username])).toEqual({
      group: child,
      user: username,
    });
    const rows: unknown[] = await dataSource.query(
      'SELECT 1 FROM user_groups ug JOIN groups g ON g.id = ug.group_id WHERE ug.user_id = $1 AND g.name = $2',
      [await userId(username), child],
    );
    expect(rows).toHaveLength(1);
    expect(await failure(['group', 'add-user', '--group', unique('nogroup'), '--user', username])).toMatch(
      /^no group named "nogroup-/,
    );
  });

  it('creates a role and assigns it to a user and to a group', async () => {
    const role = unique('cli-role');
    const group = unique('cli-group');
    const username = unique('cli-holder');
    await json(['user', 'create', '--username', username]);
    await json(['group', 'create', '--name', group]);
    expect(
      await json([
        'role',
        'create',
        '--name',
        role,
        '--permission',
        'authentik_providers_oauth2.view_accesstoken',
        '--permission',
        'authentik_providers_oauth2.delete_accesstoken',
      ]),
    ).toEqual({
      pk: expect.any(String),
      name: role,
      permissions: [
        'authentik_providers_oauth2.view_accesstoken',
        'authentik_providers_oauth2.delete_accesstoken',
      ],
    });
    expect(await json(['role', 'assign', '--role', role, '--user', username])).toEqual({
      role,
      user: username,
    });
    expect(await json(['role', 'assign', '--role', role, '--group', group])).toEqual({ role, group });
    expect(await failure(['role', 'assign', '--role', role])).toBe('give exactly one of --user and --group');
    expect(await failure(['role', 'assign', '--role', role, '--user', username, '--group', group])).toBe(
      'give exactly one of --user and --group',
    );
    expect(await failure(['role', 'create', '--name', unique('r'), '--permission', 'not a permission'])).toBe(
      'permissions: When assigning global permissions, codename must be given as app_label.codename',
    );
    // Validated against the permission catalogue, through the same command as the API.
    expect(
      await failure(['role', 'create', '--name', unique('r'), '--permission', 'authentik_core.view_nothing']),
    ).toBe(
      'permissions: Unknown permission: "authentik_core.view_nothing". ' +
        'GET /api/v3/rbac/permissions/ lists those Grantry knows.',
    );
    expect(
      await failure(['role', 'create', '--name', role, '--permission', 'authentik_core.view_user']),
    ).toBe('name: Role with this name already exists.');
  });
});

describe('token create', () => {
  it('prints a key that authenticates and is stored only as its hash', async () => {
    const username = unique('cli-token');
    await json(['user', 'create', '--username', username]);
    const body = await json(['token', 'create', '--user', username, '--description', 'CI']);
    expect(body).toEqual({
      identifier: expect.any(String),
      user: username,
      intent: 'api',
      expires: null,
      key: expect.stringMatching(/^[A-Za-z0-9]{60}$/),
    });
    const key = body.key as string;
    const principal = await new AuthService(dataSource).authenticate(key);
    expect(principal).toMatchObject({ username, via: 'api_token' });
    const row = await rowText('api_tokens', 'key_hash = $1', [sha256(key)]);
    expect(row).not.toContain(key);
  });

  it('takes an intent and an ISO 8601 expiry, also in the past', async () => {
    const username = unique('cli-token');
    await json(['user', 'create', '--username', username]);
    const body = await json([
      'token',
      'create',
      '--user',
      username,
      '--intent',
      'app_password',
      '--expires',
      '2020-01-31T12:00:00+02:00',
    ]);
    expect(body).toEqual({
      identifier: expect.any(String),
      user: username,
      intent: 'app_password',
      expires: '2020-01-31T10:00:00.000Z',
      key: expect.any(String),
    });
    const rows: { expires: Date; expiring: boolean }[] = await dataSource.query(
      'SELECT expires, expiring FROM api_tokens WHERE key_hash = $1',
      [sha256(body.key as string)],
    );
    expect(rows).toEqual([{ expires: new Date('2020-01-31T10:00:00Z'), expiring: true }]);
  });

  it.each(['tomorrow', '2024-13-01', '2024-02-30T00:00:00Z', '2024-01-01T24:00:00Z', '2024-01-01 10:00'])(
    'rejects the expiry %j, naming --expires',
    async (expires) => {
      expect(await failure(['token', 'create', '--user', 'whoever', '--expires', expires])).toBe(
        `option --expires must be an ISO 8601 date-time such as 2030-01-31T12:00:00Z, got "${expires}"`,
      );
    },
  );

  it('refuses an unknown user with exit 1 and a JSON error', async () => {
    const username = unique('nobody');
    const run = await cli(['token', 'create', '--user', username, '--json']);
    expect(run).toEqual({
      code: 1,
      stdout: '',
      stderr: `{"error":"no user named \\"${username}\\""}\n`,
    });
  });
});

describe('provider and app create', () => {
  it('creates a confidential provider whose secret is stored only hashed', async () => {
    const name = unique('cli-provider');
    const body = await json([
      'provider',
      'create',
      '--name',
      name,
      '--redirect-uri',
      'https://app.example.com/callback',
      '--redirect-uri',
      'http://localhost:8080/cb',
    ]);
    expect(body).toEqual({
      pk: expect.any(Number),
      name,
      client_type: 'confidential',
      client_id: expect.stringMatching(/^[A-Za-z0-9]{40}$/),
      client_secret: expect.stringMatching(/^[A-Za-z0-9_-]{64}$/),
      signing_key: expect.stringMatching(/^[0-9a-f-]{36}$/),
      signing_algorithm: 'RS256',
      signing_kid: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      consent_mode: 'expiring',
      consent_expire_in: 'weeks=4',
    });
    const secret = body.client_secret as string;
    const rows: Record<string, unknown>[] = await dataSource.query(
      `SELECT client_secret_hash, redirect_uris, authorization_flow, invalidation_flow
         FROM oauth2_providers WHERE id = $1`,
      [body.pk],
    );
    expect(rows).toEqual([
      {
        client_secret_hash: sha256(secret),
        redirect_uris: [
          {
            matching_mode: 'strict',
            url: 'https://app.example.com/callback',
            redirect_uri_type: 'authorization',
          },
          { matching_mode: 'strict', url: 'http://localhost:8080/cb', redirect_uri_type: 'authorization' },
        ],
        authorization_flow: expect.stringMatching(/^[0-9a-f-]{36}$/),
        invalidation_flow: expect.stringMatching(/^[0-9a-f-]{36}$/),
      },
    ]);
    expect(await rowText('oauth2_providers', 'id = $1', [body.pk])).not.toContain(secret);
  });

  it('creates a public provider without a secret', async () => {
    const name = unique('cli-public');
    const body = await json(['provider', 'create', '--name', name, '--client-type', 'public']);
    expect(body).toEqual({
      pk: expect.any(Number),
      name,
      client_type: 'public',
      client_id: expect.any(String),
      client_secret: null,
      signing_key: expect.stringMatching(/^[0-9a-f-]{36}$/),
      signing_algorithm: 'RS256',
      signing_kid: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      consent_mode: 'expiring',
      consent_expire_in: 'weeks=4',
    });
    const rows: unknown[] = await dataSource.query(
      'SELECT client_secret_hash FROM oauth2_providers WHERE id = $1',
      [body.pk],
    );
    expect(rows).toEqual([{ client_secret_hash: null }]);
  });

  it('validates redirect URIs and durations', async () => {
    expect(await failure(['provider', 'create', '--name', 'x', '--redirect-uri', '/callback'])).toBe(
      'redirect URI "/callback" is not an absolute URL',
    );
    expect(await failure(['provider', 'create', '--name', 'x', '--redirect-uri', 'ftp://example.com/'])).toBe(
      'redirect URI "ftp://example.com/" must use http or https',
    );
    expect(await failure(['provider', 'create', '--name', 'x', '--access-token-validity', 'hour=1'])).toMatch(
      /^--access-token-validity "hour=1" is not a valid duration: unknown key "hour"/,
    );
  });

  it('creates applications, one per provider', async () => {
    const provider = await json(['provider', 'create', '--name', unique('cli-app-provider')]);
    const slug = unique('cli-app').slice(0, 50);
    expect(
      await json(['app', 'create', '--slug', slug, '--name', 'My App', '--provider', String(provider.pk)]),
    ).toEqual({
      pk: expect.any(String),
      slug,
      name: 'My App',
      provider: provider.pk,
      groups: [],
    });
    const other = unique('cli-app2').slice(0, 50);
    expect(
      await failure(['app', 'create', '--slug', other, '--name', 'X', '--provider', String(provider.pk)]),
    ).toBe(`provider ${String(provider.pk)} is already used by application "${slug}"`);
    expect(await failure(['app', 'create', '--slug', other, '--name', 'X', '--provider', '2147483647'])).toBe(
      'no provider with id 2147483647',
    );
    expect(await failure(['app', 'create', '--slug', 'bad slug', '--name', 'X'])).toBe(
      'slug "bad slug" may only contain letters, digits, "-" and "_"',
    );
    expect(await failure(['app', 'create', '--slug', 'a'.repeat(51), '--name', 'X'])).toBe(
      'slug must be at most 50 characters long',
    );
    expect(await failure(['app', 'create', '--slug', slug, '--name', 'X'])).toBe(
      `an application with slug "${slug}" already exists`,
    );
    expect(await json(['app', 'create', '--slug', other, '--name', 'Lonely'])).toEqual({
      pk: expect.any(String),
      slug: other,
      name: 'Lonely',
      provider: null,
      groups: [],
    });
  });

  it('provider create --consent-mode and --consent-expire-in: stored, printed, validated', async () => {
    const body = await json([
      'provider',
      'create',
      '--name',
      unique('cli-consent'),
      '--consent-mode',
      'permanent',
      '--consent-expire-in',
      'days=2;hours=12',
    ]);
    expect(body).toEqual(
      expect.objectContaining({ consent_mode: 'permanent', consent_expire_in: 'days=2;hours=12' }),
    );
    const rows: unknown[] = await dataSource.query(
      'SELECT consent_mode, consent_expire_in FROM oauth2_providers WHERE id = $1',
      [body.pk],
    );
    expect(rows).toEqual([{ consent_mode: 'permanent', consent_expire_in: 'days=2;hours=12' }]);
    const name = unique('cli-consent-bad');
    expect(await failure(['provider', 'create', '--name', name, '--consent-mode', 'sometimes'])).toBe(
      'option --consent-mode must be one of implicit, expiring, permanent, always, got "sometimes"',
    );
    expect(await failure(['provider', 'create', '--name', name, '--consent-expire-in', 'fortnight=1'])).toBe(
      '--consent-expire-in "fortnight=1" is not a valid duration: unknown key "fortnight" ' +
        '(expected e.g. "hours=1;minutes=30" with keys weeks, days, hours, minutes, seconds, milliseconds, microseconds)',
    );
    expect(await dataSource.query('SELECT 1 FROM oauth2_providers WHERE name = $1', [name])).toEqual([]);
  });

  it('provider create: regex and post-logout redirect URIs, sub and issuer mode, refresh threshold; reserved slugs', async () => {
    const body = await json([
      'provider',
      'create',
      '--name',
      unique('cli-uris'),
      '--redirect-uri',
      'https://app.example.com/cb',
      '--redirect-uri-regex',
      'https://[a-z]+\\.example\\.com/cb',
      '--post-logout-redirect-uri',
      'https://app.example.com/bye',
      '--sub-mode',
      'user_email',
      '--issuer-mode',
      'global',
      '--refresh-token-threshold',
      'days=1',
    ]);
    const rows: unknown[] = await dataSource.query(
      `SELECT redirect_uris, sub_mode, issuer_mode, refresh_token_threshold FROM oauth2_providers WHERE id = $1`,
      [body.pk],
    );
    expect(rows).toEqual([
      {
        redirect_uris: [
          { matching_mode: 'strict', url: 'https://app.example.com/cb', redirect_uri_type: 'authorization' },
          {
            matching_mode: 'regex',
            url: 'https://[a-z]+\\.example\\.com/cb',
            redirect_uri_type: 'authorization',
          },
          { matching_mode: 'strict', url: 'https://app.example.com/bye', redirect_uri_type: 'logout' },
        ],
        sub_mode: 'user_email',
        issuer_mode: 'global',
        refresh_token_threshold: 'days=1',
      },
    ]);
    const name = unique('cli-uris-bad');
    expect(await failure(['provider', 'create', '--name', name, '--redirect-uri-regex', '(a+)+'])).toBe(
      'redirect URI pattern "(a+)+" is not a regular expression Grantry runs (invalid, longer than 1024 ' +
        'characters, or a shape that backtracks catastrophically such as (a+)+)',
    );
    expect(await failure(['provider', 'create', '--name', name, '--redirect-uri-regex', 'https://(x'])).toBe(
      'redirect URI pattern "https://(x" is not a regular expression Grantry runs (invalid, longer than 1024 ' +
        'characters, or a shape that backtracks catastrophically such as (a+)+)',
    );
    expect(
      await failure(['provider', 'create', '--name', name, '--post-logout-redirect-uri', 'javascript:x']),
    ).toBe('redirect URI "javascript:x" must use http or https');
    expect(await failure(['provider', 'create', '--name', name, '--sub-mode', 'user_shoe_size'])).toBe(
      'option --sub-mode must be one of hashed_user_id, user_id, user_uuid, user_username, user_email, user_upn, ' +
        'got "user_shoe_size"',
    );
    expect(await dataSource.query('SELECT 1 FROM oauth2_providers WHERE name = $1', [name])).toEqual([]);
    for (const slug of ['authorize', 'token', 'device', 'userinfo', 'introspect', 'revoke']) {
      expect(await failure(['app', 'create', '--slug', slug, '--name', 'X'])).toBe(
        `slug "${slug}" is reserved: /application/o/${slug}/ is an OAuth2 endpoint`,
      );
    }
  });

  it('app create --group: binds the application to each group, once, in one transaction', async () => {
    const first = unique('cli-app-group');
    const second = unique('cli-app-group');
    await json(['group', 'create', '--name', first]);
    await json(['group', 'create', '--name', second]);
    const one = unique('cli-bound').slice(0, 50);
    expect(await json(['app', 'create', '--slug', one, '--name', 'One', '--group', first])).toEqual({
      pk: expect.any(String),
      slug: one,
      name: 'One',
      provider: null,
      groups: [first],
    });
    const two = unique('cli-bound').slice(0, 50);
    const body = await json([
      'app',
      'create',
      '--slug',
      two,
      '--name',
      'Two',
      '--group',
      second,
      `--group=${first}`,
      '--group',
      second,
    ]);
    expect(body.groups).toEqual([second, first]);
    const bindings: unknown[] = await dataSource.query(
      `SELECT g.name FROM application_groups ag JOIN groups g ON g.id = ag.group_id
        WHERE ag.application_id = $1 ORDER BY g.name`,
      [body.pk],
    );
    expect(bindings).toEqual([first, second].sort().map((name) => ({ name })));

    // Text output names the groups.
    const three = unique('cli-bound').slice(0, 50);
    const run = await cli(['app', 'create', '--slug', three, '--name', 'Three', '--group', first]);
    expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
    expect(run.stdout).toMatch(
      new RegExp(`^Created application "${three}" \\(pk [0-9a-f-]{36}\\), for members of "${first}"\\.\\n$`),
    );
  });

  it('app create --group with an unknown group: an error naming it, exit 1, nothing written', async () => {
    const known = unique('cli-app-group');
    await json(['group', 'create', '--name', known]);
    const missing = unique('no-such-group');
    const slug = unique('cli-unbound').slice(0, 50);
    expect(
      await failure(['app', 'create', '--slug', slug, '--name', 'X', '--group', known, '--group', missing]),
    ).toBe(`no group named "${missing}"`);
    expect(await dataSource.query('SELECT 1 FROM applications WHERE slug = $1', [slug])).toEqual([]);
    const run = await cli(['app', 'create', '--slug', slug, '--name', 'X', '--group', missing]);
    expect(run).toEqual({ code: 1, stdout: '', stderr: `error: no group named "${missing}"\n` });
    expect(await dataSource.query('SELECT 1 FROM applications WHERE slug = $1', [slug])).toEqual([]);
  });
});

describe('grant create', () => {
  let username: string;
  let provider: Record<string, unknown>;
  let slug: string;

  beforeAll(async () => {
    username = unique('cli-grantee');
    await json(['user', 'create', '--username', username, '--email', 'g@example.com', '--name', 'Gra Ntee']);
    provider = await json([
      'provider',
      'create',
      '--name',
      unique('cli-grant-provider'),
      '--access-token-validity',
      'hours=2',
      '--refresh-token-validity',
      'days=3',
      '--access-code-validity',
      'minutes=2',
    ]);
    slug = unique('cli-grant-app').slice(0, 50);
    await json(['app', 'create', '--slug', slug, '--name', 'Grant App', '--provider', String(provider.pk)]);
  });

  it.each([
    ['access', 'oauth2_access_tokens', 'token_hash', 2 * 3600_000],
    ['refresh', 'oauth2_refresh_tokens', 'token_hash', 3 * 86_400_000],
    ['code', 'oauth2_authorization_codes', 'code_hash', 2 * 60_000],
  ])(
    'creates a %s grant stored only as a hash, expiring after the validity',
    async (type, table, column, ms) => {
      const before = Date.now();
      const body = await json([
        'grant',
        'create',
        '--type',
        type,
        '--user',
        username,
        '--provider',
        String(provider.pk),
        '--scope',
        'openid email profile',
      ]);
      expect(body).toEqual({
        type,
        pk: expect.any(Number),
        user: username,
        provider: provider.pk,
        scope: 'openid email profile',
        expires: expect.any(String),
        revoked: false,
        value: expect.stringMatching(/^[A-Za-z0-9_-]{64}$/),
      });
      const expires = Date.parse(body.expires as string);
      expect(expires).toBeGreaterThanOrEqual(before + ms - 1000);
      expect(expires).toBeLessThanOrEqual(Date.now() + ms + 1000);
      const value = body.value as string;
      expect(await rowText(table, `${column} = $1 AND id = $2`, [sha256(value), body.pk])).not.toContain(
        value,
      );
    },
  );

  it('stores the ID token claims with access and refresh tokens', async () => {
    const body = await json([
      'grant',
      'create',
      '--type',
      'access',
      '--user',
      username,
      '--provider',
      String(provider.pk),
      '--scope',
      'openid email',
    ]);
    const rows: { id_token: Record<string, unknown>; created: Date }[] = await dataSource.query(
      'SELECT id_token, created FROM oauth2_access_tokens WHERE id = $1',
      [body.pk],
    );
    const created = Math.floor((rows[0]?.created.getTime() ?? 0) / 1000);
    expect(rows[0]?.id_token).toEqual({
      iss: `http://localhost:9000/application/o/${slug}/`,
      sub: expect.stringMatching(/^[0-9a-f]{64}$/),
      aud: provider.client_id,
      exp: Math.floor(Date.parse(body.expires as string) / 1000),
      iat: created,
      auth_time: created,
      acr: 'goauthentik.io/providers/oauth2/default',
      amr: ['pwd'],
      at_hash: sha256(body.value as string)
        .subarray(0, 16)
        .toString('base64url'),
      email: 'g@example.com',
      email_verified: true,
    });
  });

  it('creates a revoked grant with a given expiry', async () => {
    expect(
      await json([
        'grant',
        'create',
        '--type',
        'refresh',
        '--user',
        username,
        '--provider',
        String(provider.pk),
        '--expires',
        '2021-06-01T00:00:00Z',
        '--revoked',
      ]),
    ).toEqual({
      type: 'refresh',
      pk: expect.any(Number),
      user: username,
      provider: provider.pk,
      scope: 'openid',
      expires: '2021-06-01T00:00:00.000Z',
      revoked: true,
      value: expect.any(String),
    });
  });

  it('creates an access token that authenticates when it has the API scope', async () => {
    const body = await json([
      'grant',
      'create',
      '--type',
      'access',
      '--user',
      username,
      '--provider',
      String(provider.pk),
      '--scope',
      'openid goauthentik.io/api',
    ]);
    expect(await new AuthService(dataSource).authenticate(body.value as string)).toMatchObject({
      username,
      via: 'oauth2_access_token',
    });
  });

  it('refuses unknown users, providers and types', async () => {
    const nobody = unique('nobody');
    expect(await failure(['grant', 'create', '--type', 'access', '--user', nobody, '--provider', '1'])).toBe(
      `no user named "${nobody}"`,
    );
    expect(
      await failure(['grant', 'create', '--type', 'access', '--user', username, '--provider', '2147483647']),
    ).toBe('no provider with id 2147483647');
    expect(await failure(['grant', 'create', '--type', 'token', '--user', username, '--provider', '1'])).toBe(
      'option --type must be one of access, refresh, code, got "token"',
    );
    expect(
      await failure(['grant', 'create', '--type', 'code', '--user', username, '--provider', 'one']),
    ).toBe('option --provider must be a whole number from 1 to 2147483647, got "one"');
  });
});

describe('seed', () => {
  it('creates a small data set once, and nothing the second time', async () => {
    const k = 1_000_000 + Math.floor(Math.random() * 1_000_000_000);
    const args = [
      'seed',
      '--seed',
      String(k),
      '--users',
      '30',
      '--providers',
      '4',
      '--access-tokens',
      '300',
      '--refresh-tokens',
      '200',
      '--authorization-codes',
      '50',
    ];
    const first = await json(args);
    expect(first).toEqual({
      users: 30,
      groups: 13,
      roles: 5,
      providers: 4,
      applications: expect.any(Number),
      access_tokens: 300,
      refresh_tokens: 200,
      authorization_codes: 50,
      seconds: expect.any(Number),
    });
    expect(await json(args)).toEqual({
      users: 0,
      groups: 0,
      roles: 0,
      providers: 0,
      applications: 0,
      access_tokens: 0,
      refresh_tokens: 0,
      authorization_codes: 0,
      seconds: expect.any(Number),
    });

    const prefix = `seed-${k}-%`;
    const [counts]: Record<string, number>[] = await dataSource.query(
      `SELECT (SELECT count(*)::int FROM users WHERE username LIKE $1) AS users,
              (SELECT count(*)::int FROM groups WHERE name LIKE $1) AS groups,
              (SELECT count(*)::int FROM groups WHERE name LIKE $1 AND parent_id IS NOT NULL) AS nested,
              (SELECT count(*)::int FROM groups WHERE name LIKE $1 AND is_superuser) AS superuser_groups,
              (SELECT count(*)::int FROM applications WHERE slug LIKE $1) AS applications,
              (SELECT count(*)::int FROM oauth2_access_tokens t JOIN users u ON u.id = t.user_id
                WHERE u.username LIKE $1) AS access_tokens,
              (SELECT count(*)::int FROM oauth2_access_tokens t JOIN users u ON u.id = t.user_id
                WHERE u.username LIKE $1 AND NOT t.expiring AND t.expires IS NULL) AS never_expiring,
              (SELECT count(*)::int FROM oauth2_refresh_tokens t JOIN users u ON u.id = t.user_id
                WHERE u.username LIKE $1) AS refresh_tokens,
              (SELECT count(*)::int FROM oauth2_authorization_codes t JOIN users u ON u.id = t.user_id
                WHERE u.username LIKE $1) AS authorization_codes,
              (SELECT count(*)::int FROM user_roles ur JOIN users u ON u.id = ur.user_id
                 JOIN roles r ON r.id = ur.role_id WHERE r.name LIKE $1) +
              (SELECT count(*)::int FROM group_roles gr JOIN roles r ON r.id = gr.role_id WHERE r.name LIKE $1)
                AS role_assignments`,
      [prefix],
    );
    expect(counts).toEqual({
      users: 30,
      groups: 13,
      nested: 6,
      superuser_groups: 1,
      applications: first.applications,
      access_tokens: 300,
      never_expiring: expect.any(Number),
      refresh_tokens: 200,
      authorization_codes: 50,
      role_assignments: expect.any(Number),
    });
    expect(counts?.role_assignments).toBeGreaterThanOrEqual(5);
    const [token]: { id_token: Record<string, unknown> }[] = await dataSource.query(
      `SELECT t.id_token FROM oauth2_access_tokens t JOIN users u ON u.id = t.user_id
        WHERE u.username LIKE $1 ORDER BY t.id LIMIT 1`,
      [prefix],
    );
    expect(token?.id_token).toMatchObject({
      iss: expect.stringMatching(/^http:\/\/localhost:9000\//),
      sub: expect.any(String),
      aud: expect.any(String),
      exp: expect.any(Number),
      iat: expect.any(Number),
      auth_time: expect.any(Number),
      acr: 'goauthentik.io/providers/oauth2/default',
      amr: ['pwd'],
      at_hash: expect.any(String),
    });

    // A larger count extends the same data set.
    expect(
      await json([...args.slice(0, 3), '--users', '35', '--providers', '4', '--access-tokens', '310']),
    ).toEqual(
      expect.objectContaining({
        users: 5,
        providers: 0,
        access_tokens: 10,
        refresh_tokens: 800,
        authorization_codes: 150,
      }),
    );
  }, 60_000);

  it('refuses grants without users or providers', async () => {
    expect(await failure(['seed', '--users', '0'])).toBe(
      'grants need at least one user and one provider: raise --users and --providers',
    );
    expect(await failure(['seed', '--access-tokens', '-5'])).toBe(
      'option --access-tokens must be a whole number from 0 to 100000000, got "-5"',
    );
  });
});

describe('with the embedded database of another process', () => {
  let dataDir: string;
  let embedded: EmbeddedPostgres | undefined;

  beforeAll(async () => {
    dataDir = path.join(os.tmpdir(), `grantry-cli-attach-${randomBytes(6).toString('hex')}`);
    fs.mkdirSync(dataDir, { mode: 0o755 });
    fs.chmodSync(dataDir, 0o755);
    embedded = await startEmbeddedPostgres({ dataDir });
  }, 120_000);

  afterAll(async () => {
    await embedded?.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }, 60_000);

  function postmasters(): number {
    const pgData = fs.realpathSync(path.join(dataDir, 'postgres'));
    return fs
      .readdirSync('/proc')
      .filter((entry) => /^\d+$/.test(entry))
      .filter((pid) => {
        try {
          const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
          return path.basename(cmd[0] ?? '') === 'postgres' && cmd.includes(pgData);
        } catch {
          return false;
        }
      }).length;
  }

  it('attaches instead of starting a second PostgreSQL, and leaves it running', async () => {
    const running = embedded as EmbeddedPostgres;
    const username = unique('cli-attached');
    const run = await cli(['user', 'create', '--username', username, '--json'], { DATA_DIR: dataDir });
    expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
    expect(JSON.parse(run.stdout)).toMatchObject({ username });

    expect(() => process.kill(running.pid, 0)).not.toThrow();
    expect(postmasters()).toBe(1);
    // The CLI migrated the new cluster's database and wrote to it.
    const client = new Client({ connectionString: running.url });
    await client.connect();
    try {
      const rows = await client.query('SELECT username FROM users WHERE username = $1', [username]);
      expect(rows.rows).toEqual([{ username }]);
    } finally {
      await client.end();
    }
  }, 120_000);
});
