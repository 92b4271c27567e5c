import { isoFromSql, isoSql } from './timestamps';

describe('timestamps', () => {
  it('isoSql formats a column in UTC with microseconds', () => {
    expect(isoSql('t.expires')).toBe(
      `to_char(t.expires AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`,
    );
  });

  it.each<[string | null, string | null]>([
    [null, null],
    ['2026-01-02T03:04:05.000000Z', '2026-01-02T03:04:05Z'],
    ['2026-01-02T03:04:05.000001Z', '2026-01-02T03:04:05.000001Z'],
    ['2026-01-02T03:04:05.100000Z', '2026-01-02T03:04:05.100000Z'],
    ['2026-01-02T03:04:05Z', '2026-01-02T03:04:05Z'],
  ])('isoFromSql(%j) is %j', (value, expected) => {
    expect(isoFromSql(value)).toBe(expected);
  });
});
