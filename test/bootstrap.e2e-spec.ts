import type { DataSource } from 'typeorm';
import { ADMIN_GROUP, bootstrap, BOOTSTRAP_TOKEN_IDENTIFIER } from '../src/bootstrap/bootstrap';
import { AuthService } from '../src/common/auth/auth.service';
import { openTestDataSource } from './support/app';

describe('bootstrap', () => {
  let dataSource: DataSource;
  let auth: AuthService;

  beforeAll(async () => {
    dataSource = await openTestDataSource('grantry-bootstrap-tests');
    auth = new AuthService(dataSource);
  });
  afterAll(() => dataSource.destroy());

  async function counts(): Promise<{ users: number; tokens: number; memberships: number }> {
    const [row] = await dataSource.query<{ users: number; tokens: number; memberships: number }[]>(
      `SELECT (SELECT count(*)::int FROM users WHERE username = 'akadmin') AS users,
              (SELECT count(*)::int FROM api_tokens WHERE identifier = $1) AS tokens,
              (SELECT count(*)::int FROM user_groups ug JOIN groups g ON g.id = ug.group_id JOIN users u ON u.id = ug.user_id
                WHERE g.name = $2 AND u.username = 'akadmin' AND g.is_superuser) AS memberships`,
      [BOOTSTRAP_TOKEN_IDENTIFIER, ADMIN_GROUP],
    );
    return row ?? { users: -1, tokens: -1, memberships: -1 };
  }

  it('is idempotent with the same BOOTSTRAP_TOKEN, and replaces the key when it changes', async () => {
    const first = 'first-bootstrap-token-0123456789';
    await bootstrap(dataSource, first);
    await bootstrap(dataSource, first);
    expect(await counts()).toEqual({ users: 1, tokens: 1, memberships: 1 });
    expect(await auth.authenticate(first)).toEqual(
      expect.objectContaining({ username: 'akadmin', isSuperuser: true }),
    );

    const second = 'second-bootstrap-token-0123456789';
    expect(await bootstrap(dataSource, second)).toEqual({
      action: 'bootstrap-token',
      userId: expect.any(Number),
    });
    expect(await counts()).toEqual({ users: 1, tokens: 1, memberships: 1 });
    expect(await auth.authenticate(first)).toBeNull();
    expect(await auth.authenticate(second)).toEqual(expect.objectContaining({ username: 'akadmin' }));
  });

  it('without BOOTSTRAP_TOKEN does nothing once a superuser exists', async () => {
    // The superuser of its own: the tests of this file run in any order (npm run test:shuffled).
    await bootstrap(dataSource, 'existing-superuser-token-0123456789');
    const before = await dataSource.query<{ n: number }[]>('SELECT count(*)::int AS n FROM api_tokens');
    expect(await bootstrap(dataSource, undefined)).toEqual({ action: 'none' });
    expect(await dataSource.query('SELECT count(*)::int AS n FROM api_tokens')).toEqual(before);
  });

  it('runs safely when several instances start at once', async () => {
    const token = 'concurrent-bootstrap-token-0123456789';
    await Promise.all([
      bootstrap(dataSource, token),
      bootstrap(dataSource, token),
      bootstrap(dataSource, token),
    ]);
    expect(await counts()).toEqual({ users: 1, tokens: 1, memberships: 1 });
    expect(await auth.authenticate(token)).not.toBeNull();
  });
});
