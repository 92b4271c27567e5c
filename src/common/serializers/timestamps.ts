/**
 * Timestamps on the wire look like DRF's: Python's isoformat() in UTC with `Z`, with microseconds only when they are
 * not zero. PostgreSQL keeps microseconds, which a JavaScript Date would lose, so read queries select timestamps
 * through `isoSql()` and finish them with `isoFromSql()`.
 */
export function isoSql(column: string): string {
  return `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;
}

export function isoFromSql(value: string | null): string | null {
  if (value === null) return null;
  return value.endsWith('.000000Z') ? `${value.slice(0, -8)}Z` : value;
}
