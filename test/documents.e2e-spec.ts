/**
 * The nested users and providers of every grant come from trigger-maintained documents (migration Documents). After
 * any change to the rows a document is made of, the stored document must equal one built from scratch, and
 * concurrent changes to one user must not leave a document that misses one of them.
 */
import { DataSource, type QueryRunner } from 'typeorm';
import { openTestDataSource } from './support/app';
import { GrantFactories, unique } from './support/factories';

let db: DataSource;
let f: GrantFactories;

beforeAll(async () => {
  db = await openTestDataSource('grantry-documents', 4);
  f = new GrantFactories(db);
});
afterAll(async () => {
  await db.destroy();
});

/** Stored documents that differ from freshly built ones (or are missing, or belong to no row). */
async function staleDocuments(runner: DataSource | QueryRunner = db): Promise<unknown[]> {
  const rows: unknown[] = await runner.query(`
    SELECT 'user' AS kind, coalesce(s.user_id, b.user_id) AS id, s.doc::text AS stored, b.doc::text AS built
      FROM user_documents s
      FULL JOIN grantry_build_user_documents(ARRAY(SELECT id FROM users)) b ON b.user_id = s.user_id
     WHERE s.doc::text IS DISTINCT FROM b.doc::text
    UNION ALL
    SELECT 'provider', coalesce(s.provider_id, b.provider_id), s.doc::text, b.doc::text
      FROM provider_documents s
      FULL JOIN grantry_build_provider_documents(ARRAY(SELECT id FROM oauth2_providers)) b
        ON b.provider_id = s.provider_id
     WHERE s.doc::text IS DISTINCT FROM b.doc::text`);
  return rows;
}

async function userDoc(id: number): Promise<{
  name: string;
  is_superuser: boolean;
  groups: { name: string; parent_name: string | null }[];
  roles: { name: string }[];
}> {
  const [row] = await db.query<{ doc: never }[]>('SELECT doc FROM user_documents WHERE user_id = $1', [id]);
  if (!row) throw new Error(`no document for user ${id}`);
  return row.doc;
}

async function providerDoc(id: number): Promise<Record<string, unknown>> {
  const [row] = await db.query<{ doc: never }[]>(
    'SELECT doc FROM provider_documents WHERE provider_id = $1',
    [id],
  );
  if (!row) throw new Error(`no document for provider ${id}`);
  return row.doc;
}

