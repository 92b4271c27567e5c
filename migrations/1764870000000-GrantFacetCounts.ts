import { MigrationInterface, QueryRunner } from 'typeorm';

const GRANT_TABLES = ['oauth2_access_tokens', 'oauth2_refresh_tokens', 'oauth2_authorization_codes'] as const;

/**
 * Exact counts for the broad incident filters (issue 14): `revoked`, `is_expired`, `expires__lt/__gte` and one
 * `scope`, alone or combined. Counting their matches was the whole cost of those lists at 1,000,000 grants (an
 * index-only count of 885,000 expired grants, a bitmap heap scan of 98,000 with a scope: 1.15x to 2.07x of the
 * straightforward SQL, bench/RESULTS.md "Incident inventory (issue 14)").
 *
 * `grant_facet_counts` holds, per grant table, how many grants have each combination of `revoked`, `expiring` and
 * the hour their expiry falls in (`bucket`, NULL when they have no expiry), once over all grants (`word` NULL) and
 * once per scope word (a grant counted once under each distinct word of its scope). The same statement-level
 * triggers that keep `grant_counts` (migration GrantCounts) append the deltas, in the writer's transaction, so a
 * sum is exact for the reader's snapshot; the periodic fold (GrantCounts) sums them per key.
 *
 * A filter on those columns is decided by the bucket for every hour except the ones holding one of its instants
 * (now() for is_expired, the expires bounds): the reader sums the other buckets' rows (evaluating the filter at the
 * bucket's start, which every expiry of the hour agrees with) and counts the grants of the boundary hours through
 * the expiry index (GrantStore.facetCountSql). An hour: at 1,000,000 access tokens issued over a month, about 1,300
 * grants per boundary and a few thousand bucket rows per table after folding.
 *
 * The bucket is computed from the epoch, not with date_trunc, so it does not depend on the session's time zone. The
 * index includes every column a sum reads, so sums are index-only scans where the table is vacuumed (all but the
 * facets written since). Measured on the bench data set (1,000,000 access and refresh tokens, 200,000 codes): the
 * initial fill took 52 s on a loaded 2-core machine; the tables hold 8,280, 17,103 and 5,894 facet rows.
 */
const FACETS = (rows: string, sign: string): string => `
  SELECT NULL::text AS word, r.revoked, r.expiring, grant_expiry_bucket(r.expires) AS bucket, ${sign}1 AS d
    FROM ${rows} r
  UNION ALL
  SELECT s.word, r.revoked, r.expiring, grant_expiry_bucket(r.expires), ${sign}1
    FROM ${rows} r
    CROSS JOIN LATERAL (SELECT DISTINCT w AS word FROM unnest(string_to_array(r.scope, ' ')) w WHERE w <> '') s`;

const INSERT_FACETS = (changed: string): string => `
  INSERT INTO grant_facet_counts (table_name, word, revoked, expiring, bucket, delta)
    SELECT TG_TABLE_NAME, word, revoked, expiring, bucket, sum(d) FROM (${changed}) f
     GROUP BY word, revoked, expiring, bucket HAVING sum(d) <> 0;`;

/** The bodies of GrantCounts' trigger functions, which this migration extends and its down() restores. */
export const PROVIDER_COUNTS = {
  inserted: `INSERT INTO grant_counts (table_name, provider_id, delta)
    SELECT TG_TABLE_NAME, provider_id, count(*) FROM new_rows GROUP BY provider_id;`,
  deleted: `INSERT INTO grant_counts (table_name, provider_id, delta)
    SELECT TG_TABLE_NAME, provider_id, -count(*) FROM old_rows GROUP BY provider_id;`,
  updated: `INSERT INTO grant_counts (table_name, provider_id, delta)
    SELECT TG_TABLE_NAME, provider_id, sum(delta) FROM (
      SELECT provider_id, -1 AS delta FROM old_rows UNION ALL SELECT provider_id, 1 FROM new_rows
    ) moved GROUP BY provider_id HAVING sum(delta) <> 0;`,
  truncated: `DELETE FROM grant_counts WHERE table_name = TG_TABLE_NAME;`,
};

const FACET_COUNTS = {
  inserted: INSERT_FACETS(FACETS('new_rows', '')),
  deleted: INSERT_FACETS(FACETS('old_rows', '-')),
  // A revocation moves a grant from one facet to another; an update that changes none of the columns moves nothing.
  updated: INSERT_FACETS(`${FACETS('old_rows', '-')} UNION ALL ${FACETS('new_rows', '')}`),
  truncated: `DELETE FROM grant_facet_counts WHERE table_name = TG_TABLE_NAME;`,
};

/** Sets the grant-count trigger functions as this migration has them (GrantFacetDeltas' down restores them). */
export const replaceFunctions = async (queryRunner: QueryRunner, withFacets: boolean): Promise<void> => {
  for (const [event, body] of Object.entries(PROVIDER_COUNTS)) {
    const facets = withFacets ? FACET_COUNTS[event as keyof typeof FACET_COUNTS] : '';
    await queryRunner.query(`
      CREATE OR REPLACE FUNCTION grant_counts_${event}() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        ${body}
        ${facets}
        RETURN NULL;
      END $$`);
  }
};

export class GrantFacetCounts1764870000000 implements MigrationInterface {
  name = 'GrantFacetCounts1764870000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE FUNCTION grant_expiry_bucket(t timestamptz) RETURNS timestamptz
        LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
        AS $$ SELECT to_timestamp(floor(extract(epoch FROM t) / 3600)::double precision * 3600) $$`);
    await queryRunner.query(`
      CREATE TABLE "grant_facet_counts" (
        "table_name" text NOT NULL, "word" text, "revoked" boolean NOT NULL, "expiring" boolean NOT NULL,
        "bucket" timestamptz, "delta" bigint NOT NULL)`);
    await queryRunner.query(
      `CREATE INDEX "grant_facet_counts_key_idx" ON "grant_facet_counts" ("table_name", "word", "bucket")
         INCLUDE ("revoked", "expiring", "delta")`,
    );
    // No writer may slip in between the new trigger bodies and the initial count.
    for (const table of GRANT_TABLES) {
      await queryRunner.query(`LOCK TABLE "${table}" IN SHARE ROW EXCLUSIVE MODE`);
    }
    await replaceFunctions(queryRunner, true);
    for (const table of GRANT_TABLES) {
      await queryRunner.query(`
        INSERT INTO grant_facet_counts (table_name, word, revoked, expiring, bucket, delta)
          SELECT '${table}', word, revoked, expiring, bucket, sum(d) FROM (${FACETS(`"${table}"`, '')}) f
           GROUP BY word, revoked, expiring, bucket`);
    }
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await replaceFunctions(queryRunner, false);
    await queryRunner.query(`DROP TABLE "grant_facet_counts"`);
    await queryRunner.query(`DROP FUNCTION grant_expiry_bucket(timestamptz)`);
  }
}
