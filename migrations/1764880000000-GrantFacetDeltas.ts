import { MigrationInterface, QueryRunner } from 'typeorm';
// GrantCounts' per-provider statements, unchanged, and GrantFacetCounts' bodies, which down() restores.
import {
  PROVIDER_COUNTS,
  replaceFunctions as restoreGrantFacetCounts,
} from './1764870000000-GrantFacetCounts';

const GRANT_TABLES = ['oauth2_access_tokens', 'oauth2_refresh_tokens', 'oauth2_authorization_codes'] as const;

/**
 * Makes the incident filters' kept counts (migration GrantFacetCounts) cheap to write. There, every INSERT appended
 * one indexed `grant_facet_counts` row per distinct scope word plus one for all grants, through a statement that
 * split the scope: inserts into `oauth2_access_tokens` fell from 0.80x to 0.42x of a plain table's rate
 * (`npm run bench -- --only writes`, bench/RESULTS.md). pgbench on copies of the bench table (8 clients, single-row
 * inserts with a three-word scope, alternating): 2,911 / 3,003 tps with the provider counts alone, 2,116 / 2,141
 * with the facets as they were, 2,774 / 2,497 with one unindexed row per statement as here.
 *
 * Now the statement triggers append, next to the provider counts, one row per distinct (scope, revoked, expiring,
 * hour of expiry) of the rows they changed into `grant_facet_deltas`, which has no index and keeps the scope as it
 * is. The periodic fold (GrantCounts) moves them into `grant_facet_counts`, split into words there; readers add the
 * few deltas not folded yet (Where.facetCountSql). Both are read in one snapshot, and the fold moves rows in one
 * transaction, so counts stay exact.
 */
const DELTA_COUNTS = {
  inserted: `INSERT INTO grant_facet_deltas (table_name, scope, revoked, expiring, bucket, delta)
    SELECT TG_TABLE_NAME, scope, revoked, expiring, grant_expiry_bucket(expires), count(*)
      FROM new_rows GROUP BY scope, revoked, expiring, grant_expiry_bucket(expires);`,
  deleted: `INSERT INTO grant_facet_deltas (table_name, scope, revoked, expiring, bucket, delta)
    SELECT TG_TABLE_NAME, scope, revoked, expiring, grant_expiry_bucket(expires), -count(*)
      FROM old_rows GROUP BY scope, revoked, expiring, grant_expiry_bucket(expires);`,
  // An update that changes none of the counted columns appends nothing.
  updated: `INSERT INTO grant_facet_deltas (table_name, scope, revoked, expiring, bucket, delta)
    SELECT TG_TABLE_NAME, scope, revoked, expiring, bucket, sum(d) FROM (
      SELECT scope, revoked, expiring, grant_expiry_bucket(expires) AS bucket, -1 AS d FROM old_rows
      UNION ALL SELECT scope, revoked, expiring, grant_expiry_bucket(expires), 1 FROM new_rows
    ) moved GROUP BY scope, revoked, expiring, bucket HAVING sum(d) <> 0;`,
  truncated: `DELETE FROM grant_facet_counts WHERE table_name = TG_TABLE_NAME;
    DELETE FROM grant_facet_deltas WHERE table_name = TG_TABLE_NAME;`,
};

export const CREATE_FACET_DELTAS = `
  CREATE TABLE "grant_facet_deltas" (
    "table_name" text NOT NULL, "scope" text NOT NULL, "revoked" boolean NOT NULL, "expiring" boolean NOT NULL,
    "bucket" timestamptz, "delta" bigint NOT NULL)`;

/** Sets the grant-count trigger functions as this migration has them (GrantDeltas' down restores them). */
export const setDeltaFunctions = async (queryRunner: QueryRunner): Promise<void> => {
  for (const [event, body] of Object.entries(PROVIDER_COUNTS)) {
    await queryRunner.query(`
      CREATE OR REPLACE FUNCTION grant_counts_${event}() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        ${body}
        ${DELTA_COUNTS[event as keyof typeof DELTA_COUNTS]}
        RETURN NULL;
      END $$`);
  }
};

/**
 * `grant_facet_deltas`' rows moved into `grant_facet_counts` as GrantFacetCounts' triggers would have written them:
 * one row per word and one for all grants (this migration's down, and GrantDeltas' up).
 */
export const moveFacetDeltasIntoFacets = async (queryRunner: QueryRunner): Promise<void> => {
  await queryRunner.query(`
    INSERT INTO grant_facet_counts (table_name, word, revoked, expiring, bucket, delta)
      SELECT table_name, word, revoked, expiring, bucket, sum(delta) FROM (
        SELECT table_name, NULL::text AS word, revoked, expiring, bucket, delta FROM grant_facet_deltas
        UNION ALL
        SELECT d.table_name, w.word, d.revoked, d.expiring, d.bucket, d.delta FROM grant_facet_deltas d
          CROSS JOIN LATERAL (
            SELECT DISTINCT x AS word FROM unnest(string_to_array(d.scope, ' ')) x WHERE x <> '') w
      ) f GROUP BY table_name, word, revoked, expiring, bucket HAVING sum(delta) <> 0`);
};

export class GrantFacetDeltas1764880000000 implements MigrationInterface {
  name = 'GrantFacetDeltas1764880000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(CREATE_FACET_DELTAS);
    // No writer may append old-style facets after the functions changed: they would be counted, but by a body
    // this migration no longer describes. Writers wait for the few statements below.
    for (const table of GRANT_TABLES) {
      await queryRunner.query(`LOCK TABLE "${table}" IN SHARE ROW EXCLUSIVE MODE`);
    }
    await setDeltaFunctions(queryRunner);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    for (const table of GRANT_TABLES) {
      await queryRunner.query(`LOCK TABLE "${table}" IN SHARE ROW EXCLUSIVE MODE`);
    }
    // The deltas not folded yet, as GrantFacetCounts' triggers would have written them.
    await moveFacetDeltasIntoFacets(queryRunner);
    await restoreGrantFacetCounts(queryRunner, true);
    await queryRunner.query(`DROP TABLE "grant_facet_deltas"`);
  }
}
