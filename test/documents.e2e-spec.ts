/**
 * The nested users and providers of every grant come from trigger-maintained documents (migration Documents). After
 * any change to the rows a document is made of, the stored document must be exactly the one written out below for
 * the fixture (every field, by hand: not built by the migration's own grantry_build_*_documents functions, which
 * would agree with a document built wrongly), and concurrent changes to one user must not leave a document that
 * misses one of them.
 *
 * The fixture's rows are inserted with every column given, under names no other suite uses, so each expected
 * document is a literal; only the serial ids come from the inserts.
 */
import { DataSource, type QueryRunner } from 'typeorm';
import { openTestDataSource } from './support/app';
import { waitFor } from './support/server-process';

let db: DataSource;

beforeAll(async () => {
  db = await openTestDataSource('grantry-documents', 4);
});
afterAll(async () => {
  await db.destroy();
});

type Json = Record<string, unknown>;

interface UserColumns {
  uuid: string;
  username: string;
  name: string;
  email: string;
  is_active: boolean;
  last_login: string | null;
  date_joined: string;
  password_change_date: string;
  last_updated: string;
  path: string;
  type: string;
  attributes: string;
}

async function insertUser(columns: UserColumns): Promise<number> {
  const names = Object.keys(columns);
  const [row] = await db.query<{ id: number }[]>(
    `INSERT INTO users (${names.join(', ')}) VALUES (${names.map((_, i) => `$${i + 1}`).join(', ')}) RETURNING id`,
    Object.values(columns),
  );
  if (!row) throw new Error('no user inserted');
  return row.id;
}

async function insertGroup(
  id: string,
  name: string,
  parent: string | null,
  attributes = '{}',
): Promise<void> {
  await db.query('INSERT INTO groups (id, name, parent_id, attributes) VALUES ($1, $2, $3, $4)', [
    id,
    name,
    parent,
    attributes,
  ]);
}

async function insertRole(id: string, name: string, userId: number): Promise<void> {
  await db.query('INSERT INTO roles (id, name) VALUES ($1, $2)', [id, name]);
  await db.query('INSERT INTO user_roles (user_id, role_id) VALUES ($1, $2)', [userId, id]);
}

async function join(userId: number, groupId: string, runner: DataSource | QueryRunner = db): Promise<void> {
  await runner.query('INSERT INTO user_groups (user_id, group_id) VALUES ($1, $2)', [userId, groupId]);
}

async function userDoc(id: number, runner: DataSource | QueryRunner = db): Promise<Json | undefined> {
  const rows: { doc: Json }[] = await runner.query('SELECT doc FROM user_documents WHERE user_id = $1', [id]);
  return rows[0]?.doc;
}

async function providerDoc(id: number): Promise<Json | undefined> {
  const [row] = await db.query<{ doc: Json }[]>('SELECT doc FROM provider_documents WHERE provider_id = $1', [
    id,
  ]);
  return row?.doc;
}

/** Rows without a document: a trigger that missed an insert. (A document without its row cannot exist: FK.) */
async function undocumented(): Promise<unknown[]> {
  return db.query<unknown[]>(`
    SELECT 'user' AS kind, u.id FROM users u LEFT JOIN user_documents d ON d.user_id = u.id WHERE d.user_id IS NULL
    UNION ALL
    SELECT 'provider', p.id FROM oauth2_providers p LEFT JOIN provider_documents d ON d.provider_id = p.id
     WHERE d.provider_id IS NULL`);
}

// The fixture of "user documents": a group tree root > middle > leaf, Ada in leaf, Charles in middle.
const ROOT = { id: '0d0c5000-0000-4000-8000-00000000a001', name: 'documents-root' };
const MIDDLE = { id: '0d0c5000-0000-4000-8000-00000000a002', name: 'documents-middle' };
const LEAF = { id: '0d0c5000-0000-4000-8000-00000000a003', name: 'documents-leaf' };
const ROLE = { id: '0d0c5000-0000-4000-8000-00000000a004', name: 'documents-analyst' };

const ADA: UserColumns = {
  uuid: '0d0c5000-0000-4000-8000-00000000ada1',
  username: 'documents-ada',
  name: 'Ada Lovelace',
  email: 'ada@example.com',
  is_active: true,
  last_login: '2031-02-03T04:05:06.789012Z',
  date_joined: '2030-01-02T03:04:05Z',
  password_change_date: '2030-01-02T03:04:05.5Z',
  last_updated: '2030-06-07T08:09:10.123456Z',
  path: 'users/documents',
  type: 'internal',
  attributes: '{"lang": "en", "tags": ["a", 1]}',
};

