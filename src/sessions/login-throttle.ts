import { createHash } from 'node:crypto';
import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { DataSource } from 'typeorm';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { throttleBucket } from '../common/http/client-address';
import { BackgroundJob, PeriodicTask, runExclusively } from '../database/background-jobs';

/**
 * Counts failures of each bucket (sorted, so two instances counting the same buckets lock their rows in one order)
 * and answers each bucket's count and the seconds its window has left. A window starts at the bucket's first
 * failure, or the first after the previous window ended; the database's clock is every instance's clock.
 */
const RECORD_SQL = `
INSERT INTO login_failures AS f (bucket, window_start, failures)
SELECT b, now(), 1 FROM unnest($1::text[]) AS b ORDER BY b
ON CONFLICT (bucket) DO UPDATE SET
  window_start = CASE WHEN f.window_start > now() - $2::int * interval '1 second'
                      THEN f.window_start ELSE now() END,
  failures = CASE WHEN f.window_start > now() - $2::int * interval '1 second'
                  THEN least(f.failures + 1, 2147483647) ELSE 1 END
RETURNING failures,
  ceil(extract(epoch FROM window_start + $2::int * interval '1 second' - now()))::int AS remaining`;

/** The seconds left of the longest window among the buckets that reached the limit (null: none did). */
const CHECK_SQL = `
SELECT max(ceil(extract(epoch FROM window_start + $2::int * interval '1 second' - now())))::int AS remaining
  FROM login_failures
 WHERE bucket = ANY($1::text[]) AND failures >= $3 AND window_start > now() - $2::int * interval '1 second'`;

/**
 * Failed sign-ins, counted per account and per client address in `login_failures`, which every instance shares.
 * Once a bucket holds LOGIN_FAILURE_LIMIT failures within its window, every sign-in it takes part in is answered
 * 429 until the window ends, without checking the password: a correct guess must look like any other, or the
 * throttle would tell a guesser when to stop.
 *
 * The account's bucket is the user (by id, so its username and its e-mail address share one count); an identifier
 * that names no user counts by its hash, so unknown and known names are throttled alike and no table row holds
 * what a person typed.
 */
@Injectable()
export class LoginThrottle implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(LoginThrottle.name);
  private readonly sweeps = new PeriodicTask('sweeping login failures', () => this.sweep(), this.logger);

  constructor(
    private readonly dataSource: DataSource,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  get enabled(): boolean {
    return this.config.loginFailureLimit > 0;
  }

  /** The buckets a sign-in attempt counts in. */
  buckets(address: string, userId: number | undefined, identifier: string): string[] {
    const account =
      userId !== undefined
        ? `user:${userId}`
        : `name:${createHash('sha256').update(identifier.toLowerCase()).digest('hex').slice(0, 40)}`;
    return [`addr:${throttleBucket(address)}`, account];
  }

  /** The seconds to wait when any bucket is over the limit, else 0. */
  async blockedFor(buckets: string[]): Promise<number> {
    if (!this.enabled) return 0;
    const [row] = await this.dataSource.query<{ remaining: number | null }[]>(CHECK_SQL, [
      buckets,
      this.config.loginFailureWindowSeconds,
      this.config.loginFailureLimit,
    ]);
    return row?.remaining === null || row?.remaining === undefined ? 0 : Math.max(1, row.remaining);
  }

  /** Counts one failure in each bucket. */
  async recordFailure(buckets: string[]): Promise<void> {
    if (!this.enabled) return;
    const rows = await this.dataSource.query<{ failures: number }[]>(RECORD_SQL, [
      [...buckets].sort(),
      this.config.loginFailureWindowSeconds,
    ]);
    if (rows.some((row) => row.failures === this.config.loginFailureLimit)) {
      this.logger.warn(
        `sign-ins throttled: ${this.config.loginFailureLimit} failures within ` +
          `${this.config.loginFailureWindowSeconds} s (${buckets[0] ?? ''})`,
      );
    }
  }

  /** Deletes ended windows, unless another instance is sweeping right now. */
  async sweep(): Promise<void> {
    await runExclusively(this.dataSource, BackgroundJob.loginFailureSweep, (manager) =>
      manager.query(
        `DELETE FROM login_failures WHERE window_start <= now() - $1::int * interval '1 second'`,
        [this.config.loginFailureWindowSeconds],
      ),
    );
  }

  onApplicationBootstrap(): void {
    if (this.enabled) this.sweeps.start(Math.min(this.config.loginFailureWindowSeconds, 60) * 1000);
  }

  onApplicationShutdown(): Promise<void> {
    return this.sweeps.stop();
  }
}
