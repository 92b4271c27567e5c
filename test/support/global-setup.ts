import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { type EmbeddedPostgres, startEmbeddedPostgres } from '../../src/database/embedded-postgres';
import { runMigrations } from '../../src/database/migrations';
import { openDataSource } from './database';

declare global {
  var __GRANTRY_TEST_PG__: EmbeddedPostgres | undefined;
}

/**
 * One migrated template database per test run, copied into a database of each suite's own by the test environment
 * (test-environment.ts, named `<template>_<hex>`), so runs in parallel on one machine (two terminals, several agents)
 * share the embedded cluster without dropping each other's data, and suites never see each other's rows. The pid
 * lets a later run tell a live run's databases from leftovers.
 */
export const TEST_DATABASE_PREFIX = 'grantry_test_';
const TEST_DATABASE = `${TEST_DATABASE_PREFIX}${process.pid}`;

/** Recreates `database` empty on the server behind `adminUrl`. */
async function recreateDatabase(adminUrl: string, database: string): Promise<void> {
  const client = new Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS ${client.escapeIdentifier(database)} WITH (FORCE)`);
    await client.query(
      `CREATE DATABASE ${client.escapeIdentifier(database)} ENCODING 'UTF8' TEMPLATE template0`,
    );
  } finally {
    await client.end();
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The test databases of runs still in progress (other than this one), after dropping those of dead runs. */
export async function otherLiveTestDatabases(adminUrl: string): Promise<string[]> {
  const client = new Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ datname: string }>(
      `SELECT datname FROM pg_database WHERE datname LIKE $1`,
      [`${TEST_DATABASE_PREFIX.replace(/_/g, '\\_')}%`],
    );
    const live: string[] = [];
    for (const { datname } of rows) {
      // grantry_test_<pid> (a run's template) or grantry_test_<pid>_<hex> (one of its suites' databases).
      const pid = Number(/^\d+(?=_|$)/.exec(datname.slice(TEST_DATABASE_PREFIX.length))?.[0]);
      if (pid === process.pid) continue;
      if (Number.isInteger(pid) && pid > 0 && alive(pid)) live.push(datname);
      else await client.query(`DROP DATABASE IF EXISTS ${client.escapeIdentifier(datname)} WITH (FORCE)`);
    }
    return live;
  } finally {
    await client.end();
  }
}

async function dropLeftoverDatabases(adminUrl: string): Promise<void> {
  await otherLiveTestDatabases(adminUrl);
}

/**
 * Real PostgreSQL for the whole run: DATABASE_URL when given (its database name must contain "test", because it is
 * wiped; the user needs CREATEDB), otherwise an embedded cluster kept in the system temp dir between runs. Either way
 * the template database starts empty and gets the real migrations; each suite gets a copy of it.
 */
export default async function globalSetup(): Promise<void> {
  let url: string;
  let adminUrl: string;
  const given = process.env.DATABASE_URL;
  if (given) {
    const name = decodeURIComponent(new URL(given).pathname.replace(/^\//, ''));
    if (!name.includes('test')) {
      throw new Error(
        `refusing to run tests against database "${name}": its name must contain "test" (it is wiped)`,
      );
    }
    const client = new Client({ connectionString: given });
    await client.connect();
    await client.query('DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public;');
    await client.end();
    url = given;
    const maintenance = new URL(given);
    maintenance.pathname = '/postgres';
    adminUrl = maintenance.toString();
  } else {
    const id = createHash('sha256').update(process.cwd()).digest('hex').slice(0, 12);
    const dataDir = path.join(os.tmpdir(), `grantry-test-pg-${id}`);
    fs.mkdirSync(dataDir, { recursive: true, mode: 0o755 });
    const embedded = await startEmbeddedPostgres({ dataDir, database: 'postgres' });
    globalThis.__GRANTRY_TEST_PG__ = embedded;
    await dropLeftoverDatabases(embedded.url);
    await recreateDatabase(embedded.url, TEST_DATABASE);
    const target = new URL(embedded.url);
    target.pathname = `/${TEST_DATABASE}`;
    url = target.toString();
    adminUrl = embedded.url;
  }
  const dataSource = await openDataSource(url, 'grantry-tests');
  await runMigrations(dataSource);
  await dataSource.destroy();
  // The template for the test environment; the other two stay the template's for the teardown (and for a suite run
  // without the test environment), the environment replaces them with the suite's own database in the suite.
  process.env.GRANTRY_TEST_TEMPLATE_URL = url;
  process.env.GRANTRY_TEST_ADMIN_URL = adminUrl;
  process.env.DATABASE_URL = url;
  process.env.GRANTRY_TEST_DATABASE_URL = url;
}
