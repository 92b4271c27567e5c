import {
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
  type Provider,
} from '@nestjs/common';
import { DataSource } from 'typeorm';
import { APP_CONFIG, type AppConfig } from '../../config/config';
import { BackgroundJob, PeriodicTask, runExclusively } from '../../database/background-jobs';
import { preparedQuery } from '../../database/prepared';
import { isDatabaseUnavailable } from '../errors/database-errors';
import { throttleBucket } from '../http/client-address';

/**
 * One failure, atomically: starts the bucket's window (at the first failure, or the first after the window ended)
 * or counts into it, and says how many failures the window holds and how long it has left. Concurrent failures of
 * one bucket, on any instance, queue on its row for the length of this statement, so none is lost. The count
 * saturates instead of overflowing. $3 is the time (null: the database's clock, which every instance shares).
 */
const RECORD_FAILURE_SQL = `
INSERT INTO auth_failures AS f (bucket, window_start, failures)
VALUES ($1, coalesce($3::timestamptz, now()), 1)
ON CONFLICT (bucket) DO UPDATE SET
  window_start = CASE WHEN f.window_start > EXCLUDED.window_start - $2::int * interval '1 second'
                      THEN f.window_start ELSE EXCLUDED.window_start END,
  failures = CASE WHEN f.window_start > EXCLUDED.window_start - $2::int * interval '1 second'
                  THEN least(f.failures + 1, 2147483647) ELSE 1 END
RETURNING failures,
  ceil(extract(epoch FROM window_start + $2::int * interval '1 second' - coalesce($3::timestamptz, now())))::int
    AS remaining`;

/**
 * Counts failed authentications per client (see throttleBucket) in the table `auth_failures`, which every instance
 * on the database shares: a guesser gains nothing by spreading its guesses over instances. A client that failed
 * AUTH_FAILURE_LIMIT times within one window (which starts at its first failure) gets 429 with Retry-After for every
 * further failure until the window ends.
 *
 * Only failures are throttled: a valid key is always served, from any address. Serving it does tell a guesser which
 * guess was right, so this throttle is not what protects keys: generated keys carry 384 random bits and
 * BOOTSTRAP_TOKEN must be strong, which makes guessing hopeless with or without it. What the throttle does is tell a
 * client that keeps presenting failing keys (a guesser, a script looping on a revoked key) to back off, and log it
 * once per window; in exchange it no longer locks out everyone who shares an address with such a client (a NAT, a
 * proxy not listed in TRUSTED_PROXIES, Docker's userland proxy, an IPv6 /64).
 *
 * Successful authentications neither count nor reset the count, and cost no extra SQL: the throttle is consulted
 * only after a key failed, by one statement that both counts the failure and answers whether the limit is passed.
 * If that statement fails (the database went away after the lookup), the failure is answered 403 as usual and goes
 * uncounted: a throttle must not turn a wrong key into a 500.
 *
 * The table is bounded: a sweep, one instance at a time (runExclusively), deletes ended windows and, beyond
 * AUTH_FAILURE_MAX_ADDRESSES rows, the oldest ones, at least once a window (and once a minute).
 */
export class AuthFailureThrottle implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(AuthFailureThrottle.name);
  private readonly limit: number;
  private readonly windowSeconds: number;
  private readonly maxBuckets: number;
  private readonly sweeps = new PeriodicTask('sweeping auth failures', () => this.sweep(), this.logger);

  /** `now`, for tests: the time to count by (absent: the database's clock, which every instance shares). */
  constructor(
    private readonly dataSource: DataSource,
    config: AppConfig,
    private readonly now?: () => Date,
  ) {
    this.limit = config.authFailureLimit;
    this.windowSeconds = config.authFailureWindowSeconds;
    this.maxBuckets = config.authFailureMaxAddresses;
  }

  get enabled(): boolean {
    return this.limit > 0;
  }

  /**
   * Counts a failed authentication of the client at `address` (a normalized address, from clientAddress). Resolves
   * to the whole seconds the client should wait when it is over the limit, else 0. Never rejects.
   */
  async recordFailure(address: string): Promise<number> {
    if (!this.enabled) return 0;
    const bucket = throttleBucket(address);
    let row: { failures: number; remaining: number } | undefined;
    try {
      [row] = await preparedQuery<{ failures: number; remaining: number }>(
        this.dataSource,
        'grantry_auth_failure',
        RECORD_FAILURE_SQL,
        [bucket, this.windowSeconds, this.now?.() ?? null],
      );
    } catch (error) {
      this.logger.warn(
        `failed authentication of ${bucket} not counted (${isDatabaseUnavailable(error) ? 'database unavailable' : 'error'}): ${
          error instanceof Error ? error.message : String(error)
        }`,
      );
      return 0;
    }
    if (row === undefined || row.failures <= this.limit) return 0;
    if (row.failures === this.limit + 1) {
      this.logger.warn(
        `client ${bucket} throttled: ${this.limit} failed authentications within ${this.windowSeconds} s`,
      );
    }
    return Math.max(1, row.remaining);
  }

  /**
   * Deletes ended windows and, beyond AUTH_FAILURE_MAX_ADDRESSES buckets, the oldest windows; unless another
   * instance is sweeping right now. Resolves to the rows deleted, or undefined when it skipped.
   */
  async sweep(): Promise<number | undefined> {
    const run = await runExclusively(this.dataSource, BackgroundJob.authFailureSweep, async (manager) => {
      const [ended] = await manager.query<{ n: number }[]>(
        `WITH d AS (DELETE FROM auth_failures
                     WHERE window_start <= coalesce($2::timestamptz, now()) - $1::int * interval '1 second'
                    RETURNING 1)
         SELECT count(*)::int AS n FROM d`,
        [this.windowSeconds, this.now?.() ?? null],
      );
      const [excess] = await manager.query<{ n: number }[]>(
        `WITH d AS (DELETE FROM auth_failures WHERE bucket IN (
                      SELECT bucket FROM auth_failures ORDER BY window_start DESC, bucket OFFSET $1)
                    RETURNING 1)
         SELECT count(*)::int AS n FROM d`,
        [this.maxBuckets],
      );
      return (ended?.n ?? 0) + (excess?.n ?? 0);
    });
    return run?.result;
  }

  onApplicationBootstrap(): void {
    if (this.enabled) this.sweeps.start(Math.min(this.windowSeconds, 60) * 1000);
  }

  onApplicationShutdown(): Promise<void> {
    return this.sweeps.stop();
  }
}

/** The app's throttle (a factory, so that the test-only clock is no injection token). */
export const AUTH_FAILURE_THROTTLE: Provider = {
  provide: AuthFailureThrottle,
  useFactory: (dataSource: DataSource, config: AppConfig) => new AuthFailureThrottle(dataSource, config),
  inject: [DataSource, APP_CONFIG],
};
