/**
 * Time bounds for suites that run on a shared, loaded machine (CI has 2 cores and several test processes). A bound is
 * never an absolute number of milliseconds: it is derived from the configured timeout it is about (the value the test
 * passed to the app or client), and a failure prints what was measured next to the bound.
 */

/** How many times the configured timeout a step may take, on top of the allowance, before it counts as unbounded. */
export const SLACK_FACTOR = 3;

/**
 * The upper bound for a step that ends at (or before) a timeout of `timeoutMs`: SLACK_FACTOR times the timeout, plus
 * the timeout once more as a fixed allowance (process scheduling, GC, a cold connection on a loaded machine). A step
 * that ignores the timeout (waits for a later one, or hangs) still fails it; a stall of a few hundred ms does not.
 */
export function slackBound(timeoutMs: number): number {
  return timeoutMs * SLACK_FACTOR + timeoutMs;
}

const format = (ms: number): string => `${ms.toFixed(0)} ms`;

/** Fails unless `measuredMs` is below `boundMs`, naming what was measured and both numbers. */
export function expectWithin(measuredMs: number, boundMs: number, what: string): void {
  if (!(measuredMs < boundMs)) {
    throw new Error(`${what}: took ${format(measuredMs)}, not under the bound of ${format(boundMs)}`);
  }
}

/** Fails unless `measuredMs` is at least `minimumMs` (for steps that must wait for a timeout), with both numbers. */
export function expectAtLeast(measuredMs: number, minimumMs: number, what: string): void {
  if (!(measuredMs >= minimumMs)) {
    throw new Error(`${what}: took ${format(measuredMs)}, less than the ${format(minimumMs)} it must wait`);
  }
}

/** A stopwatch on the monotonic clock: call the result for the milliseconds since it was started. */
export function stopwatch(): () => number {
  const started = performance.now();
  return () => performance.now() - started;
}
