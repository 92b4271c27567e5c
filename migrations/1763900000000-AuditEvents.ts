import { MigrationInterface, QueryRunner } from 'typeorm';

/** The audit log of grant deletions (who, when, which row; never a secret). */

export class AuditEvents1763900000000 implements MigrationInterface {
  name = 'AuditEvents1763900000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "audit_events" ("id" BIGSERIAL NOT NULL, "created" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "action" character varying(32) NOT NULL, "actor_user_id" integer, "actor_username" character varying(150) NOT NULL, "model" character varying(64) NOT NULL, "object_pk" integer NOT NULL, "object_user_id" integer, "object_provider_id" integer, "secret_hash_prefix" character varying(8), "request_id" character varying(64), CONSTRAINT "audit_events_pkey" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(`CREATE INDEX "audit_events_created_idx" ON "audit_events"  ("created") `);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "public"."audit_events_created_idx"`);
    await queryRunner.query(`DROP TABLE "audit_events"`);
  }
}
