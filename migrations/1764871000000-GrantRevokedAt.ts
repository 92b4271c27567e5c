import { MigrationInterface, QueryRunner } from 'typeorm';

const GRANT_TABLES = ['oauth2_access_tokens', 'oauth2_refresh_tokens', 'oauth2_authorization_codes'] as const;

/**
 * When a grant was revoked, so that "what was valid at T" (the `valid_at` filter, issue 14) can leave out the grants
 * revoked before T and keep those revoked after it.
 *
 * A row trigger sets `revoked_at` whenever an UPDATE turns `revoked` on (every revocation path: bulk revocation,
 * refresh token rotation, replay and reuse detection, and any future one) and clears it when one turns it off, so
 * no writer can forget it. `BEFORE UPDATE OF revoked` fires only for statements that name the column; issuance,
 * which only inserts, pays nothing. Grants revoked before this migration keep a NULL `revoked_at`: revoked at an
 * unknown time, which `valid_at` counts as possibly valid (documented in the README).
 */
export class GrantRevokedAt1764871000000 implements MigrationInterface {
  name = 'GrantRevokedAt1764871000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE FUNCTION grant_revoked_at() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.revoked AND NOT OLD.revoked THEN
          NEW.revoked_at := now();
        ELSIF NOT NEW.revoked THEN
          NEW.revoked_at := NULL;
        END IF;
        RETURN NEW;
      END $$`);
    for (const table of GRANT_TABLES) {
      await queryRunner.query(`ALTER TABLE "${table}" ADD "revoked_at" TIMESTAMP WITH TIME ZONE`);
      await queryRunner.query(`CREATE TRIGGER "${table}_revoked_at" BEFORE UPDATE OF revoked ON "${table}"
        FOR EACH ROW EXECUTE FUNCTION grant_revoked_at()`);
    }
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    for (const table of GRANT_TABLES) {
      await queryRunner.query(`DROP TRIGGER "${table}_revoked_at" ON "${table}"`);
      await queryRunner.query(`ALTER TABLE "${table}" DROP COLUMN "revoked_at"`);
    }
    await queryRunner.query(`DROP FUNCTION grant_revoked_at()`);
  }
}
