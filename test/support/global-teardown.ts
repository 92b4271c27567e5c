import { Client } from 'pg';
import { otherLiveTestDatabases } from './global-setup';

/**
 * Drops this run's database; stops the embedded cluster when this run started it and no other run is still using
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
    await client.query(`DROP DATABASE IF EXISTS ${client.escapeIdentifier(database)} WITH (FORCE)`);
  } finally {
    await client.end();
  }
  if ((await otherLiveTestDatabases(embedded.url)).length === 0) await embedded.stop();
}
