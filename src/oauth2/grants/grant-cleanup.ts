import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { type Caller, CLI_CALLER, SYSTEM_CALLER } from '../../common/auth/caller';
import { type GrantType, Metrics } from '../../metrics/metrics';
import { APP_CONFIG, type AppConfig } from '../../config/config';
import { BackgroundJob, type JobRun, PeriodicTask, runExclusively } from '../../database/background-jobs';
import { recordEvent } from '../../events/record-event';
import type { GrantKindName } from '../common/grants';
import { ACCESS_TOKENS, AUTHORIZATION_CODES, REFRESH_TOKENS } from './grant-kind';

/** The tables the cleanup deletes from, by the CLI's names for the grant types (also the keys of its counts). */
const CLEANUP_TABLES: readonly (readonly [GrantKindName, string])[] = [
  ['access', ACCESS_TOKENS.table],
  ['refresh', REFRESH_TOKENS.table],
  ['code', AUTHORIZATION_CODES.table],
];

/**
 * Rows deleted per statement (and per transaction). A batch of 5,000 deletes in tens of milliseconds, so the job's
 * row locks and its hold on the job lock stay short, and a reader or writer never waits long behind it.
 */
export const CLEANUP_BATCH_SIZE = 5000;

export type CleanupCounts = Record<GrantKindName, number>;

export interface CleanupOptions {
  retentionMs: number;
  batchSize?: number;
  /**
   * What to do when another session holds the job's lock: `stop` (the scheduled job: the other run does the work) or
   * `wait` (the CLI: retry every 100 ms until the lock has been found taken for `waitMs`, then give up with `busy`).
   */
  onBusy: 'stop' | 'wait';
  waitMs?: number;
  /** Who ran it, for the audit event: `scheduled` (an instance's timer) or `cli`. */
  trigger: 'scheduled' | 'cli';
  /** Called after each batch with the batch's lock hold (database clock), for tests of exclusivity. */
  onBatch?: (run: JobRun<number>, kind: GrantKindName | 'redemptions') => void;
}

export interface CleanupReport {
  /** Grants whose expiry is before this instant (database clock, ISO 8601) were deleted. */
  cutoff: string;
  retentionMs: number;
  deleted: CleanupCounts;
  /**
   * Records of redeemed authorization codes past their `forget_after` (code expiry + a day; GRANT_RETENTION does not
   * apply), deleted with the grants: nothing else deletes them, and a replay after that time is refused as unknown.
   */
  forgottenRedemptions: number;
  /** Milliseconds spent on each type's batches. */
  durationsMs: CleanupCounts;
  durationMs: number;
  batches: number;
  /**
   * `done`: every type was swept to the cutoff. `busy`: this run found another session cleaning (before it deleted
   * anything when `deleted` is all zero, or it handed over between two batches) and left the rest to it.
   */
  outcome: 'done' | 'busy';
}

export interface CleanupPreview {
  cutoff: string;
  retentionMs: number;
  /** What a run with this cutoff would delete now. */
  counts: CleanupCounts;
  forgottenRedemptions: number;
}

const zero = (): CleanupCounts => ({ access: 0, refresh: 0, code: 0 });

/** `now() - retention` by the database's clock, the clock the token endpoint compares expiry with. */
async function cutoffFor(
  dataSource: DataSource,
  retentionMs: number,
): Promise<{ text: string; iso: string }> {
  const [row] = await dataSource.query<{ text: string; iso: Date }[]>(
    `SELECT (now() - $1::float8 * interval '1 millisecond')::text AS text,
            now() - $1::float8 * interval '1 millisecond' AS iso`,
    [retentionMs],
  );
  if (!row) throw new Error('the database did not answer the clock');
  // The text keeps the microseconds a JavaScript Date would drop: batches compare with exactly this instant.
  return { text: row.text, iso: row.iso.toISOString() };
}

/** The WHERE of the cleanup: expiring grants whose expiry passed before $1. Revoked or not: expiry decides. */
const DOOMED = 'expiring AND expires < $1::timestamptz';

/** How many grants of each type a cleanup with this retention would delete now (the dry run). */
export async function previewCleanup(dataSource: DataSource, retentionMs: number): Promise<CleanupPreview> {
  const cutoff = await cutoffFor(dataSource, retentionMs);
  const counts = zero();
  for (const [kind, table] of CLEANUP_TABLES) {
    const [row] = await dataSource.query<{ n: number }[]>(
      `SELECT count(*)::int AS n FROM ${table} WHERE ${DOOMED}`,
      [cutoff.text],
    );
    counts[kind] = row?.n ?? 0;
  }
  const [forgotten] = await dataSource.query<{ n: number }[]>(
    `SELECT count(*)::int AS n FROM oauth2_code_redemptions WHERE forget_after <= now()`,
  );
  return { cutoff: cutoff.iso, retentionMs, counts, forgottenRedemptions: forgotten?.n ?? 0 };
}

interface Batch {
  deleted: number;
  selected: number;
  lastExpires: string | null;
  lastId: number | null;
}

