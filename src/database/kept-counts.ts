import type { DataSource, EntityManager } from 'typeorm';
import { unfoldedGrantDeltas } from '../oauth2/grants/grant-counts';

/**
 * The counts that statement-level triggers keep next to the rows they count (migrations GrantCounts,
 * ManagementBench, GrantFacetCounts, GrantDeltas), checked against the rows themselves and, on request,
 * rebuilt from them: `grantry counts check [--repair]`.
 *
 * The triggers keep them exact (deltas commit and roll back with the rows), so a difference means something went
 * around them: triggers disabled (`session_replication_role = replica`, `ALTER TABLE ... DISABLE TRIGGER`), rows
 * copied in by a tool that skips triggers, or a kept table edited by hand. Nothing in Grantry does that; this is the
 * one place that repairs it, instead of SQL typed into psql during an incident.
 *
 * A check reads every counted table and its kept counts in one REPEATABLE READ snapshot (a writer's rows and deltas
 * commit together, so a snapshot never sees one without the other) and writes nothing. A repair locks the counted
 * table against writers (SHARE ROW EXCLUSIVE: reads go on), replaces its kept rows with one row per key computed
 * from the rows, and commits; per table, so writers wait for one table's rebuild at a time.
 */
export interface KeptCount {
  /** The counted table. */
  table: string;
  /** The table holding the kept rows, and the condition selecting the counted table's. */
  kept: string;
  /** The key columns of a kept row, and the SQL over the counted rows that yields one (key..., n) row per key. */
  keys: string[];
  fromRows: string;
  /** The SQL yielding the kept (key..., n) sums: the kept rows, plus deltas waiting for the fold when there are. */
  fromKept: string;
  /** Statements that replace the kept rows with `fromRows`, and the tables they write. */
  rebuild: string[];
  lockKept: string[];
}

const GRANT_TABLES = ['oauth2_access_tokens', 'oauth2_refresh_tokens', 'oauth2_authorization_codes'];

/** Each grant's facet rows: one for all grants (word NULL), one per distinct word of its scope. */
const grantFacets = (table: string): string => `
  SELECT NULL::text AS word, revoked, expiring, grant_expiry_bucket(expires) AS bucket FROM ${table}
  UNION ALL
  SELECT w.word, g.revoked, g.expiring, grant_expiry_bucket(g.expires) FROM ${table} g
    CROSS JOIN LATERAL (SELECT DISTINCT x AS word FROM unnest(string_to_array(g.scope, ' ')) x WHERE x <> '') w`;

function keptCounts(): KeptCount[] {
  const counts: KeptCount[] = [];
  for (const table of GRANT_TABLES) {
    // The changes not folded yet (the triggers' deltas and the grants above the fold mark, migrations GrantDeltas
    // and GrantFoldMarks) count toward both kept tables; a rebuild leaves them in place and writes the kept rows as
    // the rows' counts minus them, so each kept table is repaired alone.
    const deltas = `FROM (${unfoldedGrantDeltas(table)}) u`;
    counts.push({
      table,
      kept: 'grant_counts',
      keys: ['provider_id'],
      fromRows: `SELECT provider_id, count(*) AS n FROM ${table} GROUP BY provider_id`,
      fromKept: `SELECT provider_id, sum(delta) AS n FROM (
                   SELECT provider_id, delta FROM grant_counts WHERE table_name = '${table}'
                   UNION ALL SELECT provider_id, delta ${deltas}) k
                  GROUP BY provider_id HAVING sum(delta) <> 0`,
      rebuild: [
        `DELETE FROM grant_counts WHERE table_name = '${table}'`,
        `INSERT INTO grant_counts (table_name, provider_id, delta)
           SELECT '${table}', provider_id, sum(n) FROM (
             SELECT provider_id, count(*) AS n FROM ${table} GROUP BY provider_id
             UNION ALL SELECT provider_id, -delta ${deltas}) c
            GROUP BY provider_id HAVING sum(n) <> 0`,
      ],
      lockKept: ['grant_counts', 'grant_deltas'],
    });
    const key = 'word, revoked, expiring, bucket';
    const deltaFacets = `
      SELECT NULL::text AS word, revoked, expiring, bucket, delta ${deltas}
      UNION ALL
      SELECT w.word, d.revoked, d.expiring, d.bucket, d.delta FROM (${unfoldedGrantDeltas(table)}) d
        CROSS JOIN LATERAL (SELECT DISTINCT x AS word FROM unnest(string_to_array(d.scope, ' ')) x WHERE x <> '') w`;
    counts.push({
      table,
      kept: 'grant_facet_counts',
      keys: ['word', 'revoked', 'expiring', 'bucket'],
      fromRows: `SELECT ${key}, count(*) AS n FROM (${grantFacets(table)}) f GROUP BY ${key}`,
      fromKept: `SELECT ${key}, sum(delta) AS n FROM (
                   SELECT ${key}, delta FROM grant_facet_counts WHERE table_name = '${table}'
                   UNION ALL ${deltaFacets}) k
                  GROUP BY ${key} HAVING sum(delta) <> 0`,
      rebuild: [
        `DELETE FROM grant_facet_counts WHERE table_name = '${table}'`,
        `INSERT INTO grant_facet_counts (table_name, ${key}, delta)
           SELECT '${table}', ${key}, sum(n) FROM (
             SELECT ${key}, count(*) AS n FROM (${grantFacets(table)}) f GROUP BY ${key}
             UNION ALL SELECT ${key}, -delta FROM (${deltaFacets}) d) c
            GROUP BY ${key} HAVING sum(n) <> 0`,
      ],
      lockKept: ['grant_facet_counts', 'grant_deltas'],
    });
  }
  const rowCounts: Record<string, string> = {
    users: `SELECT 'all' AS key FROM users UNION ALL SELECT 'inactive' FROM users WHERE NOT is_active`,
    audit_events: `SELECT grantry_event_action(action) AS key FROM audit_events`,
  };
  for (const [table, keysOfRows] of Object.entries(rowCounts)) {
    counts.push({
      table,
      kept: 'row_counts',
      keys: ['key'],
      fromRows: `SELECT key, count(*) AS n FROM (${keysOfRows}) k GROUP BY key`,
      fromKept: `SELECT key, sum(delta) AS n FROM row_counts WHERE table_name = '${table}'
                  GROUP BY key HAVING sum(delta) <> 0`,
      rebuild: [
        `DELETE FROM row_counts WHERE table_name = '${table}'`,
        `INSERT INTO row_counts (table_name, key, delta)
           SELECT '${table}', key, count(*) FROM (${keysOfRows}) k GROUP BY key`,
      ],
      lockKept: ['row_counts'],
    });
  }
  return counts;
}

