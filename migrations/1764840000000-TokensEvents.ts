import { MigrationInterface, QueryRunner } from 'typeorm';

/** authentik's EventActions; the mapping below answers one of these for every stored action. */
const EVENT_ACTIONS = [
  'login',
  'login_failed',
  'logout',
  'user_write',
  'suspicious_request',
  'password_set',
  'secret_view',
  'secret_rotate',
  'invitation_used',
  'authorize_application',
  'source_linked',
  'impersonation_started',
  'impersonation_ended',
  'flow_execution',
  'policy_execution',
  'policy_exception',
  'property_mapping_exception',
  'system_task_execution',
  'system_task_exception',
  'system_exception',
  'configuration_error',
  'configuration_warning',
  'model_created',
  'model_updated',
  'model_deleted',
  'email_sent',
  'update_available',
  'export_ready',
  'review_initiated',
  'review_overdue',
  'review_attested',
  'review_completed',
  'custom_',
];

/**
 * The management API's tokens and events (issue 13).
 *
 * api_tokens: a sealed copy of a token's key (AES-GCM under SECRET_KEY, purpose `token-view`) that `view_key/` hands
 * out once, within ten minutes of the key being set, and destroys in the same statement. `key_copy_until` is when
 * the copy stops being served; the sweep (background job 7) deletes copies past it, through the partial index.
 *
 * audit_events: rows keep the action names their writers use (Grantry's own `grant_deleted`, `code_replayed`... from
 * the inventory, issuance and login code); the events API serves them as authentik's EventActions through
 * `grantry_event_action`, and derives `context.model` (and `grantry_action`, `username`) through
 * `grantry_event_context`. Both are IMMUTABLE SQL, so the `actions=` and `context_model_pk=` filters use expression
 * indexes and counts stay exact. `actor` holds the `user` dict of an event POSTed through the API.
 */
export class TokensEvents1764840000000 implements MigrationInterface {
  name = 'TokensEvents1764840000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `ALTER TABLE "api_tokens" ADD COLUMN "key_copy" bytea, ADD COLUMN "key_copy_until" timestamptz,
         ADD CONSTRAINT "api_tokens_key_copy_check" CHECK (("key_copy" IS NULL) = ("key_copy_until" IS NULL))`,
    );
    await queryRunner.query(
      `CREATE INDEX "api_tokens_key_copy_until_idx" ON "api_tokens" ("key_copy_until") WHERE "key_copy_until" IS NOT NULL`,
    );
    await queryRunner.query(`ALTER TABLE "audit_events" ADD COLUMN "actor" jsonb`);
    const actions = EVENT_ACTIONS.map((action) => `'${action}'`).join(', ');
    await queryRunner.query(`
      CREATE FUNCTION grantry_event_action(action text) RETURNS text
      LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        SELECT CASE
          WHEN action IN ('grant_deleted', 'token_revoked') THEN 'model_deleted'
          WHEN action = 'token_issued' THEN 'model_created'
          WHEN action = 'authorization_granted' THEN 'authorize_application'
          WHEN action = 'authorization_denied' THEN 'flow_execution'
          WHEN action IN ('code_replayed', 'refresh_token_reused') THEN 'suspicious_request'
          WHEN action = 'client_auth_failed' THEN 'login_failed'
          WHEN action IN (${actions}) THEN action
          ELSE 'custom_'
        END
      $$`);
    // The model an event is about: the context's own, or one derived from the narrow columns older rows have
    // (model names as the inventory and issuance wrote them; pk 0 of `user` is a failed sign-in of no user).
    // Built only from IMMUTABLE functions (jsonb_object, jsonb_set, casts; not the STABLE jsonb_build_object), so
    // PostgreSQL inlines these functions into the queries: a call per row costs about a tenth of a non-inlined one.
    await queryRunner.query(`
      CREATE FUNCTION grantry_event_model(model text, object_pk integer, context jsonb) RETURNS jsonb
      LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        SELECT CASE
          WHEN context ? 'model' THEN context->'model'
          WHEN model IS NULL OR object_pk IS NULL OR (model = 'user' AND object_pk = 0) THEN NULL
          ELSE jsonb_set(
            jsonb_object(ARRAY[
              'app', CASE WHEN model IN ('AccessToken', 'RefreshToken', 'AuthorizationCode', 'DeviceToken',
                                         'OAuth2Provider')
                          THEN 'authentik_providers_oauth2' ELSE 'authentik_core' END,
              'model_name', lower(model),
              'name', model || ' ' || object_pk::text]),
            '{pk}', object_pk::text::jsonb)
        END
      $$`);
    await queryRunner.query(`
      CREATE FUNCTION grantry_event_context(action text, model text, object_pk integer, actor_user_id integer,
                                            actor_username text, context jsonb) RETURNS jsonb
      LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        SELECT context
          || CASE WHEN context ? 'model' OR grantry_event_model(model, object_pk, context) IS NULL THEN '{}'
                  ELSE jsonb_set('{}', '{model}', grantry_event_model(model, object_pk, context)) END
          || CASE WHEN grantry_event_action(action) <> action
                  THEN jsonb_object(ARRAY['grantry_action', action]) ELSE '{}' END
          || CASE WHEN actor_user_id IS NULL AND actor_username NOT IN ('', 'grantry-cli') AND NOT context ? 'username'
                  THEN jsonb_object(ARRAY['username', actor_username]) ELSE '{}' END
      $$`);
    await queryRunner.query(
      `CREATE INDEX "audit_events_action_created_idx" ON "audit_events" (grantry_event_action("action"), "created")`,
    );
    await queryRunner.query(
      `CREATE INDEX "audit_events_actor_username_created_idx" ON "audit_events" ("actor_username", "created")`,
    );
    await queryRunner.query(
      `CREATE INDEX "audit_events_context_username_idx" ON "audit_events" (("context"->>'username'))`,
    );
    await queryRunner.query(
      `CREATE INDEX "audit_events_model_pk_idx" ON "audit_events"
         ((grantry_event_model("model", "object_pk", "context")->>'pk'))`,
    );
    await queryRunner.query(`CREATE INDEX "audit_events_client_ip_idx" ON "audit_events" ("client_ip")`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    for (const index of [
      'audit_events_client_ip_idx',
      'audit_events_model_pk_idx',
      'audit_events_context_username_idx',
      'audit_events_actor_username_created_idx',
      'audit_events_action_created_idx',
    ]) {
      await queryRunner.query(`DROP INDEX "public"."${index}"`);
    }
    await queryRunner.query(`DROP FUNCTION grantry_event_context(text, text, integer, integer, text, jsonb)`);
    await queryRunner.query(`DROP FUNCTION grantry_event_model(text, integer, jsonb)`);
    await queryRunner.query(`DROP FUNCTION grantry_event_action(text)`);
    await queryRunner.query(`ALTER TABLE "audit_events" DROP COLUMN "actor"`);
    await queryRunner.query(`DROP INDEX "public"."api_tokens_key_copy_until_idx"`);
    await queryRunner.query(
      `ALTER TABLE "api_tokens" DROP CONSTRAINT "api_tokens_key_copy_check", DROP COLUMN "key_copy_until",
         DROP COLUMN "key_copy"`,
    );
  }
}