/**
 * Deletes up to `limit` doomed rows of `table` after the cursor (expires, id), in the expiry index's order
 * (`<table>_expires_id_idx`). The cursor makes a run one pass over the index: each batch starts where the last
 * ended, instead of stepping again over the dead entries of the rows already deleted (and over non-expiring rows
 * with a past expiry, which stay). The DELETE repeats the predicate, so a row changed since the batch was read
 * (made non-expiring, its expiry moved) is re-checked on its new version and kept.
 */
async function deleteBatch(
  manager: EntityManager,
  table: string,
  cutoff: string,
  after: { expires: string; id: number },
  limit: number,
): Promise<Batch> {
  const [row] = await manager.query<Batch[]>(
    `WITH batch AS MATERIALIZED (
       SELECT id, expires FROM ${table}
        WHERE ${DOOMED} AND (expires, id) > ($2::timestamptz, $3::int)
        ORDER BY expires, id LIMIT $4),
     deleted AS (
       DELETE FROM ${table} t USING batch b WHERE t.id = b.id AND t.expiring AND t.expires < $1::timestamptz
       RETURNING 1),
     last AS (SELECT expires, id FROM batch ORDER BY expires DESC, id DESC LIMIT 1)
     SELECT (SELECT count(*) FROM deleted)::int AS deleted, (SELECT count(*) FROM batch)::int AS selected,
            (SELECT expires::text FROM last) AS "lastExpires", (SELECT id FROM last) AS "lastId"`,
    [cutoff, after.expires, after.id, limit],
  );
  return row ?? { deleted: 0, selected: 0, lastExpires: null, lastId: null };
}

/** Deletes up to `limit` redemption records past their forget_after, oldest first (their forget_after index). */
async function deleteRedemptionBatch(manager: EntityManager, limit: number): Promise<number> {
  const [row] = await manager.query<{ n: number }[]>(
    `WITH deleted AS (
       DELETE FROM oauth2_code_redemptions
        WHERE code_hash IN (SELECT code_hash FROM oauth2_code_redemptions WHERE forget_after <= now()
                             ORDER BY forget_after LIMIT $1)
          AND forget_after <= now()
       RETURNING 1)
     SELECT count(*)::int AS n FROM deleted`,
    [limit],
  );
  return row?.n ?? 0;
}

/**
 * Deletes the expiring grants of all three types whose expiry passed more than `retentionMs` ago, in batches of
 * `batchSize` rows, each batch its own transaction under the job's advisory lock (job 5, runExclusively).
 *
 * Exclusivity is per batch, and that is enough: a batch is correct on its own (it deletes rows by the predicate, and
 * a row another session deleted first is simply not deleted or counted again), so what the lock adds is that two
 * instances never sweep at the same moment. A run that finds the lock taken at a batch boundary stops (`onBusy:
 * 'stop'`: the holder is cleaning and will finish the sweep) or retries (`wait`). Holding one lock across the whole
 * run would need a session-level lock on a dedicated connection, which a crash between batches could leave behind
 * on a pooled connection; the transaction-scoped lock cannot outlive its batch.
 *
 * Resolves to undefined when another session held the lock before this run deleted anything (and, with `wait`,
 * still held it after `waitMs`).
 */
export async function cleanExpiredGrants(
  dataSource: DataSource,
  options: CleanupOptions,
): Promise<CleanupReport | undefined> {
  const batchSize = options.batchSize ?? CLEANUP_BATCH_SIZE;
  const started = performance.now();
  const cutoff = await cutoffFor(dataSource, options.retentionMs);
  const deleted = zero();
  const durationsMs = zero();
  let batches = 0;
  let outcome: CleanupReport['outcome'] = 'done';
  // With `wait`, how long the lock has been found taken without a break: waitMs bounds each wait, not the run.
  let busySince: number | undefined;
  const keepWaiting = async (): Promise<boolean> => {
    busySince ??= performance.now();
    if (options.onBusy !== 'wait' || performance.now() - busySince >= (options.waitMs ?? 0)) return false;
    await sleep(100);
    return true;
  };
  sweep: for (const [kind, table] of CLEANUP_TABLES) {
    const typeStarted = performance.now();
    let after = { expires: '-infinity', id: -2_147_483_648 };
    for (;;) {
      const run = await runExclusively(dataSource, BackgroundJob.grantCleanup, (manager) =>
        deleteBatch(manager, table, cutoff.text, after, batchSize),
      );
      if (run === undefined) {
        if (await keepWaiting()) continue;
        outcome = 'busy';
        durationsMs[kind] += performance.now() - typeStarted;
        break sweep;
      }
      busySince = undefined;
      batches += 1;
      deleted[kind] += run.result.deleted;
      options.onBatch?.({ ...run, result: run.result.deleted }, kind);
      if (run.result.selected < batchSize || run.result.lastExpires === null || run.result.lastId === null)
        break;
      after = { expires: run.result.lastExpires, id: run.result.lastId };
    }
    durationsMs[kind] += performance.now() - typeStarted;
  }
  let forgottenRedemptions = 0;
  while (outcome === 'done') {
    const run = await runExclusively(dataSource, BackgroundJob.grantCleanup, (manager) =>
      deleteRedemptionBatch(manager, batchSize),
    );
    if (run === undefined) {
      if (await keepWaiting()) continue;
      outcome = 'busy';
      break;
    }
    busySince = undefined;
    batches += 1;
    forgottenRedemptions += run.result;
    options.onBatch?.(run, 'redemptions');
    if (run.result < batchSize) break;
  }
  const total = deleted.access + deleted.refresh + deleted.code + forgottenRedemptions;
  if (outcome === 'busy' && total === 0) return undefined;
  const report: CleanupReport = {
    cutoff: cutoff.iso,
    retentionMs: options.retentionMs,
    deleted,
    forgottenRedemptions,
    durationsMs: roundAll(durationsMs),
    durationMs: Math.round(performance.now() - started),
    batches,
    outcome,
  };
  if (total > 0) {
    await dataSource.transaction((manager) =>
      recordCleanup(manager, options.trigger === 'cli' ? CLI_CALLER : SYSTEM_CALLER, options.trigger, report),
    );
  }
  return report;
}

