import { randomUUID } from 'node:crypto';
import type { GroupEntity } from '../src/identity/group.entity';
import type { UserEntity } from '../src/identity/user.entity';
import { ApplicationAccess } from '../src/oauth2/issuance/access/application-access';
import { ConsentStore } from '../src/oauth2/issuance/consent/consent-store';
import { CONSENT_MODES, type ConsentMode } from '../src/providers/oauth2-provider.entity';
import { createApplication } from '../src/providers/providers';
import { createTestApp, type TestApp } from './support/app';
import { Factories, unique } from './support/factories';

/** authentik's default consent_expire_in, in seconds. */
const FOUR_WEEKS = 28 * 24 * 3600;

let t: TestApp;
let factories: Factories;
let consents: ConsentStore;
let access: ApplicationAccess;

beforeAll(async () => {
  t = await createTestApp();
  factories = new Factories(t.dataSource);
  consents = t.app.get(ConsentStore);
  access = t.app.get(ApplicationAccess);
});

afterAll(async () => {
  await t?.close();
});

async function application(groups: GroupEntity[] = []): Promise<string> {
  const app = await t.dataSource.transaction((manager) =>
    createApplication(manager, {
      slug: unique('consent-app').slice(0, 50),
      name: 'Consent test',
      groups: groups.map((group) => group.name),
    }),
  );
  return app.id;
}

interface StoredConsent {
  permissions: string;
  expires: Date | null;
  /** expires - created, in seconds; null for a permanent consent. */
  lasts: number | null;
}

async function stored(userId: number, applicationId: string): Promise<StoredConsent[]> {
  const rows = await t.dataSource.query<
    { permissions: string; expires: Date | null; lasts: string | null }[]
  >(
    `SELECT permissions, expires, extract(epoch FROM expires - created)::text AS lasts
       FROM user_consents WHERE user_id = $1 AND application_id = $2`,
    [userId, applicationId],
  );
  return rows.map((row) => ({ ...row, lasts: row.lasts === null ? null : Number(row.lasts) }));
}

async function databaseNow(): Promise<number> {
  const [row] = await t.dataSource.query<{ now: Date }[]>('SELECT now() AS now');
  return row?.now.getTime() ?? Number.NaN;
}

