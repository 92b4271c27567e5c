/**
 * Errors that mean "the database cannot answer right now" (down, restarting, overloaded, or too slow for the
 * statement timeout) rather than "this request is wrong". They become 503s, never 500s.
 */
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  '53300', // too_many_connections
  '57014', // query_canceled (statement_timeout)
  '55P03', // lock_not_available
]);

const UNAVAILABLE_MESSAGES = [
  'Connection terminated',
  'timeout exceeded when trying to connect',
  'Client has encountered a connection error',
  'Connection is not established',
  'the database system is',
  'Cannot use a pool after calling end',
  'Client was closed',
];

/**
 * TypeORM's errors for a statement on a query runner whose connection is gone. When PostgreSQL drops a connection in
 * the middle of a transaction (shutdown, restart, a killed backend), TypeORM's error listener releases the runner, and
 * the transaction's next statement (or its ROLLBACK) fails with one of these instead of a connection error. Grantry
 * releases its own runners only in `finally`, after their last statement, so here they mean the connection was lost.
 */
const UNAVAILABLE_NAMES = new Set([
  'QueryRunnerAlreadyReleasedError',
  'QueryRunnerProviderAlreadyReleasedError',
  // The database circuit is open (src/database/circuit-breaker.ts): the statement never left.
  'CircuitOpenError',
]);

/** An error and what it wraps (TypeORM's `driverError`, or `cause`), outermost first. */
function* wrapped(error: unknown): Generator<{ code?: unknown; message?: unknown; name?: unknown }> {
  const seen = new Set<unknown>();
  let current: unknown = error;
  while (current && typeof current === 'object' && !seen.has(current)) {
    seen.add(current);
    yield current;
    current =
      (current as { driverError?: unknown; cause?: unknown }).driverError ??
      (current as { cause?: unknown }).cause;
  }
}

export function isDatabaseUnavailable(error: unknown): boolean {
  for (const { code, message, name } of wrapped(error)) {
    if (typeof code === 'string' && (UNAVAILABLE_CODES.has(code) || code.startsWith('08'))) return true;
    if (typeof name === 'string' && UNAVAILABLE_NAMES.has(name)) return true;
    if (typeof message === 'string' && UNAVAILABLE_MESSAGES.some((m) => message.includes(m))) return true;
  }
  return false;
}

/**
 * Whether a request was turned away by the open database circuit, without reaching the database. The opening was
 * logged once, with its cause; each request it turns away is not logged again (at warn), or an outage would flood
 * the log at the request rate.
 */
export function isCircuitOpen(error: unknown): boolean {
  for (const { name } of wrapped(error)) if (name === 'CircuitOpenError') return true;
  return false;
}