describe('user documents', () => {
  it('follow every change to users, memberships, groups (down the tree) and roles', async () => {
    const root = await f.group();
    const middle = await f.group({ parent: root.name });
    const leaf = await f.group({ parent: middle.name });
    const user = await f.user({ name: 'Ada Lovelace' });
    const other = await f.user();
    expect(await staleDocuments()).toEqual([]);

    await f.member(user, leaf);
    await f.member(other, middle);
    expect((await userDoc(user.id)).groups.map((g) => [g.name, g.parent_name])).toEqual([
      [leaf.name, middle.name],
    ]);

    // Renaming a parent changes parent_name of its children's members.
    const renamed = unique('renamed').slice(0, 80);
    await db.query('UPDATE groups SET name = $1 WHERE id = $2', [renamed, middle.id]);
    expect((await userDoc(user.id)).groups[0]?.parent_name).toBe(renamed);
    expect(await staleDocuments()).toEqual([]);

    // Superuser status flows down from any ancestor.
    expect((await userDoc(user.id)).is_superuser).toBe(false);
    await db.query('UPDATE groups SET is_superuser = true WHERE id = $1', [root.id]);
    expect((await userDoc(user.id)).is_superuser).toBe(true);
    expect((await userDoc(other.id)).is_superuser).toBe(true);

    // Moving a subtree away from the superuser group, then deleting a parent (children are re-parented).
    await db.query('UPDATE groups SET parent_id = NULL WHERE id = $1', [middle.id]);
    expect((await userDoc(user.id)).is_superuser).toBe(false);
    await db.query('UPDATE groups SET parent_id = $1 WHERE id = $2', [root.id, middle.id]);
    expect((await userDoc(user.id)).is_superuser).toBe(true);
    await db.query('DELETE FROM groups WHERE id = $1', [middle.id]);
    expect((await userDoc(user.id)).is_superuser).toBe(false);
    expect((await userDoc(user.id)).groups.map((g) => [g.name, g.parent_name])).toEqual([[leaf.name, null]]);
    expect((await userDoc(other.id)).groups).toEqual([]);
    expect(await staleDocuments()).toEqual([]);

    // Roles: assigned, renamed, deleted.
    const role = await f.role([], { user });
    expect((await userDoc(user.id)).roles.map((r) => r.name)).toEqual([role.name]);
    await db.query('UPDATE roles SET name = $1 WHERE id = $2', ['renamed role', role.id]);
    expect((await userDoc(user.id)).roles.map((r) => r.name)).toEqual(['renamed role']);
    await db.query('DELETE FROM roles WHERE id = $1', [role.id]);
    expect((await userDoc(user.id)).roles).toEqual([]);

    // The user's own columns; memberships removed.
    await db.query(`UPDATE users SET name = 'Ada King' WHERE id = $1`, [user.id]);
    expect((await userDoc(user.id)).name).toBe('Ada King');
    await db.query('DELETE FROM user_groups WHERE user_id = $1', [user.id]);
    expect((await userDoc(user.id)).groups).toEqual([]);
    expect(await staleDocuments()).toEqual([]);

    // A deleted user takes its document along.
    await db.query('DELETE FROM users WHERE id = $1', [other.id]);
    const [gone] = await db.query<{ n: number }[]>(
      'SELECT count(*)::int AS n FROM user_documents WHERE user_id = $1',
      [other.id],
    );
    expect(gone?.n).toBe(0);
  });

  it('are rebuilt by TRUNCATE of a table they are made of', async () => {
    const user = await f.user();
    await f.role([], { user });
    const runner = db.createQueryRunner();
    await runner.startTransaction();
    try {
      await runner.query('TRUNCATE user_roles');
      expect(await staleDocuments(runner)).toEqual([]);
      const rows: { doc: { roles: unknown[] } }[] = await runner.query(
        'SELECT doc FROM user_documents WHERE user_id = $1',
        [user.id],
      );
      expect(rows[0]?.doc.roles).toEqual([]);
    } finally {
      await runner.rollbackTransaction();
      await runner.release();
    }
    expect((await userDoc(user.id)).roles).toHaveLength(1);
  });

  it('keep both of two concurrent membership changes to one user', async () => {
    const user = await f.user();
    const [a, b] = [await f.group(), await f.group()];
    const first = db.createQueryRunner();
    const second = db.createQueryRunner();
    await first.startTransaction();
    await second.startTransaction();
    try {
      await first.query('INSERT INTO user_groups (user_id, group_id) VALUES ($1, $2)', [user.id, a.id]);
      // Blocks on the first transaction's lock of the user until it commits, then builds from what it committed.
      const pending = second.query('INSERT INTO user_groups (user_id, group_id) VALUES ($1, $2)', [
        user.id,
        b.id,
      ]);
      await new Promise((resolve) => setTimeout(resolve, 200));
      await first.commitTransaction();
      await pending;
      await second.commitTransaction();
    } finally {
      await first.release();
      await second.release();
    }
    expect((await userDoc(user.id)).groups.map((g) => g.name).sort()).toEqual([a.name, b.name].sort());
    expect(await staleDocuments()).toEqual([]);
  });
});

describe('provider documents', () => {
  it('follow changes to providers and to the applications that serve them, directly or as backchannel', async () => {
    const provider = await f.provider();
    expect(await providerDoc(provider.id)).toMatchObject({ name: provider.name, application_slug: null });

    await db.query('UPDATE oauth2_providers SET name = $1 WHERE id = $2', ['renamed provider', provider.id]);
    expect((await providerDoc(provider.id)).name).toBe('renamed provider');

    const slug = unique('app').slice(0, 50);
    const [app] = await db.query<{ id: string }[]>(
      `INSERT INTO applications (slug, name, provider_id) VALUES ($1, 'App', $2) RETURNING id`,
      [slug, provider.id],
    );
    expect(await providerDoc(provider.id)).toMatchObject({ application_slug: slug, application_name: 'App' });

    const backchannelFor = await f.provider();
    await db.query('UPDATE oauth2_providers SET backchannel_application_id = $1 WHERE id = $2', [
      app?.id,
      backchannelFor.id,
    ]);
    await db.query(`UPDATE applications SET name = 'Renamed App' WHERE id = $1`, [app?.id]);
    expect((await providerDoc(provider.id)).application_name).toBe('Renamed App');
    expect((await providerDoc(backchannelFor.id)).backchannel_name).toBe('Renamed App');
    expect(await staleDocuments()).toEqual([]);

    await db.query('DELETE FROM applications WHERE id = $1', [app?.id]);
    expect(await providerDoc(provider.id)).toMatchObject({ application_slug: null, application_name: null });
    expect(await providerDoc(backchannelFor.id)).toMatchObject({
      backchannel_slug: null,
      backchannel_name: null,
    });
    expect(await staleDocuments()).toEqual([]);
  });

  it('never contain the client secret', async () => {
    const provider = await f.provider();
    const doc = await providerDoc(provider.id);
    expect(Object.keys(doc).filter((key) => key.includes('secret'))).toEqual([]);
  });
});