/** Ada's stored document as the migration's comment and the UserRow serializer define it, written out. */
const adaDoc = (id: number, changes: Json = {}): Json => ({
  id,
  uuid: '0d0c5000-0000-4000-8000-00000000ada1',
  username: 'documents-ada',
  name: 'Ada Lovelace',
  email: 'ada@example.com',
  is_active: true,
  last_login: '2031-02-03T04:05:06.789012Z',
  date_joined: '2030-01-02T03:04:05.000000Z',
  password_change_date: '2030-01-02T03:04:05.500000Z',
  last_updated: '2030-06-07T08:09:10.123456Z',
  path: 'users/documents',
  type: 'internal',
  attributes: { lang: 'en', tags: ['a', 1] },
  is_superuser: false,
  groups: [],
  roles: [],
  ...changes,
});

const CHARLES: UserColumns = {
  uuid: '0d0c5000-0000-4000-8000-0000000cba22',
  username: 'documents-charles',
  name: '',
  email: '',
  is_active: false,
  last_login: null,
  date_joined: '1999-12-31T23:59:59.999999Z',
  password_change_date: '2000-01-01T00:00:00Z',
  last_updated: '2000-01-01T00:00:00.000001Z',
  path: 'users',
  type: 'service_account',
  attributes: '{}',
};

const charlesDoc = (id: number, changes: Json = {}): Json => ({
  id,
  uuid: '0d0c5000-0000-4000-8000-0000000cba22',
  username: 'documents-charles',
  name: '',
  email: '',
  is_active: false,
  last_login: null,
  date_joined: '1999-12-31T23:59:59.999999Z',
  password_change_date: '2000-01-01T00:00:00.000000Z',
  last_updated: '2000-01-01T00:00:00.000001Z',
  path: 'users',
  type: 'service_account',
  attributes: {},
  is_superuser: false,
  groups: [],
  roles: [],
  ...changes,
});

