import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * audit_events becomes authentik's Event as well (served by /api/v3/events/events/): a UUID to address it by, the
 * Django app that wrote it, a JSON context (the model touched, the HTTP request, anything else the action records),
 * the client address, the actor's e-mail address, and an expiry (authentik keeps events for `days=365`). Rows written
 * before this migration keep their narrow columns and get an empty context; the events API derives the model
 * reference from `model`/`object_pk` for them. `model`/`object_pk` become optional: groups, roles and applications
 * have UUID keys, which the context holds instead.
 */
export class Events1764800000000 implements MigrationInterface {
  name = 'Events1764800000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `ALTER TABLE "audit_events"
         ADD COLUMN "event_uuid" uuid NOT NULL DEFAULT gen_random_uuid(),
         ADD COLUMN "app" varchar(64) NOT NULL DEFAULT 'authentik.events',
         ADD COLUMN "context" jsonb NOT NULL DEFAULT '{}',
         ADD COLUMN "client_ip" varchar(45),
         ADD COLUMN "actor_email" varchar(254) NOT NULL DEFAULT '',
         ADD COLUMN "expires" timestamptz NOT NULL DEFAULT now() + '365 days'::interval,
         ALTER COLUMN "model" DROP NOT NULL,
         ALTER COLUMN "object_pk" DROP NOT NULL`,
    );
    await queryRunner.query(
      `CREATE UNIQUE INDEX "audit_events_event_uuid_key" ON "audit_events" ("event_uuid")`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DELETE FROM "audit_events" WHERE "model" IS NULL OR "object_pk" IS NULL`);
    await queryRunner.query(`DROP INDEX "audit_events_event_uuid_key"`);
    await queryRunner.query(
      `ALTER TABLE "audit_events"
         ALTER COLUMN "object_pk" SET NOT NULL,
         ALTER COLUMN "model" SET NOT NULL,
         DROP COLUMN "expires",
         DROP COLUMN "actor_email",
         DROP COLUMN "client_ip",
         DROP COLUMN "context",
         DROP COLUMN "app",
         DROP COLUMN "event_uuid"`,
    );
  }
}
