/**
 * Expiry cleanup (issue 14): the job deletes exactly the expiring grants whose expiry passed more than the retention
 * ago, whatever their revocation, keeps every other row, keeps the lists' counts exact, runs on one session at a
 * time, and is driven by hand with `grants cleanup`.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import type { DataSource } from 'typeorm';
import { JOB_LOCK_CLASS, BackgroundJob, type JobRun } from '../src/database/background-jobs';
import { GrantCounts } from '../src/oauth2/grants/grant-counts';
import { cleanExpiredGrants, previewCleanup } from '../src/oauth2/grants/grant-cleanup';
import {
  bearer,
  createTestApp,
  openTestDataSource,
  request,
  testDatabaseUrl,
  type TestApp,
} from './support/app';
import { GRANT_TABLES, GrantFactories, type GrantType } from './support/factories';
import { type Run, runProcess } from './support/process';

const ROOT = path.resolve(__dirname, '..');
const CLI = path.join(ROOT, 'dist/src/cli/main.js');
const SERVER = path.join(ROOT, 'dist/src/main.js');
const DAY = 86_400_000;
const WEEK = 7 * DAY;
const TYPES: GrantType[] = ['access', 'refresh', 'code'];
const PATHS: Record<GrantType, string> = {
  access: '/api/v3/oauth2/access_tokens/',
  refresh: '/api/v3/oauth2/refresh_tokens/',
  code: '/api/v3/oauth2/authorization_codes/',
};

let t: TestApp;
let f: GrantFactories;
let second: DataSource;
let adminKey: string;
let userId: number;

beforeAll(async () => {
  t = await createTestApp({ GRANT_CLEANUP_INTERVAL_SECONDS: '0' });
  f = new GrantFactories(t.dataSource);
  const admins = await f.group({ isSuperuser: true });
  const admin = await f.user();
  await f.member(admin, admins);
  adminKey = await f.apiKey(admin);
  userId = (await f.user()).id;
  second = await openTestDataSource('grantry-cleanup-second', 2);
});
afterAll(async () => {
  await second.destroy();
  await t.close();
});

/** Other suites share the database: start every test with no grant that any retention would delete. */
beforeEach(async () => {
  await cleanExpiredGrants(t.dataSource, { retentionMs: 0, onBusy: 'wait', waitMs: 10_000, trigger: 'cli' });
});

const ago = (ms: number): Date => new Date(Date.now() - ms);

interface Seeded {
  provider: number;
  /** Expired 30 days ago (one of them revoked): what a 7-day retention deletes. */
  old: Record<GrantType, number[]>;
  /** Everything else: expired 1 day ago (one revoked), live (one revoked), non-expiring (one with a past expiry). */
  kept: Record<GrantType, number[]>;
}

async function seed(): Promise<Seeded> {
  const provider = (await f.provider()).id;
  const old = { access: [], refresh: [], code: [] } as Record<GrantType, number[]>;
  const kept = { access: [], refresh: [], code: [] } as Record<GrantType, number[]>;
  for (const type of TYPES) {
    const grant = async (expires: Date | null, revoked = false): Promise<number> =>
      (await f.grant(type, userId, provider, { expires, revoked })).pk;
    old[type].push(await grant(ago(30 * DAY)), await grant(ago(30 * DAY), true));
    kept[type].push(
      await grant(ago(DAY)),
      await grant(ago(DAY), true),
      await grant(new Date(Date.now() + 3_600_000)),
      await grant(new Date(Date.now() + 3_600_000), true),
      await grant(null),
    );
    // authentik's non-expiring grants may carry an old expiry that nothing reads: expiring = false decides.
    const nonExpiring = await grant(ago(30 * DAY));
    await t.dataSource.query(`UPDATE ${GRANT_TABLES[type].table} SET expiring = false WHERE id = $1`, [
      nonExpiring,
    ]);
    kept[type].push(nonExpiring);
  }
  return { provider, old, kept };
}

async function pks(type: GrantType, provider: number): Promise<number[]> {
  const rows = await t.dataSource.query<{ id: number }[]>(
    `SELECT id FROM ${GRANT_TABLES[type].table} WHERE provider_id = $1 ORDER BY id`,
    [provider],
  );
  return rows.map((row) => row.id);
}

async function listCount(type: GrantType, query = ''): Promise<number> {
  const response = await request(t.app, 'GET', `${PATHS[type]}?page_size=1${query}`, bearer(adminKey));
  expect(response.status).toBe(200);
  return (response.body as { pagination: { count: number } }).pagination.count;
}

async function tableCount(type: GrantType): Promise<number> {
  const [row] = await t.dataSource.query<{ n: number }[]>(
    `SELECT count(*)::int AS n FROM ${GRANT_TABLES[type].table}`,
  );
  return row?.n ?? -1;
}