describe('user documents', () => {
  it('follow every change to users, memberships, groups (down the tree) and roles', async () => {
    await insertGroup(ROOT.id, ROOT.name, null);
    await insertGroup(MIDDLE.id, MIDDLE.name, ROOT.id, '{"floor": 2}');
    await insertGroup(LEAF.id, LEAF.name, MIDDLE.id);
    const ada = await insertUser(ADA);
    const charles = await insertUser(CHARLES);
    expect(await userDoc(ada)).toEqual(adaDoc(ada));
    expect(await userDoc(charles)).toEqual(charlesDoc(charles));
    expect(await undocumented()).toEqual([]);

    await join(ada, LEAF.id);
    await join(charles, MIDDLE.id);
    const leafOf = (parent: { id: string; name: string } | null): Json => ({
      pk: LEAF.id,
      name: 'documents-leaf',
      is_superuser: false,
      parent: parent?.id ?? null,
      parent_name: parent?.name ?? null,
      attributes: {},
    });
    const middleOf = (name: string, parent: string | null): Json => ({
      pk: MIDDLE.id,
      name,
      is_superuser: false,
      parent,
      parent_name: parent === null ? null : 'documents-root',
      attributes: { floor: 2 },
    });
    expect(await userDoc(ada)).toEqual(adaDoc(ada, { groups: [leafOf(MIDDLE)] }));
    expect(await userDoc(charles)).toEqual(
      charlesDoc(charles, { groups: [middleOf('documents-middle', ROOT.id)] }),
    );

    // Renaming a parent changes parent_name of its children's members.
    await db.query(`UPDATE groups SET name = 'documents-renamed' WHERE id = $1`, [MIDDLE.id]);
    const renamed = { id: MIDDLE.id, name: 'documents-renamed' };
    expect(await userDoc(ada)).toEqual(adaDoc(ada, { groups: [leafOf(renamed)] }));
    expect(await userDoc(charles)).toEqual(
      charlesDoc(charles, { groups: [middleOf('documents-renamed', ROOT.id)] }),
    );

    // Superuser status flows down from any ancestor; the member's own group entry keeps its own flag.
    await db.query('UPDATE groups SET is_superuser = true WHERE id = $1', [ROOT.id]);
    expect(await userDoc(ada)).toEqual(adaDoc(ada, { is_superuser: true, groups: [leafOf(renamed)] }));
    expect(await userDoc(charles)).toEqual(
      charlesDoc(charles, { is_superuser: true, groups: [middleOf('documents-renamed', ROOT.id)] }),
    );

    // Moving a subtree away from the superuser group, then back, then deleting a parent (children lose it).
    await db.query('UPDATE groups SET parent_id = NULL WHERE id = $1', [MIDDLE.id]);
    expect(await userDoc(ada)).toEqual(adaDoc(ada, { groups: [leafOf(renamed)] }));
    expect(await userDoc(charles)).toEqual(
      charlesDoc(charles, { groups: [middleOf('documents-renamed', null)] }),
    );
    await db.query('UPDATE groups SET parent_id = $1 WHERE id = $2', [ROOT.id, MIDDLE.id]);
    expect(await userDoc(ada)).toEqual(adaDoc(ada, { is_superuser: true, groups: [leafOf(renamed)] }));
    await db.query('DELETE FROM groups WHERE id = $1', [MIDDLE.id]);
    expect(await userDoc(ada)).toEqual(adaDoc(ada, { groups: [leafOf(null)] }));
    expect(await userDoc(charles)).toEqual(charlesDoc(charles));

    // Groups are ordered by name: a second membership sorts before the leaf.
    await join(ada, ROOT.id);
    const rootEntry = {
      pk: ROOT.id,
      name: 'documents-root',
      is_superuser: true,
      parent: null,
      parent_name: null,
      attributes: {},
    };
    expect(await userDoc(ada)).toEqual(
      adaDoc(ada, { is_superuser: true, groups: [leafOf(null), rootEntry] }),
    );
    await db.query('DELETE FROM user_groups WHERE user_id = $1 AND group_id = $2', [ada, ROOT.id]);
    expect(await userDoc(ada)).toEqual(adaDoc(ada, { groups: [leafOf(null)] }));

    // Roles: assigned, renamed, deleted.
    await insertRole(ROLE.id, ROLE.name, ada);
    expect(await userDoc(ada)).toEqual(
      adaDoc(ada, { groups: [leafOf(null)], roles: [{ pk: ROLE.id, name: 'documents-analyst' }] }),
    );
    await db.query(`UPDATE roles SET name = 'documents-renamed role' WHERE id = $1`, [ROLE.id]);
    expect(await userDoc(ada)).toEqual(
      adaDoc(ada, { groups: [leafOf(null)], roles: [{ pk: ROLE.id, name: 'documents-renamed role' }] }),
    );
    await db.query('DELETE FROM roles WHERE id = $1', [ROLE.id]);
    expect(await userDoc(ada)).toEqual(adaDoc(ada, { groups: [leafOf(null)] }));

    // The user's own columns, every one of them; memberships removed.
    await db.query(
      `UPDATE users SET name = 'Ada King', email = 'ada@king.example', is_active = false, last_login = NULL,
              date_joined = '2030-01-02T03:04:05.000001Z', password_change_date = '2032-01-01T00:00:00Z',
              last_updated = '2032-01-01T00:00:01Z', path = 'users/renamed', type = 'external',
              attributes = '{"lang": "fr"}', username = 'documents-ada-king',
              uuid = '0d0c5000-0000-4000-8000-00000000ada2'
        WHERE id = $1`,
      [ada],
    );
    await db.query('DELETE FROM user_groups WHERE user_id = $1', [ada]);
    expect(await userDoc(ada)).toEqual({
      id: ada,
      uuid: '0d0c5000-0000-4000-8000-00000000ada2',
      username: 'documents-ada-king',
      name: 'Ada King',
      email: 'ada@king.example',
      is_active: false,
      last_login: null,
      date_joined: '2030-01-02T03:04:05.000001Z',
      password_change_date: '2032-01-01T00:00:00.000000Z',
      last_updated: '2032-01-01T00:00:01.000000Z',
      path: 'users/renamed',
      type: 'external',
      attributes: { lang: 'fr' },
      is_superuser: false,
      groups: [],
      roles: [],
    });
    expect(await undocumented()).toEqual([]);

    // A deleted user takes its document along.
    await db.query('DELETE FROM users WHERE id = $1', [charles]);
    expect(await userDoc(charles)).toBeUndefined();
  });

  it('are rebuilt by TRUNCATE of a table they are made of', async () => {
    const grace = await insertUser({
      ...CHARLES,
      uuid: '0d0c5000-0000-4000-8000-00000000f0a1',
      username: 'documents-grace',
      name: 'Grace Hopper',
    });
    const role = { id: '0d0c5000-0000-4000-8000-00000000f0a2', name: 'documents-admiral' };
    await insertRole(role.id, role.name, grace);
    const graceDoc = (roles: Json[]): Json =>
      charlesDoc(grace, {
        uuid: '0d0c5000-0000-4000-8000-00000000f0a1',
        username: 'documents-grace',
        name: 'Grace Hopper',
        roles,
      });
    expect(await userDoc(grace)).toEqual(graceDoc([{ pk: role.id, name: 'documents-admiral' }]));
    const runner = db.createQueryRunner();
    await runner.startTransaction();
    try {
      await runner.query('TRUNCATE user_roles');
      expect(await userDoc(grace, runner)).toEqual(graceDoc([]));
      // Every user's document, not only the fixture's: no role is left in any of them.
      const withRoles: unknown[] = await runner.query(
        `SELECT user_id FROM user_documents WHERE json_array_length(doc -> 'roles') > 0`,
      );
      expect(withRoles).toEqual([]);
    } finally {
      await runner.rollbackTransaction();
      await runner.release();
    }
    expect(await userDoc(grace)).toEqual(graceDoc([{ pk: role.id, name: 'documents-admiral' }]));
  });

  it('keep both of two concurrent membership changes to one user', async () => {
    const alan = await insertUser({
      ...CHARLES,
      uuid: '0d0c5000-0000-4000-8000-00000000a1a1',
      username: 'documents-alan',
      name: 'Alan Turing',
    });
    const a = { id: '0d0c5000-0000-4000-8000-00000000a1a2', name: 'documents-concurrent-a' };
    const b = { id: '0d0c5000-0000-4000-8000-00000000a1a3', name: 'documents-concurrent-b' };
    await insertGroup(a.id, a.name, null);
    await insertGroup(b.id, b.name, null);
    const first = db.createQueryRunner();
    const second = db.createQueryRunner();
    await first.startTransaction();
    await second.startTransaction();
    try {
      const [{ pid } = { pid: 0 }]: { pid: number }[] = await second.query('SELECT pg_backend_pid() AS pid');
      await join(alan, a.id, first);
      // Blocks on the first transaction's lock of the user until it commits, then builds from what it committed.
      const pending = join(alan, b.id, second);
      // It does block (so the two changes really overlap), on a lock.
      expect(
        await waitFor(async () => {
          const [row] = await db.query<{ wait: string | null }[]>(
            'SELECT wait_event_type AS wait FROM pg_stat_activity WHERE pid = $1',
            [pid],
          );
          return row?.wait === 'Lock';
        }, 10_000),
      ).toBe(true);
      await first.commitTransaction();
      await pending;
      await second.commitTransaction();
    } finally {
      await first.release();
      await second.release();
    }
    const entry = (group: { id: string; name: string }): Json => ({
      pk: group.id,
      name: group.name,
      is_superuser: false,
      parent: null,
      parent_name: null,
      attributes: {},
    });
    expect(await userDoc(alan)).toEqual(
      charlesDoc(alan, {
        uuid: '0d0c5000-0000-4000-8000-00000000a1a1',
        username: 'documents-alan',
        name: 'Alan Turing',
        groups: [entry(a), entry(b)],
      }),
    );
  });
});

