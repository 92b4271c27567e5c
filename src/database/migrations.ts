import type { DataSource } from 'typeorm';
import { MIGRATIONS } from '../../migrations';
import { withUntimedDataSource } from './data-source-options';

/** Any constant works; it only has to be the same for every Grantry process on the database. */
const MIGRATION_LOCK = 0x6772616e; // "gran"

/**
 * Applies pending migrations under a session advisory lock, so instances starting together behind a load balancer
 * do not race each other. Returns the names of the migrations applied.
 */
export async function runMigrations(dataSource: DataSource): Promise<string[]> {
  const runner = dataSource.createQueryRunner();
  await runner.connect();
  try {
    await runner.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    try {
      const applied = await dataSource.runMigrations({ transaction: 'each' });
      return applied.map((migration) => migration.name);
    } finally {
      await runner.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]);
    }
  } finally {
    await runner.release();
  }
}

/**
 * Applies pending migrations at start-up on connections of their own, with no statement timeout: a migration (a
 * long CREATE INDEX) and the wait for the migration lock held by another instance starting at the same time are
 * bounded by nothing but their own progress, unlike the server's requests.
 */
export function migrateAtStart(url: string, connectTimeoutMs: number): Promise<string[]> {
  // The migration lock holds one connection while the migrations run on another.
  return withUntimedDataSource(
    { url, poolSize: 2, connectTimeoutMs, applicationName: 'grantry-migrations' },
    runMigrations,
  );
}

/** The migrations this build has that the database has not applied (all of them on an empty database). */
export async function pendingMigrations(dataSource: DataSource): Promise<string[]> {
  let applied: { name: string }[];
  try {
    applied = await dataSource.query<{ name: string }[]>('SELECT name FROM migrations');
  } catch (error) {
    if ((error as { driverError?: { code?: string } }).driverError?.code === '42P01') applied = [];
    else throw error;
  }
  const names = new Set(applied.map((row) => row.name));
  return MIGRATIONS.map((migration) => migration.name).filter((name) => !names.has(name));
}

/**
 * The SQL that would bring the database in line with the entities. Empty when entities and migrations agree (run on
 * a database migrated from scratch).
 */
export async function schemaDrift(dataSource: DataSource): Promise<string[]> {
  const sql = await dataSource.driver.createSchemaBuilder().log();
  return sql.upQueries.map((query) => query.query);
}