describe('ConsentStore', () => {
  let user: UserEntity;
  let app: string;

  beforeEach(async () => {
    user = await factories.user();
    app = await application();
  });

  const ask = (scopes: string[], mode: ConsentMode, forced = false): Promise<boolean> =>
    consents.required({ userId: user.id, applicationId: app, scopes, mode, forced });
  const give = (scopes: string[], mode: ConsentMode, expireIn = 'weeks=4'): Promise<void> =>
    consents.record({ userId: user.id, applicationId: app, scopes, mode, expireIn });

  it('implicit: never asks unless forced, stores nothing', async () => {
    expect(await ask(['openid', 'email'], 'implicit')).toBe(false);
    expect(await ask(['openid', 'email'], 'implicit', true)).toBe(true);
    await give(['openid', 'email'], 'implicit');
    expect(await stored(user.id, app)).toEqual([]);
  });

  it('always: asks every time, even after a consent, and stores nothing', async () => {
    expect(await ask(['openid'], 'always')).toBe(true);
    await give(['openid'], 'always');
    expect(await stored(user.id, app)).toEqual([]);
    expect(await ask(['openid'], 'always')).toBe(true);
  });

  it('expiring: asks once, stores the sorted unique set until now + consent_expire_in', async () => {
    const scopes = ['profile', 'openid', 'email', 'openid'];
    expect(await ask(scopes, 'expiring')).toBe(true);
    await give(scopes, 'expiring');
    expect(await stored(user.id, app)).toEqual([
      { permissions: 'email openid profile', expires: expect.any(Date), lasts: FOUR_WEEKS },
    ]);
    expect(await ask(scopes, 'expiring')).toBe(false);
    expect(await consents.previouslyConsented({ userId: user.id, applicationId: app })).toEqual([
      'email',
      'openid',
      'profile',
    ]);
  });

  it('expiring: honours the provider duration, fractions included', async () => {
    await give(['openid'], 'expiring', 'days=1;hours=1.5');
    expect(await stored(user.id, app)).toEqual([
      { permissions: 'openid', expires: expect.any(Date), lasts: 24 * 3600 + 5400 },
    ]);
  });

  it('permanent: stores a consent with no expiry, and keeps honouring it', async () => {
    await give(['openid', 'email'], 'permanent');
    expect(await stored(user.id, app)).toEqual([{ permissions: 'email openid', expires: null, lasts: null }]);
    expect(await ask(['email', 'openid'], 'permanent')).toBe(false);
    // A provider switched to 'expiring' later still honours the permanent row (authentik's filter_not_expired).
    expect(await ask(['email', 'openid'], 'expiring')).toBe(false);
  });

  it('matches the exact scope set only: a subset or a superset asks again; order and repeats do not matter', async () => {
    await give(['openid', 'email', 'profile'], 'expiring');
    for (const mode of ['expiring', 'permanent'] as const) {
      expect(await ask(['openid', 'email'], mode)).toBe(true);
      expect(await ask(['openid', 'email', 'profile', 'offline_access'], mode)).toBe(true);
      expect(await ask(['profile', 'openid', 'email'], mode)).toBe(false);
      expect(await ask(['profile', 'profile', 'email', 'openid'], mode)).toBe(false);
      expect(await ask([], mode)).toBe(true);
    }
  });

  it('a new consent replaces the stored set (not a union), so the old set asks again', async () => {
    await give(['openid', 'email'], 'expiring');
    const before = await databaseNow();
    await give(['openid', 'profile'], 'expiring');
    const after = await databaseNow();
    const [row] = await stored(user.id, app);
    expect(row?.permissions).toBe('openid profile');
    // Renewed from this consent's time (the row's `created` stays that of the first consent).
    const expires = row?.expires?.getTime() ?? 0;
    expect(expires).toBeGreaterThanOrEqual(before + FOUR_WEEKS * 1000);
    expect(expires).toBeLessThanOrEqual(after + FOUR_WEEKS * 1000);
    expect(await ask(['openid', 'email'], 'expiring')).toBe(true);
    expect(await ask(['openid', 'profile'], 'expiring')).toBe(false);
    // And a later permanent consent drops the expiry.
    await give(['openid', 'profile'], 'permanent');
    expect(await stored(user.id, app)).toEqual([
      { permissions: 'openid profile', expires: null, lasts: null },
    ]);
  });

  it('an expired consent is not honoured, and is not reported as previously consented', async () => {
    // seconds=0: expires at the consent's own now(), which every later statement is past.
    await give(['openid', 'email'], 'expiring', 'seconds=0');
    expect(await stored(user.id, app)).toEqual([
      { permissions: 'email openid', expires: expect.any(Date), lasts: 0 },
    ]);
    expect(await ask(['openid', 'email'], 'expiring')).toBe(true);
    expect(await ask(['openid', 'email'], 'permanent')).toBe(true);
    expect(await consents.previouslyConsented({ userId: user.id, applicationId: app })).toEqual([]);

    await give(['openid', 'email'], 'expiring');
    expect(await ask(['openid', 'email'], 'expiring')).toBe(false);
    await t.dataSource.query(
      `UPDATE user_consents SET expires = now() - interval '1 second' WHERE user_id = $1 AND application_id = $2`,
      [user.id, app],
    );
    expect(await ask(['openid', 'email'], 'expiring')).toBe(true);
    // Consenting again renews the row in place.
    await give(['openid', 'email'], 'expiring');
    expect(await stored(user.id, app)).toEqual([
      { permissions: 'email openid', expires: expect.any(Date), lasts: expect.any(Number) },
    ]);
    expect(await ask(['openid', 'email'], 'expiring')).toBe(false);
  });

  it('forced (prompt=consent) asks in every mode, whatever is stored', async () => {
    await give(['openid'], 'permanent');
    for (const mode of CONSENT_MODES) expect(await ask(['openid'], mode, true)).toBe(true);
  });

  it('keeps consents per user and per application', async () => {
    await give(['openid'], 'permanent');
    const other = await factories.user();
    const otherApp = await application();
    expect(
      await consents.required({
        userId: other.id,
        applicationId: app,
        scopes: ['openid'],
        mode: 'permanent',
        forced: false,
      }),
    ).toBe(true);
    expect(
      await consents.required({
        userId: user.id,
        applicationId: otherApp,
        scopes: ['openid'],
        mode: 'permanent',
        forced: false,
      }),
    ).toBe(true);
    expect(await consents.previouslyConsented({ userId: other.id, applicationId: app })).toEqual([]);
  });

  it('20 concurrent consents for the same user and application: no error, one row', async () => {
    const sets = Array.from({ length: 20 }, (_, i) => ['openid', i % 2 === 0 ? 'email' : 'profile']);
    const results = await Promise.allSettled(
      sets.map((scopes, i) => give(scopes, i % 3 === 0 ? 'permanent' : 'expiring')),
    );
    expect(results.filter((result) => result.status === 'rejected')).toEqual([]);
    const rows = await stored(user.id, app);
    expect(rows).toHaveLength(1);
    expect(['email openid', 'openid profile']).toContain(rows[0]?.permissions);
  });

  it('runs inside the caller’s transaction when given its manager', async () => {
    await t.dataSource
      .transaction(async (manager) => {
        await consents.record(
          { userId: user.id, applicationId: app, scopes: ['openid'], mode: 'permanent', expireIn: 'weeks=4' },
          manager,
        );
        expect(
          await consents.required(
            { userId: user.id, applicationId: app, scopes: ['openid'], mode: 'permanent', forced: false },
            manager,
          ),
        ).toBe(false);
        throw new Error('roll back');
      })
      .catch((error: unknown) => expect((error as Error).message).toBe('roll back'));
    expect(await stored(user.id, app)).toEqual([]);
  });

  it('consents go with their user and their application', async () => {
    await give(['openid'], 'permanent');
    await t.dataSource.query('DELETE FROM applications WHERE id = $1', [app]);
    expect(await stored(user.id, app)).toEqual([]);
    const again = await application();
    await consents.record({
      userId: user.id,
      applicationId: again,
      scopes: ['openid'],
      mode: 'permanent',
      expireIn: 'weeks=4',
    });
    await t.dataSource.query('DELETE FROM users WHERE id = $1', [user.id]);
    expect(await stored(user.id, again)).toEqual([]);
  });
});

