import { Inject, Injectable, Logger } from '@nestjs/common';
import { Gauge } from 'prom-client';
import type pg from 'pg';
import { DataSource } from 'typeorm';
import type { PostgresDriver } from 'typeorm/driver/postgres/PostgresDriver.js';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { circuitBreakerOf } from '../database/guarded-pool';
import { type GrantType, Metrics } from './metrics';

/** How long one count of expired grants is reused: scrapes of several Prometheus replicas cost one query. */
export const EXPIRED_COUNT_TTL_MS = 30_000;

/**
 * Grants whose expiry has passed and that are still stored, per type. The expiry cleanup deletes them once
 * GRANT_RETENTION is over, so the number is bounded by the expiry rate times the retention; a steady rise means the
 * cleanup is not keeping up.
 *
 * Counted on the (expires, id) index alone (an index-only scan: its cost grows with the expired rows, not the table;
 * 400,000 expired of 1,000,000 rows: ~65 ms, where adding `AND expiring`, which the index does not hold, turns it
 * into a scan of the whole table: ~150 ms on a narrow copy, more on the real one). So a grant stored as
 * non-expiring (`expiring = false`, which Grantry never issues) with a past `expires` counts here although the list
 * shows it `is_expired: false`. Bounded by DB_STATEMENT_TIMEOUT_MS, and run at most once per EXPIRED_COUNT_TTL_MS.
 */
const EXPIRED_SQL = `
SELECT (SELECT count(*) FROM oauth2_access_tokens WHERE expires < now())::float8 AS access_token,
       (SELECT count(*) FROM oauth2_refresh_tokens WHERE expires < now())::float8 AS refresh_token,
       (SELECT count(*) FROM oauth2_authorization_codes WHERE expires < now())::float8 AS authorization_code`;

/**
 * The gauges computed when scraped: the server's connection pool and the expired grants. Registered on the Metrics
 * registry by the server only (the CLI has no endpoint to scrape).
 */
@Injectable()
export class ScrapeGauges {
  private readonly logger = new Logger('Metrics');
  private expired: { at: number; counts: Promise<Record<GrantType, number> | undefined> } | undefined;

  constructor(
    metrics: Metrics,
    private readonly dataSource: DataSource,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    const registers = [metrics.registry];
    const pool = (): pg.Pool | undefined =>
      (dataSource.driver as PostgresDriver | undefined)?.master as pg.Pool | undefined;
    new Gauge({
      name: 'grantry_db_pool_connections',
      help: 'Connections of the database pool, by state: open (total), idle, and the requests waiting for one.',
      labelNames: ['state'] as const,
      registers,
      collect() {
        const current = pool();
        this.set({ state: 'total' }, current?.totalCount ?? 0);
        this.set({ state: 'idle' }, current?.idleCount ?? 0);
        this.set({ state: 'waiting' }, current?.waitingCount ?? 0);
      },
    });
    new Gauge({
      name: 'grantry_db_pool_max_connections',
      help: 'The pool size (DB_POOL_SIZE).',
      registers,
    }).set(config.dbPoolSize);
    const source = this.dataSource;
    new Gauge({
      name: 'grantry_db_circuit_open',
      help: '1 while the database circuit breaker is open (requests answered 503 without touching the database).',
      registers,
      collect() {
        this.set(circuitBreakerOf(source)?.isOpen ? 1 : 0);
      },
    });
    const expiredCounts = (): Promise<Record<GrantType, number> | undefined> => this.expiredCounts();
    new Gauge({
      name: 'grantry_grants_expired',
      help: 'Grants past their expiry still stored (is_expired), by type; counted at most every 30 s. Absent when the database did not answer.',
      labelNames: ['type'] as const,
      registers,
      async collect() {
        this.reset();
        const counts = await expiredCounts();
        if (counts === undefined) return;
        for (const [type, count] of Object.entries(counts)) this.set({ type }, count);
      },
    });
  }

  private expiredCounts(): Promise<Record<GrantType, number> | undefined> {
    const now = Date.now();
    if (this.expired === undefined || now - this.expired.at >= EXPIRED_COUNT_TTL_MS) {
      this.expired = { at: now, counts: this.countExpired() };
    }
    return this.expired.counts;
  }

  private async countExpired(): Promise<Record<GrantType, number> | undefined> {
    if (circuitBreakerOf(this.dataSource)?.isOpen) {
      this.expired = undefined;
      return undefined;
    }
    try {
      const [row] = await this.dataSource.query<Record<GrantType, number>[]>(EXPIRED_SQL);
      return row;
    } catch (error) {
      // Not cached: the next scrape tries again.
      this.expired = undefined;
      this.logger.warn(
        `expired grants not counted: ${error instanceof Error ? error.message : String(error)}`,
      );
      return undefined;
    }
  }
}