function roundAll(counts: CleanupCounts): CleanupCounts {
  return {
    access: Math.round(counts.access),
    refresh: Math.round(counts.refresh),
    code: Math.round(counts.code),
  };
}

/**
 * One event per run that deleted something: authentik's `system_task_execution`, with the counts, so an auditor
 * reading the event log learns why grants of a past incident are gone. Keys are the CLI's type names: cleanse()
 * would mask values under keys containing "token" or "auth". The actor is `grantry-cli` for a run by hand and
 * `grantry-system` for a scheduled one (`context.trigger` says the same).
 */
async function recordCleanup(
  manager: EntityManager,
  caller: Caller,
  trigger: CleanupOptions['trigger'],
  report: CleanupReport,
): Promise<void> {
  await recordEvent(manager, caller, {
    action: 'system_task_execution',
    context: {
      task: 'grant_cleanup',
      trigger,
      retention_ms: report.retentionMs,
      cutoff: report.cutoff,
      deleted: { ...report.deleted },
      forgotten_code_redemptions: report.forgottenRedemptions,
      duration_ms: report.durationMs,
      outcome: report.outcome,
    },
  });
}

/**
 * The scheduled cleanup: every GRANT_CLEANUP_INTERVAL_SECONDS each instance tries it, and at most one sweeps at a
 * time (see cleanExpiredGrants). A run that deleted something is logged at info level with its counts and the time
 * per type, an idle or skipped one at debug level.
 */
const CLEANED_TYPE: Record<GrantKindName, GrantType> = {
  access: 'access_token',
  refresh: 'refresh_token',
  code: 'authorization_code',
};

@Injectable()
export class GrantCleanup implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(GrantCleanup.name);
  private readonly task = new PeriodicTask('cleaning expired grants', () => this.cleanNow(), this.logger);

  constructor(
    private readonly dataSource: DataSource,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly metrics: Metrics,
  ) {}

  /** Runs the cleanup now (or joins the run in flight in this process); undefined when another instance is. */
  clean(): Promise<CleanupReport | undefined> {
    return this.task.runOnce<CleanupReport | undefined>();
  }

  private async cleanNow(): Promise<CleanupReport | undefined> {
    const report = await cleanExpiredGrants(this.dataSource, {
      retentionMs: this.config.grantRetentionMs,
      onBusy: 'stop',
      trigger: 'scheduled',
      // A batch is reported once its transaction committed (runExclusively returned), so the counter never runs ahead.
      onBatch: (run, kind) => {
        if (kind !== 'redemptions') this.metrics.grantsCleaned(CLEANED_TYPE[kind], run.result);
      },
    });
    if (report === undefined) {
      this.logger.debug('grant cleanup skipped: another instance is cleaning');
      return undefined;
    }
    const total =
      report.deleted.access + report.deleted.refresh + report.deleted.code + report.forgottenRedemptions;
    const message = describeCleanup(report);
    if (total > 0) this.logger.log(message);
    else this.logger.debug(message);
    return report;
  }

  onApplicationBootstrap(): void {
    this.task.start(this.config.grantCleanupIntervalSeconds * 1000);
  }

  onApplicationShutdown(): Promise<void> {
    return this.task.stop();
  }
}

/** One line for the log and the CLI: the counts and time per type. */
export function describeCleanup(report: CleanupReport): string {
  const parts = CLEANUP_TABLES.map(
    ([kind]) => `${kind} ${report.deleted[kind]} in ${report.durationsMs[kind]} ms`,
  );
  const tail = report.outcome === 'busy' ? '; another instance took over the rest' : '';
  return (
    `grant cleanup: deleted ${parts.join(', ')} (expired before ${report.cutoff}), forgot ` +
    `${report.forgottenRedemptions} redeemed codes; ${report.batches} batches, ${report.durationMs} ms${tail}`
  );
}
