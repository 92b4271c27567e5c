import { MigrationInterface, QueryRunner } from 'typeorm';

const COLUMNS = ['username', 'name', 'email'] as const;

/**
 * Trigram indexes for `?search=`: a substring ILIKE over the users' username, name and email is answered from
 * these instead of testing every user (pg_trgm is a trusted extension: the database owner may create it).
 * Providers and applications are few and stay scanned.
 */
export class UserSearch1764100000000 implements MigrationInterface {
  name = 'UserSearch1764100000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE EXTENSION IF NOT EXISTS pg_trgm`);
    for (const column of COLUMNS) {
      await queryRunner.query(
        `CREATE INDEX "users_${column}_trgm_idx" ON "users" USING gin ("${column}" gin_trgm_ops)`,
      );
    }
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    for (const column of COLUMNS) await queryRunner.query(`DROP INDEX "public"."users_${column}_trgm_idx"`);
    // The extension stays: other schemas may use it, and it is harmless.
  }
}
