import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { BackgroundJob, type JobRun, PeriodicTask, runExclusively } from '../../database/background-jobs';
import { APP_CONFIG, type AppConfig } from '../../config/config';
import { ACCESS_TOKENS, AUTHORIZATION_CODES, REFRESH_TOKENS } from './grant-kind';

const GRANT_TABLES = [ACCESS_TOKENS, REFRESH_TOKENS, AUTHORIZATION_CODES].map((kind) => kind.table);

/**
 * The changes that the kept counts of a grant table do not include yet, as (provider_id, scope, revoked, expiring,
 * bucket, delta) rows: the DELETE and UPDATE triggers' deltas (migration GrantDeltas), and every grant above the
 * table's fold mark, +1 each (migration GrantFoldMarks). Whatever reads a kept count adds these, in the same
 * snapshot.
 *
 * The grants above the mark are read as a join with the mark and a range on the primary key. The range's upper
 * bound is never reached (ids are integers); it is there for the planner, which cannot know the mark: an open
 * `id > mark` is estimated at a third of the table and read, on the bench's 1,000,000 access tokens, by scanning a
 * whole index (EXPLAIN ANALYZE: 280-425 ms for 3,000 grants above the mark), while a closed range is estimated
 * small and read on the primary key (3.4 ms).
 */
export const unfoldedGrantDeltas = (table: string): string => `
  SELECT provider_id, scope, revoked, expiring, bucket, delta FROM grant_deltas WHERE table_name = '${table}'
  UNION ALL
  SELECT g.provider_id, g.scope, g.revoked, g.expiring, grant_expiry_bucket(g.expires), 1
    FROM grant_fold_marks m JOIN ${table} g ON g.id > m.last_id AND g.id <= m.last_id + 2147483647
   WHERE m.table_name = '${table}'`;

/**
 * Grants moved past the mark per transaction of a server's fold, which bounds how long writers of the table wait for
 * it: about 20 ms under an insert load, against 100-150 ms for 10,000 (bench/RESULTS.md). The CLI's fold, which
 * runs when nothing else writes (after `seed`), moves more at a time.
 */
const FOLD_CHUNK = 2_000;
const CLI_FOLD_CHUNK = 100_000;

/**
 * How long a server's fold waits for a grant table's writers to end before it skips the table until its next tick.
 * While the fold waits, new writers of that table queue behind it.
 */
const FOLD_LOCK_TIMEOUT_MS = 200;

/** A fold's run of one transaction: what it moved, and whether it left grants above the mark to fold. */
interface FoldStep {
  folded: number;
  more: boolean;
}

/** The kept counts' statement: (provider_id, scope, revoked, expiring, bucket, delta) rows of `moved` into both. */
const INTO_KEPT_COUNTS = `
          providers AS (INSERT INTO grant_counts (table_name, provider_id, delta)
                        SELECT $1, provider_id, sum(delta) FROM moved GROUP BY provider_id HAVING sum(delta) <> 0),
          split AS (INSERT INTO grant_facet_counts (table_name, word, revoked, expiring, bucket, delta)
                    SELECT $1, word, revoked, expiring, bucket, sum(delta) FROM (
                      SELECT NULL::text AS word, revoked, expiring, bucket, delta FROM moved
                      UNION ALL
                      SELECT w.word, m.revoked, m.expiring, m.bucket, m.delta FROM moved m
                        CROSS JOIN LATERAL (SELECT DISTINCT x AS word FROM unnest(string_to_array(m.scope, ' ')) x
                                             WHERE x <> '') w
                    ) f GROUP BY word, revoked, expiring, bucket HAVING sum(delta) <> 0)
     SELECT count(*)::text AS folded FROM moved`;

/**
 * Moves one grant table's DELETE and UPDATE deltas into its kept counts, in one statement: summed per provider into
 * grant_counts, and split into words into grant_facet_counts (one row for all grants and one per distinct word of
 * the scope). Writers never wait for it: the grant table is held in ACCESS SHARE mode, which blocks only a TRUNCATE
 * (whose trigger deletes the deltas and would otherwise miss the sums this inserts); deltas of transactions still in
 * flight are invisible to the DELETE and stay for the next fold. So a bulk revocation or a clean-up, whose batches
 * keep the table written for seconds, has its deltas folded as it goes.
 */
