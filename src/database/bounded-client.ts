import { Client, type ClientConfig } from 'pg';

/**
 * How much longer than the statement timeout a client waits for the server's answer before giving up on a query.
 * The server's own timeout (statement_timeout) normally answers first, with a clean error on a healthy connection;
 * this backstop is for a server that cannot answer at all (frozen, overloaded, a dropped network path), which no
 * server-side timeout can bound. With the sweep's lateness it is at most 1 s, so a request caught by a frozen database
 * is answered (503) within the statement timeout + 1 s; it also opens the database circuit (GuardedPool).
 */
export const QUERY_TIMEOUT_MARGIN_MS = 750;

/** How often busy clients are checked (a stuck query is dropped up to this much after its deadline). */
export const SWEEP_INTERVAL_MS = 250;

export interface BoundedClientConfig extends ClientConfig {
  /** Drop the connection of a query still unanswered this long after it started. 0 or absent: never. */
  readTimeoutMs?: number;
  /**
   * Told, at most once per client, when connecting or a statement on the wire failed at the connection level: the
   * database is unreachable, going away, or stopped answering. Not told about errors the server answered a
   * statement with, about a connection the server closed for a reason of that session's own, nor about a
   * connection that died idle.
   */
  onConnectionFailure?: (cause: string) => void;
}

interface WithInternals {
  /** pg's query on the wire (8.x); null between queries. */
  _activeQuery?: object | null;
  /** Set by end(): the connection is being closed on purpose. */
  _ending?: boolean;
  /** Set once the server accepted the connection (pg 8.x). */
  _connected?: boolean;
  connection?: { stream?: { destroy(error?: Error): void } };
}

/** What pg's connection emits: a socket error, and the server's error messages (FATAL ones close the session). */
interface ConnectionEvents {
  on(event: 'error', listener: (error: NodeJS.ErrnoException) => void): void;
  on(
    event: 'errorMessage',
    listener: (message: { severity?: string; code?: string; message?: string }) => void,
  ): void;
  once(event: 'end', listener: () => void): void;
}

/**
 * Server error codes that close a session because the server itself is going away or not there yet (class 57P:
 * shutdown by an administrator or a crash, or still starting up; class 08: connection exceptions). Other fatal
 * errors end one session for a reason of its own (idle_in_transaction_session_timeout, idle_session_timeout, a
 * failed password, too many connections) while the server serves everyone else: those open no breaker.
 */
export function isServerGoingAway(code: string | undefined): boolean {
  return code === '57P01' || code === '57P02' || code === '57P03' || (code?.startsWith('08') ?? false);
}

/** Connected clients with a read timeout; checked by one interval timer while there are any. */
const watched = new Set<BoundedClient>();
let sweeper: NodeJS.Timeout | undefined;

/** Clients being watched (for tests: a closed or dropped client must not stay). */
export function watchedClients(): number {
  return watched.size;
}

function sweep(): void {
  const now = Date.now();
  for (const client of watched) client.check(now);
  if (watched.size === 0 && sweeper) {
    clearInterval(sweeper);
    sweeper = undefined;
  }
}

/**
 * A pg Client that drops its connection once a query outlives `readTimeoutMs`: pg then fails that query (and any
 * queued behind it) with "Connection terminated", which the API answers as 503, and pg-pool discards the client; a
 * fresh connection replaces it. Without this a request would wait for as long as a frozen database stays frozen.
 *
 * Nothing is done per query: one interval timer looks at each client's query on the wire, and a query it sees
 * again `readTimeoutMs` after first seeing it is dropped. Not pg's own `query_timeout`, and not a wrapper around
 * each query's callback: with either, under a load of 100-row pages, the rows every query parsed were promoted to
 * the old generation (--trace-gc-nvp: about 240 KB per request, against about 20 KB with nothing per query), and
 * the heap grew accordingly. The sweep holds a query only weakly, so it keeps nothing alive.
 */
export class BoundedClient extends Client {
  private readonly readTimeoutMs: number;
  private watching = false;
  private seen: WeakRef<object> | undefined;
  private seenSince = 0;
  private readonly onConnectionFailure: ((cause: string) => void) | undefined;
  /** Whether this connection's end is already accounted for (reported, or explained by the server). */
  private accounted = false;

  constructor(config: BoundedClientConfig | string = {}) {
    super(config);
    this.readTimeoutMs = typeof config === 'string' ? 0 : (config.readTimeoutMs ?? 0);
    this.onConnectionFailure = typeof config === 'string' ? undefined : config.onConnectionFailure;
    if (this.onConnectionFailure) this.watchConnection();
  }

  /**
   * Listens to the connection itself (once per client, nothing per query) for the failures that mean the database
   * is not there: a socket error (refused, reset, unreachable, pg's own connect timeout), a fatal message of a server
   * going away, or the connection closing when neither this side nor the server said why (pg-pool's connect timeout,
   * a dropped network path). pg's own listeners are left as they are.
   */
  private watchConnection(): void {
    const internals = this as unknown as WithInternals;
    const connection = this.connection as unknown as ConnectionEvents;
    connection.on('error', (error) => {
      if (internals._ending) return;
      const what = error.code ?? error.message;
      this.connectionFailed(
        internals._connected ? `connection error: ${what}` : `could not connect: ${what}`,
      );
    });
    connection.on('errorMessage', (message) => {
      if (message.severity !== 'FATAL' && message.severity !== 'PANIC') return;
      if (isServerGoingAway(message.code)) {
        this.connectionFailed(
          `server closed the connection: ${message.code} ${message.message ?? ''}`.trim(),
        );
      } else {
        // The server ended this session for a reason of its own and told us so: not an outage.
        this.accounted = true;
      }
    });
    connection.once('end', () => {
      if (internals._ending) return;
      this.connectionFailed(
        internals._connected
          ? 'connection closed unexpectedly'
          : 'connection closed before the server answered (connect timeout)',
      );
    });
  }

  /**
   * Reports a failure that a caller met: while connecting or with a statement on the wire. A connection that dies
   * idle (a proxy's or firewall's idle timeout, an administrator terminating idle sessions, the idle end of a server
   * going away) is only taken out of the pool; if the database is really gone, the next connection attempt says so.
   */
  private connectionFailed(cause: string): void {
    if (this.accounted) return;
    this.accounted = true;
    const internals = this as unknown as WithInternals;
    if (internals._connected && !internals._activeQuery) return;
    this.onConnectionFailure?.(cause);
  }

  override query(...args: unknown[]): never {
    if (this.readTimeoutMs > 0 && !this.watching) this.watch();
    return (super.query as (...a: unknown[]) => never).apply(this, args);
  }

  private watch(): void {
    this.watching = true;
    watched.add(this);
    this.once('end', () => watched.delete(this));
    sweeper ??= setInterval(sweep, SWEEP_INTERVAL_MS).unref();
  }

  /** Called by the sweep: drops the connection if the same query has been on the wire for readTimeoutMs. */
  check(now: number): void {
    const active = (this as unknown as WithInternals)._activeQuery ?? undefined;
    if (active === undefined) {
      this.seen = undefined;
    } else if (this.seen?.deref() !== active) {
      this.seen = new WeakRef(active);
      this.seenSince = now;
    } else if (now - this.seenSince >= this.readTimeoutMs) {
      this.seen = undefined;
      watched.delete(this);
      this.connectionFailed(`no answer within ${this.readTimeoutMs} ms (client-side read timeout)`);
      this.drop();
    }
  }

  /** Destroys the connection: pg fails its queries and pg-pool removes the client. */
  drop(): void {
    (this as unknown as WithInternals).connection?.stream?.destroy();
  }
}
