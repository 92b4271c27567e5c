import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Issuance (issue 12): what the token endpoint needs beyond the inventory's columns.
 *
 * - `family_id` on every grant: the authorization a grant descends from (one per approved authorize, device approval
 *   or client-credentials exchange). A replayed code or a reused refresh token revokes the whole family, so the
 *   family must be findable by an index. Null on rows written before issuance existed (CLI, seed, imports).
 * - `oauth2_code_redemptions`: the hash of every redeemed code and its family, kept until the code would have
 *   expired plus a day, so a replay is recognised (authentik deletes the code and forgets it). Only hashes.
 * - `oauth2_device_tokens`: RFC 8628 device authorizations (authentik's DeviceToken); the device code is stored as
 *   its SHA-256, the user code (9 digits, typed by a person) as is, as it is shown on a screen anyway and must be
 *   looked up by what the person types.
 */
export class Issuance1764650000000 implements MigrationInterface {
  name = 'Issuance1764650000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    for (const table of ['oauth2_access_tokens', 'oauth2_refresh_tokens', 'oauth2_authorization_codes']) {
      await queryRunner.query(`ALTER TABLE "${table}" ADD "family_id" uuid`);
    }
    await queryRunner.query(
      `CREATE INDEX "oauth2_access_tokens_family_id_idx" ON "oauth2_access_tokens" ("family_id")`,
    );
    await queryRunner.query(
      `CREATE INDEX "oauth2_refresh_tokens_family_id_idx" ON "oauth2_refresh_tokens" ("family_id")`,
    );
    await queryRunner.query(
      `CREATE TABLE "oauth2_code_redemptions" (
         "code_hash" bytea NOT NULL,
         "family_id" uuid NOT NULL,
         "provider_id" integer NOT NULL,
         "forget_after" TIMESTAMP WITH TIME ZONE NOT NULL,
         CONSTRAINT "oauth2_code_redemptions_pkey" PRIMARY KEY ("code_hash"),
         CONSTRAINT "oauth2_code_redemptions_provider_id_fkey" FOREIGN KEY ("provider_id")
           REFERENCES "oauth2_providers"("id") ON DELETE CASCADE
       )`,
    );
    await queryRunner.query(
      `CREATE INDEX "oauth2_code_redemptions_forget_after_idx" ON "oauth2_code_redemptions" ("forget_after")`,
    );
    await queryRunner.query(
      `CREATE TABLE "oauth2_device_tokens" (
         "id" SERIAL NOT NULL,
         "provider_id" integer NOT NULL,
         "user_id" integer,
         "device_code_hash" bytea NOT NULL,
         "user_code" character varying(16) NOT NULL,
         "scope" text NOT NULL DEFAULT '',
         "expires" TIMESTAMP WITH TIME ZONE NOT NULL,
         "session_id" character varying(255),
         "auth_time" TIMESTAMP WITH TIME ZONE,
         "family_id" uuid,
         "created" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
         CONSTRAINT "oauth2_device_tokens_pkey" PRIMARY KEY ("id"),
         CONSTRAINT "oauth2_device_tokens_provider_id_fkey" FOREIGN KEY ("provider_id")
           REFERENCES "oauth2_providers"("id") ON DELETE CASCADE,
         CONSTRAINT "oauth2_device_tokens_user_id_fkey" FOREIGN KEY ("user_id")
           REFERENCES "users"("id") ON DELETE CASCADE
       )`,
    );
    await queryRunner.query(
      `CREATE UNIQUE INDEX "oauth2_device_tokens_device_code_hash_key" ON "oauth2_device_tokens" ("device_code_hash")`,
    );
    await queryRunner.query(
      `CREATE UNIQUE INDEX "oauth2_device_tokens_user_code_key" ON "oauth2_device_tokens" ("user_code")`,
    );
    await queryRunner.query(
      `CREATE INDEX "oauth2_device_tokens_expires_idx" ON "oauth2_device_tokens" ("expires")`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "oauth2_device_tokens"`);
    await queryRunner.query(`DROP TABLE "oauth2_code_redemptions"`);
    await queryRunner.query(`DROP INDEX "oauth2_refresh_tokens_family_id_idx"`);
    await queryRunner.query(`DROP INDEX "oauth2_access_tokens_family_id_idx"`);
    for (const table of ['oauth2_access_tokens', 'oauth2_refresh_tokens', 'oauth2_authorization_codes']) {
      await queryRunner.query(`ALTER TABLE "${table}" DROP COLUMN "family_id"`);
    }
  }
}
