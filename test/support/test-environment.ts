import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { EnvironmentContext, JestEnvironmentConfig } from '@jest/environment';
import { TestEnvironment as NodeEnvironment } from 'jest-environment-node';
import { Client } from 'pg';

/** Connections to a test database's own server, for CREATE and DROP DATABASE (never the template itself). */
async function admin<T>(adminUrl: string, work: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: adminUrl, application_name: 'grantry-test-environment' });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/**
 * Node's environment plus a database of the suite's own: a copy of the run's migrated template, made before the
 * file's first hook and dropped after its last, so no suite sees another's rows and the order of the files does not
 * matter. testDatabaseUrl() (GRANTRY_TEST_DATABASE_URL) and DATABASE_URL point at it in the suite's process.env, so
 * the servers and CLIs a suite starts with either get it too.
 */
export default class DatabaseEnvironment extends NodeEnvironment {
  private readonly testPath: string;
  private database: string | undefined;
  private adminUrl: string | undefined;

  constructor(config: JestEnvironmentConfig, context: EnvironmentContext) {
    super(config, context);
    this.testPath = context.testPath;
  }

  override async setup(): Promise<void> {
    await super.setup();
    const templateUrl = process.env.GRANTRY_TEST_TEMPLATE_URL;
    const adminUrl = process.env.GRANTRY_TEST_ADMIN_URL;
    if (!templateUrl || !adminUrl) return; // run without the global setup: testDatabaseUrl() says so when used
    const template = databaseName(templateUrl);
    // <template>_<hex> keeps the run's pid (the template is grantry_test_<pid>) for the cleanup of dead runs.
    const database = `${template}_${randomBytes(4).toString('hex')}`;
    await admin(adminUrl, (client) =>
      client.query(
        `CREATE DATABASE ${client.escapeIdentifier(database)} TEMPLATE ${client.escapeIdentifier(template)}`,
      ),
    );
    this.database = database;
    this.adminUrl = adminUrl;
    const url = new URL(templateUrl);
    url.pathname = `/${database}`;
    const env = this.global.process.env;
    env.GRANTRY_TEST_DATABASE_URL = url.toString();
    env.DATABASE_URL = url.toString();
    // A connection to the template would make the next suite's copy fail: the suite never learns its name.
    delete env.GRANTRY_TEST_TEMPLATE_URL;
    delete env.GRANTRY_TEST_ADMIN_URL;
  }

  override async teardown(): Promise<void> {
    const { database, adminUrl } = this;
    this.database = undefined;
    try {
      if (database && adminUrl) {
        await admin(adminUrl, async (client) => {
          // Connections still open here are a suite's leak (an app, data source or client not closed in afterAll):
          // named on stderr so it gets fixed, then cut by the drop.
          const { rows } = await client.query<{ application_name: string; count: string }>(
            `SELECT application_name, count(*)::text AS count FROM pg_stat_activity WHERE datname = $1
              GROUP BY application_name ORDER BY application_name`,
            [database],
          );
          if (rows.length > 0) {
            const open = rows.map((row) => `${row.application_name || '(unnamed)'} x${row.count}`).join(', ');
            process.stderr.write(
              `${path.relative(process.cwd(), this.testPath)}: connections left open after the suite: ${open}\n`,
            );
          }
          await client.query(`DROP DATABASE IF EXISTS ${client.escapeIdentifier(database)} WITH (FORCE)`);
        });
      }
    } finally {
      await super.teardown();
    }
  }
}

function databaseName(url: string): string {
  return decodeURIComponent(new URL(url).pathname.replace(/^\//, ''));
}
