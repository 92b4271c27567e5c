import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { loadConfig } from './src/config/config';
import { dataSourceOptions } from './src/database/data-source-options';

/**
 * The TypeORM CLI's data source (e.g. `npx typeorm migration:generate -d dist/ormconfig.js migrations/Name`). It
 * needs DATABASE_URL; `npm run cli -- migrate` also works with the embedded database.
 */
const config = loadConfig();
if (!config.databaseUrl) {
  throw new Error(
    'ormconfig.ts needs DATABASE_URL (the embedded database is started by "npm run cli -- migrate")',
  );
}

export default new DataSource(
  dataSourceOptions({
    url: config.databaseUrl,
    poolSize: 2,
    statementTimeoutMs: 0,
    connectTimeoutMs: config.dbConnectTimeoutMs,
    applicationName: 'grantry-typeorm-cli',
  }),
);
