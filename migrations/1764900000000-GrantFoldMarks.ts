import { MigrationInterface, QueryRunner } from 'typeorm';
// GrantDeltas' trigger bodies, which down() restores.
import { DELTA_COLUMNS, KEY, setGrantDeltasFunctions } from './1764890000000-GrantDeltas';

const GRANT_TABLES = ['oauth2_access_tokens', 'oauth2_refresh_tokens', 'oauth2_authorization_codes'] as const;

/**
 * Inserting a grant writes nothing but the grant: the kept counts (grant_counts, grant_facet_counts) learn of new
 * grants from the fold, which reads them by id, instead of from a trigger.
 *
 * GrantDeltas' row-level INSERT trigger appended one `grant_deltas` row per grant. Measured on the bench's own
 * table (1,000,000 access tokens, 16 clients, one INSERT per transaction, synchronous commit, pgbench alternating
 * 8-second rounds, bench/RESULTS.md): with the trigger ~3,250 tps, with it disabled ~4,300, an empty row-level
 * trigger ~3,870, the bench's plain yardstick ~5,170. So the delta row itself cost about a fifth of every insert,
 * and `npm run bench -- --only writes` stayed at 0.63-0.66x (target 0.7x).
 *
 * Now `grant_fold_marks` holds, per grant table, the last id the kept counts include. A grant whose id is above it
 * is "not folded yet": readers count it from the grant table itself (an index range on the primary key, the same
 * rows that were delta rows before), and the fold moves grants up to the id sequence's last value into the kept
 * counts and advances the mark, while holding the table in SHARE ROW EXCLUSIVE mode. That lock waits for every
 * transaction writing the table to end and keeps new writers (and another fold) out meanwhile, so every id the
 * sequence handed out before is committed or rolled back: no grant can appear later below the mark. (So the
 * sequence must not cache values in sessions, which up() checks, and a grant inserted with an explicit id at or
 * below the mark is not counted: nothing in Grantry does that, and `grantry counts check` finds and repairs it.)
 *
 * DELETE and UPDATE keep their statement-level triggers, now counting only rows at or below the mark (the others
 * are counted from the table as they are). Their transaction holds the table in ROW EXCLUSIVE mode, which conflicts
 * with the fold's lock, so the mark cannot move between their rows and their trigger; in READ COMMITTED the
 * trigger reads the current mark. A REPEATABLE READ or SERIALIZABLE transaction's snapshot may predate a fold, so
 * there the mark is read FOR SHARE, which fails with a serialization error (40001) when a fold moved it since,
 * instead of counting against an old mark. TRUNCATE clears the kept counts and sets the mark to 0.
 */
const FUNCTIONS = {
  deleted: `INSERT INTO grant_deltas (${DELTA_COLUMNS})
    SELECT TG_TABLE_NAME, ${KEY}, grant_expiry_bucket(expires), -count(*)
      FROM old_rows WHERE id <= mark GROUP BY ${KEY}, grant_expiry_bucket(expires);`,
  // An update that changes none of the counted columns appends nothing.
  updated: `INSERT INTO grant_deltas (${DELTA_COLUMNS})
    SELECT TG_TABLE_NAME, ${KEY}, bucket, sum(d) FROM (
      SELECT ${KEY}, grant_expiry_bucket(expires) AS bucket, -1 AS d FROM old_rows WHERE id <= mark
      UNION ALL SELECT ${KEY}, grant_expiry_bucket(expires), 1 FROM new_rows WHERE id <= mark
    ) moved GROUP BY ${KEY}, bucket HAVING sum(d) <> 0;`,
  truncated: `DELETE FROM grant_counts WHERE table_name = TG_TABLE_NAME;
    DELETE FROM grant_facet_counts WHERE table_name = TG_TABLE_NAME;
    DELETE FROM grant_deltas WHERE table_name = TG_TABLE_NAME;
    UPDATE grant_fold_marks SET last_id = 0 WHERE table_name = TG_TABLE_NAME;`,
};

