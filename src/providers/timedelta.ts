import { InputError } from '../identity/accounts';

/**
 * authentik stores provider validities as Python `timedelta` keyword arguments (`hours=1;minutes=2`), parsed by
 * `authentik.lib.utils.time.timedelta_from_string`. These are the keys it allows, with their length in microseconds
 * (Python's timedelta resolution).
 */
const MICROSECONDS: Readonly<Record<string, number>> = {
  weeks: 7 * 24 * 3600 * 1e6,
  days: 24 * 3600 * 1e6,
  hours: 3600 * 1e6,
  minutes: 60 * 1e6,
  seconds: 1e6,
  milliseconds: 1e3,
  microseconds: 1,
};

// What Python's float() accepts for a plain decimal, minus inf/nan, which timedelta() rejects.
const FLOAT = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

/** timedelta.max is 999999999 days; beyond it Python raises OverflowError. */
const MAX_MICROSECONDS = 999_999_999 * 24 * 3600 * 1e6;

/**
 * Parses an authentik duration string and returns its length in milliseconds (a fraction when it has microseconds).
 *
 * Stricter than authentik, on purpose: authentik silently skips unknown keys, so a typo such as `hour=1;minutes=5`
 * would mean five minutes; here it is an error naming the key. Keys are case-insensitive, as in authentik. A negative
 * total is refused because a validity cannot be negative; zero is allowed (authentik's default refresh threshold).
 */
export function parseTimedelta(expression: string, label = 'duration'): number {
  const invalid = (why: string): InputError =>
    new InputError(
      `${label} "${expression}" is not a valid duration: ${why} ` +
        `(expected e.g. "hours=1;minutes=30" with keys ${Object.keys(MICROSECONDS).join(', ')})`,
    );
  if (expression.trim() === '') throw invalid('it is empty');
  const seen = new Set<string>();
  let total = 0;
  for (const pair of expression.split(';')) {
    const [rawKey, rawValue, ...extra] = pair.split('=');
    if (rawKey === undefined || rawValue === undefined || extra.length > 0) {
      throw invalid(`"${pair}" is not key=value`);
    }
    const key = rawKey.trim().toLowerCase();
    const value = rawValue.trim();
    const unit = MICROSECONDS[key];
    if (unit === undefined) throw invalid(`unknown key "${key}"`);
    if (seen.has(key)) throw invalid(`"${key}" is given twice`);
    seen.add(key);
    if (!FLOAT.test(value)) throw invalid(`"${value}" is not a number`);
    total += Number(value) * unit;
  }
  if (!Number.isFinite(total) || Math.abs(total) > MAX_MICROSECONDS) throw invalid('it is too long');
  if (total < 0) throw invalid('it is negative');
  // Python keeps whole microseconds.
  return Math.round(total) / 1000;
}
