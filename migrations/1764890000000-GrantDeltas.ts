import { MigrationInterface, QueryRunner } from 'typeorm';
// GrantFacetDeltas' table and trigger bodies, which down() restores, and its move of facet deltas into the facets.
import {
  CREATE_FACET_DELTAS,
  moveFacetDeltasIntoFacets,
  setDeltaFunctions,
} from './1764880000000-GrantFacetDeltas';

const GRANT_TABLES = ['oauth2_access_tokens', 'oauth2_refresh_tokens', 'oauth2_authorization_codes'] as const;

/**
 * One delta row per inserted grant, in one table, for both kept counts: the grants per provider (`grant_counts`,
 * migration GrantCounts) and the incident filters' facets (`grant_facet_counts`, GrantFacetCounts).
 *
 * Before, every INSERT into a grant table fired a statement-level trigger that ran two statements over its
 * transition table: one appending a `grant_counts` row, one a `grant_facet_deltas` row. That cost inserts into
 * `oauth2_access_tokens` 0.61x of a plain table's rate (`npm run bench -- --only writes`; target 0.7x). Measured with
 * pgbench on copies of the bench table (333,000 rows, every index, 8 clients, single-row inserts, asynchronous commit,
 * four alternating rounds): no trigger 7,300 tps; the two statements 5,260-5,840; one statement into one table
 * 5,000-5,520; an empty statement-level trigger with a transition table 7,000; a row-level trigger appending one row
 * into one table 6,600.
 *
 * So an INSERT now appends, per row, one `grant_deltas` row (provider, scope, revoked, expiring, hour of expiry, +1)
 * from a row-level trigger: the issuer inserts grants one at a time, and a row-level trigger needs no transition
 * table. DELETE and UPDATE (revocations, cleanup, cascades: many rows per statement) keep their statement-level
 * triggers, which append one row per distinct key, now into the same table. The periodic fold (GrantCounts) moves
 * the deltas into both kept tables (per provider; per word); readers add the deltas not folded yet to either, in the
 * same snapshot. A bulk INSERT (seeding) appends a row per grant until the next fold.
 */
export const DELTA_COLUMNS = 'table_name, provider_id, scope, revoked, expiring, bucket, delta';
export const KEY = 'provider_id, scope, revoked, expiring';

const STATEMENT_FUNCTIONS = {
  deleted: `INSERT INTO grant_deltas (${DELTA_COLUMNS})
    SELECT TG_TABLE_NAME, ${KEY}, grant_expiry_bucket(expires), -count(*)
      FROM old_rows GROUP BY ${KEY}, grant_expiry_bucket(expires);`,
  // An update that changes none of the counted columns appends nothing.
  updated: `INSERT INTO grant_deltas (${DELTA_COLUMNS})
    SELECT TG_TABLE_NAME, ${KEY}, bucket, sum(d) FROM (
      SELECT ${KEY}, grant_expiry_bucket(expires) AS bucket, -1 AS d FROM old_rows
      UNION ALL SELECT ${KEY}, grant_expiry_bucket(expires), 1 FROM new_rows
    ) moved GROUP BY ${KEY}, bucket HAVING sum(d) <> 0;`,
  truncated: `DELETE FROM grant_counts WHERE table_name = TG_TABLE_NAME;
    DELETE FROM grant_facet_counts WHERE table_name = TG_TABLE_NAME;
    DELETE FROM grant_deltas WHERE table_name = TG_TABLE_NAME;`,
};

/**
 * Creates this migration's row-level insert function and sets the statement-level ones (GrantFoldMarks' down
 * restores them).
 */
export const setGrantDeltasFunctions = async (queryRunner: QueryRunner): Promise<void> => {
  await queryRunner.query(`
    CREATE FUNCTION grant_counts_inserted_row() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO grant_deltas (${DELTA_COLUMNS}) VALUES (TG_TABLE_NAME, NEW.provider_id, NEW.scope, NEW.revoked,
        NEW.expiring, grant_expiry_bucket(NEW.expires), 1);
      RETURN NULL;
    END $$`);
  for (const [event, body] of Object.entries(STATEMENT_FUNCTIONS)) {
    await queryRunner.query(`
      CREATE OR REPLACE FUNCTION grant_counts_${event}() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        ${body}
        RETURN NULL;
      END $$`);
  }
};

export class GrantDeltas1764890000000 implements MigrationInterface {
  name = 'GrantDeltas1764890000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE "grant_deltas" (
        "table_name" text NOT NULL, "provider_id" integer NOT NULL, "scope" text NOT NULL,
        "revoked" boolean NOT NULL, "expiring" boolean NOT NULL, "bucket" timestamptz, "delta" bigint NOT NULL)`);
    // Writers wait while the triggers change and the old deltas move, so every grant is counted by one body.
    for (const table of GRANT_TABLES) {
      await queryRunner.query(`LOCK TABLE "${table}" IN SHARE ROW EXCLUSIVE MODE`);
    }
    await moveFacetDeltasIntoFacets(queryRunner);
    await queryRunner.query(`DROP TABLE "grant_facet_deltas"`);
    await setGrantDeltasFunctions(queryRunner);
    for (const table of GRANT_TABLES) {
      await queryRunner.query(`DROP TRIGGER "${table}_count_insert" ON "${table}"`);
      await queryRunner.query(`CREATE TRIGGER "${table}_count_insert" AFTER INSERT ON "${table}"
        FOR EACH ROW EXECUTE FUNCTION grant_counts_inserted_row()`);
    }
    await queryRunner.query(`DROP FUNCTION grant_counts_inserted()`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    for (const table of GRANT_TABLES) {
      await queryRunner.query(`LOCK TABLE "${table}" IN SHARE ROW EXCLUSIVE MODE`);
    }
    // The deltas not folded yet, as GrantFacetDeltas' triggers would have written them: per provider into
    // grant_counts, per scope into grant_facet_deltas.
    await queryRunner.query(`
      INSERT INTO grant_counts (table_name, provider_id, delta)
        SELECT table_name, provider_id, sum(delta) FROM grant_deltas
         GROUP BY table_name, provider_id HAVING sum(delta) <> 0`);
    await queryRunner.query(CREATE_FACET_DELTAS);
    await queryRunner.query(`
      INSERT INTO grant_facet_deltas (table_name, scope, revoked, expiring, bucket, delta)
        SELECT table_name, scope, revoked, expiring, bucket, sum(delta) FROM grant_deltas
         GROUP BY table_name, scope, revoked, expiring, bucket HAVING sum(delta) <> 0`);
    // CREATE OR REPLACE: grant_counts_inserted comes back, the other three get GrantFacetDeltas' bodies.
    await setDeltaFunctions(queryRunner);
    for (const table of GRANT_TABLES) {
      await queryRunner.query(`DROP TRIGGER "${table}_count_insert" ON "${table}"`);
      await queryRunner.query(`CREATE TRIGGER "${table}_count_insert" AFTER INSERT ON "${table}"
        REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION grant_counts_inserted()`);
    }
    await queryRunner.query(`DROP FUNCTION grant_counts_inserted_row()`);
    await queryRunner.query(`DROP TABLE "grant_deltas"`);
  }
}