export interface CountDifference {
  /** The key, column by column (timestamps as ISO 8601 text, NULL as null). */
  key: Record<string, string | boolean | number | null>;
  /** What the rows count, and what the kept counts say. */
  rows: number;
  kept: number;
}

export interface CountCheck {
  table: string;
  kept: string;
  /** How many keys the rows have. */
  keys: number;
  /** Every key whose kept count differs from the rows', at most `limit` of them, and how many there are. */
  differences: CountDifference[];
  differing: number;
}

/** The keys whose kept count differs from the rows' count, in one statement (so in one snapshot per call). */
async function compare(manager: EntityManager, count: KeptCount, limit: number): Promise<CountCheck> {
  const columns = count.keys.map((key) => `"${key}"`).join(', ');
  const keyJson = count.keys
    .map(
      (key) =>
        `'${key}', ${key === 'bucket' ? `to_char("${key}" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')` : `"${key}"`}`,
    )
    .join(', ');
  // Side by side per key (GROUP BY puts NULL keys together, as the facets' word for all grants needs).
  const [row] = await manager.query<
    { keys: number; differing: number; differences: CountDifference[] | null }[]
  >(
    `WITH r AS MATERIALIZED (${count.fromRows}), k AS MATERIALIZED (${count.fromKept}),
          d AS (SELECT json_build_object(${keyJson}) AS key, sum(rows)::bigint AS rows, sum(kept)::bigint AS kept
                  FROM (SELECT ${columns}, n AS rows, 0 AS kept FROM r UNION ALL SELECT ${columns}, 0, n FROM k) b
                 GROUP BY ${columns} HAVING sum(rows) <> sum(kept))
     SELECT (SELECT count(*)::int FROM r) AS keys, (SELECT count(*)::int FROM d) AS differing,
            (SELECT json_agg(json_build_object('key', key, 'rows', rows, 'kept', kept) ORDER BY key::text)
               FROM (SELECT * FROM d ORDER BY key::text LIMIT ${Math.max(0, Math.floor(limit))}) l) AS differences`,
  );
  return {
    table: count.table,
    kept: count.kept,
    keys: row?.keys ?? 0,
    differing: row?.differing ?? 0,
    differences: row?.differences ?? [],
  };
}

/** Compares every kept count with its rows, in one snapshot; writes nothing. */
export async function checkKeptCounts(dataSource: DataSource, limit = 20): Promise<CountCheck[]> {
  return dataSource.transaction('REPEATABLE READ', async (manager) => {
    const checks: CountCheck[] = [];
    for (const count of keptCounts()) checks.push(await compare(manager, count, limit));
    return checks;
  });
}

/**
 * Rebuilds the kept counts that differ from their rows, one counted table at a time under a lock that holds its
 * writers (not its readers), checking again under the lock. Returns the checks as found under the lock, before
 * the rebuild.
 */
export async function repairKeptCounts(dataSource: DataSource, limit = 20): Promise<CountCheck[]> {
  const repaired: CountCheck[] = [];
  for (const count of keptCounts()) {
    repaired.push(
      await dataSource.transaction(async (manager) => {
        await manager.query(`LOCK TABLE ${count.table} IN SHARE ROW EXCLUSIVE MODE`);
        // And the kept rows against the fold, which would otherwise insert a sum of deltas this rebuild deletes
        // (its DELETE waits for the fold's, and does not see the fold's new row); other tables' writers append
        // here too and wait the same few statements.
        await manager.query(`LOCK TABLE ${count.lockKept.join(', ')} IN SHARE ROW EXCLUSIVE MODE`);
        const check = await compare(manager, count, limit);
        if (check.differing > 0) {
          for (const statement of count.rebuild) await manager.query(statement);
        }
        return check;
      }),
    );
  }
  return repaired;
}
