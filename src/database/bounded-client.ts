import { Client } from 'pg';

/** What pg rejects a query with when `query_timeout` (client-side) passes before the server answers. */
const READ_TIMEOUT = 'Query read timeout';

/**
 * How much longer than the statement timeout a client waits for the server's answer before giving up on a query.
 * The server's own timeout (statement_timeout) normally answers first, with a clean error on a healthy connection;
 * this backstop is for a server that cannot answer at all (frozen, overloaded, a dropped network path), which no
 * server-side timeout can bound.
 */
export const QUERY_TIMEOUT_MARGIN_MS = 1000;

interface WithStream {
  connection?: { stream?: { destroy(error?: Error): void } };
}

/**
 * A pg Client that drops its connection once a query outlives `query_timeout`. pg rejects such a query but keeps
 * the connection with the query still outstanding on it: handed back to the pool it looks idle, and every later
 * query on it would queue behind one that may never be answered. Destroyed, it leaves the pool (pg-pool removes a
 * client whose connection ended) and a fresh connection replaces it.
 *
 * Only the promise form needs this: pg-pool's own `pool.query` (callback form) already releases the client with
 * the error, which removes it.
 */
export class BoundedClient extends Client {
  override query(...args: unknown[]): never {
    const result = (super.query as (...a: unknown[]) => unknown).apply(this, args);
    if (result instanceof Promise) {
      result.catch((error: unknown) => {
        if (error instanceof Error && error.message === READ_TIMEOUT) this.drop();
      });
    }
    return result as never;
  }

  private drop(): void {
    (this as unknown as WithStream).connection?.stream?.destroy();
  }
}