const FLOW = '0d0c5000-0000-4000-8000-00000000f1a1';
const INVALIDATION = '0d0c5000-0000-4000-8000-00000000f1a2';
const MAPPING = '0d0c5000-0000-4000-8000-00000000f1a3';

async function insertProvider(name: string, clientId: string): Promise<number> {
  const [row] = await db.query<{ id: number }[]>(
    `INSERT INTO oauth2_providers (name, client_id, client_secret_hash, authorization_flow, invalidation_flow,
                                   property_mappings, client_type, access_code_validity, redirect_uris,
                                   logout_uri, sub_mode, grant_types)
     VALUES ($1, $2, '\\x0102', $3, $4, ARRAY[$5::uuid], 'public', 'minutes=5',
             '[{"matching_mode": "regex", "url": "https://documents\\\\.example/.*"}]', 'https://documents.example/out',
             'user_email', '{authorization_code}')
     RETURNING id`,
    [name, clientId, FLOW, INVALIDATION, MAPPING],
  );
  if (!row) throw new Error('no provider inserted');
  return row.id;
}

/** A provider's stored document, written out: every column but the secret, and its applications. */
const providerDocOf = (id: number, name: string, clientId: string, changes: Json = {}): Json => ({
  id,
  name,
  authentication_flow: null,
  authorization_flow: '0d0c5000-0000-4000-8000-00000000f1a1',
  invalidation_flow: '0d0c5000-0000-4000-8000-00000000f1a2',
  property_mappings: ['0d0c5000-0000-4000-8000-00000000f1a3'],
  client_type: 'public',
  client_id: clientId,
  access_code_validity: 'minutes=5',
  access_token_validity: 'hours=1',
  refresh_token_validity: 'days=30',
  refresh_token_threshold: 'seconds=0',
  include_claims_in_id_token: true,
  signing_key: null,
  encryption_key: null,
  redirect_uris: [{ matching_mode: 'regex', url: 'https://documents\\.example/.*' }],
  logout_uri: 'https://documents.example/out',
  logout_method: 'backchannel',
  sub_mode: 'user_email',
  issuer_mode: 'per_provider',
  grant_types: ['authorization_code'],
  jwt_federation_sources: [],
  jwt_federation_providers: [],
  application_slug: null,
  application_name: null,
  backchannel_slug: null,
  backchannel_name: null,
  ...changes,
});

