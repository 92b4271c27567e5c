import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Signing keys (authentik's CertificateKeyPair, without certificates) and the SECRET_KEY check.
 *
 * A migration cannot create the key pairs of existing providers: it does not know SECRET_KEY, which seals them. The
 * server creates the missing ones at start-up (src/keys/startup.ts), after checking SECRET_KEY against
 * `secret_key_check`: one row holding an HMAC of a fixed label under a key derived from SECRET_KEY, written by the
 * first process that uses a key, so an instance started with another key (or after losing a generated one) refuses
 * to start instead of sealing what the others cannot open.
 */
export class SigningKeys1764520000000 implements MigrationInterface {
  name = 'SigningKeys1764520000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "signing_keys" (
         "kp_uuid" uuid NOT NULL,
         "name" text NOT NULL,
         "algorithm" character varying(8) NOT NULL,
         "kid" text NOT NULL,
         "public_jwk" jsonb NOT NULL,
         "private_key_sealed" bytea NOT NULL,
         "created" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
         CONSTRAINT "signing_keys_algorithm_check" CHECK ("algorithm" IN ('RS256', 'ES256')),
         CONSTRAINT "signing_keys_pkey" PRIMARY KEY ("kp_uuid")
       )`,
    );
    await queryRunner.query(`CREATE UNIQUE INDEX "signing_keys_name_key" ON "signing_keys" ("name")`);
    await queryRunner.query(`CREATE UNIQUE INDEX "signing_keys_kid_key" ON "signing_keys" ("kid")`);
    await queryRunner.query(
      `ALTER TABLE "oauth2_providers" ADD CONSTRAINT "oauth2_providers_signing_key_fkey" FOREIGN KEY ("signing_key") REFERENCES "signing_keys"("kp_uuid") ON DELETE SET NULL ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `CREATE TABLE "secret_key_check" (
         "id" smallint NOT NULL DEFAULT 1,
         "check_value" bytea NOT NULL,
         "created" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
         CONSTRAINT "secret_key_check_single_row" CHECK ("id" = 1),
         CONSTRAINT "secret_key_check_pkey" PRIMARY KEY ("id")
       )`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "secret_key_check"`);
    await queryRunner.query(
      `ALTER TABLE "oauth2_providers" DROP CONSTRAINT "oauth2_providers_signing_key_fkey"`,
    );
    // Dropping the keys is deleting them, so their providers lose the reference as ON DELETE SET NULL would: a uuid of
    // a key that no longer exists would make this migration's up path fail on its foreign key when applied again.
    // The server gives providers without a key a new one at start-up (src/keys/startup.ts).
    await queryRunner.query(
      `UPDATE "oauth2_providers" SET "signing_key" = NULL WHERE "signing_key" IS NOT NULL`,
    );
    await queryRunner.query(`DROP TABLE "signing_keys"`);
  }
}
