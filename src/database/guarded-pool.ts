import * as pg from 'pg';
import type { DataSource } from 'typeorm';
import type { PostgresDriver } from 'typeorm/driver/postgres/PostgresDriver.js';
import { BoundedClient, type BoundedClientConfig } from './bounded-client';
import { type BreakerLog, CircuitBreaker, CircuitOpenError } from './circuit-breaker';

export interface BreakerSettings {
  /** Pause between a failed probe and the next one. */
  probeIntervalMs: number;
  /** How long one probe (connect, then `SELECT 1`) may take before it counts as failed. */
  probeTimeoutMs: number;
  log?: BreakerLog;
}

export interface GuardedPoolConfig extends pg.PoolConfig, BoundedClientConfig {
  breaker: BreakerSettings;
}

type ConnectCallback = (
  error: Error | undefined,
  client: pg.PoolClient | undefined,
  done: (release?: unknown) => void,
) => void;

const NOOP = (): void => undefined;

/**
 * The pg pool of the server's DataSource, with a circuit breaker in front of it. Every statement of the server
 * (TypeORM's query runners, the prepared statements run on the pool, the readiness check, the grant-count fold)
 * gets its connection through `connect`, so that is where an open circuit turns callers away at once, without a
 * connection attempt, a wait in the pool's queue, or a statement sent to a database that stopped answering.
 *
 * The breaker is armed by the first connection the pool hands out: a pool that never reached its database (TypeORM
 * retrying at start-up, each attempt with a new pool that nobody ends) never starts probing.
 */
export class GuardedPool extends pg.Pool {
  readonly breaker: CircuitBreaker;
  private armed = false;

  constructor(config: GuardedPoolConfig) {
    // Its clients must be BoundedClients: they are the ones that report connection failures.
    super({ ...config, Client: config.Client ?? BoundedClient });
    const { probeIntervalMs, probeTimeoutMs, log } = config.breaker;
    this.breaker = new CircuitBreaker({ probeIntervalMs, log, probe: () => this.probe(probeTimeoutMs) });
    // pg-pool hands these options to every client it creates (BoundedClient reports its connection failures).
    (this.options as BoundedClientConfig).onConnectionFailure = (cause) => {
      if (!this.armed) return;
      this.breaker.fail(cause);
      this.turnAwayWaiting();
    };
  }

  /**
   * Callers queued for a connection when the circuit opens (every connection busy, held by statements the database
   * is not answering) are answered at once too, rather than when the connect timeout ends their wait.
   */
  private turnAwayWaiting(): void {
    const queue = (this as unknown as { _pendingQueue?: { callback: ConnectCallback }[] })._pendingQueue;
    for (const waiting of queue?.splice(0) ?? []) waiting.callback(new CircuitOpenError(), undefined, NOOP);
  }

  override connect(): Promise<pg.PoolClient>;
  override connect(callback: ConnectCallback): void;
  override connect(callback?: ConnectCallback): Promise<pg.PoolClient> | undefined {
    if (!callback) {
      return new Promise((resolve, reject) => {
        this.connect((error, client) =>
          error || !client ? reject(error ?? new Error('no client')) : resolve(client),
        );
      });
    }
    if (this.breaker.isOpen) {
      process.nextTick(() => callback(new CircuitOpenError(), undefined, NOOP));
      return undefined;
    }
    super.connect((error, client, done) => {
      if (error || !client) return callback(error, client, done);
      this.armed = true;
      // Waited in the queue while the circuit opened: the client goes back unused.
      if (this.breaker.isOpen) {
        done();
        return callback(new CircuitOpenError(), undefined, NOOP);
      }
      callback(undefined, client, done);
    });
    return undefined;
  }

  override end(): Promise<void>;
  override end(callback: () => void): void;
  override end(callback?: () => void): Promise<void> | undefined {
    this.breaker.stop();
    if (callback) {
      super.end(callback);
      return undefined;
    }
    return super.end();
  }

  /**
   * One probe: a connection of its own (not one of the pool's, which may be held by statements the database has
   * not answered), `SELECT 1`, and goodbye; it fails if all that takes longer than `timeoutMs`.
   */
  private async probe(timeoutMs: number): Promise<void> {
    const Client = (this as unknown as { Client: new (config: BoundedClientConfig) => BoundedClient }).Client;
    const client = new Client(this.options);
    // The probe's failure is its result; its connection's error event must not go unhandled.
    client.on('error', NOOP);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      client.drop();
    }, timeoutMs);
    try {
      await client.connect();
      // (BoundedClient declares its query override loosely; it is pg's query.)
      await (client as pg.Client).query('SELECT 1');
    } catch (error) {
      throw timedOut ? new Error(`probe unanswered after ${timeoutMs} ms`) : error;
    } finally {
      clearTimeout(timer);
      void client.end().catch(NOOP);
    }
  }
}

/** The `pg` module as TypeORM loads it (its `driver` option), with GuardedPool as its Pool. */
export const GUARDED_PG: typeof pg = { ...pg, Pool: GuardedPool };

/** The circuit breaker of a DataSource's pool, if it has one (the server's has; the CLI's and the tests' have not). */
export function circuitBreakerOf(dataSource: DataSource): CircuitBreaker | undefined {
  const pool = (dataSource.driver as PostgresDriver | undefined)?.master as unknown;
  return pool instanceof GuardedPool ? pool.breaker : undefined;
}
