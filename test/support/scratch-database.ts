import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { createApp } from '../../src/app';
import { loadConfig } from '../../src/config/config';
import { runMigrations } from '../../src/database/migrations';
import { StartupState } from '../../src/health/startup-state';
import { createLogger } from '../../src/logging/logger';
import { LogCapture, TEST_SECRET_KEY, testDatabaseUrl } from './app';
import { openDataSource } from './database';

/**
 * Databases of a suite's own on the test cluster, for what must start from an empty database (start-up, migrations,
 * SECRET_KEY checks). Named `<prefix>_<pid>_<n>`, outside the test runs' own prefix, so no other run drops them.
 */
export class ScratchDatabases {
  private readonly names: string[] = [];

  constructor(private readonly prefix: string) {}

  /** A new, empty database; its URL. */
  async create(): Promise<string> {
    const name = `${this.prefix}_${process.pid}_${this.names.length}`;
    await this.admin(async (client) => {
      await client.query(`DROP DATABASE IF EXISTS ${client.escapeIdentifier(name)} WITH (FORCE)`);
      await client.query(
        `CREATE DATABASE ${client.escapeIdentifier(name)} ENCODING 'UTF8' TEMPLATE template0`,
      );
    });
    this.names.push(name);
    const url = new URL(testDatabaseUrl());
    url.pathname = `/${name}`;
    return url.toString();
  }

  /**
   * A new database with the real migrations applied, and the app on it (bootstrapped, not listening): for suites
   * whose expected results cover whole tables, so that no other suite's rows can be in them.
   */
  async createApp(): Promise<{ app: NestFastifyApplication; dataSource: DataSource }> {
    const url = await this.create();
    const migrator = await openDataSource(url, `${this.prefix}-migrate`);
    await runMigrations(migrator);
    await migrator.destroy();
    const config = loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'warn', SECRET_KEY: TEST_SECRET_KEY });
    const app = await createApp(config, url, createLogger(config, new LogCapture()));
    app.get(StartupState).bootstrapped = true;
    return { app, dataSource: app.get(DataSource) };
  }

  /** Drops every database this made. */
  async dropAll(): Promise<void> {
    const names = this.names.splice(0);
    await this.admin(async (client) => {
      for (const name of names) {
        await client.query(`DROP DATABASE IF EXISTS ${client.escapeIdentifier(name)} WITH (FORCE)`);
      }
    });
  }

  private async admin(work: (client: Client) => Promise<void>): Promise<void> {
    const client = new Client({ connectionString: testDatabaseUrl() });
    await client.connect();
    try {
      await work(client);
    } finally {
      await client.end();
    }
  }
}
