import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * What the management API's lists need to stay fast at 100,000 users and 1,000,000 events (issue 13's benchmark;
 * bench/RESULTS.md, "Management API (issue 13)").
 *
 * row_counts: exact counts kept by statement-level triggers, as grant_counts keeps the grants' (migration
 * GrantCounts): every INSERT, DELETE and UPDATE appends one delta row per key, which commits or rolls back with the
 * rows it counts, and the grant counts' periodic fold (GrantCounts) sums them into one row per key. Keys: for
 * `users`, `all` and `inactive`; for `audit_events`, the served action (grantry_event_action), the total being
 * their sum. A list without a search or other filters then counts by summing a handful of rows instead of every
 * user or event: at full scale `SELECT count(*) FROM audit_events WHERE expires > now()` was a parallel seq scan of
 * the whole table and `SELECT count(*) FROM users` one of 100,000 rows (the EXPLAIN ANALYZE figures are in
 * bench/RESULTS.md).
 *
 * audit_events_expires_idx: events past `expires` are hidden until the cleanup removes them, so a live count is the
 * row count minus the expired rows, which this index finds (with their action, for `actions=`) in an index-only scan.
 *
 * audit_events_actor_username_live_idx: `username=` in the default order reads a user's events newest first from it
 * and counts them index-only (the served rows must not have expired, hence `expires` included).
 *
 * users_search_trgm_idx: the users search (DRF's SearchFilter over username, name, email and uuid, every term
 * icontains one of them) as one ILIKE over the four joined by a space. A term never contains whitespace (the search
 * is split on it), so it matches the joined text exactly when it matches one of the four; and one trigram index
 * covers it, where the OR of four ILIKEs had to scan every user because uuid::text has no trigram index.
 */
/** Per counted table: the (key, delta) rows some of its rows contribute; `sign` is '' or '-'. */
const KEYS: Record<string, (rows: string, sign: string) => string> = {
  users: (rows, sign) =>
    `SELECT 'all' AS k, ${sign}1 AS d FROM ${rows} UNION ALL SELECT 'inactive', ${sign}1 FROM ${rows} WHERE NOT is_active`,
  audit_events: (rows, sign) => `SELECT grantry_event_action(action) AS k, ${sign}1 AS d FROM ${rows}`,
};

export class ManagementBench1764850000000 implements MigrationInterface {
  name = 'ManagementBench1764850000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "row_counts" ("table_name" text NOT NULL, "key" text NOT NULL, "delta" bigint NOT NULL)`,
    );
    await queryRunner.query(
      `CREATE INDEX "row_counts_table_name_key_idx" ON "row_counts" ("table_name", "key")`,
    );
    for (const [table, keys] of Object.entries(KEYS)) {
      const rows = (source: string, sign: string): string => keys(source, sign);
      const bodies: Record<string, string> = {
        insert: rows('new_rows', ''),
        delete: rows('old_rows', '-'),
        update: `${rows('old_rows', '-')} UNION ALL ${rows('new_rows', '')}`,
      };
      // Transition tables are visible only to the trigger that declares them: one function per event.
      for (const [event, changed] of Object.entries(bodies)) {
        await queryRunner.query(`
          CREATE FUNCTION row_counts_${table}_${event}() RETURNS trigger LANGUAGE plpgsql AS $$
          BEGIN
            INSERT INTO row_counts (table_name, key, delta)
              SELECT '${table}', k, sum(d) FROM (${changed}) changed GROUP BY k HAVING sum(d) <> 0;
            RETURN NULL;
          END $$`);
      }
      await queryRunner.query(`
        CREATE FUNCTION row_counts_${table}_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          DELETE FROM row_counts WHERE table_name = '${table}';
          RETURN NULL;
        END $$`);
      // No writer may slip in between the triggers and the initial count.
      await queryRunner.query(`LOCK TABLE "${table}" IN SHARE ROW EXCLUSIVE MODE`);
      await queryRunner.query(`CREATE TRIGGER "${table}_row_count_insert" AFTER INSERT ON "${table}"
        REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION row_counts_${table}_insert()`);
      await queryRunner.query(`CREATE TRIGGER "${table}_row_count_delete" AFTER DELETE ON "${table}"
        REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION row_counts_${table}_delete()`);
      await queryRunner.query(`CREATE TRIGGER "${table}_row_count_update" AFTER UPDATE ON "${table}"
        REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
        EXECUTE FUNCTION row_counts_${table}_update()`);
      await queryRunner.query(`CREATE TRIGGER "${table}_row_count_truncate" AFTER TRUNCATE ON "${table}"
        FOR EACH STATEMENT EXECUTE FUNCTION row_counts_${table}_truncate()`);
      await queryRunner.query(
        `INSERT INTO row_counts (table_name, key, delta)
         SELECT '${table}', k, sum(d) FROM (${rows(`"${table}"`, '')}) existing GROUP BY k`,
      );
    }
    await queryRunner.query(
      `CREATE INDEX "audit_events_expires_idx" ON "audit_events" ("expires") INCLUDE ("action")`,
    );
    await queryRunner.query(
      `CREATE INDEX "audit_events_actor_username_live_idx" ON "audit_events"
         ("actor_username", "created" DESC, "id" DESC) INCLUDE ("expires")`,
    );
    await queryRunner.query(
      `CREATE INDEX "users_search_trgm_idx" ON "users" USING gin (
         (("username")::text || ' ' || ("name")::text || ' ' || ("email")::text || ' ' || ("uuid")::text)
         gin_trgm_ops)`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "public"."users_search_trgm_idx"`);
    await queryRunner.query(`DROP INDEX "public"."audit_events_actor_username_live_idx"`);
    await queryRunner.query(`DROP INDEX "public"."audit_events_expires_idx"`);
    for (const table of ['users', 'audit_events']) {
      for (const event of ['truncate', 'update', 'delete', 'insert']) {
        await queryRunner.query(`DROP TRIGGER "${table}_row_count_${event}" ON "${table}"`);
      }
    }
    for (const table of Object.keys(KEYS)) {
      for (const event of ['truncate', 'update', 'delete', 'insert']) {
        await queryRunner.query(`DROP FUNCTION row_counts_${table}_${event}()`);
      }
    }
    await queryRunner.query(`DROP TABLE "row_counts"`);
  }
}
