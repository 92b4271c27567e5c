import { DataSource } from 'typeorm';
import { openDataSource } from '../../../test/support/database';
import { loadConfig } from '../../config/config';
import { BackgroundJob, JOB_LOCK_CLASS } from '../../database/background-jobs';
import { dataSourceOptions } from '../../database/data-source-options';
import { AuthFailureThrottle } from './auth-throttle';

/** The throttle against the real table (test database, real migrations), on a clock of the test's own. */
describe('AuthFailureThrottle', () => {
  let dataSource: DataSource;
  let now: number;
  const clock = () => new Date(now);
  const throttle = (limit: number, windowSeconds: number, maxAddresses = 10_000) =>
    new AuthFailureThrottle(
      dataSource,
      loadConfig({
        AUTH_FAILURE_LIMIT: String(limit),
        AUTH_FAILURE_WINDOW_SECONDS: String(windowSeconds),
        AUTH_FAILURE_MAX_ADDRESSES: String(maxAddresses),
      }),
      clock,
    );
  const rows = async () =>
    (
      await dataSource.query<{ bucket: string; failures: number }[]>(
        'SELECT bucket, failures FROM auth_failures ORDER BY bucket',
      )
    ).map((row) => [row.bucket, row.failures]);

  beforeAll(async () => {
    const url = process.env.GRANTRY_TEST_DATABASE_URL;
    if (!url) throw new Error('run through jest: its global setup provides the test database');
    dataSource = await openDataSource(url, 'grantry-throttle-spec', 4);
  });
  afterAll(() => dataSource.destroy());
  beforeEach(async () => {
    now = Date.parse('2026-01-01T00:00:00Z');
    await dataSource.query('DELETE FROM auth_failures');
  });

  it('answers 0 to the first LIMIT failures of a window, then the seconds left in it', async () => {
    const t = throttle(3, 60);
    for (let i = 0; i < 3; i += 1) {
      expect(await t.recordFailure('192.0.2.1')).toBe(0);
      now += 1000;
    }
    // The window began at the first failure, 3 s ago: 57 s remain.
    expect(await t.recordFailure('192.0.2.1')).toBe(57);
    now += 500;
    expect(await t.recordFailure('192.0.2.1')).toBe(57); // 56.5 s, rounded up
    now += 56_499;
    expect(await t.recordFailure('192.0.2.1')).toBe(1);
    now += 1; // the window ended: this failure starts the next one
    expect(await t.recordFailure('192.0.2.1')).toBe(0);
    expect(await rows()).toEqual([['192.0.2.1', 1]]);
  });

  it('starts a new window at the first failure after the old one ended', async () => {
    const t = throttle(2, 10);
    expect(await t.recordFailure('192.0.2.1')).toBe(0);
    now += 10_000;
    expect(await t.recordFailure('192.0.2.1')).toBe(0);
    now += 9_000;
    expect(await t.recordFailure('192.0.2.1')).toBe(0);
    expect(await t.recordFailure('192.0.2.1')).toBe(1);
  });

  it('counts each client on its own: an IPv4 address, an IPv6 /64, loopback and :: apart', async () => {
    const t = throttle(1, 60);
    for (const address of ['192.0.2.1', '2001:db8:1:2::1', '::1', '::', '127.0.0.1']) {
      expect(await t.recordFailure(address)).toBe(0);
    }
    expect(await t.recordFailure('192.0.2.2')).toBe(0);
    expect(await t.recordFailure('2001:db8:1:2:ffff:ffff:ffff:ffff')).toBe(60);
    expect(await t.recordFailure('2001:db8:1:3::1')).toBe(0);
    expect(await t.recordFailure('::1')).toBe(60);
    expect(await rows()).toEqual([
      ['127.0.0.1', 1],
      ['192.0.2.1', 1],
      ['192.0.2.2', 1],
      ['2001:db8:1:2::/64', 2],
      ['2001:db8:1:3::/64', 1],
      ['::', 1],
      ['::1', 2],
    ]);
  });

  it('is shared: failures spread over two instances count as one, exactly, even when concurrent', async () => {
    const [a, b] = [throttle(20, 60), throttle(20, 60)];
    const waits = await Promise.all(
      Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? a : b).recordFailure('198.51.100.7')),
    );
    expect(waits.filter((wait) => wait === 0)).toHaveLength(20);
    expect(waits.filter((wait) => wait === 60)).toHaveLength(30);
    expect(await rows()).toEqual([['198.51.100.7', 50]]);
  });

  it('with a limit of 0 counts nothing and writes nothing', async () => {
    const t = throttle(0, 60);
    for (let i = 0; i < 30; i += 1) expect(await t.recordFailure('192.0.2.1')).toBe(0);
    expect(t.enabled).toBe(false);
    expect(await rows()).toEqual([]);
  });

  it('the sweep deletes ended windows, then the oldest beyond AUTH_FAILURE_MAX_ADDRESSES', async () => {
    const t = throttle(5, 10, 3);
    for (const address of ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5']) {
      await t.recordFailure(address);
      now += 2_000;
    }
    // Now 10 s after the first failure: 10.0.0.1's window ended; four remain, one more than the cap.
    expect(await t.sweep()).toBe(2);
    expect((await rows()).map(([bucket]) => bucket)).toEqual(['10.0.0.3', '10.0.0.4', '10.0.0.5']);
  });

  it('the sweep runs one at a time: it skips while another session holds its lock', async () => {
    const t = throttle(5, 10);
    await t.recordFailure('10.0.0.1');
    now += 60_000;
    const holder = dataSource.createQueryRunner();
    await holder.startTransaction();
    try {
      await holder.query('SELECT pg_advisory_xact_lock($1, $2)', [
        JOB_LOCK_CLASS,
        BackgroundJob.authFailureSweep,
      ]);
      expect(await t.sweep()).toBeUndefined();
      expect(await rows()).toEqual([['10.0.0.1', 1]]);
    } finally {
      await holder.rollbackTransaction();
      await holder.release();
    }
    expect(await t.sweep()).toBe(1);
  });

  it('a failure it cannot count (the table locked past the statement timeout) answers 0 instead of rejecting', async () => {
    const url = process.env.GRANTRY_TEST_DATABASE_URL ?? '';
    const impatient = await new DataSource(
      dataSourceOptions({
        url,
        poolSize: 1,
        statementTimeoutMs: 200,
        connectTimeoutMs: 5000,
        applicationName: 'grantry-throttle-spec-impatient',
      }),
    ).initialize();
    const locker = dataSource.createQueryRunner();
    await locker.startTransaction();
    try {
      await locker.query('LOCK TABLE auth_failures IN ACCESS EXCLUSIVE MODE');
      const t = new AuthFailureThrottle(impatient, loadConfig({ AUTH_FAILURE_LIMIT: '1' }));
      expect(await t.recordFailure('192.0.2.1')).toBe(0);
      expect(await t.recordFailure('192.0.2.1')).toBe(0);
    } finally {
      await locker.rollbackTransaction();
      await locker.release();
      await impatient.destroy();
    }
    expect(await rows()).toEqual([]);
  });
});
