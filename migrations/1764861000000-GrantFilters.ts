import { MigrationInterface, QueryRunner } from 'typeorm';

const GRANT_TABLES = ['oauth2_access_tokens', 'oauth2_refresh_tokens', 'oauth2_authorization_codes'] as const;

/**
 * Indexes for the inventory's incident filters (issue 14), chosen for the cost they add to issuance, which inserts
 * millions of grants:
 * - `revoked=true`: a partial index of the revoked grants in the default ordering (provider, expires, id): page 1
 *   is its first entries and the count an index-only scan of it (not a sort of every revoked row fetched from the
 *   heap, which the planner chose over a one-column partial index: 19 ms at 20,000 grants). A new grant is not
 *   revoked, so an insert never touches it; only a revocation adds an entry.
 * - `is_expired`: the (expires, id) index answers `expires < now()`; the grants that never expire but carry a past
 *   expiry must be excluded, and a partial index over `NOT expiring` (a few percent, rarely issued) lists them.
 * - `scope` (containment of every listed scope): a GIN index over the scope's words, the expression the filter uses.
 *   It is the one index every insert pays for (a few words in GIN's pending list, merged in bulk); without it a rare
 *   scope is a scan of the whole table for the count.
 * `expires__lt`/`__gte`, `application`, `client_id` and `username` use the existing expiry, provider and user
 * indexes (the names resolve to one provider or user through unique indexes).
 */
export class GrantFilters1764861000000 implements MigrationInterface {
  name = 'GrantFilters1764861000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    for (const table of GRANT_TABLES) {
      await queryRunner.query(
        `CREATE INDEX "${table}_revoked_idx" ON "${table}" ("provider_id", "expires", "id") WHERE "revoked"`,
      );
      await queryRunner.query(
        `CREATE INDEX "${table}_never_expiring_idx" ON "${table}" ("expires", "id") WHERE NOT "expiring"`,
      );
      await queryRunner.query(
        `CREATE INDEX "${table}_scope_words_idx" ON "${table}" USING gin (string_to_array("scope", ' '))`,
      );
    }
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    for (const table of GRANT_TABLES) {
      await queryRunner.query(`DROP INDEX "public"."${table}_scope_words_idx"`);
      await queryRunner.query(`DROP INDEX "public"."${table}_never_expiring_idx"`);
      await queryRunner.query(`DROP INDEX "public"."${table}_revoked_idx"`);
    }
  }
}