async function foldDeltas(manager: EntityManager, table: string): Promise<number> {
  await manager.query(`LOCK TABLE ${table} IN ACCESS SHARE MODE`);
  const [moved] = await manager.query<{ folded: string }[]>(
    `WITH moved AS (DELETE FROM grant_deltas WHERE table_name = $1
                    RETURNING provider_id, scope, revoked, expiring, bucket, delta), ${INTO_KEPT_COUNTS}`,
    [table],
  );
  return Number(moved?.folded ?? 0);
}

/**
 * Moves the grants between one grant table's fold mark and the id sequence's last value (at most `chunk` ids of
 * them) into its kept counts and advances the mark, in one transaction (migration GrantFoldMarks).
 *
 * The grant table is locked in SHARE ROW EXCLUSIVE mode first. That waits for every transaction writing the table
 * to end, and keeps new writers out until this one commits: every id the sequence handed out so far is then
 * committed or rolled back, so no grant can appear below the new mark later, and no DELETE or UPDATE counts against
 * the mark while it moves. The mode also excludes another fold of the table (SHARE would not: two folds would both
 * move the grants above one mark). Reads go on. `lockTimeoutMs` bounds the wait (0: none); past it, PostgreSQL's
 * 55P03 aborts this transaction. Deltas are foldDeltas' (they need no such lock).
 */
async function foldGrants(
  manager: EntityManager,
  table: string,
  lockTimeoutMs: number,
  chunk: number,
): Promise<FoldStep> {
  await manager.query(`SET LOCAL lock_timeout = ${Math.max(0, Math.trunc(lockTimeoutMs))}`);
  await manager.query(`LOCK TABLE ${table} IN SHARE ROW EXCLUSIVE MODE`);
  // The new mark: the sequence's last value, at most `chunk` above the mark, never below it.
  const [mark] = await manager.query<{ from: string; to: string; last: string }[]>(
    `SELECT m.last_id::text AS from, greatest(m.last_id, least(s.last, m.last_id + $2))::text AS to,
            s.last::text AS last
       FROM grant_fold_marks m,
            LATERAL (SELECT coalesce(pg_sequence_last_value(pg_get_serial_sequence($1, 'id')::regclass), 0) AS last) s
      WHERE m.table_name = $1`,
    [table, chunk],
  );
  if (!mark) throw new Error(`no fold mark for ${table}`);
  // Only a mark that moves is written: a REPEATABLE READ writer fails when the mark's row changed since its
  // snapshot (grant_fold_mark), which a fold with nothing to move has no reason to cause.
  if (mark.to === mark.from) return { folded: 0, more: false };
  const [moved] = await manager.query<{ folded: string }[]>(
    `WITH moved AS (SELECT provider_id, scope, revoked, expiring, grant_expiry_bucket(expires) AS bucket, 1 AS delta
                      FROM ${table} WHERE id > $2 AND id <= $3), ${INTO_KEPT_COUNTS}`,
    [table, mark.from, mark.to],
  );
  await manager.query(`UPDATE grant_fold_marks SET last_id = $2 WHERE table_name = $1`, [table, mark.to]);
  return { folded: Number(moved?.folded ?? 0), more: BigInt(mark.to) < BigInt(mark.last) };
}

/**
 * What a grant table has to fold: deltas, and grant ids handed out above the mark. Read without any lock, so that a
 * fold of an idle table makes nobody wait; a change racing this read is folded at the next tick.
 */
async function pending(dataSource: DataSource, table: string): Promise<{ deltas: boolean; grants: boolean }> {
  const [row] = await dataSource.query<{ deltas: boolean; grants: boolean }[]>(
    `SELECT EXISTS (SELECT 1 FROM grant_deltas WHERE table_name = $1) AS deltas,
            coalesce(pg_sequence_last_value(pg_get_serial_sequence($1, 'id')::regclass), 0)
              > (SELECT last_id FROM grant_fold_marks WHERE table_name = $1) AS grants`,
    [table],
  );
  return { deltas: row?.deltas === true, grants: row?.grants === true };
}

