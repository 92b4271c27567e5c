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
 * Replaces each grant table's count deltas by one row per provider holding their sum (see GrantCounts). The grant
 * table is locked in ACCESS SHARE mode meanwhile: that blocks no writer, only a TRUNCATE, whose trigger deletes the
 * table's deltas and would otherwise miss the sum this fold is about to insert.
 *
 * Correct even when run concurrently with another fold (each row is deleted once); GrantCounts.fold runs it under
 * a job lock so that, with several instances, one folds at a time and none repeats the work. Returns how many
 * delta rows it read.
 */
export async function foldGrantCounts(dataSource: DataSource): Promise<number> {
  let folded = 0;
  for (const table of GRANT_TABLES) {
    await dataSource.transaction(async (manager) => {
      folded += await foldTable(manager, table);
    });
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

/** As foldTable, for `row_counts`: one row per table and key. */
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

async function foldTable(manager: EntityManager, table: string): Promise<number> {
  await manager.query(`LOCK TABLE ${table} IN ACCESS SHARE MODE`);
  // The triggers' deltas (migration GrantDeltas) move into both kept counts at once: summed per provider into
  // grant_counts, and split into words into grant_facet_counts (one row for all grants and one per distinct word
  // of the scope). Rows of transactions still in flight are invisible to the DELETE and stay for the next fold.
  const [moved] = await manager.query<{ folded: string }[]>(
    `WITH moved AS (DELETE FROM grant_deltas WHERE table_name = $1
                    RETURNING provider_id, scope, revoked, expiring, bucket, delta),
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
     SELECT count(*)::text AS folded FROM moved`,
    [table],
  );
  // Then each kept table's own rows for one key (a provider's, a facet's) into one.
  const [row] = await manager.query<{ folded: string }[]>(
    `WITH folded AS (DELETE FROM grant_counts WHERE table_name = $1 RETURNING provider_id, delta),
          summed AS (INSERT INTO grant_counts (table_name, provider_id, delta)
                     SELECT $1, provider_id, sum(delta) FROM folded GROUP BY provider_id HAVING sum(delta) <> 0)
     SELECT count(*)::text AS folded FROM folded`,
    [table],
  );
  // Then the facets (migration GrantFacetCounts): only the facets with more than one row, since a table
  // has thousands of facets and few change between folds (rewriting all of them every few seconds left 250,000 dead
  // rows in five minutes of the filter benchmark). Rows are only ever inserted and deleted, so a ctid names one
  // delta; PARTITION BY and GROUP BY put NULLs together.
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
  return Number(row?.folded ?? 0) + Number(moved?.folded ?? 0) + Number(facets?.folded ?? 0);
}

/** The three tables' folds in one transaction under the fold's job lock; undefined when another session holds it. */
function foldExclusively(dataSource: DataSource): Promise<JobRun<number> | undefined> {
  return runExclusively(dataSource, BackgroundJob.grantCountsFold, async (manager) => {
    let folded = 0;
    for (const table of GRANT_TABLES) folded += await foldTable(manager, table);
    for (const table of ROW_COUNT_TABLES) folded += await foldRowCounts(manager, table);
    return folded;
  });
}

/**
 * Keeps the exact whole-table counts of the grant tables cheap to read. GrantStore sums `grant_counts` and the
 * `grant_deltas` rows that triggers append on every INSERT, DELETE and counted UPDATE (migrations GrantCounts,
 * GrantDeltas); the sum is exact for the reader's snapshot, because deltas commit and roll back with the rows they
 * count.
 *
 * Folding: every `GRANT_COUNTS_FOLD_MS` the deltas of each table move into one row per provider (and into the
 * facets), in one statement (`DELETE ... RETURNING` feeding `INSERT`s), so a read sums a handful of rows instead of
 * one per write. Deltas of
 * transactions still in flight are invisible to the fold's DELETE and stay behind; a TRUNCATE waits for the fold. No
 * delta is lost or counted twice.
 *
 * Several instances: every instance schedules the fold, and each tick tries the fold's job lock without waiting
 * (runExclusively): the instance that gets it folds, the others skip that tick. So one fold runs at a time across
 * the service, and none queues behind another (a fold run without the lock, by the CLI, would still be correct: a
 * concurrent fold merely skips the rows the other deleted). Each run is logged at debug level with its start and
 * end by the database's clock.
 */
@Injectable()
export class GrantCounts implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(GrantCounts.name);
  private readonly task = new PeriodicTask('folding grant counts', () => this.foldNow(), this.logger);

  constructor(
    private readonly dataSource: DataSource,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /**
   * Folds each table's deltas into one row per provider, unless another instance is folding right now. Resolves to
   * whether this call folded. Safe to run concurrently with writers.
   */
  fold(): Promise<boolean> {
    return this.task.runOnce<boolean>();
  }

  private async foldNow(): Promise<boolean> {
    const run = await foldExclusively(this.dataSource);
    if (run === undefined) {
      this.logger.debug('grant counts fold skipped: another instance holds the lock');
      return false;
    }
    // The lock's hold time by the database's clock: what shows that runs of two instances never overlap.
    this.logger.debug(
      `grant counts folded: ${run.result} deltas, lock held from ${run.startedUs} to ${run.finishedUs} (database clock, us)`,
    );
    return true;
  }

  onApplicationBootstrap(): void {
    this.task.start(this.config.grantCountsFoldMs);
  }

  onApplicationShutdown(): Promise<void> {
    return this.task.stop();
  }
}