/** The grants above each table's mark, grouped as the kept counts' deltas (up: -1 each; down: +1 each). */
const deltasAboveMark = (table: string, sign: '-' | ''): string => `
  INSERT INTO grant_deltas (${DELTA_COLUMNS})
    SELECT '${table}', ${KEY}, grant_expiry_bucket(expires), ${sign}count(*)
      FROM "${table}" WHERE id > (SELECT last_id FROM grant_fold_marks WHERE table_name = '${table}')
     GROUP BY ${KEY}, grant_expiry_bucket(expires)`;

export class GrantFoldMarks1764900000000 implements MigrationInterface {
  name = 'GrantFoldMarks1764900000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "grant_fold_marks" ("table_name" text PRIMARY KEY, "last_id" bigint NOT NULL)`,
    );
    // Writers wait while the triggers change, so every grant is counted by one body.
    for (const table of GRANT_TABLES) {
      await queryRunner.query(`LOCK TABLE "${table}" IN SHARE ROW EXCLUSIVE MODE`);
    }
    for (const table of GRANT_TABLES) {
      const [sequence] = (await queryRunner.query(
        `SELECT s.seqcache::text AS cache FROM pg_sequence s
          WHERE s.seqrelid = pg_get_serial_sequence('"${table}"', 'id')::regclass`,
      )) as { cache: string | null }[];
      if (sequence?.cache !== '1') {
        throw new Error(`${table}.id must come from a sequence that caches no values (CACHE 1)`);
      }
      // Every grant so far was counted by GrantDeltas' triggers: the mark starts at the sequence's last value,
      // and grants inserted with an explicit id above it (counted already) are taken back out of the deltas.
      await queryRunner.query(
        `INSERT INTO grant_fold_marks (table_name, last_id)
           VALUES ('${table}', coalesce(pg_sequence_last_value(pg_get_serial_sequence('"${table}"', 'id')::regclass), 0))`,
      );
      await queryRunner.query(deltasAboveMark(table, '-'));
    }
    await queryRunner.query(`
      CREATE FUNCTION grant_fold_mark(grant_table text) RETURNS bigint LANGUAGE plpgsql AS $$
      DECLARE
        mark bigint;
      BEGIN
        IF current_setting('transaction_isolation') = 'read committed' THEN
          SELECT last_id INTO mark FROM grant_fold_marks WHERE table_name = grant_table;
        ELSE
          SELECT last_id INTO mark FROM grant_fold_marks WHERE table_name = grant_table FOR SHARE;
        END IF;
        IF mark IS NULL THEN
          RAISE EXCEPTION 'no fold mark for %', grant_table;
        END IF;
        RETURN mark;
      END $$`);
    // DELETE and UPDATE count against the mark, read once per statement; TRUNCATE needs none.
    for (const [event, body] of Object.entries(FUNCTIONS)) {
      const declare = event === 'truncated' ? '' : 'DECLARE mark bigint := grant_fold_mark(TG_TABLE_NAME);';
      await queryRunner.query(`
        CREATE OR REPLACE FUNCTION grant_counts_${event}() RETURNS trigger LANGUAGE plpgsql AS $$
        ${declare}
        BEGIN
          ${body}
          RETURN NULL;
        END $$`);
    }
    for (const table of GRANT_TABLES) {
      await queryRunner.query(`DROP TRIGGER "${table}_count_insert" ON "${table}"`);
    }
    await queryRunner.query(`DROP FUNCTION grant_counts_inserted_row()`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    for (const table of GRANT_TABLES) {
      await queryRunner.query(`LOCK TABLE "${table}" IN SHARE ROW EXCLUSIVE MODE`);
    }
    // The grants not folded yet become deltas, as GrantDeltas' insert trigger would have written them.
    for (const table of GRANT_TABLES) await queryRunner.query(deltasAboveMark(table, ''));
    await setGrantDeltasFunctions(queryRunner);
    for (const table of GRANT_TABLES) {
      await queryRunner.query(`CREATE TRIGGER "${table}_count_insert" AFTER INSERT ON "${table}"
        FOR EACH ROW EXECUTE FUNCTION grant_counts_inserted_row()`);
    }
    await queryRunner.query(`DROP FUNCTION grant_fold_mark(text)`);
    await queryRunner.query(`DROP TABLE "grant_fold_marks"`);
  }
}