/**
 * Merges each kept table's rows for one key (a provider's, a facet's) into one, for one grant table: after its
 * folds, in a transaction of its own, without the lock that keeps writers out (the sums stay the same; a reader sees
 * the rows before or after). The grant table is held in ACCESS SHARE mode, which blocks only a TRUNCATE, whose
 * trigger deletes the kept rows and would otherwise miss a sum this inserts. Only keys with more than one row are
 * rewritten: a table has thousands of facets and few change between folds (rewriting all of them every few seconds
 * left 250,000 dead rows in five minutes of the filter benchmark). Rows are only ever inserted and deleted, so a
 * ctid names one row; PARTITION BY and GROUP BY put NULLs together. Returns how many rows it merged.
 */
async function compactTable(manager: EntityManager, table: string): Promise<number> {
  await manager.query(`LOCK TABLE ${table} IN ACCESS SHARE MODE`);
  const [providers] = await manager.query<{ folded: string }[]>(
    `WITH shared AS (SELECT row_id FROM (
                       SELECT ctid AS row_id, count(*) OVER (PARTITION BY provider_id) AS n
                         FROM grant_counts WHERE table_name = $1) r
                      WHERE n > 1),
          folded AS (DELETE FROM grant_counts WHERE table_name = $1 AND ctid IN (SELECT row_id FROM shared)
                     RETURNING provider_id, delta),
          summed AS (INSERT INTO grant_counts (table_name, provider_id, delta)
                     SELECT $1, provider_id, sum(delta) FROM folded GROUP BY provider_id HAVING sum(delta) <> 0)
     SELECT count(*)::text AS folded FROM folded`,
    [table],
  );
  const [facets] = await manager.query<{ folded: string }[]>(
    `WITH shared AS (SELECT row_id FROM (
                       SELECT ctid AS row_id, count(*) OVER (PARTITION BY word, revoked, expiring, bucket) AS n
                         FROM grant_facet_counts WHERE table_name = $1) r
                      WHERE n > 1),
          folded AS (DELETE FROM grant_facet_counts WHERE table_name = $1 AND ctid IN (SELECT row_id FROM shared)
                     RETURNING word, revoked, expiring, bucket, delta),
          summed AS (INSERT INTO grant_facet_counts (table_name, word, revoked, expiring, bucket, delta)
                     SELECT $1, word, revoked, expiring, bucket, sum(delta) FROM folded
                      GROUP BY word, revoked, expiring, bucket HAVING sum(delta) <> 0)
     SELECT count(*)::text AS folded FROM folded`,
    [table],
  );
  return Number(providers?.folded ?? 0) + Number(facets?.folded ?? 0);
}

/** Whether an error is PostgreSQL's lock_timeout (lock_not_available). */
const isLockTimeout = (error: unknown): boolean =>
  typeof error === 'object' && error !== null && (error as { code?: unknown }).code === '55P03';

/** Runs one transaction of a fold: under the fold's job lock (a server's tick) or not (the CLI). */
type FoldRunner = <T>(work: (manager: EntityManager) => Promise<T>) => Promise<JobRun<T> | undefined>;

/** What folding one grant table did: its transactions, and whether the job lock or the table's writers stopped it. */
interface TableFold {
  runs: JobRun<number>[];
  skipped: boolean;
  busy: boolean;
}

/**
 * Folds one grant table: its deltas (foldDeltas, one transaction), its grants above the mark chunk by chunk
 * (foldGrants, a transaction each, until the mark reaches the sequence's last value, or until the table's writers
 * keep it past the lock timeout), then the kept rows' compaction; nothing when nothing is pending and no compaction
 * is owed.
 *
 * `uncompacted` holds the tables whose folds committed rows that no compaction has merged since: a table joins it
 * with its first committed fold step and leaves it when a compaction commits. A compaction that did not run (the job
 * lock taken by another instance between two of this fold's transactions, an error) is so made up at the next tick,
 * even when that tick finds nothing to fold; without it the extra rows stayed until the table was written again.
 */
