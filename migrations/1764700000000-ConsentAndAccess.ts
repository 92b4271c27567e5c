import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Consent and application access for the authorize endpoint (issue 12).
 *
 * authentik asks for consent in a flow stage (ConsentStage) and decides access with policy bindings; Grantry runs no
 * flows, so consent is a setting of the provider (`consent_mode`, `consent_expire_in`, the stage's two fields) and
 * access is a list of groups bound to the application. The stored consent is authentik's UserConsent: one row per
 * user and application holding the consented scopes, space-joined, sorted and unique, so comparing sets is
 * comparing strings; `expires` null is a permanent consent.
 *
 * Existing providers get 'expiring' with 'weeks=4', the stage's defaults in authentik's default explicit-consent
 * authorization flow.
 */
export class ConsentAndAccess1764700000000 implements MigrationInterface {
  name = 'ConsentAndAccess1764700000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `ALTER TABLE "oauth2_providers" ADD "consent_mode" character varying(16) NOT NULL DEFAULT 'expiring'`,
    );
    await queryRunner.query(
      `ALTER TABLE "oauth2_providers" ADD "consent_expire_in" text NOT NULL DEFAULT 'weeks=4'`,
    );
    await queryRunner.query(
      `ALTER TABLE "oauth2_providers" ADD CONSTRAINT "oauth2_providers_consent_mode_check" CHECK ("consent_mode" IN ('implicit', 'expiring', 'permanent', 'always'))`,
    );
    await queryRunner.query(
      `CREATE TABLE "user_consents" (
         "id" SERIAL NOT NULL,
         "user_id" integer NOT NULL,
         "application_id" uuid NOT NULL,
         "permissions" text NOT NULL,
         "expires" TIMESTAMP WITH TIME ZONE,
         "created" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
         CONSTRAINT "user_consents_pkey" PRIMARY KEY ("id"),
         CONSTRAINT "user_consents_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE NO ACTION,
         CONSTRAINT "user_consents_application_id_fkey" FOREIGN KEY ("application_id") REFERENCES "applications"("id") ON DELETE CASCADE ON UPDATE NO ACTION
       )`,
    );
    await queryRunner.query(
      `CREATE UNIQUE INDEX "user_consents_user_id_application_id_key" ON "user_consents" ("user_id", "application_id")`,
    );
    // Deleting an application deletes its consents: without this the cascade scans the table.
    await queryRunner.query(
      `CREATE INDEX "user_consents_application_id_idx" ON "user_consents" ("application_id")`,
    );
    await queryRunner.query(
      `CREATE TABLE "application_groups" (
         "application_id" uuid NOT NULL,
         "group_id" uuid NOT NULL,
         CONSTRAINT "application_groups_pkey" PRIMARY KEY ("application_id", "group_id"),
         CONSTRAINT "application_groups_application_id_fkey" FOREIGN KEY ("application_id") REFERENCES "applications"("id") ON DELETE CASCADE ON UPDATE NO ACTION,
         CONSTRAINT "application_groups_group_id_fkey" FOREIGN KEY ("group_id") REFERENCES "groups"("id") ON DELETE CASCADE ON UPDATE NO ACTION
       )`,
    );
    // The access check joins a user's groups to the bindings; deleting a group deletes its bindings.
    await queryRunner.query(
      `CREATE INDEX "application_groups_group_id_idx" ON "application_groups" ("group_id")`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "application_groups"`);
    await queryRunner.query(`DROP TABLE "user_consents"`);
    await queryRunner.query(
      `ALTER TABLE "oauth2_providers" DROP CONSTRAINT "oauth2_providers_consent_mode_check"`,
    );
    await queryRunner.query(`ALTER TABLE "oauth2_providers" DROP COLUMN "consent_expire_in"`);
    await queryRunner.query(`ALTER TABLE "oauth2_providers" DROP COLUMN "consent_mode"`);
  }
}
