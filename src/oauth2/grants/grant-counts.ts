import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { DataSource } from 'typeorm';
import { APP_CONFIG, type AppConfig } from '../../config/config';
import { ACCESS_TOKENS, AUTHORIZATION_CODES, REFRESH_TOKENS } from './grant-kind';

const GRANT_TABLES = [ACCESS_TOKENS, REFRESH_TOKENS, AUTHORIZATION_CODES].map((kind) => kind.table);

/**
 * Replaces each grant table's count deltas by one row per provider holding their sum (see GrantCounts). The grant
 * table is locked in ACCESS SHARE mode meanwhile: that blocks no writer, only a TRUNCATE, whose trigger deletes the
 * table's deltas and would otherwise miss the sum this fold is about to insert.
 */
export async function foldGrantCounts(dataSource: DataSource): Promise<void> {
  for (const table of GRANT_TABLES) {
    await dataSource.transaction(async (manager) => {
      await manager.query(`LOCK TABLE ${table} IN ACCESS SHARE MODE`);
      await manager.query(
        `WITH folded AS (DELETE FROM grant_counts WHERE table_name = $1 RETURNING provider_id, delta)
         INSERT INTO grant_counts (table_name, provider_id, delta)
         SELECT $1, provider_id, sum(delta) FROM folded GROUP BY provider_id HAVING sum(delta) <> 0`,
        [table],
      );
    });
  }
}

/**
 * Keeps the exact whole-table counts of the grant tables cheap to read. GrantStore sums the `grant_counts` deltas
 * that statement-level triggers append on every INSERT and DELETE (migration GrantCounts); the sum is exact for the
 * reader's snapshot, because deltas commit and roll back with the rows they count.
 *
 * Folding: every `GRANT_COUNTS_FOLD_MS` the deltas of each table and provider are replaced by their sum, in one statement
 * (`DELETE ... RETURNING` feeding an `INSERT`), so a read sums a handful of rows instead of one per write. Deltas of
 * transactions still in flight are invisible to the fold's DELETE and stay behind; a concurrent fold in another
 * instance skips the rows this one deleted; a TRUNCATE waits for the fold. No delta is lost or counted twice.
 */
@Injectable()
export class GrantCounts implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(GrantCounts.name);
  private timer: NodeJS.Timeout | undefined;
  private folding: Promise<void> | undefined;

  constructor(
    private readonly dataSource: DataSource,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /** Folds each table's deltas into one row per provider. Safe to run concurrently with writers and other folds. */
  fold(): Promise<void> {
    this.folding ??= foldGrantCounts(this.dataSource).finally(() => {
      this.folding = undefined;
    });
    return this.folding;
  }

  onApplicationBootstrap(): void {
    const interval = this.config.grantCountsFoldMs;
    if (interval <= 0) return;
    this.timer = setInterval(() => {
      this.fold().catch((error: unknown) => {
        // The database being away is reported by the health check and the requests; this just tries again.
        this.logger.debug(
          `folding grant counts failed: ${error instanceof Error ? error.message : String(error)}`,
        );
      });
    }, interval);
    this.timer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.folding?.catch(() => undefined);
  }
}
