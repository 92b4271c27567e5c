import { MigrationInterface, QueryRunner } from 'typeorm';

const GRANT_TABLES = ['oauth2_access_tokens', 'oauth2_refresh_tokens', 'oauth2_authorization_codes'] as const;

/**
 * Exact row counts without counting: every INSERT or DELETE statement on a grant table appends one row
 * `(table_name, +n | -n)` to `grant_counts` from a statement-level trigger, in the writer's own transaction. The
 * count of a table is the sum of its deltas, exact for any snapshot because the deltas commit or roll back with the
 * rows they count. Appending (rather than updating one counter row) means concurrent writers never wait on each
 * other; the application folds the deltas into one row per table every few seconds, so the sum stays small.
 *
 * Also: the expiry and user indexes gain the pk as their last column, so `ordering=-expires` and `?user=` read
 * their pages straight off an index in the API's order (pk breaks ties in the direction of the last term).
 */
export class GrantCounts1764000000000 implements MigrationInterface {
  name = 'GrantCounts1764000000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    for (const table of GRANT_TABLES) {
      await queryRunner.query(`DROP INDEX "public"."${table}_expires_idx"`);
      await queryRunner.query(`CREATE INDEX "${table}_expires_id_idx" ON "${table}" ("expires", "id")`);
      await queryRunner.query(`DROP INDEX "public"."${table}_user_id_idx"`);
      await queryRunner.query(`CREATE INDEX "${table}_user_id_id_idx" ON "${table}" ("user_id", "id")`);
    }

    await queryRunner.query(
      `CREATE TABLE "grant_counts" ("table_name" text NOT NULL, "delta" bigint NOT NULL)`,
    );
    await queryRunner.query(`
      CREATE FUNCTION grant_counts_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        INSERT INTO grant_counts (table_name, delta)
          SELECT TG_TABLE_NAME, count(*) FROM new_rows HAVING count(*) > 0;
        RETURN NULL;
      END $$`);
    await queryRunner.query(`
      CREATE FUNCTION grant_counts_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        INSERT INTO grant_counts (table_name, delta)
          SELECT TG_TABLE_NAME, -count(*) FROM old_rows HAVING count(*) > 0;
        RETURN NULL;
      END $$`);
    await queryRunner.query(`
      CREATE FUNCTION grant_counts_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        DELETE FROM grant_counts WHERE table_name = TG_TABLE_NAME;
        RETURN NULL;
      END $$`);
    for (const table of GRANT_TABLES) {
      // No writer may slip in between the triggers and the initial count.
      await queryRunner.query(`LOCK TABLE "${table}" IN SHARE ROW EXCLUSIVE MODE`);
      await queryRunner.query(`CREATE TRIGGER "${table}_count_insert" AFTER INSERT ON "${table}"
        REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION grant_counts_inserted()`);
      await queryRunner.query(`CREATE TRIGGER "${table}_count_delete" AFTER DELETE ON "${table}"
        REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION grant_counts_deleted()`);
      await queryRunner.query(`CREATE TRIGGER "${table}_count_truncate" AFTER TRUNCATE ON "${table}"
        FOR EACH STATEMENT EXECUTE FUNCTION grant_counts_truncated()`);
      await queryRunner.query(
        `INSERT INTO grant_counts (table_name, delta) SELECT '${table}', count(*) FROM "${table}"`,
      );
    }
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    for (const table of GRANT_TABLES) {
      await queryRunner.query(`DROP TRIGGER "${table}_count_truncate" ON "${table}"`);
      await queryRunner.query(`DROP TRIGGER "${table}_count_delete" ON "${table}"`);
      await queryRunner.query(`DROP TRIGGER "${table}_count_insert" ON "${table}"`);
    }
    await queryRunner.query(`DROP FUNCTION grant_counts_truncated()`);
    await queryRunner.query(`DROP FUNCTION grant_counts_deleted()`);
    await queryRunner.query(`DROP FUNCTION grant_counts_inserted()`);
    await queryRunner.query(`DROP TABLE "grant_counts"`);
    for (const table of GRANT_TABLES) {
      await queryRunner.query(`DROP INDEX "public"."${table}_user_id_id_idx"`);
      await queryRunner.query(`CREATE INDEX "${table}_user_id_idx" ON "${table}" ("user_id")`);
      await queryRunner.query(`DROP INDEX "public"."${table}_expires_id_idx"`);
      await queryRunner.query(`CREATE INDEX "${table}_expires_idx" ON "${table}" ("expires")`);
    }
  }
}