const sorted = (ids: number[]): number[] => [...ids].sort((a, b) => a - b);

describe('the cleanup', () => {
  it('deletes exactly the expiring grants expired beyond the retention (revoked or not); the dry run counted them', async () => {
    const s = await seed();
    const before: Record<string, number> = {};
    for (const type of TYPES) before[type] = await listCount(type);

    const preview = await previewCleanup(t.dataSource, WEEK);
    expect(preview.counts).toEqual({ access: 2, refresh: 2, code: 2 });
    // The dry run deleted nothing.
    for (const type of TYPES)
      expect(await pks(type, s.provider)).toEqual(sorted([...s.old[type], ...s.kept[type]]));

    const report = await cleanExpiredGrants(t.dataSource, {
      retentionMs: WEEK,
      batchSize: 1,
      onBusy: 'stop',
      trigger: 'cli',
    });
    expect(report?.deleted).toEqual(preview.counts);
    expect(report?.outcome).toBe('done');
    // One row per batch, one more batch per type that finds nothing left, and one for the code redemptions.
    expect(report?.batches).toBe(10);
    for (const type of TYPES) expect(await pks(type, s.provider)).toEqual(sorted(s.kept[type]));

    // The lists' counts come from trigger-maintained deltas; they are exact after the deletes, folded or not.
    for (const type of TYPES) {
      expect(await listCount(type)).toBe((before[type] ?? -1) - 2);
      expect(await listCount(type)).toBe(await tableCount(type));
      expect(await listCount(type, `&provider=${s.provider}`)).toBe(6);
    }
    await t.app.get(GrantCounts).fold();
    for (const type of TYPES) expect(await listCount(type)).toBe(await tableCount(type));

    // Repeating it deletes nothing more.
    const again = await cleanExpiredGrants(t.dataSource, {
      retentionMs: WEEK,
      onBusy: 'stop',
      trigger: 'cli',
    });
    expect(again?.deleted).toEqual({ access: 0, refresh: 0, code: 0 });
  });

  it('with days=0 deletes every expired expiring grant and keeps the live and non-expiring ones', async () => {
    const s = await seed();
    const report = await cleanExpiredGrants(t.dataSource, { retentionMs: 0, onBusy: 'stop', trigger: 'cli' });
    expect(report?.deleted).toEqual({ access: 4, refresh: 4, code: 4 });
    for (const type of TYPES) {
      // kept: [1 day ago, 1 day ago revoked, live, live revoked, null expiry, non-expiring with a past expiry]
      const [, , live, liveRevoked, never, nonExpiring] = s.kept[type];
      expect(await pks(type, s.provider)).toEqual([live, liveRevoked, never, nonExpiring]);
    }
  });

  it('forgets redeemed codes past their forget_after (not governed by the retention), keeps the others', async () => {
    const provider = (await f.provider()).id;
    const redemption = async (name: string, forgetAfter: string): Promise<void> => {
      await t.dataSource.query(
        `INSERT INTO oauth2_code_redemptions (code_hash, family_id, provider_id, forget_after)
         VALUES (sha256(convert_to($1, 'UTF8')), gen_random_uuid(), $2, now() + $3::interval)`,
        [`${name}-${provider}`, provider, forgetAfter],
      );
    };
    await redemption('past', '-1 minute');
    await redemption('long-past', '-30 days');
    await redemption('future', '1 hour');
    expect((await previewCleanup(t.dataSource, WEEK)).forgottenRedemptions).toBe(2);
    const report = await cleanExpiredGrants(t.dataSource, {
      retentionMs: WEEK,
      batchSize: 1,
      onBusy: 'stop',
      trigger: 'cli',
    });
    expect(report?.forgottenRedemptions).toBe(2);
    const left = await t.dataSource.query<{ future: boolean }[]>(
      `SELECT forget_after > now() AS future FROM oauth2_code_redemptions WHERE provider_id = $1`,
      [provider],
    );
    expect(left).toEqual([{ future: true }]);
  });

  it('records one system_task_execution event per run that deleted something, with the counts', async () => {
    await seed();
    const [mark] = await t.dataSource.query<{ id: string }[]>(
      `SELECT coalesce(max(id), 0)::text AS id FROM audit_events`,
    );
    await cleanExpiredGrants(t.dataSource, { retentionMs: WEEK, onBusy: 'stop', trigger: 'scheduled' });
    await cleanExpiredGrants(t.dataSource, { retentionMs: WEEK, onBusy: 'stop', trigger: 'scheduled' });
    const events = await t.dataSource.query<
      { action: string; actor_username: string; context: Record<string, unknown> }[]
    >(
      `SELECT action, actor_username, context FROM audit_events
        WHERE id > $1 AND context->>'task' = 'grant_cleanup' ORDER BY id`,
      [mark?.id],
    );
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      action: 'system_task_execution',
      actor_username: 'grantry-system',
      context: {
        task: 'grant_cleanup',
        trigger: 'scheduled',
        retention_ms: WEEK,
        deleted: { access: 2, refresh: 2, code: 2 },
        forgotten_code_redemptions: 0,
        outcome: 'done',
      },
    });
  });
});

