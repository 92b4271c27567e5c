/** Where the breaker reports its transitions: a pino logger, or anything with the same two methods. */
export interface BreakerLog {
  warn(fields: object, message: string): void;
  info(fields: object, message: string): void;
}

export interface CircuitBreakerOptions {
  /** Resolves once the database answered a trivial statement; rejects (or times out by itself) otherwise. */
  probe: () => Promise<void>;
  /** Pause between the end of a failed probe and the start of the next. */
  probeIntervalMs: number;
  log?: BreakerLog;
}

/**
 * What a connection attempt or a statement fails with, without touching the database, while the circuit is open.
 * The API answers it like any unavailable database (503 `{"detail": "Service unavailable"}`).
 */
export class CircuitOpenError extends Error {
  override readonly name = 'CircuitOpenError';

  constructor() {
    super('database circuit open: a connection failed or stopped answering; waiting for a probe to succeed');
  }
}

/**
 * A circuit breaker for the database. It opens on the first connection-level failure reported to it (a connection
 * refused, reset, closed or timed out, or a statement left unanswered past the client-side read timeout: see
 * BoundedClient), and while it is open nothing reaches the database: callers fail at once with CircuitOpenError.
 * Meanwhile one probe at a time checks the database, the first at once and the next `probeIntervalMs` after the
 * previous one failed; the first probe that succeeds closes the circuit. Each transition is logged once.
 *
 * Failures that are the request's own (a constraint violation, a syntax error, a statement cancelled by
 * statement_timeout or a lock timeout) are never reported to it: the server answered them, so it is there.
 */
export class CircuitBreaker {
  private openedAt: number | undefined;
  private cause: string | undefined;
  private failedProbes = 0;
  private lastProbeError: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly options: CircuitBreakerOptions) {}

  get isOpen(): boolean {
    return this.openedAt !== undefined;
  }

  /** Reports a connection-level failure: opens the circuit (once; while open, further reports change nothing). */
  fail(cause: string): void {
    if (this.stopped || this.openedAt !== undefined) return;
    this.openedAt = Date.now();
    this.cause = cause;
    this.failedProbes = 0;
    this.lastProbeError = undefined;
    this.options.log?.warn(
      { cause, probeIntervalMs: this.options.probeIntervalMs },
      'database circuit opened: requests answer 503 until a probe succeeds',
    );
    this.schedule(0);
  }

  /** No more probes (the pool is closing). */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(delayMs: number): void {
    this.timer = setTimeout(() => void this.runProbe(), delayMs);
    // A pending probe never keeps the process alive.
    this.timer.unref();
  }

  private async runProbe(): Promise<void> {
    this.timer = undefined;
    if (this.stopped || this.openedAt === undefined) return;
    try {
      await this.options.probe();
    } catch (error) {
      this.failedProbes += 1;
      this.lastProbeError = error instanceof Error ? error.message : String(error);
      if (!this.stopped) this.schedule(this.options.probeIntervalMs);
      return;
    }
    if (this.stopped) return;
    const openMs = Date.now() - (this.openedAt ?? Date.now());
    this.options.log?.info(
      {
        cause: this.cause,
        openMs,
        failedProbes: this.failedProbes,
        lastProbeError: this.lastProbeError,
      },
      'database circuit closed: a probe succeeded, requests reach the database again',
    );
    this.openedAt = undefined;
    this.cause = undefined;
  }
}
