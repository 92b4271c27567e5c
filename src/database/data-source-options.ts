import { DataSource, type DataSourceOptions } from 'typeorm';
import { MIGRATIONS } from '../../migrations';
import { BoundedClient, QUERY_TIMEOUT_MARGIN_MS } from './bounded-client';
import type { BreakerLog } from './circuit-breaker';
import { ENTITIES } from './entities';
import { GUARDED_PG } from './guarded-pool';

export interface DatabaseSettings {
  url: string;
  poolSize: number;
  statementTimeoutMs: number;
  connectTimeoutMs: number;
  applicationName: string;
  /**
   * The server's circuit breaker (GuardedPool): after a connection-level failure, statements fail at once until a
   * probe reaches the database. The CLI and the tests' own data sources have none.
   */
  breaker?: { probeIntervalMs: number; log?: BreakerLog };
}

/** The one set of TypeORM options, shared by the server, the CLI, the tests and ormconfig.ts. */
export function dataSourceOptions(settings: DatabaseSettings): DataSourceOptions {
  return {
    type: 'postgres',
    url: settings.url,
    entities: ENTITIES,
    migrations: MIGRATIONS,
    migrationsTableName: 'migrations',
    // The schema belongs to migrations/, everywhere, tests included.
    synchronize: false,
    // gen_random_uuid() is built into PostgreSQL 13+; uuid-ossp would need an extension.
    uuidExtension: 'pgcrypto',
    migrationsRun: false,
    logging: false,
    applicationName: settings.applicationName,
    ...(settings.breaker ? { driver: GUARDED_PG } : {}),
    extra: {
      max: settings.poolSize,
      connectionTimeoutMillis: settings.connectTimeoutMs,
      // Bounds every statement so a slow database answers with an error instead of holding the request.
      statement_timeout: settings.statementTimeoutMs || undefined,
      // ...and when the server cannot even say so (frozen, unreachable), the client stops waiting a little later
      // and drops that connection (BoundedClient), instead of holding the request for as long as the outage lasts.
      readTimeoutMs: settings.statementTimeoutMs ? settings.statementTimeoutMs + QUERY_TIMEOUT_MARGIN_MS : 0,
      Client: BoundedClient,
      idle_in_transaction_session_timeout: 60_000,
      // No `plan_cache_mode = force_generic_plan` here (commit 7fdd68a had it, for the named expiry-range
      // statement): PostgreSQL applies it to every statement with parameters, the unnamed ones of the extended
      // protocol too, not only to named ones. The management users list (`LIMIT $1 OFFSET $2`) then ran a generic
      // plan that reads all 100,000 user documents (EXPLAIN ANALYZE 80-92 ms instead of 12 ms): 45.9 req/s
      // against 1,277 before, in the full bench of 2026-12-01. PostgreSQL's own choice (custom plans unless a
      // generic one is as cheap) is kept for every statement.
      keepAlive: true,
      // A probe may take as long as a request may wait for a connection.
      ...(settings.breaker
        ? { breaker: { ...settings.breaker, probeTimeoutMs: settings.connectTimeoutMs } }
        : {}),
    },
  };
}

/**
 * Runs `work` on a DataSource of its own whose statements have no timeout, then closes it: for what runs outside
 * the server's requests and is bounded only by its own progress (migrations and the wait for their lock, the
 * start-up's key preparation, a CLI command such as a seed).
 */
export async function withUntimedDataSource<T>(
  settings: Omit<DatabaseSettings, 'statementTimeoutMs' | 'breaker'>,
  work: (dataSource: DataSource) => Promise<T>,
): Promise<T> {
  const dataSource = new DataSource(dataSourceOptions({ ...settings, statementTimeoutMs: 0 }));
  await dataSource.initialize();
  try {
    return await work(dataSource);
  } finally {
    await dataSource.destroy();
  }
}