describe('one session at a time', () => {
  async function seedOld(count: number): Promise<{ provider: number; live: Record<GrantType, number[]> }> {
    const provider = (await f.provider()).id;
    const live = { access: [], refresh: [], code: [] } as Record<GrantType, number[]>;
    for (const type of TYPES) {
      const { table, hash } = GRANT_TABLES[type];
      await t.dataSource.query(
        `INSERT INTO ${table} (provider_id, user_id, ${hash}, expires, expiring)
         SELECT $1::int, $2::int, sha256(convert_to('cleanup-' || $3::text || '-' || g || '-' || random(), 'UTF8')),
                now() - interval '30 days', true
           FROM generate_series(1, $4::int) g`,
        [provider, userId, type, count],
      );
      live[type].push((await f.grant(type, userId, provider)).pk);
    }
    return { provider, live };
  }

  it('two concurrent runs never hold the job at the same moment and delete every row once', async () => {
    const { provider, live } = await seedOld(60);
    const batches: { run: JobRun<number>; by: string }[] = [];
    const run = (dataSource: DataSource, by: string): ReturnType<typeof cleanExpiredGrants> =>
      cleanExpiredGrants(dataSource, {
        retentionMs: WEEK,
        batchSize: 7,
        onBusy: 'stop',
        trigger: 'cli',
        onBatch: (batch) => batches.push({ run: batch, by }),
      });
    const [a, b] = await Promise.all([run(t.dataSource, 'a'), run(second, 'b')]);
    const total = (type: GrantType): number => (a?.deleted[type] ?? 0) + (b?.deleted[type] ?? 0);
    expect(TYPES.map(total)).toEqual([60, 60, 60]);
    expect(a !== undefined || b !== undefined).toBe(true);
    for (const type of TYPES) expect(await pks(type, provider)).toEqual(live[type]);
    // The lock's hold times by the database's clock: no two batches (of either run) overlap.
    const spans = batches.map((batch) => batch.run).sort((x, y) => x.startedUs - y.startedUs);
    for (let i = 1; i < spans.length; i += 1) {
      const previous = spans[i - 1];
      const current = spans[i];
      if (previous && current) {
        expect({ i, overlap: current.startedUs < previous.finishedUs }).toEqual({ i, overlap: false });
      }
    }
    expect(batches.reduce((sum, batch) => sum + batch.run.result, 0)).toBe(180);
  });

  it('finding the job held elsewhere, a scheduled run skips and the CLI-style run waits for the hand-over', async () => {
    const { provider, live } = await seedOld(5);
    const holder = second.createQueryRunner();
    await holder.connect();
    await holder.startTransaction();
    try {
      await holder.query('SELECT pg_advisory_xact_lock($1, $2)', [
        JOB_LOCK_CLASS,
        BackgroundJob.grantCleanup,
      ]);
      expect(
        await cleanExpiredGrants(t.dataSource, { retentionMs: WEEK, onBusy: 'stop', trigger: 'scheduled' }),
      ).toBe(undefined);
      expect(
        await cleanExpiredGrants(t.dataSource, {
          retentionMs: WEEK,
          onBusy: 'wait',
          waitMs: 300,
          trigger: 'cli',
        }),
      ).toBe(undefined);
      expect((await pks('access', provider)).length).toBe(6);
      const waiting = cleanExpiredGrants(t.dataSource, {
        retentionMs: WEEK,
        onBusy: 'wait',
        waitMs: 30_000,
        trigger: 'cli',
      });
      await new Promise((resolve) => setTimeout(resolve, 300));
      await holder.commitTransaction();
      const report = await waiting;
      expect(report?.deleted).toEqual({ access: 5, refresh: 5, code: 5 });
      for (const type of TYPES) expect(await pks(type, provider)).toEqual(live[type]);
    } finally {
      if (holder.isTransactionActive) await holder.rollbackTransaction();
      await holder.release();
    }
  });
});