async function foldGrantTable(
  dataSource: DataSource,
  table: string,
  run: FoldRunner,
  lockTimeoutMs: number,
  chunk: number,
  uncompacted: Set<string>,
): Promise<TableFold> {
  const fold: TableFold = { runs: [], skipped: false, busy: false };
  const todo = await pending(dataSource, table);
  if (todo.deltas) {
    const step = await run((manager) => foldDeltas(manager, table));
    if (step === undefined) return { ...fold, skipped: true };
    if (step.result > 0) uncompacted.add(table);
    fold.runs.push(step);
  }
  for (let more = todo.grants; more;) {
    let step: JobRun<FoldStep> | undefined;
    try {
      step = await run((manager) => foldGrants(manager, table, lockTimeoutMs, chunk));
    } catch (error) {
      if (!isLockTimeout(error)) throw error;
      fold.busy = true;
      break;
    }
    if (step === undefined) return { ...fold, skipped: true };
    if (step.result.folded > 0) uncompacted.add(table);
    fold.runs.push({ ...step, result: step.result.folded });
    more = step.result.more;
  }
  if (uncompacted.has(table)) {
    const compacted = await run((manager) => compactTable(manager, table));
    if (compacted === undefined) return { ...fold, skipped: true };
    uncompacted.delete(table);
    fold.runs.push(compacted);
  }
  return fold;
}

/**
 * Folds every grant table's pending changes and the row counts, waiting for writers as long as it takes: the CLI's
 * fold (`seed`), run without the job lock. Correct concurrently with writers and with another fold (each delta row
 * is deleted once; the marks move under the table lock). Returns how many delta rows and grants it moved, and kept
 * rows it merged.
 */
export async function foldGrantCounts(dataSource: DataSource): Promise<number> {
  const run: FoldRunner = async (work) => {
    const result = await dataSource.transaction(work);
    return { result, startedUs: 0, finishedUs: 0 };
  };
  let folded = 0;
  const uncompacted = new Set<string>();
  for (const table of GRANT_TABLES) {
    for (const step of (await foldGrantTable(dataSource, table, run, 0, CLI_FOLD_CHUNK, uncompacted)).runs)
      folded += step.result;
  }
  for (const table of ROW_COUNT_TABLES) {
    await dataSource.transaction(async (manager) => {
      folded += await foldRowCounts(manager, table);
    });
  }
  return folded;
}

/** The tables whose counts `row_counts` keeps (migration ManagementBench), folded with the grant counts. */
const ROW_COUNT_TABLES = ['users', 'audit_events'];

/** As foldDeltas, for `row_counts`: one row per table and key. */
async function foldRowCounts(manager: EntityManager, table: string): Promise<number> {
  await manager.query(`LOCK TABLE ${table} IN ACCESS SHARE MODE`);
  const [row] = await manager.query<{ folded: string }[]>(
    `WITH folded AS (DELETE FROM row_counts WHERE table_name = $1 RETURNING key, delta),
          summed AS (INSERT INTO row_counts (table_name, key, delta)
                     SELECT $1, key, sum(delta) FROM folded GROUP BY key HAVING sum(delta) <> 0)
     SELECT count(*)::text AS folded FROM folded`,
    [table],
  );
  return Number(row?.folded ?? 0);
}

/** What one tick of a server's fold did: its transactions under the job lock, and whether one found it held. */
interface FoldTick {
  runs: JobRun<number>[];
  skipped: boolean;
  busy: string[];
}

/**
 * One tick of a server's fold: each grant table (foldGrantTable), then the row counts, every transaction under the
 * fold's job lock (so, with several instances, one folds at a time). A table whose writers do not let the fold in
 * within FOLD_LOCK_TIMEOUT_MS is left for the next tick (its pending changes stay counted from where they are); the
 * tick ends when another session holds the job lock.
 */
