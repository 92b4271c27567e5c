import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The failed-authentication throttle's state, shared by every instance on the database (see AuthFailureThrottle):
 * one row per client bucket (an IPv4 address, an IPv6 /64, ...) with the start of its current window and the
 * failures counted in it. A failure is one upsert on the primary key; the sweep deletes by window start.
 *
 * UNLOGGED: the rows are short-lived counters written on every failed authentication, so a flood of wrong keys should
 * not also be a flood of WAL (and of replication traffic). The price is that PostgreSQL empties the table after a
 * crash and a standby does not have its rows: a throttle forgetting the last minute's failures is harmless, and
 * nothing else reads them.
 */
export class AuthFailures1764400000000 implements MigrationInterface {
  name = 'AuthFailures1764400000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE UNLOGGED TABLE "auth_failures" (
         "bucket" text NOT NULL,
         "window_start" timestamptz NOT NULL,
         "failures" integer NOT NULL,
         CONSTRAINT "auth_failures_pkey" PRIMARY KEY ("bucket"),
         CONSTRAINT "auth_failures_bucket_length" CHECK (char_length("bucket") <= 64)
       )`,
    );
    await queryRunner.query(
      `CREATE INDEX "auth_failures_window_start_idx" ON "auth_failures" ("window_start")`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "auth_failures"`);
  }
}
