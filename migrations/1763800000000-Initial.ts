import { MigrationInterface, QueryRunner } from 'typeorm';

/** The initial schema (generated from the entities), plus the one install row whose id salts users' uid. */

export class Initial1763800000000 implements MigrationInterface {
  name = 'Initial1763800000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "roles" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "name" character varying(150) NOT NULL, "permissions" text array NOT NULL DEFAULT '{}'::text[], CONSTRAINT "roles_pkey" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(`CREATE UNIQUE INDEX "roles_name_key" ON "roles"  ("name") `);
    await queryRunner.query(
      `CREATE TABLE "groups" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "name" character varying(80) NOT NULL, "is_superuser" boolean NOT NULL DEFAULT false, "attributes" jsonb NOT NULL DEFAULT '{}'::jsonb, "parent_id" uuid, CONSTRAINT "groups_pkey" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(`CREATE UNIQUE INDEX "groups_name_key" ON "groups"  ("name") `);
    await queryRunner.query(`CREATE INDEX "groups_parent_id_idx" ON "groups"  ("parent_id") `);
    await queryRunner.query(
      `CREATE TABLE "users" ("id" SERIAL NOT NULL, "uuid" uuid NOT NULL DEFAULT gen_random_uuid(), "username" character varying(150) NOT NULL, "name" text NOT NULL DEFAULT '', "email" character varying(254) NOT NULL DEFAULT '', "is_active" boolean NOT NULL DEFAULT true, "last_login" TIMESTAMP WITH TIME ZONE, "date_joined" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "password_change_date" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "last_updated" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "path" text NOT NULL DEFAULT 'users', "type" character varying(32) NOT NULL DEFAULT 'internal', "attributes" jsonb NOT NULL DEFAULT '{}'::jsonb, CONSTRAINT "users_type_check" CHECK ("type" IN ('internal', 'external', 'service_account', 'internal_service_account')), CONSTRAINT "users_pkey" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(`CREATE UNIQUE INDEX "users_uuid_key" ON "users"  ("uuid") `);
    await queryRunner.query(`CREATE UNIQUE INDEX "users_username_key" ON "users"  ("username") `);
    await queryRunner.query(
      `CREATE TABLE "api_tokens" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "identifier" character varying(255) NOT NULL, "key_hash" bytea NOT NULL, "intent" character varying(16) NOT NULL DEFAULT 'api', "user_id" integer NOT NULL, "description" text NOT NULL DEFAULT '', "expires" TIMESTAMP WITH TIME ZONE, "expiring" boolean NOT NULL DEFAULT true, "created" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "api_tokens_intent_check" CHECK ("intent" IN ('api', 'app_password', 'recovery', 'verification')), CONSTRAINT "api_tokens_pkey" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(
      `CREATE UNIQUE INDEX "api_tokens_identifier_key" ON "api_tokens"  ("identifier") `,
    );
    await queryRunner.query(`CREATE UNIQUE INDEX "api_tokens_key_hash_key" ON "api_tokens"  ("key_hash") `);
    await queryRunner.query(`CREATE INDEX "api_tokens_user_id_idx" ON "api_tokens"  ("user_id") `);
    await queryRunner.query(
      `CREATE TABLE "install" ("id" smallint NOT NULL, "install_id" uuid NOT NULL, "created" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "install_singleton_check" CHECK ("id" = 1), CONSTRAINT "install_pkey" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(
      `CREATE TABLE "oauth2_providers" ("id" SERIAL NOT NULL, "name" text NOT NULL, "authentication_flow" uuid, "authorization_flow" uuid, "invalidation_flow" uuid, "property_mappings" uuid array NOT NULL DEFAULT '{}'::uuid[], "client_type" character varying(16) NOT NULL DEFAULT 'confidential', "client_id" character varying(255) NOT NULL, "client_secret_hash" bytea, "access_code_validity" text NOT NULL DEFAULT 'minutes=1', "access_token_validity" text NOT NULL DEFAULT 'hours=1', "refresh_token_validity" text NOT NULL DEFAULT 'days=30', "refresh_token_threshold" text NOT NULL DEFAULT 'seconds=0', "include_claims_in_id_token" boolean NOT NULL DEFAULT true, "signing_key" uuid, "encryption_key" uuid, "redirect_uris" jsonb NOT NULL DEFAULT '[]'::jsonb, "logout_uri" text NOT NULL DEFAULT '', "logout_method" character varying(16) NOT NULL DEFAULT 'backchannel', "sub_mode" character varying(32) NOT NULL DEFAULT 'hashed_user_id', "issuer_mode" character varying(16) NOT NULL DEFAULT 'per_provider', "grant_types" text array NOT NULL DEFAULT '{authorization_code,refresh_token}'::text[], "jwt_federation_sources" uuid array NOT NULL DEFAULT '{}'::uuid[], "jwt_federation_providers" integer array NOT NULL DEFAULT '{}'::integer[], "backchannel_application_id" uuid, "created" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "oauth2_providers_issuer_mode_check" CHECK ("issuer_mode" IN ('global', 'per_provider')), CONSTRAINT "oauth2_providers_sub_mode_check" CHECK ("sub_mode" IN ('hashed_user_id', 'user_id', 'user_uuid', 'user_username', 'user_email', 'user_upn')), CONSTRAINT "oauth2_providers_logout_method_check" CHECK ("logout_method" IN ('backchannel', 'frontchannel')), CONSTRAINT "oauth2_providers_client_type_check" CHECK ("client_type" IN ('confidential', 'public')), CONSTRAINT "oauth2_providers_pkey" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(
      `CREATE UNIQUE INDEX "oauth2_providers_name_key" ON "oauth2_providers"  ("name") `,
    );
    await queryRunner.query(
      `CREATE UNIQUE INDEX "oauth2_providers_client_id_key" ON "oauth2_providers"  ("client_id") `,
    );
    await queryRunner.query(
      `CREATE INDEX "oauth2_providers_backchannel_application_id_idx" ON "oauth2_providers"  ("backchannel_application_id") `,
    );
    await queryRunner.query(
      `CREATE TABLE "oauth2_access_tokens" ("provider_id" integer NOT NULL, "user_id" integer NOT NULL, "expires" TIMESTAMP WITH TIME ZONE, "expiring" boolean NOT NULL DEFAULT true, "revoked" boolean NOT NULL DEFAULT false, "scope" text NOT NULL DEFAULT '', "auth_time" TIMESTAMP WITH TIME ZONE, "session_id" character varying(255), "created" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "id" SERIAL NOT NULL, "token_hash" bytea NOT NULL, "id_token" jsonb NOT NULL DEFAULT '{}'::jsonb, CONSTRAINT "oauth2_access_tokens_pkey" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(
      `CREATE UNIQUE INDEX "oauth2_access_tokens_token_hash_key" ON "oauth2_access_tokens"  ("token_hash") `,
    );
    await queryRunner.query(
      `CREATE INDEX "oauth2_access_tokens_expires_idx" ON "oauth2_access_tokens"  ("expires") `,
    );
    await queryRunner.query(
      `CREATE INDEX "oauth2_access_tokens_user_id_idx" ON "oauth2_access_tokens"  ("user_id") `,
    );
    await queryRunner.query(
      `CREATE INDEX "oauth2_access_tokens_provider_expires_id_idx" ON "oauth2_access_tokens"  ("provider_id", "expires", "id") `,
    );
    await queryRunner.query(
      `CREATE TABLE "oauth2_authorization_codes" ("provider_id" integer NOT NULL, "user_id" integer NOT NULL, "expires" TIMESTAMP WITH TIME ZONE, "expiring" boolean NOT NULL DEFAULT true, "revoked" boolean NOT NULL DEFAULT false, "scope" text NOT NULL DEFAULT '', "auth_time" TIMESTAMP WITH TIME ZONE, "session_id" character varying(255), "created" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "id" SERIAL NOT NULL, "code_hash" bytea NOT NULL, "nonce" text, "code_challenge" character varying(255), "code_challenge_method" character varying(8), CONSTRAINT "oauth2_authorization_codes_pkey" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(
      `CREATE UNIQUE INDEX "oauth2_authorization_codes_code_hash_key" ON "oauth2_authorization_codes"  ("code_hash") `,
    );
    await queryRunner.query(
      `CREATE INDEX "oauth2_authorization_codes_expires_idx" ON "oauth2_authorization_codes"  ("expires") `,
    );
    await queryRunner.query(
      `CREATE INDEX "oauth2_authorization_codes_user_id_idx" ON "oauth2_authorization_codes"  ("user_id") `,
    );
    await queryRunner.query(
      `CREATE INDEX "oauth2_authorization_codes_provider_expires_id_idx" ON "oauth2_authorization_codes"  ("provider_id", "expires", "id") `,
    );
    await queryRunner.query(
      `CREATE TABLE "oauth2_refresh_tokens" ("provider_id" integer NOT NULL, "user_id" integer NOT NULL, "expires" TIMESTAMP WITH TIME ZONE, "expiring" boolean NOT NULL DEFAULT true, "revoked" boolean NOT NULL DEFAULT false, "scope" text NOT NULL DEFAULT '', "auth_time" TIMESTAMP WITH TIME ZONE, "session_id" character varying(255), "created" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "id" SERIAL NOT NULL, "token_hash" bytea NOT NULL, "id_token" jsonb NOT NULL DEFAULT '{}'::jsonb, CONSTRAINT "oauth2_refresh_tokens_pkey" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(
      `CREATE UNIQUE INDEX "oauth2_refresh_tokens_token_hash_key" ON "oauth2_refresh_tokens"  ("token_hash") `,
    );
    await queryRunner.query(
      `CREATE INDEX "oauth2_refresh_tokens_expires_idx" ON "oauth2_refresh_tokens"  ("expires") `,
    );
    await queryRunner.query(
      `CREATE INDEX "oauth2_refresh_tokens_user_id_idx" ON "oauth2_refresh_tokens"  ("user_id") `,
    );
    await queryRunner.query(
      `CREATE INDEX "oauth2_refresh_tokens_provider_expires_id_idx" ON "oauth2_refresh_tokens"  ("provider_id", "expires", "id") `,
    );
    await queryRunner.query(
      `CREATE TABLE "applications" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "slug" character varying(50) NOT NULL, "name" text NOT NULL, "provider_id" integer, "created" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "applications_pkey" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(`CREATE UNIQUE INDEX "applications_slug_key" ON "applications"  ("slug") `);
    await queryRunner.query(
      `CREATE UNIQUE INDEX "applications_provider_id_key" ON "applications"  ("provider_id") `,
    );
    await queryRunner.query(
      `CREATE TABLE "group_roles" ("group_id" uuid NOT NULL, "role_id" uuid NOT NULL, CONSTRAINT "PK_31cb33278c5d3f7aed58766840a" PRIMARY KEY ("group_id", "role_id"))`,
    );
    await queryRunner.query(`CREATE INDEX "IDX_0f428ea82b51ea6c795689cdb8" ON "group_roles"  ("group_id") `);
    await queryRunner.query(`CREATE INDEX "IDX_35d4b5f7da6e1a9a730c3621ec" ON "group_roles"  ("role_id") `);
    await queryRunner.query(
      `CREATE TABLE "user_groups" ("user_id" integer NOT NULL, "group_id" uuid NOT NULL, CONSTRAINT "PK_c95039f66f5d7a452fc53945bfe" PRIMARY KEY ("user_id", "group_id"))`,
    );
    await queryRunner.query(`CREATE INDEX "IDX_95bf94c61795df25a515435010" ON "user_groups"  ("user_id") `);
    await queryRunner.query(`CREATE INDEX "IDX_4c5f2c23c34f3921fbad2cd394" ON "user_groups"  ("group_id") `);
    await queryRunner.query(
      `CREATE TABLE "user_roles" ("user_id" integer NOT NULL, "role_id" uuid NOT NULL, CONSTRAINT "PK_23ed6f04fe43066df08379fd034" PRIMARY KEY ("user_id", "role_id"))`,
    );
    await queryRunner.query(`CREATE INDEX "IDX_87b8888186ca9769c960e92687" ON "user_roles"  ("user_id") `);
    await queryRunner.query(`CREATE INDEX "IDX_b23c65e50a758245a33ee35fda" ON "user_roles"  ("role_id") `);
    await queryRunner.query(
      `ALTER TABLE "groups" ADD CONSTRAINT "groups_parent_id_fkey" FOREIGN KEY ("parent_id") REFERENCES "groups"("id") ON DELETE SET NULL ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "api_tokens" ADD CONSTRAINT "api_tokens_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "oauth2_providers" ADD CONSTRAINT "oauth2_providers_backchannel_application_id_fkey" FOREIGN KEY ("backchannel_application_id") REFERENCES "applications"("id") ON DELETE SET NULL ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "oauth2_access_tokens" ADD CONSTRAINT "oauth2_access_tokens_provider_id_fkey" FOREIGN KEY ("provider_id") REFERENCES "oauth2_providers"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "oauth2_access_tokens" ADD CONSTRAINT "oauth2_access_tokens_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "oauth2_authorization_codes" ADD CONSTRAINT "oauth2_authorization_codes_provider_id_fkey" FOREIGN KEY ("provider_id") REFERENCES "oauth2_providers"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "oauth2_authorization_codes" ADD CONSTRAINT "oauth2_authorization_codes_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "oauth2_refresh_tokens" ADD CONSTRAINT "oauth2_refresh_tokens_provider_id_fkey" FOREIGN KEY ("provider_id") REFERENCES "oauth2_providers"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "oauth2_refresh_tokens" ADD CONSTRAINT "oauth2_refresh_tokens_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "applications" ADD CONSTRAINT "applications_provider_id_fkey" FOREIGN KEY ("provider_id") REFERENCES "oauth2_providers"("id") ON DELETE SET NULL ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "group_roles" ADD CONSTRAINT "group_roles_group_id_fkey" FOREIGN KEY ("group_id") REFERENCES "groups"("id") ON DELETE CASCADE ON UPDATE CASCADE`,
    );
    await queryRunner.query(
      `ALTER TABLE "group_roles" ADD CONSTRAINT "group_roles_role_id_fkey" FOREIGN KEY ("role_id") REFERENCES "roles"("id") ON DELETE CASCADE ON UPDATE CASCADE`,
    );
    await queryRunner.query(
      `ALTER TABLE "user_groups" ADD CONSTRAINT "user_groups_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE`,
    );
    await queryRunner.query(
      `ALTER TABLE "user_groups" ADD CONSTRAINT "user_groups_group_id_fkey" FOREIGN KEY ("group_id") REFERENCES "groups"("id") ON DELETE CASCADE ON UPDATE CASCADE`,
    );
    await queryRunner.query(
      `ALTER TABLE "user_roles" ADD CONSTRAINT "user_roles_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE`,
    );
    await queryRunner.query(
      `ALTER TABLE "user_roles" ADD CONSTRAINT "user_roles_role_id_fkey" FOREIGN KEY ("role_id") REFERENCES "roles"("id") ON DELETE CASCADE ON UPDATE CASCADE`,
    );
    await queryRunner.query(`INSERT INTO "install" ("id", "install_id") VALUES (1, gen_random_uuid())`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "user_roles" DROP CONSTRAINT "user_roles_role_id_fkey"`);
    await queryRunner.query(`ALTER TABLE "user_roles" DROP CONSTRAINT "user_roles_user_id_fkey"`);
    await queryRunner.query(`ALTER TABLE "user_groups" DROP CONSTRAINT "user_groups_group_id_fkey"`);
    await queryRunner.query(`ALTER TABLE "user_groups" DROP CONSTRAINT "user_groups_user_id_fkey"`);
    await queryRunner.query(`ALTER TABLE "group_roles" DROP CONSTRAINT "group_roles_role_id_fkey"`);
    await queryRunner.query(`ALTER TABLE "group_roles" DROP CONSTRAINT "group_roles_group_id_fkey"`);
    await queryRunner.query(`ALTER TABLE "applications" DROP CONSTRAINT "applications_provider_id_fkey"`);
    await queryRunner.query(
      `ALTER TABLE "oauth2_refresh_tokens" DROP CONSTRAINT "oauth2_refresh_tokens_user_id_fkey"`,
    );
    await queryRunner.query(
      `ALTER TABLE "oauth2_refresh_tokens" DROP CONSTRAINT "oauth2_refresh_tokens_provider_id_fkey"`,
    );
    await queryRunner.query(
      `ALTER TABLE "oauth2_authorization_codes" DROP CONSTRAINT "oauth2_authorization_codes_user_id_fkey"`,
    );
    await queryRunner.query(
      `ALTER TABLE "oauth2_authorization_codes" DROP CONSTRAINT "oauth2_authorization_codes_provider_id_fkey"`,
    );
    await queryRunner.query(
      `ALTER TABLE "oauth2_access_tokens" DROP CONSTRAINT "oauth2_access_tokens_user_id_fkey"`,
    );
    await queryRunner.query(
      `ALTER TABLE "oauth2_access_tokens" DROP CONSTRAINT "oauth2_access_tokens_provider_id_fkey"`,
    );
    await queryRunner.query(
      `ALTER TABLE "oauth2_providers" DROP CONSTRAINT "oauth2_providers_backchannel_application_id_fkey"`,
    );
    await queryRunner.query(`ALTER TABLE "api_tokens" DROP CONSTRAINT "api_tokens_user_id_fkey"`);
    await queryRunner.query(`ALTER TABLE "groups" DROP CONSTRAINT "groups_parent_id_fkey"`);
    await queryRunner.query(`DROP INDEX "public"."IDX_b23c65e50a758245a33ee35fda"`);
    await queryRunner.query(`DROP INDEX "public"."IDX_87b8888186ca9769c960e92687"`);
    await queryRunner.query(`DROP TABLE "user_roles"`);
    await queryRunner.query(`DROP INDEX "public"."IDX_4c5f2c23c34f3921fbad2cd394"`);
    await queryRunner.query(`DROP INDEX "public"."IDX_95bf94c61795df25a515435010"`);
    await queryRunner.query(`DROP TABLE "user_groups"`);
    await queryRunner.query(`DROP INDEX "public"."IDX_35d4b5f7da6e1a9a730c3621ec"`);
    await queryRunner.query(`DROP INDEX "public"."IDX_0f428ea82b51ea6c795689cdb8"`);
    await queryRunner.query(`DROP TABLE "group_roles"`);
    await queryRunner.query(`DROP INDEX "public"."applications_provider_id_key"`);
    await queryRunner.query(`DROP INDEX "public"."applications_slug_key"`);
    await queryRunner.query(`DROP TABLE "applications"`);
    await queryRunner.query(`DROP INDEX "public"."oauth2_refresh_tokens_provider_expires_id_idx"`);
    await queryRunner.query(`DROP INDEX "public"."oauth2_refresh_tokens_user_id_idx"`);
    await queryRunner.query(`DROP INDEX "public"."oauth2_refresh_tokens_expires_idx"`);
    await queryRunner.query(`DROP INDEX "public"."oauth2_refresh_tokens_token_hash_key"`);
    await queryRunner.query(`DROP TABLE "oauth2_refresh_tokens"`);
    await queryRunner.query(`DROP INDEX "public"."oauth2_authorization_codes_provider_expires_id_idx"`);
    await queryRunner.query(`DROP INDEX "public"."oauth2_authorization_codes_user_id_idx"`);
    await queryRunner.query(`DROP INDEX "public"."oauth2_authorization_codes_expires_idx"`);
    await queryRunner.query(`DROP INDEX "public"."oauth2_authorization_codes_code_hash_key"`);
    await queryRunner.query(`DROP TABLE "oauth2_authorization_codes"`);
    await queryRunner.query(`DROP INDEX "public"."oauth2_access_tokens_provider_expires_id_idx"`);
    await queryRunner.query(`DROP INDEX "public"."oauth2_access_tokens_user_id_idx"`);
    await queryRunner.query(`DROP INDEX "public"."oauth2_access_tokens_expires_idx"`);
    await queryRunner.query(`DROP INDEX "public"."oauth2_access_tokens_token_hash_key"`);
    await queryRunner.query(`DROP TABLE "oauth2_access_tokens"`);
    await queryRunner.query(`DROP INDEX "public"."oauth2_providers_backchannel_application_id_idx"`);
    await queryRunner.query(`DROP INDEX "public"."oauth2_providers_client_id_key"`);
    await queryRunner.query(`DROP INDEX "public"."oauth2_providers_name_key"`);
    await queryRunner.query(`DROP TABLE "oauth2_providers"`);
    await queryRunner.query(`DROP TABLE "install"`);
    await queryRunner.query(`DROP INDEX "public"."api_tokens_user_id_idx"`);
    await queryRunner.query(`DROP INDEX "public"."api_tokens_key_hash_key"`);
    await queryRunner.query(`DROP INDEX "public"."api_tokens_identifier_key"`);
    await queryRunner.query(`DROP TABLE "api_tokens"`);
    await queryRunner.query(`DROP INDEX "public"."users_username_key"`);
    await queryRunner.query(`DROP INDEX "public"."users_uuid_key"`);
    await queryRunner.query(`DROP TABLE "users"`);
    await queryRunner.query(`DROP INDEX "public"."groups_parent_id_idx"`);
    await queryRunner.query(`DROP INDEX "public"."groups_name_key"`);
    await queryRunner.query(`DROP TABLE "groups"`);
    await queryRunner.query(`DROP INDEX "public"."roles_name_key"`);
    await queryRunner.query(`DROP TABLE "roles"`);
  }
}
