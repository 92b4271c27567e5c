import { Client } from 'pg';
import { otherLiveTestDatabases } from './global-setup';

/**
 * Drops this run's template and any suite database of it a crashed environment left; stops the embedded cluster when this run started it and no other run is still using
 * it (a run that attached to it leaves it to its owner).
 */
export default async function globalTeardown(): Promise<void> {
  const embedded = globalThis.__GRANTRY_TEST_PG__;
  const url = process.env.GRANTRY_TEST_DATABASE_URL;
  if (!embedded || !url) return;
  const database = decodeURIComponent(new URL(url).pathname.replace(/^\//, ''));
  const client = new Client({ connectionString: embedded.url });
  await client.connect();
  try {
    const { rows } = await client.query<{ datname: string }>(
      `SELECT datname FROM pg_database WHERE datname = $1 OR starts_with(datname, $1 || '_')`,
      [database],
    );
    for (const { datname } of rows) {
      await client.query(`DROP DATABASE IF EXISTS ${client.escapeIdentifier(datname)} WITH (FORCE)`);
    }
  } finally {
    await client.end();
  }
  if ((await otherLiveTestDatabases(embedded.url)).length === 0) await embedded.stop();
}