describe('ApplicationAccess', () => {
  // parent > bound > child > grandchild, and sibling under parent.
  let parent: GroupEntity;
  let bound: GroupEntity;
  let child: GroupEntity;
  let grandchild: GroupEntity;
  let sibling: GroupEntity;
  let app: string;

  beforeAll(async () => {
    parent = await factories.group();
    bound = await factories.group({ parent: parent.name });
    child = await factories.group({ parent: bound.name });
    grandchild = await factories.group({ parent: child.name });
    sibling = await factories.group({ parent: parent.name });
    app = await application([bound]);
  });

  async function memberOf(...groups: GroupEntity[]): Promise<UserEntity> {
    const user = await factories.user();
    for (const group of groups) await factories.member(user, group);
    return user;
  }

  it('an application without bindings is open to every active user, and to no inactive one', async () => {
    const open = await application();
    expect(await access.allowed((await memberOf()).id, open)).toBe(true);
    expect(await access.allowed((await memberOf(sibling)).id, open)).toBe(true);
    const inactive = await factories.user({ isActive: false });
    expect(await access.allowed(inactive.id, open)).toBe(false);
  });

  it('a bound application: members of the bound group and of every group below it', async () => {
    expect(await access.allowed((await memberOf(bound)).id, app)).toBe(true);
    expect(await access.allowed((await memberOf(child)).id, app)).toBe(true);
    expect(await access.allowed((await memberOf(grandchild)).id, app)).toBe(true);
    expect(await access.allowed((await memberOf(sibling, grandchild)).id, app)).toBe(true);
  });

  it('a bound application: not members of a parent or a sibling group only, nor of no group', async () => {
    expect(await access.allowed((await memberOf(parent)).id, app)).toBe(false);
    expect(await access.allowed((await memberOf(sibling)).id, app)).toBe(false);
    expect(await access.allowed((await memberOf(parent, sibling)).id, app)).toBe(false);
    expect(await access.allowed((await memberOf()).id, app)).toBe(false);
  });

  it('an inactive member is refused', async () => {
    const user = await memberOf(bound);
    await t.dataSource.query('UPDATE users SET is_active = false WHERE id = $1', [user.id]);
    expect(await access.allowed(user.id, app)).toBe(false);
  });

  it('any of several bound groups; deleting one removes its binding and its members’ access', async () => {
    const first = await factories.group();
    const second = await factories.group();
    const both = await application([first, second]);
    const inFirst = await memberOf(first);
    const inSecond = await memberOf(second);
    expect(await access.allowed(inFirst.id, both)).toBe(true);
    expect(await access.allowed(inSecond.id, both)).toBe(true);
    await t.dataSource.query('DELETE FROM groups WHERE id = $1', [first.id]);
    expect(
      await t.dataSource.query('SELECT group_id FROM application_groups WHERE application_id = $1', [both]),
    ).toEqual([{ group_id: second.id }]);
    expect(await access.allowed(inFirst.id, both)).toBe(false);
    expect(await access.allowed(inSecond.id, both)).toBe(true);
  });

  it('deleting the only bound group leaves the application without bindings: open, as in authentik', async () => {
    const only = await factories.group();
    const lone = await application([only]);
    const outsider = await memberOf();
    expect(await access.allowed(outsider.id, lone)).toBe(false);
    await t.dataSource.query('DELETE FROM groups WHERE id = $1', [only.id]);
    expect(
      await t.dataSource.query('SELECT 1 FROM application_groups WHERE application_id = $1', [lone]),
    ).toEqual([]);
    expect(await access.allowed(outsider.id, lone)).toBe(true);
  });

  it('ends on a cycle in the group tree', async () => {
    const a = await factories.group();
    const b = await factories.group({ parent: a.name });
    await t.dataSource.query('UPDATE groups SET parent_id = $2 WHERE id = $1', [a.id, b.id]);
    const cyclic = await application([bound]);
    expect(await access.allowed((await memberOf(a)).id, cyclic)).toBe(false);
    const elsewhere = await application([b]);
    expect(await access.allowed((await memberOf(a)).id, elsewhere)).toBe(true);
  });

  it('unknown users and applications, and ids that are not ids, are refused without an error', async () => {
    const user = await memberOf(bound);
    expect(await access.allowed(user.id, randomUUID())).toBe(false);
    expect(await access.allowed(user.id, 'not-a-uuid')).toBe(false);
    expect(await access.allowed(2_147_483_000, app)).toBe(false);
    expect(await access.allowed(Number.NaN, app)).toBe(false);
  });
});
