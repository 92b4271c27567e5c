import { InputError } from '../identity/accounts';
import { parseTimedelta } from './timedelta';

describe('parseTimedelta', () => {
  it.each([
    ['hours=1', 3_600_000],
    ['minutes=1', 60_000],
    ['days=30', 30 * 86_400_000],
    ['seconds=0', 0],
    ['weeks=2', 14 * 86_400_000],
    ['hours=1;minutes=2;seconds=3', 3_723_000],
    ['milliseconds=1500', 1500],
    ['microseconds=1500', 1.5],
    ['hours=1.5', 5_400_000],
    ['minutes=.5', 30_000],
    ['seconds=1e3', 1_000_000],
    ['HOURS=1', 3_600_000],
    [' hours = 2 ', 7_200_000],
    ['hours=2;minutes=-30', 5_400_000],
    ['seconds=+5', 5000],
    ['hours=1.25', 4_500_000],
    ['hours=.25', 900_000],
    ['seconds=1.', 1000],
    ['seconds=1e+02', 100_000],
    ['seconds=25E-1', 2500],
    ['milliseconds=1e-3', 0.001],
    ['microseconds=0.4', 0],
    ['microseconds=0.6', 0.001],
  ])('%s is %d ms', (expression, ms) => {
    expect(parseTimedelta(expression)).toBe(ms);
  });

  it.each([
    ['', 'it is empty'],
    ['   ', 'it is empty'],
    ['hours', '"hours" is not key=value'],
    ['hours=1;', '"" is not key=value'],
    ['hours=1=2', '"hours=1=2" is not key=value'],
    ['hours=1,minutes=2', '"hours=1,minutes=2" is not key=value'],
    ['hour=1', 'unknown key "hour"'],
    ['years=1', 'unknown key "years"'],
    ['hours=', '"" is not a number'],
    ['hours=abc', '"abc" is not a number'],
    ['hours=inf', '"inf" is not a number'],
    ['hours=nan', '"nan" is not a number'],
    ['hours=0x10', '"0x10" is not a number'],
    ['hours=1;hours=2', '"hours" is given twice'],
    ['hours=-1', 'it is negative'],
    ['days=1000000000', 'it is too long'],
    ['weeks=142857143', 'it is too long'],
    ['hours=1e', '"1e" is not a number'],
    ['hours=.', '"." is not a number'],
    ['hours=1e+', '"1e+" is not a number'],
    ['hours=+-1', '"+-1" is not a number'],
    ['hours=1x', '"1x" is not a number'],
    ['hours=x1', '"x1" is not a number'],
  ])('rejects %j (%s)', (expression, why) => {
    expect(() => parseTimedelta(expression)).toThrow(InputError);
    expect(() => parseTimedelta(expression)).toThrow(`"${expression}" is not a valid duration: ${why} (`);
  });

  it('allows timedelta.max exactly (999999999 days)', () => {
    // Beyond 2^53 microseconds a double cannot hold every microsecond: compare to the nearest 0.1 s.
    expect(parseTimedelta('days=999999999') / 1000).toBeCloseTo(999_999_999 * 86_400, 1);
  });

  it('calls it a duration when no label is given', () => {
    expect(() => parseTimedelta('soon')).toThrow(
      'duration "soon" is not a valid duration: "soon" is not key=value (expected e.g. ' +
        '"hours=1;minutes=30" with keys weeks, days, hours, minutes, seconds, milliseconds, microseconds)',
    );
  });

  it('names the setting in its message', () => {
    expect(() => parseTimedelta('soon', 'access_token_validity')).toThrow(
      'access_token_validity "soon" is not a valid duration: "soon" is not key=value (expected e.g. ' +
        '"hours=1;minutes=30" with keys weeks, days, hours, minutes, seconds, milliseconds, microseconds)',
    );
  });
});