describe('grants cleanup (the command)', () => {
  function cli(args: string[], env: Record<string, string> = {}): Promise<Run> {
    return runProcess(process.execPath, [CLI, 'grants', 'cleanup', ...args], {
      cwd: ROOT,
      env: { DATABASE_URL: testDatabaseUrl(), ...env },
    });
  }

  it('dry run and real run: the same per-type counts, as JSON and as text; --retention overrides GRANT_RETENTION', async () => {
    const s = await seed();
    // Ten days ago: kept by a retention of 30 days, deleted by the default 7.
    const tenDays = await Promise.all(
      TYPES.map(async (type) => (await f.grant(type, userId, s.provider, { expires: ago(10 * DAY) })).pk),
    );

    const month = await cli(['--dry-run', '--retention', 'days=20', '--json']);
    expect({ code: month.code, stderr: month.stderr }).toEqual({ code: 0, stderr: '' });
    expect(JSON.parse(month.stdout)).toMatchObject({
      dry_run: true,
      retention_ms: 20 * DAY,
      would_delete: { access: 2, refresh: 2, code: 2 },
    });

    const dry = await cli(['--dry-run', '--json']);
    expect(dry.code).toBe(0);
    const dryBody = JSON.parse(dry.stdout) as { would_delete: unknown };
    expect(dryBody.would_delete).toEqual({ access: 3, refresh: 3, code: 3 });
    const text = await cli(['--dry-run'], { GRANT_RETENTION: 'days=20' });
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(
      /^Would delete 2 access tokens, 2 refresh tokens and 2 authorization codes expired before \S+Z, and forget 0 redeemed codes past their replay window \(dry run: nothing deleted\)\.\n$/,
    );
    for (const [i, type] of TYPES.entries()) {
      expect(await pks(type, s.provider)).toEqual(sorted([...s.old[type], ...s.kept[type], tenDays[i] ?? 0]));
    }

    const real = await cli(['--json']);
    expect({ code: real.code, stderr: real.stderr }).toEqual({ code: 0, stderr: '' });
    const body = JSON.parse(real.stdout) as Record<string, unknown>;
    expect(body).toMatchObject({
      dry_run: false,
      retention_ms: WEEK,
      deleted: dryBody.would_delete,
      outcome: 'done',
    });
    expect(Object.keys(body.durations_ms as object)).toEqual(['access', 'refresh', 'code']);
    for (const type of TYPES) expect(await pks(type, s.provider)).toEqual(sorted(s.kept[type]));
    // A run by hand is the operator's, not the server's own.
    const [event] = await t.dataSource.query<{ actor_username: string; trigger: string }[]>(
      `SELECT actor_username, context->>'trigger' AS trigger FROM audit_events
        WHERE context->>'task' = 'grant_cleanup' ORDER BY id DESC LIMIT 1`,
    );
    expect(event).toEqual({ actor_username: 'grantry-cli', trigger: 'cli' });

    const none = await cli([]);
    expect(none.code).toBe(0);
    expect(none.stdout).toMatch(
      /^Deleted 0 access tokens \(\d+ ms\), 0 refresh tokens \(\d+ ms\) and 0 authorization codes \(\d+ ms\) expired before \S+Z, and forgot 0 redeemed codes past their replay window, in \d+ ms\.\n$/,
    );
  });

  it('a bad --retention exits 1, a bad GRANT_RETENTION exits 2, before anything is deleted', async () => {
    const s = await seed();
    const option = await cli(['--retention', 'days=-1', '--json']);
    expect({ code: option.code, stdout: option.stdout }).toEqual({ code: 1, stdout: '' });
    expect(JSON.parse(option.stderr)).toEqual({
      error:
        'option --retention "days=-1" is not a valid duration: it is negative (expected e.g. "hours=1;minutes=30" ' +
        'with keys weeks, days, hours, minutes, seconds, milliseconds, microseconds)',
    });
    const setting = await cli([], { GRANT_RETENTION: '7 days' });
    expect({ code: setting.code, stdout: setting.stdout }).toEqual({ code: 2, stdout: '' });
    expect(setting.stderr).toBe(
      'error: Invalid configuration: GRANT_RETENTION value "7 days" is not a valid duration: "7 days" is not ' +
        'key=value (expected e.g. "hours=1;minutes=30" with keys weeks, days, hours, minutes, seconds, milliseconds, ' +
        'microseconds)\n',
    );
    for (const type of TYPES)
      expect(await pks(type, s.provider)).toEqual(sorted([...s.old[type], ...s.kept[type]]));
  });

  it('the server refuses to start with a bad GRANT_RETENTION, naming it', () => {
    const result = spawnSync(process.execPath, [SERVER], {
      env: {
        PATH: process.env.PATH ?? '',
        DATABASE_URL: testDatabaseUrl(),
        GRANT_RETENTION: 'days=7;days=1',
      },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect({ status: result.status, stderr: result.stderr }).toEqual({
      status: 2,
      stderr:
        'Invalid configuration: GRANT_RETENTION value "days=7;days=1" is not a valid duration: "days" is given ' +
        'twice (expected e.g. "hours=1;minutes=30" with keys weeks, days, hours, minutes, seconds, milliseconds, ' +
        'microseconds)\n',
    });
  });
});
