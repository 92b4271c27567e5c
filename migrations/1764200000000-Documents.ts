import { MigrationInterface, QueryRunner } from 'typeorm';

/** A timestamp as DRF writes it, before `isoFromSql` drops a zero fraction (see src/common/serializers/timestamps). */
const iso = (column: string): string =>
  `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

/** Tables whose changes change a document, and the statements that can change them. */
const SOURCES: [table: string, events: ('INSERT' | 'UPDATE' | 'DELETE' | 'TRUNCATE')[]][] = [
  ['users', ['INSERT', 'UPDATE']], // a deleted user's document goes with it (ON DELETE CASCADE)
  ['user_groups', ['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']],
  ['user_roles', ['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']],
  // A new group has no members. Deleting one deletes its memberships and re-parents its children (both cascades
  // fire their own triggers), so only updates need handling here.
  ['groups', ['UPDATE', 'TRUNCATE']],
  ['roles', ['UPDATE', 'TRUNCATE']], // deleting a role deletes its user_roles rows (cascade)
  ['oauth2_providers', ['INSERT', 'UPDATE']],
  ['applications', ['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']],
];

const transitionTables = (event: string): string =>
  event === 'INSERT'
    ? 'REFERENCING NEW TABLE AS new_rows'
    : event === 'DELETE'
      ? 'REFERENCING OLD TABLE AS old_rows'
      : event === 'UPDATE'
        ? 'REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows'
        : '';

/**
 * Serialized documents: every user's and every OAuth2 provider's nested JSON (the `UserRow` and `ProviderRow` the
 * serializers finish), kept up to date by triggers, so a page of grants reads its users and providers by primary
 * key instead of building them. Building 20 users (their groups, their roles, superuser status through the group
 * tree) cost about 1 ms of PostgreSQL time per request, more than the rest of the page; reading 20 documents costs
 * a few hundredths of that. A read model in the CQRS sense, maintained in the database so it is never stale: the
 * documents change in the same transaction as the rows they are made of.
 *
 * - Triggers are statement-level: a bulk insert (the seed) refreshes each affected document once per statement.
 * - A refresh first locks the affected users (providers) FOR NO KEY UPDATE, then builds the documents in a new
 *   statement, so of two concurrent transactions changing one user (say, each adding a group) the second waits for
 *   the first and then sees its change (READ COMMITTED); under REPEATABLE READ the second fails with a
 *   serialization error instead of writing a stale document. The lock does not conflict with the KEY SHARE locks
 *   that inserting grants takes on their user and provider.
 * - A group change refreshes the members of the group and of every group below it (names of parents and superuser
 *   status are inherited); a role change refreshes its holders; an application change refreshes the providers it
 *   serves, directly or as a backchannel.
 */
export class Documents1764200000000 implements MigrationInterface {
  name = 'Documents1764200000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE "user_documents" (
        "user_id" integer PRIMARY KEY REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE,
        "doc" json NOT NULL)`);
    await queryRunner.query(`
      CREATE TABLE "provider_documents" (
        "provider_id" integer PRIMARY KEY REFERENCES "oauth2_providers"("id") ON DELETE CASCADE ON UPDATE CASCADE,
        "doc" json NOT NULL)`);

    // The documents of the users in `ids` that exist: columns, direct groups (with their parent's name) ordered by
    // name, direct roles ordered by name, and superuser status through any ancestor group. One walk of the group
    // tree for all of them.
    await queryRunner.query(`
      CREATE FUNCTION grantry_build_user_documents(ids integer[]) RETURNS TABLE (user_id integer, doc json)
      LANGUAGE sql STABLE AS $$
        WITH RECURSIVE memberships AS (
          SELECT ug.user_id, ug.group_id FROM user_groups ug WHERE ug.user_id = ANY(ids)
        ),
        ancestry (user_id, group_id) AS (
          SELECT m.user_id, m.group_id FROM memberships m
          UNION
          SELECT a.user_id, g.parent_id FROM ancestry a JOIN groups g ON g.id = a.group_id
           WHERE g.parent_id IS NOT NULL
        ),
        superusers AS (
          SELECT DISTINCT a.user_id FROM ancestry a JOIN groups g ON g.id = a.group_id WHERE g.is_superuser
        ),
        user_groups_json AS (
          SELECT m.user_id,
                 json_agg(json_build_object('pk', g.id, 'name', g.name, 'is_superuser', g.is_superuser,
                                            'parent', g.parent_id, 'parent_name', p.name,
                                            'attributes', g.attributes)
                          ORDER BY g.name, g.id) AS groups
            FROM memberships m JOIN groups g ON g.id = m.group_id LEFT JOIN groups p ON p.id = g.parent_id
           GROUP BY m.user_id
        ),
        user_roles_json AS (
          SELECT ur.user_id, json_agg(json_build_object('pk', r.id, 'name', r.name) ORDER BY r.name, r.id) AS roles
            FROM user_roles ur JOIN roles r ON r.id = ur.role_id
           WHERE ur.user_id = ANY(ids)
           GROUP BY ur.user_id
        )
        SELECT u.id, json_build_object(
                 'id', u.id, 'uuid', u.uuid, 'username', u.username, 'name', u.name, 'email', u.email,
                 'is_active', u.is_active, 'last_login', ${iso('u.last_login')},
                 'date_joined', ${iso('u.date_joined')},
                 'password_change_date', ${iso('u.password_change_date')},
                 'last_updated', ${iso('u.last_updated')},
                 'path', u.path, 'type', u.type, 'attributes', u.attributes,
                 'is_superuser', s.user_id IS NOT NULL,
                 'groups', COALESCE(gj.groups, '[]'::json),
                 'roles', COALESCE(rj.roles, '[]'::json))
          FROM users u
          LEFT JOIN superusers s ON s.user_id = u.id
          LEFT JOIN user_groups_json gj ON gj.user_id = u.id
          LEFT JOIN user_roles_json rj ON rj.user_id = u.id
         WHERE u.id = ANY(ids)
      $$`);

    // The documents of the providers in `ids` that exist, with the application each serves (the first by creation
    // should there be several) and its backchannel application. Never the client secret.
    await queryRunner.query(`
      CREATE FUNCTION grantry_build_provider_documents(ids integer[]) RETURNS TABLE (provider_id integer, doc json)
      LANGUAGE sql STABLE AS $$
        SELECT p.id, json_build_object(
                 'id', p.id, 'name', p.name, 'authentication_flow', p.authentication_flow,
                 'authorization_flow', p.authorization_flow, 'invalidation_flow', p.invalidation_flow,
                 'property_mappings', p.property_mappings, 'client_type', p.client_type, 'client_id', p.client_id,
                 'access_code_validity', p.access_code_validity, 'access_token_validity', p.access_token_validity,
                 'refresh_token_validity', p.refresh_token_validity,
                 'refresh_token_threshold', p.refresh_token_threshold,
                 'include_claims_in_id_token', p.include_claims_in_id_token, 'signing_key', p.signing_key,
                 'encryption_key', p.encryption_key, 'redirect_uris', p.redirect_uris, 'logout_uri', p.logout_uri,
                 'logout_method', p.logout_method, 'sub_mode', p.sub_mode, 'issuer_mode', p.issuer_mode,
                 'grant_types', p.grant_types, 'jwt_federation_sources', p.jwt_federation_sources,
                 'jwt_federation_providers', p.jwt_federation_providers,
                 'application_slug', a.slug, 'application_name', a.name,
                 'backchannel_slug', b.slug, 'backchannel_name', b.name)
          FROM oauth2_providers p
          LEFT JOIN LATERAL (
            SELECT x.slug, x.name FROM applications x WHERE x.provider_id = p.id ORDER BY x.created, x.id LIMIT 1
          ) a ON true
          LEFT JOIN applications b ON b.id = p.backchannel_application_id
         WHERE p.id = ANY(ids)
      $$`);

    await queryRunner.query(`
      CREATE FUNCTION grantry_refresh_user_documents(ids integer[]) RETURNS void LANGUAGE plpgsql AS $$
      BEGIN
        IF cardinality(ids) = 0 THEN RETURN; END IF;
        PERFORM 1 FROM users WHERE id = ANY(ids) ORDER BY id FOR NO KEY UPDATE;
        INSERT INTO user_documents (user_id, doc)
          SELECT d.user_id, d.doc FROM grantry_build_user_documents(ARRAY(SELECT DISTINCT unnest(ids))) d
          ON CONFLICT (user_id) DO UPDATE SET doc = EXCLUDED.doc;
      END $$`);
    await queryRunner.query(`
      CREATE FUNCTION grantry_refresh_provider_documents(ids integer[]) RETURNS void LANGUAGE plpgsql AS $$
      BEGIN
        IF cardinality(ids) = 0 THEN RETURN; END IF;
        PERFORM 1 FROM oauth2_providers WHERE id = ANY(ids) ORDER BY id FOR NO KEY UPDATE;
        INSERT INTO provider_documents (provider_id, doc)
          SELECT d.provider_id, d.doc FROM grantry_build_provider_documents(ARRAY(SELECT DISTINCT unnest(ids))) d
          ON CONFLICT (provider_id) DO UPDATE SET doc = EXCLUDED.doc;
      END $$`);

    // One trigger function for every source table and event; each branch reads only the transition tables its
    // event has.
    await queryRunner.query(`
      CREATE FUNCTION grantry_documents_changed() RETURNS trigger LANGUAGE plpgsql AS $$
      DECLARE
        users_changed integer[] := '{}';
        providers_changed integer[] := '{}';
      BEGIN
        IF TG_OP = 'TRUNCATE' THEN
          IF TG_TABLE_NAME = 'applications' THEN
            providers_changed := ARRAY(SELECT id FROM oauth2_providers);
          ELSE
            users_changed := ARRAY(SELECT id FROM users);
          END IF;
        ELSIF TG_TABLE_NAME = 'users' THEN
          users_changed := ARRAY(SELECT id FROM new_rows);
        ELSIF TG_TABLE_NAME IN ('user_groups', 'user_roles') THEN
          IF TG_OP <> 'DELETE' THEN users_changed := ARRAY(SELECT user_id FROM new_rows); END IF;
          IF TG_OP <> 'INSERT' THEN users_changed := users_changed || ARRAY(SELECT user_id FROM old_rows); END IF;
        ELSIF TG_TABLE_NAME = 'groups' THEN
          users_changed := ARRAY(
            WITH RECURSIVE subtree (id) AS (
              SELECT id FROM (SELECT id FROM old_rows UNION SELECT id FROM new_rows) changed
              UNION
              SELECT g.id FROM groups g JOIN subtree s ON g.parent_id = s.id
            )
            SELECT DISTINCT ug.user_id FROM user_groups ug JOIN subtree s ON s.id = ug.group_id);
        ELSIF TG_TABLE_NAME = 'roles' THEN
          users_changed := ARRAY(
            SELECT DISTINCT ur.user_id FROM user_roles ur JOIN new_rows r ON r.id = ur.role_id);
        ELSIF TG_TABLE_NAME = 'oauth2_providers' THEN
          providers_changed := ARRAY(SELECT id FROM new_rows);
        ELSIF TG_TABLE_NAME = 'applications' THEN
          IF TG_OP <> 'DELETE' THEN
            providers_changed := ARRAY(
              SELECT provider_id FROM new_rows WHERE provider_id IS NOT NULL
              UNION SELECT p.id FROM oauth2_providers p JOIN new_rows a ON a.id = p.backchannel_application_id);
          END IF;
          IF TG_OP <> 'INSERT' THEN
            providers_changed := providers_changed || ARRAY(
              SELECT provider_id FROM old_rows WHERE provider_id IS NOT NULL
              UNION SELECT p.id FROM oauth2_providers p JOIN old_rows a ON a.id = p.backchannel_application_id);
          END IF;
        END IF;
        PERFORM grantry_refresh_user_documents(users_changed);
        PERFORM grantry_refresh_provider_documents(providers_changed);
        RETURN NULL;
      END $$`);

    for (const [table, events] of SOURCES) {
      for (const event of events) {
        await queryRunner.query(
          `CREATE TRIGGER "${table}_documents_${event.toLowerCase()}" AFTER ${event} ON "${table}"
             ${transitionTables(event)} FOR EACH STATEMENT EXECUTE FUNCTION grantry_documents_changed()`,
        );
      }
    }

    // What the API reads: the documents of `ids` as one JSON array. PL/pgSQL, so the plan is cached per connection.
    await queryRunner.query(`
      CREATE FUNCTION grantry_users_json(ids integer[]) RETURNS json LANGUAGE plpgsql STABLE AS $$
      BEGIN
        RETURN (SELECT coalesce(json_agg(doc), '[]') FROM user_documents WHERE user_id = ANY(ids));
      END $$`);
    await queryRunner.query(`
      CREATE FUNCTION grantry_providers_json(ids integer[]) RETURNS json LANGUAGE plpgsql STABLE AS $$
      BEGIN
        RETURN (SELECT coalesce(json_agg(doc), '[]') FROM provider_documents WHERE provider_id = ANY(ids));
      END $$`);

    await queryRunner.query(`SELECT grantry_refresh_user_documents(ARRAY(SELECT id FROM users))`);
    await queryRunner.query(
      `SELECT grantry_refresh_provider_documents(ARRAY(SELECT id FROM oauth2_providers))`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP FUNCTION grantry_providers_json(integer[])`);
    await queryRunner.query(`DROP FUNCTION grantry_users_json(integer[])`);
    for (const [table, events] of SOURCES) {
      for (const event of events) {
        await queryRunner.query(`DROP TRIGGER "${table}_documents_${event.toLowerCase()}" ON "${table}"`);
      }
    }
    await queryRunner.query(`DROP FUNCTION grantry_documents_changed()`);
    await queryRunner.query(`DROP FUNCTION grantry_refresh_provider_documents(integer[])`);
    await queryRunner.query(`DROP FUNCTION grantry_refresh_user_documents(integer[])`);
    await queryRunner.query(`DROP FUNCTION grantry_build_provider_documents(integer[])`);
    await queryRunner.query(`DROP FUNCTION grantry_build_user_documents(integer[])`);
    await queryRunner.query(`DROP TABLE "provider_documents"`);
    await queryRunner.query(`DROP TABLE "user_documents"`);
  }
}