async function foldTick(dataSource: DataSource, uncompacted: Set<string>): Promise<FoldTick> {
  const tick: FoldTick = { runs: [], skipped: false, busy: [] };
  const run: FoldRunner = (work) => runExclusively(dataSource, BackgroundJob.grantCountsFold, work);
  for (const table of GRANT_TABLES) {
    const fold = await foldGrantTable(dataSource, table, run, FOLD_LOCK_TIMEOUT_MS, FOLD_CHUNK, uncompacted);
    tick.runs.push(...fold.runs);
    if (fold.busy) tick.busy.push(table);
    if (fold.skipped) {
      tick.skipped = true;
      return tick;
    }
  }
  const rows = await run(async (manager) => {
    let folded = 0;
    for (const table of ROW_COUNT_TABLES) folded += await foldRowCounts(manager, table);
    return folded;
  });
  if (rows === undefined) tick.skipped = true;
  else tick.runs.push(rows);
  return tick;
}

/**
 * Keeps the exact whole-table counts of the grant tables cheap to read. GrantStore sums `grant_counts` and the
 * changes not folded yet (unfoldedGrantDeltas): the `grant_deltas` rows that triggers append on every DELETE and
 * counted UPDATE, and the grants above the table's fold mark, which an INSERT adds without any trigger (migrations
 * GrantCounts, GrantDeltas, GrantFoldMarks). The sum is exact for the reader's snapshot: deltas commit and roll back
 * with the rows they count, and the fold moves the mark and the counts in one transaction.
 *
 * Folding: every `GRANT_COUNTS_FOLD_MS` each table's deltas and new grants move into one row per provider (and
 * into the facets), each in one statement (`DELETE ... RETURNING` or a read of the new grants, feeding `INSERT`s),
 * so a read sums a handful of rows and a few seconds' grants instead of one row per write. Moving deltas makes no
 * writer wait (foldDeltas); moving grants and their mark holds the grant table in SHARE ROW EXCLUSIVE mode for its
 * transaction (foldGrants): writers of that table wait for it, for a chunk of at most 2,000 grants, and a table
 * whose writers hold it past 200 ms keeps its new grants for the next tick. No change is lost or counted twice.
 *
 * Several instances: every instance schedules the fold, and each of its transactions tries the fold's job lock
 * without waiting (runExclusively): the instance that gets it folds, the others skip that tick. So one fold runs at
 * a time across the service, and none queues behind another (a fold run without the lock, by the CLI, would still be
 * correct: the table lock serializes it). Each transaction is logged at debug level with its start and end by the
 * database's clock.
 */
@Injectable()
export class GrantCounts implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(GrantCounts.name);
  private readonly task = new PeriodicTask('folding grant counts', () => this.foldNow(), this.logger);
  /** Grant tables whose folded rows this instance has yet to compact (foldGrantTable). */
  private readonly uncompacted = new Set<string>();

  constructor(
    private readonly dataSource: DataSource,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /**
   * Folds each table's pending changes (what was committed before this call included: a run of the periodic fold
   * already in flight is waited for, then a new one runs), unless another instance is folding right now. Resolves to
   * whether this call folded. Safe to run concurrently with writers.
   */
  fold(): Promise<boolean> {
    return this.task.runAfterNow<boolean>();
  }

  private async foldNow(): Promise<boolean> {
    const tick = await foldTick(this.dataSource, this.uncompacted);
    // Each transaction's lock hold time by the database's clock: what shows that runs of two instances never overlap.
    for (const run of tick.runs) {
      this.logger.debug(
        `grant counts folded: ${run.result} deltas, lock held from ${run.startedUs} to ${run.finishedUs} (database clock, us)`,
      );
    }
    if (tick.busy.length > 0) {
      this.logger.debug(
        `grant counts fold left ${tick.busy.join(', ')} for the next tick: writers held the table`,
      );
    }
    if (tick.skipped) {
      this.logger.debug('grant counts fold skipped: another instance holds the lock');
      return false;
    }
    return true;
  }

  onApplicationBootstrap(): void {
    this.task.start(this.config.grantCountsFoldMs);
  }

  onApplicationShutdown(): Promise<void> {
    return this.task.stop();
  }
}
