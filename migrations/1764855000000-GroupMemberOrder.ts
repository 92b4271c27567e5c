import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * group_member_order: every membership (user_groups row) with the member's username, kept by triggers, so a group's
 * members in the users list's default order (username) are one index range: `GET /api/v3/core/users/?groups_by_name=X`
 * (or `groups_by_pk`) reads a page of 20 members and counts them from group_member_order_page_idx alone.
 *
 * Measured with EXPLAIN ANALYZE at 100,000 users and 119,506 memberships (bench data, a group of 1,152 members):
 * the members-first read it replaces (the group's member ids, then each member's row by primary key to sort them by
 * username) took 3.0 to 4.9 ms, 2.4 ms of it in the 1,152 primary-key lookups; the page, the count and the group's
 * existence from this index take 0.5 ms in one statement. The bench's "users: filter groups_by_name" was 2.17x the
 * straightforward SQL (target 3x); bench/RESULTS.md has the figure after this change.
 *
 * Consistency under concurrency: a membership insert takes FOR KEY SHARE on the user's row (its foreign key), and a
 * rename takes FOR UPDATE (username has a unique index, so its UPDATE is a key update): the two serialize, and each
 * trigger's statement runs in a fresh READ COMMITTED snapshot after the other committed, so a renamed member is never
 * left under the old name. A user's id change cascades to user_groups as an UPDATE, which these triggers follow.
 * The table is derived data without foreign keys of its own: user_groups' cascades reach it through its triggers.
 * Not unique on (group_id, username): one UPDATE may swap two usernames, briefly equal row by row.
 */
export class GroupMemberOrder1764855000000 implements MigrationInterface {
  name = 'GroupMemberOrder1764855000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "group_member_order" (
         "group_id" uuid NOT NULL, "username" character varying(150) NOT NULL, "user_id" integer NOT NULL)`,
    );
    const functions: Record<string, string> = {
      insert: `INSERT INTO group_member_order (group_id, username, user_id)
                 SELECT n.group_id, u.username, n.user_id FROM new_rows n JOIN users u ON u.id = n.user_id;`,
      delete: `DELETE FROM group_member_order o USING old_rows x
                WHERE o.user_id = x.user_id AND o.group_id = x.group_id;`,
      update: `DELETE FROM group_member_order o USING old_rows x
                WHERE o.user_id = x.user_id AND o.group_id = x.group_id;
               INSERT INTO group_member_order (group_id, username, user_id)
                 SELECT n.group_id, u.username, n.user_id FROM new_rows n JOIN users u ON u.id = n.user_id;`,
      truncate: `DELETE FROM group_member_order;`,
      rename: `UPDATE group_member_order o SET username = n.username
                 FROM new_rows n JOIN old_rows x ON x.id = n.id
                WHERE o.user_id = n.id AND n.username <> x.username;`,
    };
    for (const [event, body] of Object.entries(functions)) {
      await queryRunner.query(`
        CREATE FUNCTION group_member_order_${event}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          ${body}
          RETURN NULL;
        END $$`);
    }
    // No membership or rename may slip in between the triggers and the copy.
    await queryRunner.query(`LOCK TABLE "users", "user_groups" IN SHARE ROW EXCLUSIVE MODE`);
    await queryRunner.query(`CREATE TRIGGER "user_groups_member_order_insert" AFTER INSERT ON "user_groups"
      REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION group_member_order_insert()`);
    await queryRunner.query(`CREATE TRIGGER "user_groups_member_order_delete" AFTER DELETE ON "user_groups"
      REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION group_member_order_delete()`);
    await queryRunner.query(`CREATE TRIGGER "user_groups_member_order_update" AFTER UPDATE ON "user_groups"
      REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
      EXECUTE FUNCTION group_member_order_update()`);
    await queryRunner.query(`CREATE TRIGGER "user_groups_member_order_truncate" AFTER TRUNCATE ON "user_groups"
      FOR EACH STATEMENT EXECUTE FUNCTION group_member_order_truncate()`);
    await queryRunner.query(`CREATE TRIGGER "users_member_order_rename" AFTER UPDATE ON "users"
      REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
      EXECUTE FUNCTION group_member_order_rename()`);
    await queryRunner.query(
      `INSERT INTO group_member_order (group_id, username, user_id)
       SELECT ug.group_id, u.username, ug.user_id FROM user_groups ug JOIN users u ON u.id = ug.user_id`,
    );
    await queryRunner.query(
      `CREATE INDEX "group_member_order_page_idx" ON "group_member_order" ("group_id", "username") INCLUDE ("user_id")`,
    );
    await queryRunner.query(`CREATE INDEX "group_member_order_user_idx" ON "group_member_order" ("user_id")`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TRIGGER "users_member_order_rename" ON "users"`);
    for (const event of ['truncate', 'update', 'delete', 'insert']) {
      await queryRunner.query(`DROP TRIGGER "user_groups_member_order_${event}" ON "user_groups"`);
    }
    for (const event of ['rename', 'truncate', 'update', 'delete', 'insert']) {
      await queryRunner.query(`DROP FUNCTION group_member_order_${event}()`);
    }
    await queryRunner.query(`DROP TABLE "group_member_order"`);
  }
}
