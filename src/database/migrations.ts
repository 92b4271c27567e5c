import type { DataSource } from 'typeorm';

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
 * The SQL that would bring the database in line with the entities. Empty when entities and migrations agree (run on
 * a database migrated from scratch).
 */
export async function schemaDrift(dataSource: DataSource): Promise<string[]> {
  const sql = await dataSource.driver.createSchemaBuilder().log();
  return sql.upQueries.map((query) => query.query);
}
