import { Injectable, Logger } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { throttleBucket } from '../../../common/http/client-address';

/** authentik's DeviceView throttle: requests per client address per hour (the limit is DEVICE_REQUEST_LIMIT). */
export const DEVICE_REQUEST_WINDOW_SECONDS = 3600;

/**
 * Wrong user codes typed on /device, per client address and per user, before the page answers 429 until the window
 * ends. A user code is 9 digits; at 10 guesses per 15 minutes a bucket makes under 1,000 a day, so with even a
 * thousand codes waiting at once a guess has one chance in a million, and a day of guessing one in a thousand.
 * authentik has no such limit on its flow (only its general flow throttles).
 */
export const DEVICE_CODE_FAILURE_LIMIT = 10;
export const DEVICE_CODE_FAILURE_WINDOW_SECONDS = 900;

/**
 * Counts one hit in each bucket (sorted, so two instances counting the same buckets lock their rows in one order)
 * and answers each bucket's count and the seconds its window has left. A window starts at the bucket's first hit, or
 * the first after the previous window ended; the database's clock is every instance's clock.
 */
const HIT_SQL = `
INSERT INTO device_throttle AS t (bucket, window_end, hits)
SELECT b, now() + $2::int * interval '1 second', 1 FROM unnest($1::text[]) AS b ORDER BY b
ON CONFLICT (bucket) DO UPDATE SET
  window_end = CASE WHEN t.window_end > now() THEN t.window_end ELSE EXCLUDED.window_end END,
  hits = CASE WHEN t.window_end > now() THEN least(t.hits + 1, 2147483647) ELSE 1 END
RETURNING hits, greatest(1, ceil(extract(epoch FROM window_end - now())))::int AS remaining`;

/** The seconds left of the longest window among the buckets that reached the limit (null: none did). */
const BLOCKED_SQL = `
SELECT max(greatest(1, ceil(extract(epoch FROM window_end - now()))))::int AS remaining
  FROM device_throttle
 WHERE bucket = ANY($1::text[]) AND hits >= $2 AND window_end > now()`;

/**
 * The device flow's throttles, in the `device_throttle` table every instance shares (fixed windows, as
 * login_failures). Buckets name what they count: `request:<address>` for device authorization requests,
 * `code-addr:<address>` and `code-user:<user id>` for wrong user codes (per user rather than per session: a person
 * can start as many sessions as they like). Addresses count by throttleBucket (IPv6 by its /64).
 */
@Injectable()
export class DeviceThrottle {
  private readonly logger = new Logger(DeviceThrottle.name);

  constructor(private readonly dataSource: DataSource) {}

  static requestBuckets(address: string): string[] {
    return [`request:${throttleBucket(address)}`];
  }

  static codeBuckets(address: string, userId: number): string[] {
    return [`code-addr:${throttleBucket(address)}`, `code-user:${userId}`];
  }

  /**
   * Counts a request in its buckets; answers the seconds to wait when a bucket is now over `limit` (the request is
   * then refused), else 0. Refused requests count too, but never move the window's end.
   */
  async hit(buckets: string[], limit: number, windowSeconds: number): Promise<number> {
    if (limit <= 0) return 0;
    const rows = await this.count(buckets, windowSeconds);
    const over = rows.filter((row) => row.hits > limit);
    if (rows.some((row) => row.hits === limit + 1)) {
      this.logger.warn(`device requests throttled: ${limit} within ${windowSeconds} s (${buckets[0] ?? ''})`);
    }
    return over.length === 0 ? 0 : Math.max(...over.map((row) => row.remaining));
  }

  /** The seconds to wait when any bucket holds `limit` failures in its window, else 0. */
  async blockedFor(buckets: string[], limit: number): Promise<number> {
    const [row] = await this.dataSource.query<{ remaining: number | null }[]>(BLOCKED_SQL, [buckets, limit]);
    return row?.remaining ?? 0;
  }

  /** Counts one failure in each bucket. */
  async recordFailure(buckets: string[], limit: number, windowSeconds: number): Promise<void> {
    const rows = await this.count(buckets, windowSeconds);
    if (rows.some((row) => row.hits === limit)) {
      this.logger.warn(
        `device codes throttled: ${limit} wrong codes within ${windowSeconds} s (${buckets.join(', ')})`,
      );
    }
  }

  private count(buckets: string[], windowSeconds: number): Promise<{ hits: number; remaining: number }[]> {
    return this.dataSource.query(HIT_SQL, [[...buckets].sort(), windowSeconds]);
  }
}
