import { Client } from 'pg';
import { testDatabaseUrl } from './app';

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
