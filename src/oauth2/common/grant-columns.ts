import { Column } from 'typeorm';

/**
 * Columns every OAuth2 grant shares (authentik's BaseGrantModel + ExpiringModel). Subclasses declare their own
 * relations, foreign keys and indexes, whose names must be unique per table.
 *
 * The grant's secret (token string or code) is never stored: only its SHA-256, so a presented value is found by
 * hashing it.
 */
export abstract class GrantColumns {
  @Column({ name: 'provider_id', type: 'integer' })
  providerId!: number;

  @Column({ name: 'user_id', type: 'integer' })
  userId!: number;

  @Column({ type: 'timestamptz', nullable: true })
  expires!: Date | null;

  @Column({ type: 'boolean', default: true })
  expiring!: boolean;

  @Column({ type: 'boolean', default: false })
  revoked!: boolean;

  /**
   * When `revoked` was turned on (set by a trigger on every revoking UPDATE, migration GrantRevokedAt); null for a
   * grant not revoked, or revoked at an unknown time (before that migration, or inserted revoked without one).
   */
  @Column({ name: 'revoked_at', type: 'timestamptz', nullable: true })
  revokedAt!: Date | null;

  /** Space-separated, as authentik stores it. */
  @Column({ type: 'text', default: '' })
  scope!: string;

  @Column({ name: 'auth_time', type: 'timestamptz', nullable: true })
  authTime!: Date | null;

  @Column({ name: 'session_id', type: 'varchar', length: 255, nullable: true })
  sessionId!: string | null;

  /**
   * The authorization this grant descends from (issuance: one per approved authorize, device approval or
   * client-credentials exchange); a replayed code or reused refresh token revokes the family. Null on rows written
   * by the CLI, the seed or imports.
   */
  @Column({ name: 'family_id', type: 'uuid', nullable: true })
  familyId!: string | null;

  @Column({ type: 'timestamptz', default: () => 'now()' })
  created!: Date;
}
