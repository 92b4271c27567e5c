import {
  QueryFailedError,
  QueryRunnerAlreadyReleasedError,
  QueryRunnerProviderAlreadyReleasedError,
} from 'typeorm';
import { CircuitOpenError } from '../../database/circuit-breaker';
import { isCircuitOpen, isDatabaseUnavailable } from './database-errors';

describe('isDatabaseUnavailable', () => {
  it('recognises a runner whose connection TypeORM released after a connection error', () => {
    // What a transaction's next statement throws once PostgreSQL dropped its connection (seen under a restart).
    expect(isDatabaseUnavailable(new QueryRunnerProviderAlreadyReleasedError())).toBe(true);
    expect(isDatabaseUnavailable(new QueryRunnerAlreadyReleasedError())).toBe(true);
  });

  it('recognises connection and server-state errors, also wrapped by TypeORM', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    expect(isDatabaseUnavailable(refused)).toBe(true);
    const shutdown = Object.assign(new Error('terminating connection due to administrator command'), {
      code: '57P01',
    });
    expect(isDatabaseUnavailable(new QueryFailedError('SELECT 1', [], shutdown))).toBe(true);
    // What pg fails queries with when BoundedClient drops a connection that stopped answering.
    expect(isDatabaseUnavailable(new Error('Connection terminated unexpectedly'))).toBe(true);
  });

  it('leaves real errors alone', () => {
    const syntax = Object.assign(new Error('syntax error at or near "SELEC"'), { code: '42601' });
    expect(isDatabaseUnavailable(new QueryFailedError('SELEC 1', [], syntax))).toBe(false);
    expect(isDatabaseUnavailable(new TypeError('x is undefined'))).toBe(false);
    expect(isDatabaseUnavailable(undefined)).toBe(false);
  });

  it('recognises the open database circuit, also wrapped, and tells it from the failures that open it', () => {
    const open = new CircuitOpenError();
    expect([isDatabaseUnavailable(open), isCircuitOpen(open)]).toEqual([true, true]);
    const wrapped = new QueryFailedError('SELECT 1', [], open);
    expect([isDatabaseUnavailable(wrapped), isCircuitOpen(wrapped)]).toEqual([true, true]);
    const dropped = new Error('Connection terminated unexpectedly');
    expect([isDatabaseUnavailable(dropped), isCircuitOpen(dropped)]).toEqual([true, false]);
  });
});
