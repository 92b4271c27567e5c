import { Column, Entity, Generated, Index, PrimaryGeneratedColumn } from 'typeorm';

/**
 * Who did what to which grant. Never holds a secret: only the first 8 hex digits of the grant's hash, enough to
 * correlate with other records. No foreign keys, so history outlives the users and rows it mentions.
 */
@Entity({ name: 'audit_events' })
@Index('audit_events_created_idx', ['created'])
@Index('audit_events_actor_username_created_idx', ['actorUsername', 'created'])
@Index('audit_events_client_ip_idx', ['clientIp'])
// Expression indexes of migration TokensEvents (the events API's `actions=`, `username=`, `context_model_pk=`).
@Index('audit_events_action_created_idx', { synchronize: false })
@Index('audit_events_context_username_idx', { synchronize: false })
@Index('audit_events_model_pk_idx', { synchronize: false })
// Migration ManagementBench: the expired rows (with their action) that a live count subtracts.
@Index('audit_events_expires_idx', { synchronize: false })
@Index('audit_events_actor_username_live_idx', { synchronize: false })
export class AuditEventEntity {
  @PrimaryGeneratedColumn({ type: 'bigint', primaryKeyConstraintName: 'audit_events_pkey' })
  id!: string;

  @Column({ type: 'timestamptz', default: () => 'now()' })
  created!: Date;

  @Column({ type: 'varchar', length: 32 })
  action!: string;

  @Column({ name: 'actor_user_id', type: 'integer', nullable: true })
  actorUserId!: number | null;

  @Column({ name: 'actor_username', type: 'varchar', length: 150 })
  actorUsername!: string;

  @Column({ type: 'varchar', length: 64, nullable: true })
  model!: string | null;

  @Column({ name: 'object_pk', type: 'integer', nullable: true })
  objectPk!: number | null;

  @Column({ name: 'object_user_id', type: 'integer', nullable: true })
  objectUserId!: number | null;

  @Column({ name: 'object_provider_id', type: 'integer', nullable: true })
  objectProviderId!: number | null;

  @Column({ name: 'secret_hash_prefix', type: 'varchar', length: 8, nullable: true })
  secretHashPrefix!: string | null;

  @Column({ name: 'request_id', type: 'varchar', length: 64, nullable: true })
  requestId!: string | null;

  /** authentik's Event pk. */
  @Index('audit_events_event_uuid_key', { unique: true })
  @Column({ name: 'event_uuid', type: 'uuid' })
  @Generated('uuid')
  eventUuid!: string;

  /** The Django app authentik would name as the writer: `authentik.events` for audit events, `authentik.core`... */
  @Column({ type: 'varchar', length: 64, default: 'authentik.events' })
  app!: string;

  /** authentik's event context: `model`, `http_request`, and what the action adds. Never a secret (see sanitize). */
  @Column({ type: 'jsonb', default: () => `'{}'` })
  context!: Record<string, unknown>;

  @Column({ name: 'client_ip', type: 'varchar', length: 45, nullable: true })
  clientIp!: string | null;

  @Column({ name: 'actor_email', type: 'varchar', length: 254, default: '' })
  actorEmail!: string;

  @Column({ type: 'timestamptz', default: () => "(now() + '365 days')" })
  expires!: Date;

  /** The `user` dict of an event POSTed through the events API (served as is), else null. */
  @Column({ type: 'jsonb', nullable: true })
  actor!: Record<string, unknown> | null;
}
