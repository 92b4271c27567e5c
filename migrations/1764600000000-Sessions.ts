import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * People in the browser: a password per user (a scrypt hash, see src/identity/password.ts; null means the user
 * cannot sign in with one), server-side sessions shared by every instance, the failed-login counters, and an index
 * to find the access tokens issued in a session (signing out deletes them, as authentik's AccessToken.session
 * does). The grant tables already have `session_id` (the `sid` claim, text); a token issued in a Grantry session
 * holds that session's id there. No foreign key: imported or seeded rows hold other sids.
 *
 * login_failures is UNLOGGED for the reason auth_failures is (see AuthFailures): short-lived counters.
 */
export class Sessions1764600000000 implements MigrationInterface {
  name = 'Sessions1764600000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "users" ADD "password" text`);
    // Sign-in by e-mail address compares lower(email); without this a login scans the users.
    await queryRunner.query(`CREATE INDEX "users_email_lower_idx" ON "users" (lower("email"))`);
    await queryRunner.query(
      `CREATE TABLE "sessions" (
         "id" uuid NOT NULL,
         "token_hash" bytea NOT NULL,
         "user_id" integer NOT NULL,
         "created" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
         "last_seen" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
         "expires" TIMESTAMP WITH TIME ZONE NOT NULL,
         "ip" character varying(80) NOT NULL,
         "user_agent" character varying(512) NOT NULL DEFAULT '',
         "ended" TIMESTAMP WITH TIME ZONE,
         CONSTRAINT "sessions_pkey" PRIMARY KEY ("id"),
         CONSTRAINT "sessions_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE CASCADE
       )`,
    );
    await queryRunner.query(`CREATE UNIQUE INDEX "sessions_token_hash_key" ON "sessions" ("token_hash")`);
    await queryRunner.query(`CREATE INDEX "sessions_user_id_idx" ON "sessions" ("user_id")`);
    await queryRunner.query(`CREATE INDEX "sessions_expires_idx" ON "sessions" ("expires")`);
    await queryRunner.query(
      `CREATE UNLOGGED TABLE "login_failures" (
         "bucket" text NOT NULL,
         "window_start" timestamptz NOT NULL,
         "failures" integer NOT NULL,
         CONSTRAINT "login_failures_pkey" PRIMARY KEY ("bucket"),
         CONSTRAINT "login_failures_bucket_length" CHECK (char_length("bucket") <= 80)
       )`,
    );
    await queryRunner.query(
      `CREATE INDEX "login_failures_window_start_idx" ON "login_failures" ("window_start")`,
    );
    await queryRunner.query(
      `CREATE INDEX "oauth2_access_tokens_session_id_idx" ON "oauth2_access_tokens" ("session_id")`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "oauth2_access_tokens_session_id_idx"`);
    await queryRunner.query(`DROP TABLE "login_failures"`);
    await queryRunner.query(`DROP TABLE "sessions"`);
    await queryRunner.query(`DROP INDEX "users_email_lower_idx"`);
    await queryRunner.query(`ALTER TABLE "users" DROP COLUMN "password"`);
  }
}
