import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The device flow's throttles (src/oauth2/issuance/device/device-throttle.ts): device authorization requests per
 * client address, and wrong user codes typed on /device per address and per user, counted in PostgreSQL so that
 * every instance shares one count. A row is one bucket's current window; `window_end` rather than its start, as the
 * buckets have windows of different lengths and the sweep then needs no length to find the ended ones.
 *
 * UNLOGGED like login_failures and auth_failures: short-lived counters, which a crash may forget.
 */
export class DeviceThrottle1764750000000 implements MigrationInterface {
  name = 'DeviceThrottle1764750000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE UNLOGGED TABLE "device_throttle" (
         "bucket" text NOT NULL,
         "window_end" timestamptz NOT NULL,
         "hits" integer NOT NULL,
         CONSTRAINT "device_throttle_pkey" PRIMARY KEY ("bucket"),
         CONSTRAINT "device_throttle_bucket_length" CHECK (char_length("bucket") <= 100)
       )`,
    );
    await queryRunner.query(
      `CREATE INDEX "device_throttle_window_end_idx" ON "device_throttle" ("window_end")`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "device_throttle"`);
  }
}
