import 'reflect-metadata';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { loadConfig } from '../config/config';
import { dataSourceOptions } from './data-source-options';
import { startEmbeddedPostgres } from './embedded-postgres';
import { runMigrations, schemaDrift } from './migrations';

/**
 * `npm run migration:check`: applies every migration to an empty scratch database, then asks TypeORM what SQL it
 * would need to match the entities. Any such SQL means entities and migrations disagree: print it and fail. It also
 * reverts every migration and applies them again, so each `down` is known to work.
 */
async function main(): Promise<number> {
  const config = loadConfig();
  const scratch = `grantry_migration_check_${randomBytes(4).toString('hex')}`;
  let adminUrl: string;
  let stop = (): Promise<void> => Promise.resolve();
  if (config.databaseUrl) {
    adminUrl = config.databaseUrl;
  } else {
    const id = createHash('sha256').update(process.cwd()).digest('hex').slice(0, 12);
    const dataDir = path.join(os.tmpdir(), `grantry-migration-check-${id}`);
    fs.mkdirSync(dataDir, { recursive: true, mode: 0o755 });
    const embedded = await startEmbeddedPostgres({ dataDir, database: 'postgres' });
    adminUrl = embedded.url;
    stop = () => embedded.stop();
  }
  const admin = new Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${scratch} ENCODING 'UTF8' TEMPLATE template0`);
  const url = new URL(adminUrl);
  url.pathname = `/${scratch}`;
  const dataSource = new DataSource(
    dataSourceOptions({
      url: url.toString(),
      poolSize: 2,
      statementTimeoutMs: 0,
      connectTimeoutMs: 5000,
      applicationName: 'grantry-migration-check',
    }),
  );
  try {
    await dataSource.initialize();
    const applied = await runMigrations(dataSource);
    const drift = await schemaDrift(dataSource);
    if (drift.length > 0) {
      process.stderr.write(
        `Entities and migrations disagree. After ${applied.length} migration(s), TypeORM would still run:\n` +
          drift.map((query) => `  ${query};`).join('\n') +
          '\nWrite a migration for this change (npm run migration:generate needs DATABASE_URL).\n',
      );
      return 1;
    }
    for (let i = 0; i < applied.length; i += 1) await dataSource.undoLastMigration({ transaction: 'each' });
    const reapplied = await runMigrations(dataSource);
    if (reapplied.length !== applied.length || (await schemaDrift(dataSource)).length > 0) {
      process.stderr.write('Reverting and re-applying the migrations did not give the same schema.\n');
      return 1;
    }
    process.stdout.write(
      `migration:check ok: ${applied.length} migration(s) match the entities and revert cleanly\n`,
    );
    return 0;
  } finally {
    await dataSource.destroy().catch(() => undefined);
    await admin.query(`DROP DATABASE IF EXISTS ${scratch} WITH (FORCE)`);
    await admin.end();
    await stop();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(
      `migration:check failed: ${error instanceof Error ? error.message : String(error)}\n`,
    );
    process.exit(1);
  },
);
