import { Pool } from 'pg';
import { BoundedClient, SWEEP_INTERVAL_MS, watchedClients } from '../src/database/bounded-client';
import { testDatabaseUrl } from './support/app';
import { expectAtLeast, expectWithin, slackBound, stopwatch } from './support/timing';

const READ_TIMEOUT_MS = 300;

/**
 * The client-side read timeout (BoundedClient) against the real test database: a query the server does not answer
 * in time loses its connection and fails with a "Connection terminated" error (503 in the API); answered queries,
 * in every call form, keep their connection, and a client is watched only while connected.
 */
describe('BoundedClient', () => {
  const clients: BoundedClient[] = [];
  const client = async (readTimeoutMs: number): Promise<BoundedClient> => {
    const c = new BoundedClient({ connectionString: testDatabaseUrl(), readTimeoutMs });
    c.on('error', () => undefined); // the dropped connection's own error event
    clients.push(c);
    await c.connect();
    return c;
  };

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
  });

  it('drops the connection of a query unanswered past readTimeoutMs, and its queued queries fail too', async () => {
    const c = await client(READ_TIMEOUT_MS);
    const elapsed = stopwatch();
    const slow = c.query('SELECT pg_sleep(5)');
    const queued = c.query('SELECT 1 AS one');
    await expect(slow).rejects.toThrow(/Connection terminated/);
    await expect(queued).rejects.toThrow(/Connection terminated/);
    const ms = elapsed();
    // Not before the read timeout; after it, within one sweep of the watcher (plus slack).
    expectAtLeast(ms, READ_TIMEOUT_MS, 'the unanswered query failed');
    expectWithin(ms, slackBound(READ_TIMEOUT_MS + SWEEP_INTERVAL_MS), 'the unanswered query failed');
  });

  it('leaves answered queries alone, in the promise and callback forms, past the deadline they would have had', async () => {
    const c = await client(READ_TIMEOUT_MS);
    await expect(c.query('SELECT 1 AS one')).resolves.toMatchObject({ rows: [{ one: 1 }] });
    const viaCallback = await new Promise<unknown>((resolve, reject) => {
      c.query('SELECT $1::int AS two', [2], (error: Error | null, result?: { rows: unknown[] }) =>
        error ? reject(error) : resolve(result?.rows),
      );
    });
    expect(viaCallback).toEqual([{ two: 2 }]);
    await expect(c.query('SELECT nonsense')).rejects.toThrow(/column "nonsense" does not exist/);
    // Well past the deadline of all three: the connection is still there.
    await new Promise((resolve) => setTimeout(resolve, 2 * READ_TIMEOUT_MS + SWEEP_INTERVAL_MS));
    await expect(c.query('SELECT 3 AS three')).resolves.toMatchObject({ rows: [{ three: 3 }] });
  });

  it('through pg-pool: the dropped client leaves the pool, the next query gets a fresh connection', async () => {
    const pool = new Pool({
      connectionString: testDatabaseUrl(),
      max: 1,
      Client: BoundedClient,
      readTimeoutMs: READ_TIMEOUT_MS,
    } as ConstructorParameters<typeof Pool>[0]);
    pool.on('error', () => undefined);
    try {
      await expect(pool.query('SELECT pg_sleep(5)')).rejects.toThrow(/Connection terminated/);
      await expect(pool.query('SELECT 4 AS four')).resolves.toMatchObject({ rows: [{ four: 4 }] });
      expect(pool.totalCount).toBe(1);
    } finally {
      await pool.end();
    }
  });

  it('stops watching clients once their connections end', async () => {
    await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(watchedClients()).toBe(0);
  });
});