describe('provider documents', () => {
  it('follow changes to providers and to the applications that serve them, directly or as backchannel', async () => {
    const provider = await insertProvider('documents-provider', 'documents-client');
    const doc = (changes: Json = {}): Json =>
      providerDocOf(provider, 'documents-renamed provider', 'documents-client', changes);
    expect(await providerDoc(provider)).toEqual(
      providerDocOf(provider, 'documents-provider', 'documents-client'),
    );

    await db.query(`UPDATE oauth2_providers SET name = 'documents-renamed provider' WHERE id = $1`, [
      provider,
    ]);
    expect(await providerDoc(provider)).toEqual(doc());

    const [app] = await db.query<{ id: string }[]>(
      `INSERT INTO applications (slug, name, provider_id) VALUES ('documents-app', 'App', $1) RETURNING id`,
      [provider],
    );
    expect(await providerDoc(provider)).toEqual(
      doc({ application_slug: 'documents-app', application_name: 'App' }),
    );

    const backchannelFor = await insertProvider('documents-backchannel', 'documents-backchannel-client');
    await db.query('UPDATE oauth2_providers SET backchannel_application_id = $1 WHERE id = $2', [
      app?.id,
      backchannelFor,
    ]);
    expect(await providerDoc(backchannelFor)).toEqual(
      providerDocOf(backchannelFor, 'documents-backchannel', 'documents-backchannel-client', {
        backchannel_slug: 'documents-app',
        backchannel_name: 'App',
      }),
    );
    await db.query(`UPDATE applications SET name = 'Renamed App' WHERE id = $1`, [app?.id]);
    expect(await providerDoc(provider)).toEqual(
      doc({ application_slug: 'documents-app', application_name: 'Renamed App' }),
    );
    expect(await providerDoc(backchannelFor)).toEqual(
      providerDocOf(backchannelFor, 'documents-backchannel', 'documents-backchannel-client', {
        backchannel_slug: 'documents-app',
        backchannel_name: 'Renamed App',
      }),
    );
    expect(await undocumented()).toEqual([]);

    await db.query('DELETE FROM applications WHERE id = $1', [app?.id]);
    expect(await providerDoc(provider)).toEqual(doc());
    expect(await providerDoc(backchannelFor)).toEqual(
      providerDocOf(backchannelFor, 'documents-backchannel', 'documents-backchannel-client'),
    );
  });

  it('never contain the client secret', async () => {
    const provider = await insertProvider('documents-secret', 'documents-secret-client');
    const doc = await providerDoc(provider);
    expect(doc).toEqual(providerDocOf(provider, 'documents-secret', 'documents-secret-client'));
    expect(Object.keys(doc ?? {}).filter((key) => key.includes('secret'))).toEqual([]);
  });
});
