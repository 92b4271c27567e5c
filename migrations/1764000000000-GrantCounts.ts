import { MigrationInterface, QueryRunner } from 'typeorm';

const GRANT_TABLES = ['oauth2_access_tokens', 'oauth2_refresh_tokens', 'oauth2_authorization_codes'] as const;

/**
 * Exact row counts without counting: every INSERT, DELETE or UPDATE statement on a grant table appends rows
 * `(table_name, provider_id, +n | -n)` to `grant_counts` from a statement-level trigger, in the writer's own
 * transaction. The count of a table (or of one provider's grants) is the sum of its deltas, exact for any snapshot
 * because the deltas commit or roll back with the rows they count. Appending (rather than updating a counter row)
 * means concurrent writers never wait on each other; the application folds the deltas into one row per table and
 * provider every few seconds, so the sums stay small. Per-provider counts also let the API jump to a deep page of
 * the default ordering (provider, expires, pk) without walking the providers before it.
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
      `CREATE TABLE "grant_counts" ("table_name" text NOT NULL, "provider_id" integer NOT NULL, "delta" bigint NOT NULL)`,
    );
    await queryRunner.query(`
      CREATE FUNCTION grant_counts_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        INSERT INTO grant_counts (table_name, provider_id, delta)
          SELECT TG_TABLE_NAME, provider_id, count(*) FROM new_rows GROUP BY provider_id;
        RETURN NULL;
      END $$`);
    await queryRunner.query(`
      CREATE FUNCTION grant_counts_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        INSERT INTO grant_counts (table_name, provider_id, delta)
          SELECT TG_TABLE_NAME, provider_id, -count(*) FROM old_rows GROUP BY provider_id;
        RETURN NULL;
      END $$`);
    // Grants do not move between providers, but if an UPDATE ever moves one, its count moves with it.
    await queryRunner.query(`
      CREATE FUNCTION grant_counts_updated() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        INSERT INTO grant_counts (table_name, provider_id, delta)
          SELECT TG_TABLE_NAME, provider_id, sum(delta) FROM (
            SELECT provider_id, -1 AS delta FROM old_rows UNION ALL SELECT provider_id, 1 FROM new_rows
          ) moved GROUP BY provider_id HAVING sum(delta) <> 0;
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
      await queryRunner.query(`CREATE TRIGGER "${table}_count_update" AFTER UPDATE ON "${table}"
        REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
        EXECUTE FUNCTION grant_counts_updated()`);
      await queryRunner.query(`CREATE TRIGGER "${table}_count_truncate" AFTER TRUNCATE ON "${table}"
        FOR EACH STATEMENT EXECUTE FUNCTION grant_counts_truncated()`);
      await queryRunner.query(
        `INSERT INTO grant_counts (table_name, provider_id, delta)
         SELECT '${table}', provider_id, count(*) FROM "${table}" GROUP BY provider_id`,
      );
    }
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    for (const table of GRANT_TABLES) {
      await queryRunner.query(`DROP TRIGGER "${table}_count_truncate" ON "${table}"`);
      await queryRunner.query(`DROP TRIGGER "${table}_count_update" ON "${table}"`);
      await queryRunner.query(`DROP TRIGGER "${table}_count_delete" ON "${table}"`);
      await queryRunner.query(`DROP TRIGGER "${table}_count_insert" ON "${table}"`);
    }
    await queryRunner.query(`DROP FUNCTION grant_counts_truncated()`);
    await queryRunner.query(`DROP FUNCTION grant_counts_updated()`);
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
