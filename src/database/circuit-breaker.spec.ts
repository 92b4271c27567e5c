import { type BreakerLog, CircuitBreaker } from './circuit-breaker';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A probe whose every call waits until the test settles it. */
class ControlledProbe {
  calls = 0;
  inFlight = 0;
  maxInFlight = 0;
  private pending: { resolve(): void; reject(error: Error): void }[] = [];

  readonly probe = (): Promise<void> => {
    this.calls += 1;
    this.inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ resolve, reject });
    }).finally(() => {
      this.inFlight -= 1;
    });
  };

  settle(outcome: 'ok' | 'fail'): void {
    const next = this.pending.shift();
    if (!next) throw new Error('no probe in flight');
    if (outcome === 'ok') next.resolve();
    else next.reject(new Error('connect ECONNREFUSED 127.0.0.1:5432'));
  }
}

class RecordingLog implements BreakerLog {
  readonly lines: { level: string; fields: Record<string, unknown>; message: string }[] = [];
  warn(fields: object, message: string): void {
    this.lines.push({ level: 'warn', fields: fields as Record<string, unknown>, message });
  }
  info(fields: object, message: string): void {
    this.lines.push({ level: 'info', fields: fields as Record<string, unknown>, message });
  }
}

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200; i += 1) {
    if (check()) return;
    await sleep(5);
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('CircuitBreaker', () => {
  const INTERVAL_MS = 20;
  let breakers: CircuitBreaker[] = [];
  const make = (probe: ControlledProbe, log = new RecordingLog()): CircuitBreaker => {
    const breaker = new CircuitBreaker({ probe: probe.probe, probeIntervalMs: INTERVAL_MS, log });
    breakers.push(breaker);
    return breaker;
  };
  afterEach(() => {
    for (const breaker of breakers) breaker.stop();
    breakers = [];
  });

  it('opens on the first failure, logs it once with its cause, and probes at once', async () => {
    const probe = new ControlledProbe();
    const log = new RecordingLog();
    const breaker = make(probe, log);
    expect(breaker.isOpen).toBe(false);

    breaker.fail('connection error: ECONNREFUSED');
    breaker.fail('connection closed unexpectedly');
    breaker.fail('no answer within 2000 ms (client-side read timeout)');

    expect(breaker.isOpen).toBe(true);
    expect(log.lines).toEqual([
      {
        level: 'warn',
        fields: { cause: 'connection error: ECONNREFUSED', probeIntervalMs: INTERVAL_MS },
        message: 'database circuit opened: requests answer 503 until a probe succeeds',
      },
    ]);
    await until(() => probe.calls === 1, 'the first probe');
  });

  it('probes one at a time, the next an interval after a failure, and closes on the first success', async () => {
    const probe = new ControlledProbe();
    const log = new RecordingLog();
    const breaker = make(probe, log);
    breaker.fail('connection error: ECONNRESET');
    await until(() => probe.calls === 1, 'the first probe');

    // A probe that hangs: no second one starts meanwhile, however many intervals pass.
    await sleep(INTERVAL_MS * 6);
    expect({ calls: probe.calls, maxInFlight: probe.maxInFlight }).toEqual({ calls: 1, maxInFlight: 1 });

    probe.settle('fail');
    await sleep(1);
    expect(probe.calls).toBe(1); // not at once: after the interval
    await until(() => probe.calls === 2, 'the second probe');
    expect(breaker.isOpen).toBe(true);
    probe.settle('fail');
    await until(() => probe.calls === 3, 'the third probe');
    probe.settle('ok');
    await until(() => !breaker.isOpen, 'the circuit to close');

    expect(probe.maxInFlight).toBe(1);
    expect(log.lines.map((line) => [line.level, line.message])).toEqual([
      ['warn', 'database circuit opened: requests answer 503 until a probe succeeds'],
      ['info', 'database circuit closed: a probe succeeded, requests reach the database again'],
    ]);
    expect(log.lines[1]?.fields).toEqual({
      cause: 'connection error: ECONNRESET',
      openMs: expect.any(Number) as number,
      failedProbes: 2,
      lastProbeError: 'connect ECONNREFUSED 127.0.0.1:5432',
    });

    // Closed: no probe runs any more.
    await sleep(INTERVAL_MS * 4);
    expect(probe.calls).toBe(3);
  });

  it('opens again on a failure after closing, logging each transition once', async () => {
    const probe = new ControlledProbe();
    const log = new RecordingLog();
    const breaker = make(probe, log);
    for (const cause of ['first outage', 'second outage']) {
      breaker.fail(cause);
      await until(() => probe.inFlight === 1, 'a probe');
      probe.settle('ok');
      await until(() => !breaker.isOpen, 'the circuit to close');
    }
    expect(log.lines.map((line) => [line.level, line.fields.cause])).toEqual([
      ['warn', 'first outage'],
      ['info', 'first outage'],
      ['warn', 'second outage'],
      ['info', 'second outage'],
    ]);
  });

  it('stops probing once stopped, and a stopped breaker never opens', async () => {
    const probe = new ControlledProbe();
    const breaker = make(probe);
    breaker.fail('connection closed unexpectedly');
    await until(() => probe.calls === 1, 'the first probe');
    probe.settle('fail');
    breaker.stop();
    await sleep(INTERVAL_MS * 4);
    expect(probe.calls).toBe(1);

    const stopped = make(new ControlledProbe());
    stopped.stop();
    stopped.fail('connection closed unexpectedly');
    expect(stopped.isOpen).toBe(false);
  });
});
