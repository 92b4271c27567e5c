import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * authentik's Application fields that the management API (/api/v3/core/applications/) reads and writes: the launch
 * URL and its tab behaviour, the icon, description and publisher shown in the user's library, the policy engine mode
 * and the library group. Grantry stores them as authentik does (blank strings, not nulls, for the text fields).
 */
export class ApplicationMeta1764830000000 implements MigrationInterface {
  name = 'ApplicationMeta1764830000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `ALTER TABLE "applications"
         ADD "open_in_new_tab" boolean NOT NULL DEFAULT false,
         ADD "meta_launch_url" text NOT NULL DEFAULT '',
         ADD "meta_icon" text NOT NULL DEFAULT '',
         ADD "meta_description" text NOT NULL DEFAULT '',
         ADD "meta_publisher" text NOT NULL DEFAULT '',
         ADD "policy_engine_mode" character varying(3) NOT NULL DEFAULT 'any',
         ADD "group" text NOT NULL DEFAULT '',
         ADD CONSTRAINT "applications_policy_engine_mode_check" CHECK ("policy_engine_mode" IN ('all', 'any'))`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `ALTER TABLE "applications"
         DROP CONSTRAINT "applications_policy_engine_mode_check",
         DROP COLUMN "group", DROP COLUMN "policy_engine_mode", DROP COLUMN "meta_publisher",
         DROP COLUMN "meta_description", DROP COLUMN "meta_icon", DROP COLUMN "meta_launch_url",
         DROP COLUMN "open_in_new_tab"`,
    );
  }
}
