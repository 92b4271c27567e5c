import { createHash } from 'node:crypto';
import { Client } from 'pg';
import { SERVER_ENTRY, startServer } from './support/server-process';
import { runProcess } from './support/process';
import { ScratchDatabases } from './support/scratch-database';
import { expectAtLeast, stopwatch } from './support/timing';

/**
 * Start-up against a database of the suite's own (on the test cluster): migrations that wait on another instance's
 * lock longer than any statement may take, and a start-up failure whose error carries query parameters.
 */

const MIGRATION_LOCK = 0x6772616e; // src/database/migrations.ts
const KEY = 'startup-suite-bootstrap-key-7c1e9a4f2b6d';

describe('start-up', () => {
  const databases = new ScratchDatabases('startup');
  const freshDatabase = (): Promise<string> => databases.create();
  afterAll(() => databases.dropAll());

  it('waits for another instance holding the migration lock longer than the statement timeout, then starts', async () => {
    const url = await freshDatabase();
    const STATEMENT_MS = 1000;
    const HOLD_MS = 4 * STATEMENT_MS;
    const holder = new Client({ connectionString: url });
    await holder.connect();
    await holder.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    const elapsed = stopwatch();
    const release = setTimeout(() => {
      void holder.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]);
    }, HOLD_MS);
    try {
      const server = await startServer({
        DATABASE_URL: url,
        HOST: '127.0.0.1',
        BOOTSTRAP_TOKEN: KEY,
        DB_STATEMENT_TIMEOUT_MS: String(STATEMENT_MS),
      });
      const waited = elapsed();
      try {
        // It did wait for the lock (so the wait outlived the statement timeout), and then migrated and served.
        expectAtLeast(waited, HOLD_MS, 'the start while another instance held the migration lock');
        expect((await fetch(`${server.url}/-/health/ready/`)).status).toBe(200);
        const whoami = await fetch(`${server.url}/api/v3/grantry/whoami/`, {
          headers: { authorization: `Bearer ${KEY}` },
        });
        expect(whoami.status).toBe(200);
      } finally {
        server.child.kill('SIGTERM');
        expect((await server.exited).code).toBe(0);
      }
    } finally {
      clearTimeout(release);
      await holder.end();
    }
  });

  it('logs a failed start-up by name, message and code, never with the failed query or its parameters', async () => {
    const url = await freshDatabase();
    // Migrate it, then make the bootstrap's INSERT of the API token fail.
    const migrated = await runProcess(
      process.execPath,
      [SERVER_ENTRY.replace(/main\.js$/, 'cli/main.js'), 'migrate'],
      {
        cwd: process.cwd(),
        env: { DATABASE_URL: url },
      },
    );
    expect(migrated.code).toBe(0);
    const client = new Client({ connectionString: url });
    await client.connect();
    await client.query(`
      CREATE FUNCTION refuse_tokens() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'tokens are refused here'; END $$;
      CREATE TRIGGER refuse_tokens BEFORE INSERT ON api_tokens FOR EACH ROW EXECUTE FUNCTION refuse_tokens();`);
    await client.end();

    const run = await runProcess(process.execPath, [SERVER_ENTRY], {
      cwd: process.cwd(),
      env: { DATABASE_URL: url, HOST: '127.0.0.1', PORT: '0', BOOTSTRAP_TOKEN: KEY },
    });
    expect(run.code).toBe(1);
    const fatal = run.stdout
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { level: string; msg: string; error?: unknown })
      .filter((line) => line.level === 'fatal');
    expect(fatal).toEqual([
      expect.objectContaining({
        msg: 'start-up failed',
        error: { name: 'QueryFailedError', message: 'tokens are refused here', code: 'P0001' },
      }),
    ]);
    // The INSERT's parameters held the key's hash; neither it, the key, nor the SQL reached the output.
    const output = run.stdout + run.stderr;
    const hash = createHash('sha256').update(KEY).digest('hex');
    for (const secret of [KEY, hash, 'INSERT INTO', '"parameters"', '"query"'])
      expect([secret, output.includes(secret)]).toEqual([secret, false]);
  });
});
